"""The editing model of one image: its shapes plus an undo stack of every change.

Each edit is one QUndoCommand that swaps the whole list of shapes between a *before*
and an *after* list. That is cheap and always exact because the document never
mutates a Shape in place: an edit builds a new Shape (same id) and puts it where the
old one was, so the old list still holds the old geometry for undo. The canvas relies
on the same rule: a shape object it has already drawn is unchanged, so after
`changed` it redraws only the shapes whose object is new.

Nothing outside this class should mutate `annotations.shapes` or a Shape in it; the
main window may read both (and save `annotations`) at any time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from annotator.core.annotations import ImageAnnotations
from annotator.core.proposal_settings import ProposalSettings
from annotator.core.shapes import Part, Shape


def is_proposal(shape: Shape) -> bool:
    return shape.source == "model" and not shape.accepted


Params = ProposalSettings  # what the proposals in a document were made with (the sliders show it)


class _SwapShapes(QUndoCommand):
    """Replace the document's shape list; undo puts the previous list back.

    A proposal command also swaps the slider values the proposals were made with, so
    undoing a threshold change puts the slider back where the shapes came from.
    """

    def __init__(self, doc: AnnotationDocument, text: str, before: list[Shape], after: list[Shape],
                 params: tuple[Params | None, Params | None] | None = None):
        super().__init__(text)
        self._doc = doc
        self._before = before
        self._after = after
        self._params = params

    def redo(self) -> None:
        self._doc._set_shapes(self._after, *(self._params[1:] if self._params else ()))

    def undo(self) -> None:
        self._doc._set_shapes(self._before, *(self._params[:1] if self._params else ()))


class AnnotationDocument(QObject):
    """Shapes of one image, edited only through undoable commands.

    Every public mutator pushes exactly one command on `undo_stack` (none when it would
    change nothing) and emits `changed` once, as do undo and redo. Unknown shape ids
    raise KeyError naming the id.
    """

    changed = Signal()

    def __init__(self, annotations: ImageAnnotations, parent: QObject | None = None):
        super().__init__(parent)
        self.annotations = annotations
        self.undo_stack = QUndoStack(self)
        self.params: Params | None = None
        """The ``ProposalSettings`` the proposals in the document were made with; None when not known."""

    # --- reading ----------------------------------------------------------------------
    def shapes(self) -> list[Shape]:
        return list(self.annotations.shapes)

    def shape(self, shape_id: str) -> Shape | None:
        return next((s for s in self.annotations.shapes if s.id == shape_id), None)

    def proposal_ids(self) -> list[str]:
        return [s.id for s in self.annotations.shapes if is_proposal(s)]

    # --- editing ----------------------------------------------------------------------
    def add_shape(self, shape: Shape) -> None:
        if self.shape(shape.id) is not None:
            raise ValueError(f"shape {shape.id} is already in the document")
        self._push(f"Add {shape.label}", self.shapes() + [shape.copy()])

    def add_shapes(self, shapes: Sequence[Shape]) -> None:
        """Add several shapes as one command (a paste)."""
        for shape in shapes:
            if self.shape(shape.id) is not None:
                raise ValueError(f"shape {shape.id} is already in the document")
        if shapes:
            self._push(_plural("Add", {s.id for s in shapes}), self.shapes() + [s.copy() for s in shapes])

    def replace_all(self, shapes: Sequence[Shape], text: str) -> None:
        """Every shape at once (a project-wide class edit), as one command named *text*."""
        self._push(text, list(shapes))

    def remove_shapes(self, ids: Iterable[str]) -> None:
        gone = self._known(ids)
        if gone:
            self._push(_plural("Delete", gone), [s for s in self.annotations.shapes if s.id not in gone])

    def set_geometry(self, shape_id: str, exterior: np.ndarray, holes: Sequence[np.ndarray]) -> None:
        """Replace the FIRST part's rings (other parts are kept). A human edit, so a model
        proposal becomes accepted. Multi-part edits use ``set_parts``."""
        self._known([shape_id])
        first = Part(np.array(exterior, dtype=np.float64), [np.array(h, dtype=np.float64) for h in holes])
        self._replace("Edit shape", {shape_id},
                      lambda s: s.with_parts([first, *s.parts[1:]]).replace(accepted=True))

    def set_parts(self, shape_id: str, parts: Sequence[Part]) -> None:
        """Replace all of a shape's geometry (one or more parts); also accepts it."""
        self._known([shape_id])
        parts = list(parts)
        self._replace("Edit shape", {shape_id}, lambda s: s.replace(parts=parts, accepted=True))

    def set_iscrowd(self, ids: Iterable[str], iscrowd: bool) -> None:
        """Mark shapes as COCO crowd regions (or not); one undoable command."""
        targets = {i for i in self._known(ids) if self.shape(i).iscrowd != bool(iscrowd)}
        text = ("Mark as crowd: " if iscrowd else "Unmark crowd: ") + f"{len(targets)} shape(s)"
        self._replace(text, targets, lambda s: s.replace(iscrowd=bool(iscrowd)))

    def merge_shapes(self, ids: Sequence[str]) -> str:
        """Join shapes of one class into one multi-part shape (one instance); returns its id.

        The first of *ids* in document order keeps its id and fields and takes every part;
        the others are removed. One command. ValueError for fewer than two shapes or mixed
        classes (an instance has one class).
        """
        targets = self._known(ids)
        shapes = [s for s in self.annotations.shapes if s.id in targets]
        if len(shapes) < 2:
            raise ValueError("select at least two shapes to merge into one")
        labels = sorted({s.label for s in shapes})
        if len(labels) > 1:
            raise ValueError(f"shapes of different classes ({', '.join(labels)}) cannot be one instance; "
                             "relabel them first")
        keep = shapes[0].replace(parts=[p for s in shapes for p in s.parts], accepted=True)
        after = [keep if s.id == keep.id else s for s in self.annotations.shapes if s.id == keep.id or
                 s.id not in targets]
        self._push(f"Merge {len(shapes)} shapes", after)
        return keep.id

    def split_shape(self, shape_id: str) -> list[str]:
        """One shape per part of a multi-part shape (one command); returns their ids, the
        original id first. The split-off shapes take the label and review state but not
        ``extra`` (kept COCO fields such as keypoints belong to the original instance)."""
        self._known([shape_id])
        shape = self.shape(shape_id)
        if len(shape.parts) < 2:
            return [shape_id]
        first = shape.replace(parts=[shape.parts[0]], accepted=True)
        rest = [Shape(shape.label, parts=[p], source=shape.source, score=shape.score, accepted=True,
                      iscrowd=shape.iscrowd) for p in shape.parts[1:]]
        after = []
        for s in self.annotations.shapes:
            after += [first, *rest] if s.id == shape_id else [s]
        self._push(f"Split into {len(shape.parts)} shapes", after)
        return [first.id, *(r.id for r in rest)]

    def set_label(self, ids: Iterable[str], label: str) -> None:
        """Relabel shapes; choosing a label is a human decision, so it also accepts them."""
        targets = self._known(ids)
        changed = {i for i in targets if (s := self.shape(i)).label != label or not s.accepted}
        self._replace(f"Label as {label}", changed, lambda s: s.replace(label=label, accepted=True))

    def accept(self, ids: Iterable[str]) -> None:
        targets = {i for i in self._known(ids) if not self.shape(i).accepted}
        self._replace(_plural("Accept", targets), targets, lambda s: s.replace(accepted=True))

    def reject(self, ids: Iterable[str]) -> None:
        """Remove the proposals among `ids`; human and accepted shapes are left alone."""
        targets = {i for i in self._known(ids) if is_proposal(self.shape(i))}
        if targets:
            self._push(_plural("Reject", targets), [s for s in self.annotations.shapes if s.id not in targets])

    def accept_all_proposals(self) -> None:
        self.accept(self.proposal_ids())

    def reject_all_proposals(self) -> None:
        self.reject(self.proposal_ids())

    def apply_proposals(self, shapes: Sequence[Shape], params: Params | None = None,
                        model_run: dict | None = None) -> None:
        """New model proposals replace the pending ones (ImageAnnotations semantics), undoably.

        *params* (the ``ProposalSettings`` they were made with) travel with the command;
        *model_run* (a new model run's record, ``core.pipeline.model_run``) is kept in the file.

        The core rule is run on a scratch ImageAnnotations so that it stays the one
        definition of which shapes survive, while the document's list changes only
        through the command.
        """
        ann = self.annotations
        if model_run is not None:
            ann.model_run = dict(model_run)
        scratch = ImageAnnotations(image=ann.image, width=ann.width, height=ann.height, shapes=self.shapes())
        scratch.apply_proposals([s.copy() for s in shapes], skip_kept=True)
        self._push(f"Apply {len(shapes)} proposal(s)", list(scratch.shapes),
                   None if params is None else (self.params, params))

    def replace_shapes(self, updates: Mapping[str, Shape], before: Mapping[str, Shape], text: str) -> int:
        """Put each shape of *updates* (same id) in place of the document's, as ONE command. A
        shape that changed since *before* (not the same object any more) is left alone.
        Returns how many shapes were replaced."""
        done = {i for i in updates if i in before and self.shape(i) is before[i]}
        if done:
            self._push(text, [updates[s.id].copy() if s.id in done else s for s in self.annotations.shapes])
        return len(done)

    # --- internals --------------------------------------------------------------------
    def _known(self, ids: Iterable[str]) -> set[str]:
        ids = set(ids)
        present = {s.id for s in self.annotations.shapes}
        missing = ids - present
        if missing:
            raise KeyError(f"no shape with id {sorted(missing)[0]} in {self.annotations.image}")
        return ids

    def _replace(self, text: str, ids: set[str], edit) -> None:
        if ids:
            self._push(text, [edit(s) if s.id in ids else s for s in self.annotations.shapes])

    def _push(self, text: str, after: list[Shape], params=None) -> None:
        before = self.shapes()
        if len(before) == len(after) and all(a is b for a, b in zip(before, after)):
            if params is not None and params[1] != self.params:
                self.params = params[1]  # same shapes from other slider values: nothing to undo
                self.changed.emit()
            return  # nothing changed: an empty entry would make undo look broken
        self.undo_stack.push(_SwapShapes(self, text, before, after, params))

    def _set_shapes(self, shapes: list[Shape], *params) -> None:
        self.annotations.shapes = list(shapes)
        if params:
            self.params = params[0]
        self.changed.emit()


def _plural(verb: str, ids: set[str]) -> str:
    return f"{verb} {len(ids)} shape" + ("s" if len(ids) != 1 else "")
