"""Interactive (click-to-segment) jobs of the engine thread: a priority lane, no Qt.

The GUI thread puts jobs in ``InteractiveLane`` (thread-safe) and wakes the engine
worker; the worker calls ``drain()`` when woken, before each queued job, and from the
progress callback of a running Propose or batch (at least once per dropout pass). So a
click never waits behind queued batch work, and waits for a running pass at most.

Only the newest click per image is decoded (older ones are superseded), and each
result carries the image it was computed for: the canvas drops results for any
other image or an older click. Exemplar boxes (``exemplar_jobs``: SAM 3, "find all
like this") ride the same lane, the newest box set per image likewise.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from annotator.gui.exemplar_jobs import ExemplarJob, run_exemplar_job


@dataclass
class EmbedJob:
    """Compute (or touch) the image embedding so that the first click is fast."""

    job_id: int
    image: str  # project-relative path: the identity results are routed by
    key: str  # embedding cache key (absolute path)
    pixels: np.ndarray  # RGB uint8 [H, W, 3]


@dataclass
class ClickJob:
    """Decode one set of prompts on one image (embedding computed first when missing)."""

    job_id: int
    image: str
    key: str
    pixels: np.ndarray
    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    tolerance: float = 1.0  # polygon simplification of the mask outline, pixels
    min_area_fraction: float = 0.0005  # specks below this fraction of the image are not outlined


@dataclass
class SharpenJob:
    """Sharpen proposals of one image (core.refine.sharpen_shapes) with the interactive model."""

    job_id: int
    image: str
    key: str
    pixels: np.ndarray
    shapes: list  # the document's Shape objects when asked (identity tells if they changed since)
    ids: list[str]  # the proposals to sharpen
    heatmaps: Any = None  # [C, P, P] of the last Propose, or None
    classes: list[str] = field(default_factory=list)
    tolerance: float = 1.5


@dataclass
class SharpenResult:
    job_id: int
    image: str
    replacements: dict  # shape id -> its sharpened Shape (same id)
    before: dict  # shape id -> the Shape object the replacement was computed from
    left: dict = field(default_factory=dict)  # shape id -> why it was left as it was (core.refine)


@dataclass
class ClickResult:
    """What the canvas previews: the mask's outline as polygons with holes."""

    job_id: int
    image: str
    parts: list[tuple[np.ndarray, list[np.ndarray]]]  # (exterior [N,2], holes) per connected region
    score: float
    area: int  # mask pixels; 0 = no object here
    seconds: float  # decode + polygon time


def mask_parts(mask: np.ndarray, tolerance: float, min_area_fraction: float = 0.0) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """The mask's regions as (exterior, holes) rings, largest first (core geometry). Regions
    and holes smaller than *min_area_fraction* of the image are specks, not the object's
    outline: they are dropped and filled (as SAM 2's own predictor fills small holes)."""
    import cv2

    from annotator.core.geometry import mask_to_polygons, min_pixels_for, polygon_rings

    mask = np.asarray(mask, dtype=bool)
    min_pixels = min_pixels_for(min_area_fraction, *mask.shape)
    if min_pixels > 1:
        _, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
        speck = stats[:, cv2.CC_STAT_AREA] < min_pixels
        speck[0] = False  # label 0: the mask's own pixels
        mask = mask | speck[labels]
    polys = sorted(mask_to_polygons(mask, tolerance=tolerance, min_pixels=min_pixels),
                   key=lambda p: p.area, reverse=True)
    return [polygon_rings(p) for p in polys]


