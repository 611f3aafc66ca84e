"""Where engine results go: onto the image each job belongs to, never the one on screen.

The router keeps the last SegmentationResult per image (a small LRU, for the
heatmap overlay and the sliders), writes its heatmaps beside the image's annotation
file (``core.heatcache``: the sliders work again after a relaunch) and hands shapes
to the DocumentStore, which applies them to that image's open document (undoable,
together with the slider values they were made with) or to its file.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QObject, Signal

from annotator.core import heatcache
from annotator.gui.engine_worker import CANCELLED, IMAGE_ERROR, NO_MODEL, EngineClient

RESULTS_KEPT = 8  # heatmaps are small, but a result also holds a full-size label map


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
        self._params: dict[int, tuple[float | None, float, str]] = {}  # job -> threshold, tolerance, background
        client.proposalsReady.connect(self._on_proposals)
        client.batchSaved.connect(self._on_batch_saved)
        client.failed.connect(self._on_failed)
        client.jobFinished.connect(lambda job_id: self._params.pop(job_id, None))

    def result(self, image: str):
        return self._results.get(image)

    def expect(self, job_id: int, threshold: float | None, tolerance: float, background: str) -> None:
        """The values job *job_id* runs with: kept with its heatmaps and its undo command."""
        self._params[job_id] = (threshold, tolerance, background)

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
        self._cache(image, _as_result(saved, pixels))
        return saved

    def forget(self) -> None:
        """A different project: its images' names may repeat the old one's, so the old
        project's jobs are cancelled and any late result of theirs is dropped."""
        self._first_job = self.client.cancel_all() + 1
        self._results.clear()

    def _on_proposals(self, job_id: int, image: str, result, shapes: list) -> None:
        self._land(job_id, image, result, shapes, self.store and self.store.apply_proposals)

    def _on_batch_saved(self, job_id: int, image: str, result, shapes: list) -> None:
        """The pipeline saved the file; an open document of the image takes the same proposals."""
        self._land(job_id, image, result, shapes, self.store and self.store.proposals_saved)

    def _land(self, job_id: int, image: str, result, shapes: list, deliver) -> None:
        """Keep a job's result and hand its shapes to the store (*deliver*), unless the job
        belongs to a project that was closed since."""
        if self.store is None or job_id < self._first_job:
            return
        params = self._params.get(job_id)
        self._cache(image, result)
        if params is not None:
            self._keep(image, params)
        deliver(image, shapes, params[:2] if params else None)
        self.applied.emit(image, len(shapes))

    def _cache(self, image: str, result) -> None:
        if result is None:
            return
        self._results[image] = result
        self._results.move_to_end(image)
        while len(self._results) > RESULTS_KEPT:
            self._results.popitem(last=False)
        self.resultCached.emit(image)

    def _keep(self, image: str, params: tuple) -> None:
        """Write the image's heatmaps with the values its proposals now come from (a few kB)."""
        result = self._results.get(image)
        if result is None or result.work_image is None:
            return
        saved = heatcache.SavedResult(list(result.classes), result.heatmaps, tuple(result.image_size),
                                      tuple(result.work_image.shape[:2]), *params)
        try:
            heatcache.save_result(self.store.project, image, saved)
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
