"""Where engine results go: onto the image each job belongs to, never the one on screen.

The router keeps the last SegmentationResult per image (a small LRU, for the
heatmap overlay and the sliders), writes its heatmaps beside the image's annotation
file (``core.pipeline.save_heatmaps``: the sliders work again after a relaunch) and hands
shapes to the DocumentStore, which applies them to that image's open document (undoable,
together with the ``ProposalSettings`` they were made with, which came back with the job's
result) or to its file.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QObject, Signal

from annotator.core import heatcache
from annotator.core.pipeline import save_heatmaps
from annotator.gui.engine_worker import CANCELLED, IMAGE_ERROR, NO_MODEL, EngineClient

RESULTS_KEPT = 8
RESTORABLE_ENGINE = "pnp-ovss"  # the engine whose results a heatmap file brings back (_as_result)  # heatmaps are small, but a result also holds a full-size label map


class JobRouter(QObject):
    applied = Signal(str, int)  # image, number of proposals
    resultCached = Signal(str)  # image whose heatmaps changed
    message = Signal(str)  # one line for the status bar
    problem = Signal(str, str)  # title, message: worth a dialog

    def __init__(self, client: EngineClient, parent: QObject | None = None):
        super().__init__(parent)
        self.client = client
        self.store = None  # DocumentStore of the open project, set by the window
        self._results: OrderedDict[str, object] = OrderedDict()
        self._first_job = 0  # jobs before this one belong to a project no longer open
        client.proposalsReady.connect(self._on_proposals)
        client.batchSaved.connect(self._on_batch_saved)
        client.failed.connect(self._on_failed)

    def result(self, image: str):
        return self._results.get(image)

    def restore(self, image: str, pixels: np.ndarray | None) -> heatcache.SavedResult | None:
        """Bring *image*'s kept result back from its heatmap file when it is not in memory.

        *pixels*: the image's RGB, resized to the engine's working size again so that
        post-processing (CRF) can re-run. Returns what was read (its params restore the
        sliders), or None when the result was in memory already or none is kept.
        """
        if image in self._results or self.store is None or pixels is None:
            return None
        saved = heatcache.load_result(self.store.project, image)
        if saved is None or saved.image_size != tuple(pixels.shape[:2]):
            return None  # none kept, or the image was replaced since
        if not self._same_run(image, saved):
            return None
        self._cache(image, _as_result(saved, pixels))
        return saved

    def _same_run(self, image: str, saved) -> bool:
        """The heatmap file belongs to the model run the image's proposals came from: the same
        classes and an engine of the kind the window now runs (a stale file of another run is
        never used: re-drawing from it would replace the proposals with another run's)."""
        from engine.config import engine_for_model

        doc = self.store.open_document(image)
        run = doc.annotations.model_run if doc is not None else None
        if not run:
            return False
        if list(run.get("classes", [])) != list(saved.classes):
            return False
        engine = engine_for_model(str(run.get("model", ""))).name
        return engine == self.client.settings.engine == RESTORABLE_ENGINE

    def forget_engine(self, engine: str) -> None:
        """The model now runs *engine*: kept results of another engine cannot be re-drawn by it."""
        for image in [i for i, r in self._results.items() if getattr(r, "engine", "pnp-ovss") != engine]:
            del self._results[image]
            self.resultCached.emit(image)

    def forget(self) -> None:
        """A different project: its images' names may repeat the old one's, so the old
        project's jobs are cancelled and any late result of theirs is dropped."""
        self._first_job = self.client.cancel_all() + 1
        self._results.clear()

    def _on_proposals(self, job_id: int, image: str, result, shapes: list, settings, run) -> None:
        """A Propose (*result*, *run*: its model_run) or a re-draw of a kept result (both None)."""
        if self._land(job_id, image, result, shapes, settings, self.store and self.store.apply_proposals, run):
            kept = self._results.get(image)
            if kept is not None:
                self._keep(image, kept, settings)

    def _on_batch_saved(self, job_id: int, image: str, result, shapes: list, settings) -> None:
        """The pipeline saved the file (and the heatmaps); an open document of the image takes the
        same proposals."""
        self._land(job_id, image, result, shapes, settings, self.store and self.store.proposals_saved)

    def _land(self, job_id: int, image: str, result, shapes: list, settings, deliver, *extra) -> bool:
        """Keep a job's result and hand its shapes and settings to the store (*deliver*), unless
        the job belongs to a project that was closed since."""
        if self.store is None or job_id < self._first_job:
            return False
        self._cache(image, result)
        deliver(image, shapes, settings, *extra)
        self.applied.emit(image, len(shapes))
        return True

    def _cache(self, image: str, result) -> None:
        if result is None:
            return
        self._results[image] = result
        self._results.move_to_end(image)
        while len(self._results) > RESULTS_KEPT:
            self._results.popitem(last=False)
        self.resultCached.emit(image)

    def _keep(self, image: str, result, settings) -> None:
        """Write the image's heatmaps with the values its proposals now come from (a few kB)."""
        try:
            save_heatmaps(self.store.project, image, result, settings)
        except OSError as e:  # the proposals are saved; only the sliders after a relaunch are lost
            self.message.emit(f"Heatmaps of {image} not kept: {e}")

    def _on_failed(self, job_id: int, image: str, kind: str, message: str) -> None:
        if kind == NO_MODEL or job_id < self._first_job:
            return  # the window shows the model dialog from client.modelMissing
        where = f"{image}: " if image else ""
        if kind == CANCELLED:  # the engine's own words ("cancelled after ...") would say it twice
            self.message.emit(f"Cancelled: {image or 'the job'} keeps its shapes as they were")
        elif kind == IMAGE_ERROR:
            self.message.emit(f"Cannot read {where}{message}")
        else:
            self.message.emit(f"{kind.capitalize()}: {where}{message}")
            self.problem.emit(kind.capitalize(), f"{where}{message}\n\nYour annotations are unchanged.")


def _as_result(saved, pixels: np.ndarray):
    """An engine SegmentationResult holding what post-processing needs, from a heatmap file."""
    from engine import SegmentationResult
    from engine.pnp_ovss.postprocess import resize_rgb

    return SegmentationResult(classes=list(saved.classes), heatmaps=saved.heatmaps, passes=[], dropped=[],
                              presence={}, label_map=None, image_size=saved.image_size,
                              work_image=resize_rgb(pixels, *saved.work_size))
