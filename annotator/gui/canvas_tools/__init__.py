"""Canvas tools: modes that take over the canvas's mouse and keys while active, one module each
(brush.py: brush and eraser; ai_polygon.py: the AI polygon; exemplar.py: "find all like this").

A tool is a ``CanvasTool``; ``Canvas.set_tool(tool)`` makes it the active one (``None``:
back to selecting and editing) and cancels the previous one. While a tool is active the
canvas hands it every event first, with the event's scene point, and does its own
editing only when the tool returns False. So a new tool needs no code in canvas.py:

    press / move / release / double_click(event, point) -> bool   mouse (point: scene x, y)
    claims_key(event) -> bool   keys the tool wants before the window's shortcuts see them
    key(event) -> bool          a key press
    hint() -> str               status-bar text when the tool becomes active
    cursor() -> Qt.CursorShape  the viewport's cursor while it is active
    cancel()                    another tool (or none) took over: drop what is in progress
                                and hide the tool's own scene items

Panning (middle drag, Space+drag) stays the canvas's and comes first. A tool draws
its previews with its own items in ``canvas.scene()``; it leaves by calling
``canvas.set_tool(None)``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent

Point = tuple[float, float]


class CanvasTool:
    """The protocol, with the defaults of a tool that uses nothing (each hook: True when used)."""

    def hint(self) -> str:
        return ""

    def cursor(self) -> Qt.CursorShape:
        return Qt.CursorShape.CrossCursor

    def press(self, event: QMouseEvent, point: Point) -> bool:
        return False

    def move(self, event: QMouseEvent, point: Point) -> bool:
        return False

    def release(self, event: QMouseEvent, point: Point) -> bool:
        return False

    def double_click(self, event: QMouseEvent, point: Point) -> bool:
        return False

    def claims_key(self, event: QKeyEvent) -> bool:
        return False

    def key(self, event: QKeyEvent) -> bool:
        return False

    def cancel(self) -> None:
        """Called by the canvas only, when the tool stops being the active one."""
