"""Opening a folder and moving between its images: the main window's part that follows the folder.

A mixin of ``MainWindow`` (it uses the window's docks, canvas, document store, image
loader, lister and scanner): the folder is listed off the GUI thread (``folder_lister``),
statuses come from the index in a helper process (``status_scan``), pixels are decoded
off the GUI thread with the neighbours ahead (``image_loader``); the GUI thread only
applies what arrives.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QTimer

from annotator.core.project import IMAGE_EXTENSIONS, PROJECT_FILE, Project
from annotator.gui.documents import DocumentStore
from annotator.gui.engine_worker import EngineSettings
from annotator.gui.file_list import MISSING
from annotator.gui.recent import remember

FIRST_IMAGE_WAIT_MS = 1000  # a folder's first image waits this long at most for its pixels


class FolderBrowsing:
    """``open_path``, ``show_image``, A / D, and the arrival of listings, statuses and pixels.

    Uses the window's ``files``, ``canvas``, ``store``, ``images``, ``lister``, ``scanner``,
    ``router``, ``settings`` and state (``project``, ``current``, ``pixels``, ``_images``,
    ``_listing``, ``_first``, ``_early_statuses``)."""

    def open_path(self, path: str | Path) -> bool:
        """Open an image (its folder becomes the project) or a folder of images.

        The folder is listed off the GUI thread: an image named by *path* is shown at once,
        a folder's first image once the listing arrives (``_on_listed``)."""
        path = Path(path).expanduser().resolve()
        if path.is_file():
            root, first = path.parent, path.name
        elif path.is_dir():
            root, first = path, None
        else:
            self._show_problem("Cannot open", f"'{path}' does not exist.")
            return False
        try:
            project = Project.open(root)
        except OSError as e:
            self._show_problem("Cannot open", str(e))
            return False
        self._set_project(project)
        if first is not None and Path(first).suffix.lower() in IMAGE_EXTENSIONS and not first.startswith("."):
            self.show_image(first, with_pixels=True)  # the listing would find it: no need to wait for it
        self.settings.recent = remember(self.settings.recent, str(root))
        self._settings_saver.start()
        return True

    def _on_listed(self, root, images: list[str], error: str) -> None:
        """The folder's images arrive from the lister: fill the list, show the first image
        unless one is shown already, and apply statuses that arrived before the listing."""
        if self.project is None or root != self.project.root:
            return
        if error:
            self._show_problem("Cannot list the folder", error)
        self._images = images
        self.files.set_images(images, {})
        if self._early_statuses is not None:
            self._on_statuses(root, *self._early_statuses)
            self._early_statuses = None
        QTimer.singleShot(0, lambda: self._show_listed(root))  # the list paints first, then the image

    def _show_listed(self, root) -> None:
        """After the listing: the first image, unless one is shown (then its list row and neighbours)."""
        if self.project is None or root != self.project.root:
            return
        images = self._images
        if self.current is not None and self.current in images:
            self._listing = False
            self.files.select(self.current)
            self._prefetch_neighbours(self.current)
        elif images:
            self._show_first(root, images[0])
        else:
            self._listing = False
            self.current = None
            self.canvas.show_error(f"No images in {root}\n(looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
            self._refresh_shapes()  # nothing of the previous folder stays listed or selectable
            self.settings.last_path = str(root)
            self._settings_saver.start()

    def _show_first(self, root, image: str) -> None:
        """The folder's first image once its pixels are decoded and its annotation file parsed
        ahead (at most FIRST_IMAGE_WAIT_MS later), so it is drawn once, not twice."""
        key = (root, image)
        self._first = image
        if self.images.cached(key) is not None:
            self._first_ready(root, image)
            return
        self.store.prefetch(image)
        self.images.request(key, self.project.image_path(image))
        QTimer.singleShot(FIRST_IMAGE_WAIT_MS, lambda: self._first_ready(root, image))

    def _first_ready(self, root, image: str) -> None:
        """Its pixels arrived (or the wait ended): show it, unless the user went elsewhere meanwhile."""
        if self.project is None or root != self.project.root or self._first != image:
            return
        self._first, self._listing = None, False
        if self.current is None:
            self.show_image(image)

    def listing(self) -> bool:
        """True from opening a folder until its images are listed and its first image shown."""
        return self._listing

    def _set_project(self, project: Project) -> None:
        self._close_project()
        if not (project.state_dir / PROJECT_FILE).exists():
            project.settings = replace(self._project_defaults)
            if self.settings.last_model:  # the model the user last chose, not "missing" again
                project.settings.model = self.settings.last_model
        self.project = project
        self.client.configure(EngineSettings.from_project(project.settings))
        self.offer_proposal_modes()
        self.store = DocumentStore(project, self.undo_group, reader=self._reader, parent=self)
        self.store.statusChanged.connect(self._on_status)
        self.store.documentChanged.connect(self._on_document_changed)
        self.store.saveFailed.connect(lambda image, msg: self._show_problem("Not saved", msg))
        self.router.store = self.store
        self.router.forget()
        self._make_canvas(project.labels)
        self._images, self._early_statuses, self._listing, self._first = [], None, True, None
        self.files.set_images([], {})  # the images follow from the lister, statuses from the index
        self.images.forget()
        self.lister.list(project)
        self.scanner.scan(project)
        self.prompt.classes.setText(project.settings.classes)
        self.prompt.set_proposals_mode(project.settings.proposals)
        self.prompt.classes.set_names(project.labels.names)
        self.model_setup.check()  # this folder's model may be another one
        self.setWindowTitle(f"PnP Annotator — {project.root}")
        for problem in project.problems:
            self._show_problem("Project file damaged", problem)

    def _close_project(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store.deleteLater()
        self.store, self.project, self.current, self.pixels = None, None, None, None
        self._listing, self._first = False, None
        self.router.store = None
        self.canvas.set_document(None, None)

    def show_image(self, image: str, with_pixels: bool = False) -> None:
        """Show *image*: its shapes at once, its pixels when decoded (off the GUI thread,
        usually already there: the neighbours of the shown image are decoded ahead).

        *with_pixels* (an image opened by name, e.g. on relaunch): its shapes wait for its
        pixels (FIRST_IMAGE_WAIT_MS at most), so they are not drawn on an empty canvas first."""
        if self.store is None:
            return
        self.store.flush()  # switching images saves the one we leave
        self.current = image
        self.files.select(image)
        self.canvas.set_overlay(None)
        if self.files.status(image) == MISSING:
            self.missing.show(image)
            return
        key = (self.project.root, image)
        try:
            doc = self.store.document(image)
        except Exception as e:  # noqa: BLE001 - unreadable image or damaged annotation file
            self._show_unreadable(image, e)
            return
        self.pixels = self.images.cached(key)
        if with_pixels and self.pixels is None:
            self.canvas.set_document(None, None)  # drawn with its pixels (_on_image_loaded)
            QTimer.singleShot(FIRST_IMAGE_WAIT_MS, lambda: self._draw_without_pixels(image))
        else:
            self.canvas.set_document(doc, self.pixels)
        self.store.activate(image)
        self.settings.last_path = str(self.project.image_path(image))  # a relaunch reopens here
        self._settings_saver.start()  # written once browsing pauses: a write costs milliseconds
        self._restore_result(image, doc, self.pixels)
        self._refresh_shapes()
        self.heatmap_view.result_changed(image)
        self.statusBar().showMessage(f"{image} ({doc.annotations.width}×{doc.annotations.height})", 3000)
        if self.pixels is None:
            self.images.request(key, self.project.image_path(image))
        else:
            self._check_size(image, self.pixels)
        self._prefetch_neighbours(image)

    def _draw_without_pixels(self, image: str) -> None:
        """The pixels of *image* are slow to come (a huge file): its shapes are drawn meanwhile."""
        if (self.project is not None and image == self.current and self.pixels is None
                and self.files.status(image) != "unreadable"):
            doc = self.store.open_document(image) if self.store is not None else None
            if doc is not None and self.canvas.document() is None:
                self.canvas.set_document(doc, None)

    def _prefetch_neighbours(self, image: str) -> None:
        for delta in (1, -1, 2):
            neighbour = self.files.step(image, delta)
            if neighbour and neighbour != image:
                self.images.request((self.project.root, neighbour), self.project.image_path(neighbour))
                self.store.prefetch(neighbour)

    def _on_image_loaded(self, key, pixels, error: str) -> None:
        if self.project is not None and self._first is not None and key == (self.project.root, self._first):
            self._first_ready(self.project.root, self._first)
            return
        if self.project is None or key != (self.project.root, self.current):
            return  # a neighbour decoded ahead, or an image no longer shown
        if pixels is None:
            self._show_unreadable(self.current, error)
            return
        doc = self.store.open_document(self.current)
        if doc is not None:
            self.pixels = pixels
            self.canvas.set_document(doc, pixels)
            self._check_size(self.current, pixels)
            if self._restore_result(self.current, doc, pixels):
                self._refresh_shapes()
            self.heatmap_view.result_changed(self.current)  # its kept heatmaps, or "none" now
            self.heatmap_view.update_overlay()

    def _restore_result(self, image: str, doc, pixels) -> bool:
        """The image's kept heatmaps (from its heatmap file), so the sliders work after a
        relaunch; they need the decoded pixels. True when a result was brought back."""
        saved = self.router.restore(image, pixels)
        if saved is None:
            return False
        if doc.params is None:
            doc.params = self.project.settings.proposal_settings().but(
                threshold=saved.threshold, tolerance=saved.tolerance, background=saved.background)
        return True

    def _show_unreadable(self, image: str, error) -> None:
        self.pixels = None
        self.store.activate(None)
        self.canvas.show_error(f"Cannot show {image}\n\n{error}")
        self.heatmap.set_classes([])  # no pixels will come: no kept heatmaps either
        self.files.set_status(image, "unreadable")
        self.statusBar().showMessage(f"{image}: {error}", 8000)
        self._refresh_shapes()

    def _check_size(self, image: str, pixels) -> None:
        """A replaced image (another size than the one its shapes were drawn on) is reported."""
        doc = self.store.open_document(image)
        if doc is None:
            return
        h, w = pixels.shape[:2]
        ann = doc.annotations
        if (ann.width, ann.height) != (w, h) and ann.shapes:
            self._show_problem("Image replaced", f"{image} is now {w}×{h} but its shapes were drawn on a "
                               f"{ann.width}×{ann.height} image. The shapes are kept; check them before "
                               "exporting (export leaves this image out until its size matches).")

    def _on_statuses(self, root, statuses: dict, counts: dict) -> None:
        if self.project is None or root != self.project.root:
            return
        if self.lister.busy():  # kept until the images are listed
            self._early_statuses = (statuses, counts)
            return
        gone = sorted(set(statuses) - set(self._images))
        self.files.set_statuses(statuses, counts)  # one update of the list model, whatever its size
        if gone:
            self.files.add_missing(gone, counts)  # listed last, marked missing
            listed = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
            self.statusBar().showMessage(f"{len(gone)} annotated image(s) are no longer in the folder (listed "
                                         f"last, struck through; their annotations are kept): {listed}", 15000)

    def _on_status(self, image: str, _status: str = "") -> None:
        status, counts = self.store.summary(image)
        self.files.set_status(image, status, counts)

    def refresh_statuses(self, images) -> None:
        """Statuses and counts of *images* whose files were rewritten elsewhere."""
        for image in images:
            self._on_status(image)

    def on_prev_image(self) -> None:
        self._step(-1)

    def on_next_image(self) -> None:
        self._step(+1)

    def _step(self, delta: int) -> None:
        target = self.files.step(self.current, delta)
        if target and target != self.current:
            self.show_image(target)
