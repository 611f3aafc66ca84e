"""``RoutedSegmenter``: several engines behind the engine contract, each class on its route.

``pipeline.load_segmenter`` returns one when the project has calibrated routes
(``ProjectSettings.routes``), so Propose, Label All Images, ``label`` and Ray use them
without knowing: ``segment_batch`` runs each engine once on its classes and merges the
results (``routing.route_partition``) into one ``RoutedResult``:

* ``label_map``: ONE non-overlapping partition of every class (instances over regions;
  the higher calibrated score wins between two claims);
* ``instances``: the instance claims, each with its own pixels only;
* ``heatmaps``: every class's map, resized to one grid (the Heatmap dock);
* ``parts``: each engine's own result, so ``postprocess`` (the sliders) re-merges
  without a model call. A threshold given to ``postprocess`` applies to the classes
  without a route (the project's engine, on its scale); routed classes keep theirs.

Shapes of a routed result come from ``routing.partition_shapes`` (``proposals`` does
this when ``result.engine == ROUTED``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

from annotator.core.routing import Route, partition_shapes, route_partition
from engine import Instance, SegmentationResult
from engine.segmenter import Segmenter

ROUTED = "routed"


@dataclass
class RoutedResult(SegmentationResult):
    parts: dict = field(default_factory=dict)
    """engine name -> that engine's SegmentationResult (its own classes)."""
    routes: dict = field(default_factory=dict)
    """class -> the Route it was proposed with (the default route for unrouted classes)."""


class RoutedSegmenter(Segmenter):
    engine = ROUTED

    def __init__(self, segmenters: dict, routes: dict[str, Route], default_engine: str,
                 default_mode: str = "regions", default_sharpen: bool = False) -> None:
        if default_engine not in segmenters:
            raise ValueError(f"the default engine {default_engine!r} is not loaded")
        missing = sorted({r.engine for r in routes.values()} - set(segmenters))
        if missing:
            raise ValueError(f"routes need engine(s) {', '.join(missing)}, which are not loaded")
        self.segmenters = dict(segmenters)
        self.routes = dict(routes)
        self.default_engine = default_engine
        self.default_mode = default_mode
        self.default_sharpen = bool(default_sharpen)
        """The project's own Sharpen setting: what an unrouted class follows."""
        base = self.segmenters[default_engine]
        self.config = base.config
        self.device = getattr(base, "device", None)

    @property
    def default_threshold(self) -> float:
        return self.segmenters[self.default_engine].default_threshold

    def default_route(self, threshold: float | None = None) -> Route:
        base = self.segmenters[self.default_engine]
        if self.default_mode == "instances":
            t = float(getattr(base.config, "instance_threshold", 0.5))
        else:
            t = base.default_threshold if threshold is None else float(threshold)
        return Route(self.default_engine, "", self.default_mode, t, self.default_sharpen, None)

    def route_of(self, name: str) -> Route:
        return self.routes.get(name) or self.default_route()

    # ------------------------------------------------------------------ engine contract
    def _segment_batch(self, images, names, progress, cancel, batch_size):
        from engine.images import load_rgb

        rgbs = [load_rgb(image) for image in images]
        parts: list[dict] = [{} for _ in rgbs]
        for engine, seg in self.segmenters.items():
            lists = [[n for n in classes if self.route_of(n).engine == engine] for classes in names]
            todo = [i for i, lst in enumerate(lists) if lst]
            if not todo:
                continue
            results = seg.segment_batch([rgbs[i] for i in todo], [lists[i] for i in todo], progress=progress,
                                        cancel=cancel, batch_size=batch_size)
            for i, result in zip(todo, results):
                parts[i][engine] = result
        return [self._merge(p, classes, rgb.shape[:2]) for p, classes, rgb in zip(parts, names, rgbs)]

    def postprocess(self, result, threshold: float | None = None, background: str | None = None, **options):
        """The partition again from the kept per-engine results (no model call). A per-class
        threshold mapping: routed classes keep their calibrated threshold, the rest take its
        default (key None)."""
        if isinstance(threshold, Mapping) and isinstance(result, RoutedResult):
            threshold = threshold.get(None)
        if not isinstance(result, RoutedResult):
            return self.segmenters[self.default_engine].postprocess(result, threshold=threshold,
                                                                   background=background, **options)
        return self._merge(result.parts, list(result.classes), tuple(result.image_size), threshold,
                           background).label_map

    def close(self) -> None:
        for seg in self.segmenters.values():
            seg.close()

    # ------------------------------------------------------------------ merging
    def _merge(self, parts: dict, requested: list[str], size, threshold=None, background=None) -> RoutedResult:
        height, width = (int(v) for v in size)
        default = self.default_route(threshold)
        routes = {n: self.routes.get(n) or default for n in requested}
        kept = [n for n in requested if routes[n].engine in parts and n in parts[routes[n].engine].classes]

        def label_map_for(engine, result, t, sharpen):
            seg = self.segmenters[engine]
            own = getattr(seg.config, "threshold", None)
            if t == own and background is None and result.label_map is not None:
                return result.label_map
            return seg.postprocess(result, threshold=t, background=background)

        if parts:
            partition, instances = route_partition(parts, routes, kept, label_map_for)
        else:
            partition, instances = np.zeros((height, width), np.int32), []
        maps = [self._heatmap(parts[routes[n].engine], n) for n in kept]
        grid = (max((m.shape[0] for m in maps), default=1), max((m.shape[1] for m in maps), default=1))
        heatmaps = np.stack([cv2.resize(m, (grid[1], grid[0]), interpolation=cv2.INTER_LINEAR)
                             if m.shape != grid else m for m in maps]) if maps \
            else np.zeros((0, *grid), np.float32)
        presence = {}
        for result in parts.values():
            presence.update(result.presence)
        insts = []
        for class_index, score, mask in instances:
            ys, xs = np.nonzero(mask)
            if len(xs) == 0:
                continue
            insts.append(Instance(class_index, float(score),
                                  (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)), mask))
        return RoutedResult(classes=kept, heatmaps=heatmaps.astype(np.float32), presence=presence,
                            label_map=partition, image_size=(height, width), engine=ROUTED, instances=insts,
                            parts=parts, routes=routes)

    @staticmethod
    def _heatmap(result, name: str) -> np.ndarray:
        return np.asarray(result.heatmaps[list(result.classes).index(name)], np.float32)


def routed_shapes(result: RoutedResult, label_map: np.ndarray | None = None, *, tolerance: float = 1.5,
                  min_area_fraction: float = 0.0005) -> list:
    """The proposals of a routed result (or of another *label_map* of it: the sliders)."""
    partition = result.label_map if label_map is None else label_map
    instances = [(i.class_index, i.score, i.mask) for i in result.instances]
    scores = {n: r.score for n, r in result.routes.items() if r.score is not None}
    return partition_shapes(np.asarray(partition), list(result.classes), instances, scores=scores,
                            tolerance=tolerance, min_area_fraction=min_area_fraction)
