"""Project-wide class edits: rename, merge, delete and recolour, in the label set and every shape.

``ClassEdit`` says what changes; ``edit_labels``, ``edit_shapes`` and ``edit_files``
apply it to a LabelSet, a list of shapes and the project's annotation files. A
rename to a name that already exists is a merge: the shapes join that class and
the old category goes (the survivor keeps its id and colour). A deleted class
takes its shapes with it; to keep them, merge it into another class instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from annotator.core.labels import RGB, Category, LabelSet, normalise_name
from annotator.core.project import Project
from annotator.core.shapes import Shape


@dataclass(frozen=True)
class ClassEdit:
    renames: dict[str, str] = field(default_factory=dict)  # old name -> new (or existing: merge) name
    deletes: frozenset[str] = frozenset()  # classes removed together with their shapes
    colors: dict[str, RGB] = field(default_factory=dict)  # class -> new colour

    def target(self, label: str) -> str | None:
        """What a shape labelled *label* becomes: a new label, the same, or None (deleted)."""
        key = label.casefold()
        if any(key == d.casefold() for d in self.deletes):
            return None
        return next((new for old, new in self.renames.items() if old.casefold() == key), label)

    def touches_shapes(self) -> bool:
        return bool(self.renames or self.deletes)


def edit_labels(labels: LabelSet, edit: ClassEdit) -> list[Category]:
    """The categories after *edit* (ids kept; a merged or deleted class's category dropped)."""
    out: list[Category] = []
    for cat in labels.categories:
        new = edit.target(cat.name)
        if new is None:
            continue
        name = normalise_name(new)
        if not name:
            raise ValueError(f"renaming '{cat.name}': a class name cannot be empty")
        survivor = labels.get(name)
        if survivor is not None and survivor.id != cat.id:
            continue  # merged into another category, which stays
        color = edit.colors.get(cat.name, cat.color)
        out.append(Category(cat.id, name, tuple(color)))
    return out


def undo_labels(current: Sequence[Category], before: Sequence[Category],
                after: Sequence[Category]) -> list[Category]:
    """*current* with one class edit (which turned *before* into *after*) taken back.

    Categories the edit dropped or changed come back as they were (same id, name and
    colour), in *before*'s order; categories added since the edit stay, after them. A
    class added since under a name the edit took away gives way to the restored one
    (its shapes carry the name, so they join the restored class).
    """
    after_by_id = {c.id: c for c in after}
    changed = {c.id: c for c in before if after_by_id.get(c.id) != c}
    current_by_id = {c.id: c for c in current}
    restored_names = {c.name.casefold() for c in changed.values()}
    out = [changed.get(c.id) or current_by_id[c.id] for c in before if c.id in changed or c.id in current_by_id]
    kept = {c.id for c in out}
    out += [c for c in current if c.id not in kept and c.name.casefold() not in restored_names]
    return out


def redo_labels(current: Sequence[Category], edit: ClassEdit) -> list[Category]:
    """*current* with *edit* applied again (after ``undo_labels``)."""
    return edit_labels(LabelSet(list(current)), edit)


def classes_text(text: str, edit: ClassEdit, labels: LabelSet | None = None) -> str:
    """The prompt's comma-separated classes after *edit*: renamed, merged or deleted
    names follow, duplicates a merge makes are dropped; other names stay as typed."""
    out: list[str] = []
    for part in text.split(","):
        name = normalise_name(part)
        if not name:
            continue
        new = edit.target(name)
        if new is None:
            continue
        new = normalise_name(new)
        if labels is not None and (known := labels.get(new)) is not None and new.casefold() != name.casefold():
            new = known.name
        if all(new.casefold() != o.casefold() for o in out):
            out.append(new)
    return ", ".join(out)


def edit_shapes(shapes: Sequence[Shape], edit: ClassEdit, labels: LabelSet | None = None) -> list[Shape] | None:
    """*shapes* after *edit* (new Shape objects where changed), or None when nothing changes.

    *labels*: the set before the edit, so a merge takes the survivor's own spelling.
    """
    out, changed = [], False
    for shape in shapes:
        new = edit.target(shape.label)
        if new is None:
            changed = True
            continue
        if labels is not None and (known := labels.get(new)) is not None:
            new = known.name
        if new != shape.label:
            out.append(shape.replace(label=new))
            changed = True
        else:
            out.append(shape)
    return out if changed else None


def edit_files(project: Project, edit: ClassEdit, skip: Iterable[str] = (), labels: LabelSet | None = None,
               cancel=None) -> list[str]:
    """Rewrite (atomically) every annotation file *edit* changes, less the images in *skip*.

    Returns the images written. A damaged file raises AnnotationFileError naming it;
    the files written before it stay written (each one is complete).
    """
    skip, written = set(skip), []
    if not edit.touches_shapes():
        return written
    for rel in project.images():
        if cancel is not None and cancel.is_set():
            break
        if rel in skip or not project.has_annotations(rel):
            continue
        ann = project.load(rel)
        shapes = edit_shapes(ann.shapes, edit, labels)
        if shapes is not None:
            ann.shapes = shapes
            project.save(ann)
            written.append(rel)
    return written


def class_usage(project: Project, skip: Iterable[str] = ()) -> Counter:
    """Shapes per class (casefolded name -> count) over the annotation files, less *skip*.

    Damaged files are left out (they are reported when their image is opened).
    """
    from annotator.core.project import AnnotationFileError

    skip, counts = set(skip), Counter()
    for rel in project.images():
        if rel in skip or not project.has_annotations(rel):
            continue
        try:
            ann = project.load(rel)
        except AnnotationFileError:
            continue
        counts.update(s.label.casefold() for s in ann.shapes)
    return counts
