"""The main window: wires the canvas, docks, engine and project together.

It owns no editing or storage logic: documents (undo, autosave) are in
``documents``, engine jobs in ``engine_worker`` and their routing in
``job_router``, commands and shortcuts in ``actions`` (shape edits in
``edit_commands``, review in ``review_commands``), opening folders and
switching images in ``folder_browsing``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QIcon, QUndoGroup
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QVBoxLayout, QWidget

from annotator.core.project import IMAGE_EXTENSIONS, Project, ProjectSettings
from annotator.gui import dialogs
from annotator.gui.actions import Actions
from annotator.gui.canvas import Canvas
from annotator.gui.canvas_tools.ai_controller import AiPolygonController
from annotator.gui.canvas_tools.exemplar_controller import ExemplarController
from annotator.gui.documents import DocumentStore
from annotator.gui.edit_commands import EditCommands
from annotator.gui.engine_worker import EngineClient, EngineSettings, load_interactive, load_segmenter
from annotator.gui.file_list import FileListDock
from annotator.gui.folder_browsing import FolderBrowsing
from annotator.gui.folder_lister import FolderLister
from annotator.gui.heatmap_panel import HeatmapDock
from annotator.gui.heatmap_view import HeatmapView
from annotator.gui.image_loader import ImageLoader
from annotator.gui.job_router import JobRouter
from annotator.gui.missing_images import MissingImages
from annotator.gui.model_menu import ModelMenu
from annotator.gui.model_setup import ModelSetup
from annotator.gui.recent import RecentMenu
from annotator.gui.prompt_bar import PromptBar, parse_classes
from annotator.gui.review_commands import ReviewCommands
from annotator.gui.settings import AppSettings
from annotator.gui.shape_list import ShapeListDock
from annotator.gui.status_scan import StatusScanner
from annotator.gui.view_options import ClassesMenu, FillMenu, ViewOptions

ICON = Path(__file__).resolve().parents[2] / "resources" / "icons" / "pnp-annotator.png"
SETTINGS_SAVE_DELAY_MS = 1000  # the last image shown is saved once browsing pauses (and on close)


class MainWindow(FolderBrowsing, QMainWindow):
    def __init__(self, settings: AppSettings | None = None, segmenter_factory=load_segmenter,
                 project_defaults: ProjectSettings | None = None,
                 interactive_factory=load_interactive):
        """*project_defaults*: the settings a folder without a project.json starts with."""
        super().__init__()
        self.setWindowTitle("PnP Annotator")
        if ICON.exists():
            self.setWindowIcon(QIcon(str(ICON)))
        self.settings = settings or AppSettings.load()
        self._project_defaults = project_defaults or ProjectSettings()
        self.project: Project | None = None
        self.store: DocumentStore | None = None
        self.current: str | None = None
        self.pixels: np.ndarray | None = None

        self.undo_group = QUndoGroup(self)
        self.client = EngineClient(EngineSettings.from_project(self._project_defaults), factory=segmenter_factory,
                                   parent=self,
                                   interactive_factory=interactive_factory)
        self.router = JobRouter(self.client, self)
        self.view = ViewOptions(self)
        self.images = ImageLoader(parent=self)  # decodes off the GUI thread, neighbours ahead
        self.scanner = StatusScanner(self)  # file list statuses from the index, off the GUI thread
        self.lister = FolderLister(self)  # the folder's images, listed off the GUI thread
        self.missing = MissingImages(self)  # annotated images whose file is gone
        QTimer.singleShot(0, self.scanner.warm_up)
        QTimer.singleShot(0, self.images.warm_up)
        # Annotation files of the shown image's neighbours are parsed here (DocumentStore.prefetch);
        # one thread for the window's life, started now rather than when a folder opens.
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="pnp-annotator-read")
        QTimer.singleShot(0, lambda: self._reader.submit(int))
        self._images: list[str] = []  # the open project's images, as listed
        self._early_statuses: tuple | None = None  # statuses that arrived before the listing
        self._listing = False  # from opening a folder until its images are listed and the first shown
        self._first: str | None = None  # the folder's first image, shown once its pixels are decoded
        self._dock_widths: dict | None = None  # dock widths before a small window narrowed them
        self._settings_saver = QTimer(self, singleShot=True, interval=SETTINGS_SAVE_DELAY_MS)
        self._settings_saver.timeout.connect(self.settings.save)
        self._build_widgets()
        self.edit = EditCommands(self)
        self.review = ReviewCommands(self)
        self.actions = Actions(self, self, self.edit, self.review)
        self.actions.menus["&File"].insertMenu(self.actions["save"], RecentMenu(self, self))
        view_menu = self.actions.menus["&View"]
        view_menu.insertMenu(self.actions["prev_image"], ClassesMenu(
            self.view, lambda: self.project.labels.names if self.project else [], self))
        view_menu.insertMenu(self.actions["prev_image"], FillMenu(self.view, self))
        view_menu.insertSeparator(self.actions["prev_image"])
        self.model_menu = ModelMenu(self.settings, lambda: self.engine_settings().model, self)
        self.actions.menus["&Model"].addSeparator()
        self.actions.menus["&Model"].addMenu(self.model_menu)
        self.ai = AiPolygonController(self)
        self.exemplars = ExemplarController(self)
        self._wire()
        self.heatmap_view.restore_look()
        self._update_enabled()
        self.model_setup.check()
        self.resize(1280, 800)
        self.resizeDocks([self.files, self.shapes], [220, 300], Qt.Orientation.Horizontal)

    # --- construction -------------------------------------------------------------------
    def _build_widgets(self) -> None:
        from annotator.core.labels import LabelSet

        self.prompt = PromptBar(self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.prompt)
        self.files = FileListDock(self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.files)
        self.shapes = ShapeListDock(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.shapes)
        self.heatmap = HeatmapDock(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.heatmap)
        self.heatmap_view = HeatmapView(self)
        self.heatmap.set_values(*self.heatmap_view.defaults())
        self.model_setup = ModelSetup(self)
        self.engine_state = self.model_setup.label
        self.zoom_label = QLabel()
        self.zoom_label.setToolTip("Zoom (Ctrl+0 fits the image to the window)")
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.statusBar().addPermanentWidget(self.engine_state)
        self._make_canvas(LabelSet())

    def _make_canvas(self, labels) -> None:
        """A canvas draws with one label set for its life, so each project gets its own.

        It sits in a fixed holder: swapping the central widget itself would make the
        main window re-divide its space and resize the docks.
        """
        if not hasattr(self, "_canvas_holder"):
            self._canvas_holder = QWidget(self)
            QVBoxLayout(self._canvas_holder).setContentsMargins(0, 0, 0, 0)
            self.setCentralWidget(self._canvas_holder)
        old = getattr(self, "canvas", None)
        self.canvas = Canvas(labels, self._canvas_holder)
        self.canvas.selectionChanged.connect(self.shapes.select)
        self.canvas.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 4000))
        self.canvas.zoomChanged.connect(lambda zoom: self.zoom_label.setText(f"{zoom * 100:.0f}%"))
        self._canvas_holder.layout().addWidget(self.canvas)
        self.heatmap_view.apply_shape_style()
        if hasattr(self, "ai"):
            self.ai.attach(self.canvas)
        if hasattr(self, "exemplars"):
            self.exemplars.attach(self.canvas)
        if old is not None:
            old.setParent(None)
            old.deleteLater()

    def _wire(self) -> None:
        self.files.imageActivated.connect(self.show_image)
        self.files.trashRequested.connect(self.missing.confirm_trash)
        self.shapes.selectionChanged.connect(lambda ids: self.canvas.select(ids))
        self.shapes.crowdToggled.connect(  # one undoable command on the open document
            lambda sid, on: (doc := self.document()) is not None and doc.set_iscrowd([sid], on))
        self.heatmap.show_overlay.toggled.connect(lambda on: self.actions["toggle_heatmap"].setChecked(on))
        self.prompt.proposeRequested.connect(self.on_propose)
        self.prompt.cancelRequested.connect(self.on_cancel_job)
        self.prompt.classesEdited.connect(self.remember_classes)
        self.prompt.classes.escaped.connect(self.canvas_focus)
        self.prompt.proposalsChanged.connect(self._remember_proposals)
        self.model_menu.modelChosen.connect(self.model_setup.use_model)
        self.undo_group.indexChanged.connect(lambda _: self._update_enabled())
        self.undo_group.cleanChanged.connect(lambda _: self._update_enabled())

        self.client.busyChanged.connect(self.prompt.set_busy)
        self.client.progress.connect(self._on_progress)
        self.client.stateChanged.connect(self.model_setup.engine_state)
        self.client.stateChanged.connect(self.prompt.show_state)
        self.client.modelMissing.connect(self.model_setup.show_missing)
        self.client.installBroken.connect(self.model_setup.show_install_problem)
        self.router.applied.connect(self._on_applied)
        self.router.resultCached.connect(self.heatmap_view.result_changed)
        self.router.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.client.interactiveNotice.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.router.problem.connect(self._show_problem)
        self.images.loaded.connect(self._on_image_loaded)
        self.scanner.scanned.connect(self._on_statuses)
        self.lister.listed.connect(self._on_listed)

    def document(self):
        return self.store.open_document(self.current) if self.store and self.current else None

    # --- reacting ---------------------------------------------------------------------------
    def _on_document_changed(self, image: str) -> None:
        if image == self.current:
            self._refresh_shapes()

    def _refresh_shapes(self) -> None:
        doc = self.document()
        self.heatmap_view.show_params(doc)
        shapes = doc.shapes() if doc else []
        labels = self.project.labels if self.project else None
        self.shapes.set_shapes(shapes, labels.color if labels else (lambda name: (128, 128, 128)))
        self.shapes.select(self.canvas.selected_ids())
        self._update_enabled()

    def _update_enabled(self) -> None:
        if not hasattr(self, "actions"):
            return
        has_project, doc = self.project is not None, self.document()
        proposals = bool(doc and doc.proposal_ids())
        for name in ("export_coco", "import_coco", "batch", "save", "classes", "calibrate"):
            self.actions[name].setEnabled(has_project)
        for name in ("accept_all", "reject_all", "next_proposal", "sharpen"):
            self.actions[name].setEnabled(proposals)
        for name in ("accept_selected", "reject_selected", "draw_polygon", "ai_polygon", "propose", "brush", "eraser",
                     "delete", "edit_label", "copy", "paste", "duplicate"):
            self.actions[name].setEnabled(doc is not None)
        self.prompt.propose.setEnabled(doc is not None)
        self.actions["undo"].setEnabled(self.undo_group.canUndo())
        self.actions["redo"].setEnabled(self.undo_group.canRedo())

    def _on_progress(self, job_id: int, image: str, stage: str, done: int, total: int) -> None:
        self.prompt.show_progress(stage, done, total)

    def _on_applied(self, image: str, count: int) -> None:
        where = "" if image == self.current else f" (applied to {image})"
        self.statusBar().showMessage(f"{count} proposal(s) for {image}{where}", 5000)
        self._update_enabled()

    def _remember_proposals(self, mode: str) -> None:
        """The prompt bar's Shapes choice: kept in the project; the current result is re-shaped (no model call)."""
        if self.project is None:
            return
        self.project.settings.proposals = mode
        self.project.save_settings()
        result = self.router.result(self.current) if self.current else None
        if result is not None:
            self.client.postprocess(self.current, result, self.heatmap_view.slider_settings())

    def remember_classes(self, text: str) -> None:
        if self.project is not None and text != self.project.settings.classes:
            self.project.settings.classes = text
            self.project.save_settings()

    def _show_problem(self, title: str, message: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # never exec(): the engine's results keep arriving behind it

    def engine_settings(self) -> ProjectSettings:
        """The settings the engine runs with: the open project's, else new projects' defaults."""
        return self.project.settings if self.project is not None else self._project_defaults

    # --- commands (Actions call on_<name>) ----------------------------------------------------
    def on_open_image(self) -> None:
        patterns = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self._start_dir(), f"Images ({patterns})")
        if path:
            self.open_path(path)

    def on_open_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open folder of images", self._start_dir())
        if path:
            self.open_path(path)

    def _start_dir(self) -> str:
        return str(self.project.root) if self.project else str(Path(self.settings.last_path or ".").parent)

    def on_save(self) -> None:
        if self.store is not None:
            self.store.flush()
            self.statusBar().showMessage("Saved", 2000)

    def on_export_coco(self) -> None:
        if self.project is not None:
            self.store.flush()
            dialogs.ExportDialog(self.project, self, pending=self.files.pending_proposals()).open()

    def on_calibrate(self) -> None:
        if self.project is not None:
            from annotator.gui.dialogs.calibrate import CalibrateDialog

            self.store.flush()  # calibration reads what is saved
            dialog = CalibrateDialog(self.project, self)
            dialog.applied.connect(lambda _routes: self.client.configure(EngineSettings.from_project(
                self.engine_settings())))  # the next Propose runs the routes
            dialog.open()

    def on_import_coco(self) -> None:
        if self.project is None:
            return
        dialog = dialogs.ImportDialog(self.project, self, last=(self.settings.import_format, self.settings.import_path))
        dialog.aboutToImport.connect(self.store.flush)  # the import reads what is saved
        dialog.aboutToImport.connect(lambda: self._remember_import(*dialog.chosen()))
        dialog.imported.connect(self._after_import)
        dialog.open()

    def _remember_import(self, kind: str, path: str) -> None:
        self.settings.import_format, self.settings.import_path = kind, path
        self._settings_saver.start()

    def _after_import(self, written: list) -> None:
        """Reload only the images the import wrote: other documents keep their undo history."""
        if self.project is None or self.store is None:
            return  # the folder was closed while the import ran
        self.store.reload(written)
        self.prompt.classes.set_names(self.project.labels.names)
        self.scanner.scan(self.project)  # statuses of the imported files, off the GUI thread
        if self.current in written:
            self.show_image(self.current)

    def on_batch(self) -> None:
        if self.project is not None:
            self.store.flush()
            dialog = dialogs.BatchDialog(self, self.prompt.classes.text())
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.show()  # not modal: annotating goes on while the folder is labelled

    def start_batch(self, classes: list[str], skip_annotated: bool) -> int | None:
        """Run the labelling pipeline over every image of the project (the CLI's ``label``
        with the project's settings); returns the job id, None when there are no images."""
        from annotator.core.pipeline import PipelineOptions

        self._register_classes(classes)
        images = self._images
        if not images:
            return None
        self.store.flush()  # the pipeline reads the files: they must hold every edit
        options = PipelineOptions.from_settings(self.project.settings, classes, skip_annotated=skip_annotated,
                                                model=self.client.settings.model, command="pnp-annotator window")
        return self.client.batch(self.project, images, options)

    def on_settings(self) -> None:
        dialog = dialogs.SettingsDialog(self.engine_settings(), self, app=self.settings)
        dialog.accepted.connect(self._after_settings)
        dialog.open()

    def _after_settings(self) -> None:
        self.apply_engine_settings()

    def apply_engine_settings(self) -> None:
        """The project's model or settings changed (Settings, the Model menu): the engine, the
        kept results of another engine and the Shapes choices follow; saved to project.json."""
        from annotator.core.proposals import makes_instances

        settings = self.engine_settings()
        self.client.configure(EngineSettings.from_project(settings))
        engine = self.client.settings.engine
        if settings.proposals == "instances" and not makes_instances(engine):
            settings.proposals = "auto"  # the engine makes no instances: its regions, not a failure per image
        if self.project is not None:
            self.project.save_settings()
        self.router.forget_engine(engine)
        self.offer_proposal_modes()
        self.heatmap_view.show_params(self.document())

    def offer_proposal_modes(self) -> None:
        """The Shapes box offers Instances only for an engine that makes them, and shows the project's mode."""
        from annotator.core.proposals import makes_instances

        item = self.prompt.proposals.model().item(self.prompt.proposals.findData("instances"))
        if item is not None:
            item.setEnabled(makes_instances(self.client.settings.engine))
        self.prompt.set_proposals_mode(self.engine_settings().proposals)

    def on_quit(self) -> None:
        self.close()

    def on_undo(self) -> None:
        self.undo_group.undo()

    def on_redo(self) -> None:
        self.undo_group.redo()

    def on_draw_polygon(self) -> None:
        if self.document() is not None:
            self.canvas.setFocus()
            self.canvas.begin_polygon()

    def on_ai_polygon(self) -> None:
        self.ai.toggle()

    def on_exemplars(self) -> None:
        self.exemplars.toggle()

    def on_sharpen(self) -> None:
        self.ai.sharpen()

    def on_propose(self) -> None:
        doc = self.document()
        if doc is None:
            return
        classes = parse_classes(self.prompt.classes.text())
        if not classes:
            self.statusBar().showMessage("Type the class names to segment first, e.g. sky, road, car", 6000)
            self.prompt.classes.setFocus()
            return
        self.remember_classes(self.prompt.classes.text())
        self._register_classes(classes)
        image, pixels = self.current, self.pixels
        if pixels is None and self.files.status(image) == "unreadable":  # known before any model loads
            self.statusBar().showMessage(f"Nothing to propose for {image}: the image itself cannot be read "
                                         "(the canvas says why)", 8000)
            return

        def request() -> None:
            settings = self.heatmap_view.new_settings()  # never the last image's slider values
            self.client.segment(image, self.project.image_path(image), classes, settings,
                                model=self.client.settings.model, pixels=pixels)

        self.model_setup.request(request)  # now, or once a model is chosen
        self.canvas_focus()  # the review keys (N, Y, X) reach the canvas, not the Classes field
        self.statusBar().showMessage(f"Proposing {', '.join(classes)} for {image}…", 4000)

    def _register_classes(self, classes: list[str]) -> None:
        """Typed classes join the label set: stable colours, completion, COCO categories."""
        for name in classes:
            self.project.labels.add(name)
        self.project.save_settings()
        self.prompt.classes.set_names(self.project.labels.names)

    def on_cancel_job(self) -> None:
        self.client.cancel_interactive()

    def on_toggle_heatmap(self) -> None:
        self.heatmap.show_overlay.setChecked(self.actions["toggle_heatmap"].isChecked())

    def on_focus_classes(self) -> None:
        self.prompt.classes.setFocus()
        self.prompt.classes.selectAll()

    def canvas_focus(self) -> None:
        self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    def on_focus_filter(self) -> None:
        self.files.filter.setFocus()

    def on_zoom_in(self) -> None:
        self.canvas.zoom_in()

    def on_zoom_out(self) -> None:
        self.canvas.zoom_out()

    def on_fit(self) -> None:
        self.canvas.fit_to_window()

    def on_classes(self) -> None:
        if self.project is None:
            return
        dialog = dialogs.ClassManagerDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.changed.connect(self.classes_changed)
        dialog.open()

    def classes_changed(self) -> None:
        """The project's label set changed (the class manager, or undoing one of its edits)."""
        self.canvas.redraw_shapes()  # colours may have changed
        self.prompt.classes.set_names(self.project.labels.names)
        self._refresh_shapes()

    def on_toggle_shapes(self) -> None:
        self.view.set_all_hidden(not self.actions["toggle_shapes"].isChecked())

    def on_shortcuts(self) -> None:
        dialog = dialogs.ShortcutsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def on_about(self) -> None:
        dialogs.show_about(self)

    # --- layout -------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        """In a small window the docks give way, so the image keeps about half of the width;
        when the window grows again they get back the widths they had (as far as half allows)."""
        super().resizeEvent(event)
        width = self.width()
        docks = [d for d in (self.files, self.shapes) if d.isVisible() and not d.isFloating()]
        if not docks:
            return
        share = {self.files: 0.2, self.shapes: 0.28}
        if sum(d.width() for d in docks) > 0.5 * width:
            if self._dock_widths is None:  # the widths the user had, given back later
                self._dock_widths = {d: d.width() for d in docks}
            self.resizeDocks(docks, [max(80, round(width * share[d])) for d in docks], Qt.Orientation.Horizontal)
        elif self._dock_widths is not None:
            wanted = [self._dock_widths.get(d, d.width()) for d in docks]
            if sum(wanted) <= 0.5 * width:
                self._dock_widths = None  # all given back
            else:
                wanted = [max(d.width(), min(w, round(width * share[d]))) for d, w in zip(docks, wanted)]
            self.resizeDocks(docks, wanted, Qt.Orientation.Horizontal)

    # --- closing ------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        self._close_project()  # flushes every edited document
        if self._settings_saver.isActive():
            self._settings_saver.stop()
            self.settings.save()
        self.model_setup.close()
        self.scanner.cancel()
        self.lister.shutdown()
        self.client.shutdown()
        self.images.shutdown()
        self._reader.shutdown(wait=False, cancel_futures=True)
        event.accept()
