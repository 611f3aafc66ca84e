"""Edit > Classes: rename, merge, delete and recolour the project's classes.

Each change applies to the label set and to every shape of the project at once:
images open in the window change through one undoable command each (Ctrl+Z there
reverts that image), the other annotation files are rewritten in a background
thread (the folder may be large) while the dialog shows that it is busy. The label
set itself is saved at once. Shape counts are gathered in the background too.
"""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap, QUndoCommand
from PySide6.QtWidgets import (QAbstractItemView, QColorDialog, QDialog, QDialogButtonBox, QHBoxLayout,
                               QHeaderView, QInputDialog, QLabel, QMessageBox, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from annotator.core.classes import (ClassEdit, class_usage, classes_text, edit_files, edit_labels, edit_shapes,
                                    redo_labels, undo_labels)
from annotator.core.labels import LabelSet, normalise_name


class _LabelsCommand(QUndoCommand):
    """The label-set half of a class edit on an open image's undo stack: Ctrl+Z there brings the
    class back with its id and colour (in project.json and the manager), Ctrl+Shift+Z redoes it."""

    def __init__(self, window, edit: ClassEdit, before: list, after: list, text: str):
        super().__init__(text)
        self._window, self._project = window, window.project
        self._edit, self._before, self._after = edit, before, after
        self._first = True

    def redo(self) -> None:
        if self._first:  # pushed after the dialog applied it
            self._first = False
            return
        self._set(redo_labels(self._project.labels.categories, self._edit))

    def undo(self) -> None:
        self._set(undo_labels(self._project.labels.categories, self._before, self._after))

    def _set(self, categories: list) -> None:
        if self._window.project is not self._project:
            return  # another folder is open: this one's label set is saved already
        self._project.labels.set_categories(categories)
        self._project.save_settings()
        self._window.classes_changed()


class _Job(QThread):
    """Runs one project-wide function off the GUI thread; ``done`` carries its result or the error text."""

    done = Signal(object, object, str)  # the job, its result, the error text ("" when none)

    def __init__(self, work, then, parent=None):
        super().__init__(parent)
        self._work = work
        self.then = then  # called on the GUI thread with (result, error)

    def run(self) -> None:
        try:
            result = self._work()
        except Exception as e:  # noqa: BLE001 - shown in the dialog
            self.done.emit(self, None, str(e))
        else:
            self.done.emit(self, result, "")


class ClassManagerDialog(QDialog):
    changed = Signal()  # the label set or shapes changed (the window refreshes)

    def __init__(self, window, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.setWindowTitle("Classes")
        self._window = window
        self._project = window.project
        self._counts: Counter | None = None  # casefolded name -> shapes, None while counting
        self._jobs: set[_Job] = set()
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(("Class", "Shapes"))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for name, text, slot in (("rename", "Rename…", self._ask_rename), ("merge", "Merge into…", self._ask_merge),
                                 ("delete", "Delete…", self._ask_delete), ("colour", "Colour…", self._ask_colour),
                                 ("unused", "Remove Unused", self.remove_unused)):
            button = QPushButton(text)
            button.setAutoDefault(False)
            button.clicked.connect(slot)
            row.addWidget(button)
            self.buttons[name] = button
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(close)
        self.resize(460, 420)
        self._fill()
        self._count()

    # --- what the buttons do (also called directly) ----------------------------------------
    def rename(self, old: str, new: str) -> None:
        """Rename *old*; a name that already exists merges *old* into it."""
        self._apply(ClassEdit(renames={old: normalise_name(new)}), f"Rename class {old} to {new}")

    def merge(self, source: str, target: str) -> None:
        self._apply(ClassEdit(renames={source: target}), f"Merge class {source} into {target}")

    def delete(self, name: str) -> None:
        """Remove the class and every shape of it (merge it elsewhere to keep them)."""
        self._apply(ClassEdit(deletes=frozenset({name})), f"Delete class {name}")

    def remove_unused(self) -> None:
        """Drop every class no shape uses (typed once, or left by an undone relabel)."""
        if self._counts is None:
            return
        unused = frozenset(n for n in self._project.labels.names if not self.count(n))
        if not unused:
            self.status.setText("Every class is used by at least one shape.")
            return
        self._apply(ClassEdit(deletes=unused), f"Remove {len(unused)} unused class(es)")
        self.status.setText(f"Removed {', '.join(sorted(unused))}.")

    def recolour(self, name: str, rgb: tuple[int, int, int]) -> None:
        self._apply(ClassEdit(colors={name: tuple(rgb)}), f"Recolour class {name}")

    def busy(self) -> bool:
        return bool(self._jobs)

    def count(self, name: str) -> int | None:
        """Shapes of class *name* in the project, None while they are being counted."""
        return None if self._counts is None else self._counts.get(name.casefold(), 0)

    # --- applying ---------------------------------------------------------------------------
    def _apply(self, edit: ClassEdit, text: str) -> None:
        window, project = self._window, self._project
        before = LabelSet(project.labels.categories)
        try:
            categories = edit_labels(before, edit)
        except ValueError as e:
            self.status.setText(str(e))
            return
        window.store.flush()
        open_images = window.store.open_images()
        project.labels.set_categories(categories)
        project.save_settings()
        for image in open_images:  # undoable, image by image (with the label set); saved by the autosave
            doc = window.store.open_document(image)
            shapes = edit_shapes(doc.shapes(), edit, before)
            if shapes is not None:
                doc.undo_stack.beginMacro(text)
                doc.replace_all(shapes, text)
                doc.undo_stack.push(_LabelsCommand(window, edit, before.categories, categories, text))
                doc.undo_stack.endMacro()
        if edit.touches_shapes():
            text_after = classes_text(window.prompt.classes.text(), edit, before)
            window.prompt.classes.setText(text_after)  # the next Propose does not bring the old name back
            window.remember_classes(text_after)
        self._counts = None
        self._fill()
        self.changed.emit()
        if edit.touches_shapes():
            self._run(lambda: edit_files(project, edit, skip=open_images, labels=before), self._after_files,
                      f"{text}: updating the annotation files…")
        else:
            self._count()

    def _after_files(self, written, error: str) -> None:
        if error:
            self.status.setText(f"Stopped: {error}. Files written before it are complete.")
        else:
            self.status.setText(f"Updated {len(written)} annotation file(s) besides the open images.")
            self._window.refresh_statuses(written)
        self._count()

    def _count(self) -> None:
        open_images = self._window.store.open_images()
        opened = Counter(s.label.casefold() for image in open_images
                         for s in self._window.store.open_document(image).shapes())
        before = self.status.text()  # what the last edit said comes back once counted
        self._run(lambda: class_usage(self._project, skip=open_images) + opened,
                  lambda counts, error: self._counted(counts, error, before), "Counting shapes…")

    def _counted(self, counts, error: str, before: str = "") -> None:
        self._counts = counts if counts is not None else Counter()
        self.status.setText(f"Could not count every shape: {error}" if error else before)
        self._fill()

    def _run(self, work, then, message: str) -> None:
        job = _Job(work, then, self)
        self._jobs.add(job)
        self._set_busy(True, message)
        job.done.connect(self._job_done)  # a bound slot: queued onto the GUI thread
        job.finished.connect(job.deleteLater)
        job.start()

    def _job_done(self, job: _Job, result, error: str) -> None:
        self._jobs.discard(job)
        self._set_busy(bool(self._jobs), "")
        job.then(result, error)

    def _set_busy(self, busy: bool, message: str) -> None:
        for button in self.buttons.values():
            button.setEnabled(not busy)
        if message:
            self.status.setText(message)

    def _fill(self) -> None:
        selected = self._selected()
        self.table.setRowCount(0)
        for cat in self._project.labels.categories:
            r = self.table.rowCount()
            self.table.insertRow(r)
            pixmap = QPixmap(12, 12)
            pixmap.fill(QColor(*cat.color))
            name = QTableWidgetItem(QIcon(pixmap), cat.name)
            n = self.count(cat.name)
            count = QTableWidgetItem("…" if n is None else str(n))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(r, 0, name)
            self.table.setItem(r, 1, count)
            if cat.name == selected:
                self.table.selectRow(r)

    def _selected(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.table.item(rows[0].row(), 0).text() if rows else None

    # --- asking -----------------------------------------------------------------------------
    def _need_selection(self) -> str | None:
        name = self._selected()
        if name is None:
            self.status.setText("Select a class first.")
        return name

    def _ask_rename(self) -> None:
        if (old := self._need_selection()) is None:
            return
        new, ok = QInputDialog.getText(self, "Rename class", f"New name for {old}:", text=old)
        if not ok or not normalise_name(new) or normalise_name(new) == old:
            return
        existing = self._project.labels.get(new)
        if existing is not None and existing.name.casefold() != old.casefold():
            answer = QMessageBox.question(self, "Merge classes",
                                          f"{existing.name} exists already. Merge {old} into it?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.rename(old, new)

    def _ask_merge(self) -> None:
        if (source := self._need_selection()) is None:
            return
        others = [n for n in self._project.labels.names if n != source]
        if not others:
            self.status.setText("There is no other class to merge into.")
            return
        target, ok = QInputDialog.getItem(self, "Merge class", f"Merge {source} (and its shapes) into:",
                                          others, 0, False)
        if ok:
            self.merge(source, target)

    def _ask_delete(self) -> None:
        if (name := self._need_selection()) is None:
            return
        n = self.count(name)
        shapes = "its shapes" if n is None else f"its {n} shape(s)"
        answer = QMessageBox.question(
            self, "Delete class",
            f"Delete {name} and {shapes} from every image?\n\n(To keep the shapes under another class, "
            "use Merge into… instead. On images open in the window, Ctrl+Z brings them back.)")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete(name)

    def _ask_colour(self) -> None:
        if (name := self._need_selection()) is None:
            return
        current = QColor(*self._project.labels.color(name))
        color = QColorDialog.getColor(current, self, f"Colour of {name}")
        if color.isValid():
            self.recolour(name, (color.red(), color.green(), color.blue()))

    def done(self, result: int) -> None:
        for job in list(self._jobs):
            job.wait()  # a half-run rewrite must finish: each file it writes is complete
        super().done(result)
