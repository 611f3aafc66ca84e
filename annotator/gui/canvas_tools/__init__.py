"""Canvas tools: modes that take over the left mouse button (brush, eraser), one module each.

A tool gets the canvas's scene points through ``press`` / ``move`` / ``release`` and
its keys through ``key``; each returns True when it used the event. The canvas calls
``deactivate`` when another tool (or none) takes over.
"""
