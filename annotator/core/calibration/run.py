"""One calibration: reviewed images -> model outputs (cached) -> every candidate scored -> choices.

    calibration = calibrate(project, engines, CalibrationOptions(classes), current=..., progress=..., cancel=...)

Per batch of reviewed images each engine's model runs once on the images its cache does
not hold; then every candidate of every engine is post-processed and scored per class
(``scoring``), so the threshold grid costs post-processing only. ``select`` turns the
counts into one choice per class with held-out numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from annotator.core.calibration.cache import ModelOutput, OutputCache
from annotator.core.calibration.candidates import Candidate, CalibrationEngine
from annotator.core.calibration.scoring import BOUNDARY_TOLERANCE, STATS, components, score_class
from annotator.core.calibration.select import DEFAULT_MIN_IMAGES, ClassChoice, choose_class
from annotator.core.calibration.truth import TruthImage, load_truth, reviewed_images
from annotator.core.geometry import min_pixels_for
from annotator.core.jobs import JobCancelled, check
from annotator.core.project import AnnotationFileError, Project

SCORING_VERSION = 1
"""Bump when scoring changes: cached grid scores of older versions are then not used."""

# progress(done, total) per reviewed image scored
Progress = Callable[[int, int], None]
# sharpener(rel, rgb) -> (predict, release): the interactive model on one image (core.refine's predict)
Sharpener = Callable[[str, np.ndarray], tuple[Callable, Callable[[], None]]]


@dataclass
class CalibrationOptions:
    classes: list[str]
    """The classes to calibrate (normalised names, as sent to the engines)."""
    min_images: int = DEFAULT_MIN_IMAGES
    boundary_tolerance: int = BOUNDARY_TOLERANCE
    min_area_fraction: float = 0.0005
    """Predicted regions below this fraction of the image are dropped (as proposals are)."""
    batch_size: int = 4


@dataclass
class Calibration:
    classes: list[str]
    images: list[str]
    """The reviewed images scored (unreadable ones left out, see ``notes``)."""
    candidates: list[Candidate]
    stats: np.ndarray
    """int64 [images, candidates, classes, len(scoring.STATS)]."""
    present: np.ndarray
    """bool [images, classes]: the class has a reviewed shape in the image."""
    choices: list[ClassChoice]
    engines: dict[str, dict] = field(default_factory=dict)
    """name -> {"model", "model_runs" (images the model ran on), "cached" (images from the cache)}."""
    seconds: dict[str, float] = field(default_factory=dict)
    """"model" (engine runs and the cache), "grid" (post-processing and scoring), "truth", "total"."""
    notes: list[str] = field(default_factory=list)
    sharpened: bool = False
    rescored: int = 0
    """Images whose candidates were post-processed and scored now (the others' scores were cached)."""

    def choice(self, label: str) -> ClassChoice:
        return next(c for c in self.choices if c.label == label)

    def to_dict(self) -> dict:
        return {"classes": self.classes, "images": self.images,
                "candidates": [c.to_dict() for c in self.candidates],
                "choices": [c.to_dict() for c in self.choices], "engines": self.engines,
                "seconds": self.seconds, "notes": self.notes, "sharpened": self.sharpened,
                "rescored": self.rescored}


def current_candidates(settings, engines: list[CalibrationEngine], classes: list[str]) -> dict[str, Candidate]:
    """What each class gets today: its stored route, else the project's engine (the first of
    *engines*), proposal mode, sharpening and threshold."""
    from annotator.core.proposals import resolve_proposals

    out: dict[str, Candidate] = {}
    routes = getattr(settings, "routes", None) or {}
    primary = engines[0] if engines else None
    for label in classes:
        route = routes.get(label)
        if route is not None:
            out[label] = Candidate(route["engine"], route["mode"], bool(route["sharpen"]),
                                   round(float(route["threshold"]), 4))
        elif primary is not None:
            try:
                mode = resolve_proposals(settings.proposals, primary.name)
            except ValueError:
                mode = "regions"
            if mode == "instances":
                threshold = primary.instance_floor or 0.5
            else:
                threshold = primary.default_threshold if settings.threshold is None else settings.threshold
            out[label] = Candidate(primary.name, mode, bool(settings.refine), round(float(threshold), 4))
    return out


def calibrate(project: Project, engines: list[CalibrationEngine], options: CalibrationOptions, *,
              images: list[str] | None = None, current: dict[str, Candidate] | None = None,
              sharpener: Sharpener | None = None, progress: Progress | None = None, cancel=None) -> Calibration:
    """Score every candidate of every engine on the reviewed images and choose per class.

    *images*: default every reviewed image. *current*: each class's candidate today (its
    threshold joins the grid so that it is scored exactly); default ``current_candidates``
    of the project's settings. *sharpener*: sharpened
    candidates are scored too (regions only). JobCancelled when *cancel* is set; the cache
    keeps what the model computed so far.
    """
    start = time.perf_counter()
    classes = list(options.classes)
    if not classes:
        raise ValueError("no classes to calibrate: set the project's classes first")
    if not engines:
        raise ValueError("no engine to calibrate: none could be loaded")
    names = [e.name for e in engines]
    if len(set(names)) != len(names):
        raise ValueError(f"one engine of each kind, please; got {', '.join(names)}")
    current = current_candidates(project.settings, engines, classes) if current is None else dict(current)
    candidates: list[Candidate] = []
    for engine in engines:
        extra = [c.threshold for c in current.values() if c.engine == engine.name]
        candidates.extend(engine.candidates(sharpener is not None, extra))
    seconds = {"truth": 0.0, "model": 0.0, "grid": 0.0}
    notes: list[str] = []
    images = reviewed_images(project, cancel=cancel) if images is None else list(images)
    check(cancel)  # a cancelled index refresh lists only part of the images

    t0 = time.perf_counter()
    truths: list[TruthImage] = []
    for rel in images:
        check(cancel)
        try:
            truths.append(load_truth(project, rel, classes))
        except (AnnotationFileError, ValueError, OSError) as exc:
            notes.append(f"{rel} left out: {exc}")
    seconds["truth"] = time.perf_counter() - t0

    caches = {e.name: OutputCache(project, e.key) for e in engines}
    scores = _score_cache(project, engines, candidates, classes, options, sharpener)
    cached = {e.name: 0 for e in engines}
    runs_before = {e.name: e.model_runs for e in engines}
    rows: dict[str, np.ndarray] = {}
    rescored = 0
    if progress is not None:
        progress(0, len(truths))
    row_shape = (len(candidates), len(classes), len(STATS))
    todo: list[TruthImage] = []
    for truth in truths:  # images scored before, unchanged since: no model, no grid
        hit = scores.load(truth.image, row_shape) if scores is not None else None
        if hit is None:
            todo.append(truth)
            continue
        rows[truth.image] = hit
        for name in cached:
            cached[name] += 1
    if progress is not None and rows:
        progress(len(rows), len(truths))
    for first in range(0, len(todo), options.batch_size):
        batch = todo[first:first + options.batch_size]
        rgbs = _decode(project, batch, notes)
        batch = [t for t in batch if t.image in rgbs]
        outputs: dict[str, dict[str, ModelOutput]] = {}
        t0 = time.perf_counter()
        for engine in engines:
            outputs[engine.name], hits = _outputs(engine, caches[engine.name], batch, rgbs, classes, notes, cancel)
            cached[engine.name] += hits
        seconds["model"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        for truth in batch:
            check(cancel)
            row = _score_image(truth, rgbs[truth.image], engines, outputs, candidates, classes, options, sharpener)
            rows[truth.image] = row
            rescored += 1
            if scores is not None:
                problem = scores.store(truth.image, row)
                if problem:
                    notes.append(problem)
            if progress is not None:
                progress(len(rows), len(truths))
        seconds["grid"] += time.perf_counter() - t0

    kept = [t for t in truths if t.image in rows]
    rows_list = [rows[t.image] for t in kept]
    stats = np.stack(rows_list) if rows_list else np.zeros((0, len(candidates), len(classes), len(STATS)), np.int64)
    present = np.array([[t.has(c) for c in classes] for t in kept], bool).reshape(len(kept), len(classes))
    kept_images = [t.image for t in kept]
    choices = [choose_class(stats, present, kept_images, candidates, ci, label, current.get(label),
                            options.min_images) for ci, label in enumerate(classes)]
    seconds["total"] = time.perf_counter() - start
    return Calibration(classes, kept_images, candidates, stats, present, choices,
                       engines={e.name: {"model": e.model, "model_runs": e.model_runs - runs_before[e.name],
                                         "cached": cached[e.name]} for e in engines},
                       seconds=seconds, notes=notes, sharpened=sharpener is not None, rescored=rescored)


def _score_cache(project, engines, candidates, classes, options, sharpener):
    """The grid-score cache of this scoring setup, or None when a sharpener gives no ``key``
    (its answers could change without notice)."""
    import hashlib
    import json

    from annotator.core.calibration.cache import ScoreCache

    sharp = None
    if sharpener is not None:
        sharp = getattr(sharpener, "key", None)
        if not sharp:
            return None
    text = json.dumps({"version": SCORING_VERSION, "engines": sorted(e.key for e in engines),
                       "candidates": [c.to_dict() for c in candidates], "classes": classes,
                       "tolerance": options.boundary_tolerance, "min_area": options.min_area_fraction,
                       "sharpener": sharp}, sort_keys=True)
    return ScoreCache(project, hashlib.sha1(text.encode("utf-8")).hexdigest()[:16])


def _decode(project: Project, batch: list[TruthImage], notes: list[str]) -> dict[str, np.ndarray]:
    from annotator.core.pipeline import decode_image
    from engine.images import ImageReadError

    out = {}
    for truth in batch:
        try:
            _, rgb = decode_image(project.root, truth.image)
        except ImageReadError as exc:
            notes.append(f"{truth.image} left out: {exc}")
            continue
        if rgb.shape[:2] != (truth.height, truth.width):
            notes.append(f"{truth.image} left out: the image is {rgb.shape[1]}x{rgb.shape[0]} but its shapes were "
                         f"drawn on {truth.width}x{truth.height}")
            continue
        out[truth.image] = rgb
    return out


def _outputs(engine: CalibrationEngine, cache: OutputCache, batch: list[TruthImage], rgbs: dict,
             classes: list[str], notes: list[str], cancel) -> tuple[dict[str, ModelOutput], int]:
    """Each image's model output: from the cache, else from one model run over the misses."""
    from engine import Cancelled

    found: dict[str, ModelOutput] = {}
    for truth in batch:
        hit = cache.load(truth.image, classes)
        if hit is not None:
            found[truth.image] = hit
    hits = len(found)
    missing = [t.image for t in batch if t.image not in found]
    if missing:
        try:
            results = engine.run([rgbs[rel] for rel in missing], classes, cancel=cancel)
        except Cancelled as exc:
            raise JobCancelled(str(exc)) from exc
        for rel, result in zip(missing, results):
            found[rel], problem = cache.store(rel, classes, ModelOutput.of(result))
            if problem:
                notes.append(problem)
    return found, hits


def _score_image(truth: TruthImage, rgb: np.ndarray, engines: list[CalibrationEngine],
                 outputs: dict[str, dict[str, ModelOutput]], candidates: list[Candidate], classes: list[str],
                 options: CalibrationOptions, sharpener: Sharpener | None) -> np.ndarray:
    """int64 [candidates, classes, STATS] of one image."""
    size = (truth.height, truth.width)
    min_pixels = min_pixels_for(options.min_area_fraction, *size)
    out = np.zeros((len(candidates), len(classes), len(STATS)), np.int64)
    truth_masks = [truth.shapes.get(c, []) for c in classes]
    by_engine = {e.name: e for e in engines}
    label_maps: dict[tuple[str, float], np.ndarray] = {}
    sharpened: dict[tuple[str, float], np.ndarray] = {}
    results = {name: outputs[name][truth.image].to_result(rgb) for name in outputs}
    predict, release = (None, None)
    try:
        for k, cand in enumerate(candidates):
            engine, result = by_engine[cand.engine], results[cand.engine]
            if cand.mode == "instances":
                labels = _instance_labels(result, classes, cand.threshold, size, min_pixels)
            else:
                key = (cand.engine, cand.threshold)
                if key not in label_maps:
                    label_maps[key] = engine.label_map(result, cand.threshold) if result.classes \
                        else np.zeros(size, np.int32)
                lm = label_maps[key]
                if cand.sharpen:
                    if key not in sharpened:
                        if predict is None:
                            predict, release = _memo(sharpener(truth.image, rgb))
                        from annotator.core.refine import sharpen_label_map

                        sharpened[key] = sharpen_label_map(lm, result.classes, predict, result.heatmaps) \
                            if result.classes else lm
                    lm = sharpened[key]
                labels = _region_labels(lm, result.classes, classes, min_pixels)
            for ci in range(len(classes)):
                pred, count = labels.get(ci, (None, 0))
                if pred is None:
                    pred = np.zeros(size, np.int32)
                out[k, ci] = score_class(truth_masks[ci], pred, count, options.boundary_tolerance)
    finally:
        if release is not None:
            release()
    return out


def _memo(pair):
    """The interactive model's predict, remembering answers to the same prompts (nearby
    thresholds often give the same region, hence the same prompts)."""
    predict, release = pair
    seen: dict = {}

    def cached(points, labels, box):
        key = (tuple(map(tuple, np.asarray(points, float).reshape(-1, 2).tolist())), tuple(labels),
               tuple(float(v) for v in box))
        if key not in seen:
            seen[key] = predict(points, labels, box)
        return seen[key]

    return cached, release


def _region_labels(label_map: np.ndarray, used: list[str], classes: list[str], min_pixels: int) -> dict:
    out = {}
    index = {name: i for i, name in enumerate(used, start=1)}
    for ci, name in enumerate(classes):
        if name in index:
            out[ci] = components(label_map == index[name], min_pixels)
    return out


def _instance_labels(result, classes: list[str], threshold: float, size, min_pixels: int) -> dict:
    """Per class: the instances at or above *threshold*, overlaps to the higher score,
    regions below the minimum area dropped (as ``proposals.shapes_from_instances``)."""
    taken = np.zeros(size, bool)
    out: dict[int, list] = {}
    index = {name: ci for ci, name in enumerate(classes)}
    for inst in sorted(result.instances, key=lambda i: -i.score):
        if inst.score < threshold:
            continue
        mask = np.asarray(inst.mask, bool)
        own = mask & ~taken
        taken |= mask
        kept, n = components(own, min_pixels)
        ci = index.get(result.classes[inst.class_index])
        if n == 0 or ci is None:
            continue
        labels, count = out.setdefault(ci, [np.zeros(size, np.int32), 0])
        count += 1
        labels[kept > 0] = count
        out[ci][1] = count
    return {ci: (v[0], v[1]) for ci, v in out.items()}
