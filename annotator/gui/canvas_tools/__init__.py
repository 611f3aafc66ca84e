"""Canvas tools: modes that take over the left mouse button (brush, eraser), one module each.

A tool gets the canvas's scene points through ``press`` / ``move`` / ``release`` and
its keys through ``key``; each returns True when it used the event. The canvas calls
``deactivate`` when another tool (or none) takes over.

The AI polygon (ai_polygon.py) is a click tool (``Canvas.click_tool``): it gets every mouse
event and its keys first, through mouse_press / mouse_move / mouse_release(event, scene_point),
key_press(event) and claims_key(event), each True when it used the event.
"""