class InteractiveLane:
    """Pending interactive jobs and the interactive model, run on the engine thread."""

    def __init__(self, factory: Callable[[], Any], on_result: Callable[[ClickResult], None],
                 on_embedded: Callable[[int, str], None], on_failed: Callable[[int, str, str, str], None],
                 on_missing: Callable[[str], None], exemplars: Callable[[], Any] | None = None,
                 on_notice: Callable[[str], None] | None = None):
        self._factory = factory
        self._exemplars = exemplars  # () -> the SAM 3 segmenter of exemplar jobs
        self._on_notice = on_notice  # one-line messages of the model (ONNX Runtime export, fallback)
        self._on_result, self._on_embedded = on_result, on_embedded
        self._on_failed, self._on_missing = on_failed, on_missing
        self._lock = threading.Lock()
        self._pending: deque = deque()
        self._segmenter = None
        self._running = False  # drain() is not re-entered from a progress callback

    # --- any thread -------------------------------------------------------------------------
    def put(self, job) -> None:
        with self._lock:
            if isinstance(job, ClickJob):  # a newer click on the same image supersedes older ones
                self._pending = deque(j for j in self._pending
                                      if not (isinstance(j, ClickJob) and j.image == job.image))
            elif isinstance(job, ExemplarJob):  # it carries every box of its image so far
                self._pending = deque(j for j in self._pending
                                      if not (isinstance(j, ExemplarJob) and j.image == job.image))
            elif isinstance(job, EmbedJob) and any(isinstance(j, EmbedJob) and j.key == job.key
                                                   for j in self._pending):
                return
            self._pending.append(job)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    # --- engine thread ------------------------------------------------------------------------
    def set_factory(self, factory: Callable[[], Any]) -> None:
        """A new interactive model or device: loaded again, lazily, on the next job."""
        self._factory = factory
        self._segmenter = None

    def release(self) -> None:
        self._segmenter = None

    def forget(self, key: str) -> None:
        """Drop one cached embedding (an image a batch saw once)."""
        if self._segmenter is not None:
            self._segmenter.forget(key)

    def drain(self) -> None:
        if self._running:
            return
        self._running = True
        try:
            while True:
                with self._lock:
                    if not self._pending:
                        return
                    job = self._pending.popleft()
                self._run(job)
        finally:
            self._running = False

    def segmenter(self):
        """The interactive model (loaded on first use); ModelNotFoundError when missing."""
        if self._segmenter is None:
            self._segmenter = self._factory()
            if self._on_notice is not None and hasattr(self._segmenter, "status"):
                self._segmenter.status = self._on_notice
        return self._segmenter

    @staticmethod
    def _sharpen(seg, job: SharpenJob) -> SharpenResult:
        from annotator.core.refine import sharpen_shapes

        h, w = job.pixels.shape[:2]
        predict = lambda points, labels, box: seg.predict(points, labels, box, image_key=job.key).mask  # noqa: E731
        left: dict[str, str] = {}
        new = sharpen_shapes(job.shapes, h, w, predict, ids=job.ids, heatmaps=job.heatmaps,
                             classes=job.classes, tolerance=job.tolerance, left=left)
        return SharpenResult(job.job_id, job.image, new, {s.id: s for s in job.shapes if s.id in new}, left)

    def _run(self, job) -> None:
        import time

        from engine.errors import ModelNotFoundError

        if isinstance(job, ExemplarJob):
            self._run_exemplars(job)
            return
        try:
            seg = self.segmenter()
            seg.set_image(job.key, job.pixels)
            if isinstance(job, EmbedJob):
                self._on_embedded(job.job_id, job.image)
                return
            if isinstance(job, SharpenJob):
                self._on_result(self._sharpen(seg, job))
                return
            start = time.perf_counter()
            pred = seg.predict(job.points, job.labels, job.box, image_key=job.key)
            area = int(pred.mask.sum())
            parts = mask_parts(pred.mask, job.tolerance, job.min_area_fraction) if area else []
            self._on_result(ClickResult(job.job_id, job.image, parts, pred.score, area,
                                        time.perf_counter() - start))
        except ModelNotFoundError as e:
            self._on_missing(str(e))
            self._on_failed(job.job_id, job.image, "no model", str(e))
            with self._lock:  # every queued click would fail the same way
                self._pending.clear()
        except ValueError as e:
            self._on_failed(job.job_id, job.image, "bad input", str(e))
        except Exception as e:  # noqa: BLE001 - reported, the engine thread goes on
            self._on_failed(job.job_id, job.image, "engine error", f"{type(e).__name__}: {e}")

    def _run_exemplars(self, job: ExemplarJob) -> None:
        """Failures go to on_failed only: a missing SAM 3 is the exemplar tool's dialog, not the
        interactive model's, and queued clicks still run."""
        from engine.errors import ModelNotFoundError

        try:
            if self._exemplars is None:
                raise ModelNotFoundError("exemplar boxes need SAM 3, and this engine thread has none")
            self._on_result(run_exemplar_job(self._exemplars(), job))
        except ModelNotFoundError as e:
            self._on_failed(job.job_id, job.image, "no model", str(e))
        except ValueError as e:
            self._on_failed(job.job_id, job.image, "bad input", str(e))
        except Exception as e:  # noqa: BLE001 - reported, the engine thread goes on
            self._on_failed(job.job_id, job.image, "engine error", f"{type(e).__name__}: {e}")
