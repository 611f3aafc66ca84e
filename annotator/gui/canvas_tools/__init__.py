"""Canvas tools: modes that take the canvas's mouse and keys while active (``Canvas.tool``).

A tool implements mouse_press / mouse_move / mouse_release(event, scene_point),
key_press(event) and claims_key(event), each returning True when it consumed the event.
"""
