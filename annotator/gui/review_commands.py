"""Review menu commands and shape merge/split: accept or reject proposals, step through them.

Y / X accept or reject the selection and move on to the next pending proposal (in
review order, wrapping round), so reviewing an image is a run of key presses. Every
command is one undoable edit of the current document.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from annotator.gui.document import is_proposal


class ReviewCommands(QObject):
    def __init__(self, window):
        super().__init__(window)
        self._window = window

    def _pending(self) -> list[str]:
        return [s.id for s in self._window.document().shapes() if is_proposal(s)]

    def on_accept_selected(self) -> None:
        doc, ids = self._window.document(), self._window.canvas.selected_ids()
        if doc is not None and ids:
            after = self._proposal_after(ids)
            doc.accept(ids)
            self._review_next(after)

    def on_reject_selected(self) -> None:
        doc, ids = self._window.document(), self._window.canvas.selected_ids()
        if doc is not None and ids:
            after = self._proposal_after(ids)
            doc.reject(ids)
            self._review_next(after)

    def _proposal_after(self, ids: list[str]) -> list[str]:
        """Pending proposals after the last of *ids* in review order, then those before it (Y / X go on)."""
        pending = self._pending()
        if ids[-1] not in pending:
            return []
        i = pending.index(ids[-1])
        return [p for p in pending[i + 1:] + pending[:i] if p not in ids]

    def _review_next(self, candidates: list[str]) -> None:
        doc = self._window.document()
        still = [i for i in candidates if doc.shape(i) is not None and is_proposal(doc.shape(i))]
        if still:
            self._window.canvas.select([still[0]])

    def on_accept_all(self) -> None:
        if (doc := self._window.document()) is not None:
            doc.accept_all_proposals()

    def on_reject_all(self) -> None:
        if (doc := self._window.document()) is not None:
            doc.reject_all_proposals()

    def on_next_proposal(self) -> None:
        """Step the selection through the image's pending proposals (the review loop)."""
        if self._window.document() is None:
            return
        pending = self._pending()
        if not pending:
            return
        selected = self._window.canvas.selected_ids()
        after = pending.index(selected[0]) + 1 if selected and selected[0] in pending else 0
        self._window.canvas.select([pending[after % len(pending)]])

    def on_merge_shapes(self) -> None:
        doc = self._window.document()
        if doc is None:
            return
        try:
            self._window.canvas.select([doc.merge_shapes(self._window.canvas.selected_ids())])
        except ValueError as exc:
            self._window.statusBar().showMessage(str(exc), 4000)

    def on_split_shape(self) -> None:
        doc, ids = self._window.document(), self._window.canvas.selected_ids()
        if doc is None or len(ids) != 1:
            self._window.statusBar().showMessage("Select one multi-part shape to split", 4000)
            return
        self._window.canvas.select(doc.split_shape(ids[0]))
