"""Edit menu commands on the selected shapes: delete, edit label, copy / paste / duplicate, brush, eraser.

The clipboard is the application's own list of shapes, so a copy on one image
pastes onto any other image of the project (each paste gets new ids). A pasted
shape is a human decision (accepted, source "human"); one that would reach past
the target image's border is clipped to it. Every command is one undoable edit of
the current document.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject

from annotator.core.shapes import Shape, new_id
from annotator.gui.canvas_tools.brush import BrushTool

DUPLICATE_OFFSET = 10.0  # px: a duplicate sits beside its original, not hidden under it


class EditCommands(QObject):
    def __init__(self, window):
        super().__init__(window)
        self._window = window
        self.clipboard: list[Shape] = []

    def _doc_and_selection(self):
        doc = self._window.document()
        ids = self._window.canvas.selected_ids() if doc is not None else []
        return doc, ids

    def on_delete(self) -> None:
        doc, ids = self._doc_and_selection()
        if ids:
            doc.remove_shapes(ids)

    def on_edit_label(self) -> None:
        self._window.canvas.edit_label_of_selected()

    def on_copy(self) -> None:
        doc, ids = self._doc_and_selection()
        if not ids:
            self._window.statusBar().showMessage("Select shapes to copy", 3000)
            return
        self.clipboard = [doc.shape(i).copy() for i in ids]
        self._window.statusBar().showMessage(f"Copied {len(ids)} shape(s)", 3000)

    def on_paste(self) -> None:
        self._paste(self.clipboard, (0.0, 0.0))

    def on_duplicate(self) -> None:
        doc, ids = self._doc_and_selection()
        if ids:
            self._paste([doc.shape(i) for i in ids], (DUPLICATE_OFFSET, DUPLICATE_OFFSET))

    def _paste(self, shapes: list[Shape], offset: tuple[float, float]) -> None:
        doc = self._window.document()
        if doc is None or not shapes:
            return
        size = (doc.annotations.width, doc.annotations.height)
        pasted = [s for s in (placed(shape, offset, size) for shape in shapes) if s is not None]
        if not pasted:
            self._window.statusBar().showMessage("Nothing to paste: the shapes lie outside this image", 4000)
            return
        doc.add_shapes(pasted)
        self._window.canvas.select([s.id for s in pasted])
        self._window.statusBar().showMessage(f"Pasted {len(pasted)} shape(s)", 3000)

    def on_brush(self) -> None:
        self._toggle_brush(erase=False)

    def on_eraser(self) -> None:
        self._toggle_brush(erase=True)

    def _toggle_brush(self, erase: bool) -> None:
        """B / Shift+B: the brush or eraser on the canvas; the same key again leaves it."""
        if self._window.document() is None:
            return
        canvas = self._window.canvas
        tool = canvas.tool()
        if isinstance(tool, BrushTool) and tool.erase == erase:
            canvas.set_tool(None)
            return
        radius = tool.radius if isinstance(tool, BrushTool) else BrushTool.DEFAULT_RADIUS
        canvas.setFocus()
        canvas.set_tool(BrushTool(canvas, erase=erase, radius=radius))


def placed(shape: Shape, offset: tuple[float, float], size: tuple[int, int]) -> Shape | None:
    """A new shape (new id, human, accepted) moved by *offset* and clipped to the image *size* (w, h).

    None when nothing of it is left on the image.
    """
    dx, dy = offset
    width, height = size
    parts = [type(p)(p.exterior + (dx, dy), [h + (dx, dy) for h in p.holes]) for p in shape.parts]
    moved = shape.replace(parts=parts, id=new_id(), source="human", score=None, accepted=True)
    rings = np.vstack(moved.rings())
    if rings.min() >= 0 and rings[:, 0].max() <= width and rings[:, 1].max() <= height:
        return moved
    clipped = Shape.from_mask(shape.label, moved.mask(height, width))
    return None if clipped is None else moved.with_parts(clipped.parts)
