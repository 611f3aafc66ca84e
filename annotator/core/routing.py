"""Routing classes to engines: each class's route, and one partition from several engines.

A ``Route`` says how one class is proposed: engine (and its model), proposal mode,
threshold on that engine's scale, sharpening, and the calibrated score (held-out IoU)
that settles conflicts. Routes live in ``ProjectSettings.routes`` as plain dicts.

``merge_claims`` is the pure core: every engine's claims (an instance, or the region of
a stuff class) become ONE non-overlapping partition. Instances of object classes lie
over regions of stuff classes; between claims of the same kind the higher calibrated
score wins, then the higher own score (an instance's), then the earlier claim.
``routed_proposals`` turns per-engine results plus routes into unaccepted model shapes;
saving them goes through ``ImageAnnotations.apply_proposals``, which never touches
human or accepted shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

ROUTE_MODES = ("regions", "instances")


def route_engines() -> tuple[str, ...]:
    """The engines a class can be routed to: every registered one (engine.config)."""
    from engine.config import engines

    return tuple(info.name for info in engines())
INSTANCE, REGION = "instance", "region"


@dataclass(frozen=True)
class Route:
    engine: str
    model: str = ""
    """Model id or folder of that engine ("" = its default)."""
    mode: str = "regions"
    threshold: float = 0.5
    sharpen: bool = False
    score: float | None = None
    """Calibrated (held-out) IoU of this route on the class; ranks overlapping claims."""

    def to_dict(self) -> dict:
        return {"engine": self.engine, "model": self.model, "mode": self.mode, "threshold": self.threshold,
                "sharpen": self.sharpen, "score": self.score}

    @classmethod
    def from_dict(cls, d, where: str = "route") -> Route:
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: expected an object, got {d!r}")
        engine, mode = d.get("engine"), d.get("mode", "regions")
        known = route_engines()
        if engine not in known:
            raise ValueError(f"{where}.engine: expected one of {', '.join(known)}, got {engine!r}")
        if mode not in ROUTE_MODES:
            raise ValueError(f"{where}.mode: expected one of {', '.join(ROUTE_MODES)}, got {mode!r}")
        if mode == "instances" and engine != "sam3":
            raise ValueError(f"{where}.mode: instances need the sam3 engine, not {engine!r}")
        model = d.get("model", "")
        if not isinstance(model, str):
            raise ValueError(f"{where}.model: expected a string, got {model!r}")
        threshold = d.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise ValueError(f"{where}.threshold: expected a number in [0, 1], got {threshold!r}")
        sharpen = d.get("sharpen", False)
        if not isinstance(sharpen, bool):
            raise ValueError(f"{where}.sharpen: expected true or false, got {sharpen!r}")
        score = d.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                                  or not np.isfinite(score)):
            raise ValueError(f"{where}.score: expected null or a number, got {score!r}")
        return cls(engine, model, mode, float(threshold), sharpen, None if score is None else float(score))


def check_routes(value) -> dict[str, dict]:
    """``ProjectSettings.routes`` checked: {class: route dict}; ValueError names the bad entry."""
    if not isinstance(value, Mapping):
        raise ValueError(f"settings.routes: expected an object (class -> route), got {value!r}")
    out = {}
    for label, route in value.items():
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"settings.routes: expected class names as keys, got {label!r}")
        out[label] = Route.from_dict(route, f"settings.routes[{label!r}]").to_dict()
    return out


def routes_of(settings) -> dict[str, Route]:
    """The routes stored in a ``ProjectSettings`` (empty when there are none)."""
    return {label: Route.from_dict(d) for label, d in (getattr(settings, "routes", None) or {}).items()}


def engines_needed(routes: Mapping[str, Route], classes: list[str], default_engine: str) -> dict[str, list[str]]:
    """engine -> the classes it must be asked for (unrouted classes go to *default_engine*)."""
    out: dict[str, list[str]] = {}
    for name in classes:
        route = routes.get(name)
        out.setdefault(route.engine if route else default_engine, []).append(name)
    return out


@dataclass
class Claim:
    """One engine's claim on pixels: an instance, or a stuff class's region(s)."""

    label: str
    mask: np.ndarray  # bool [H, W]
    kind: str  # INSTANCE | REGION
    rank: float = 0.0
    """The class route's calibrated score."""
    score: float = 0.0
    """The claim's own score (an instance's detection score)."""


def merge_claims(claims: list[Claim], size: tuple[int, int]) -> list[np.ndarray]:
    """Each claim's own pixels (bool [H, W], same order as *claims*): pairwise disjoint.

    Order of precedence: instances over regions, then higher ``rank``, then higher
    ``score``, then the earlier claim (deterministic).
    """
    height, width = size
    order = sorted(range(len(claims)), key=lambda i: (claims[i].kind != INSTANCE, -claims[i].rank,
                                                      -claims[i].score, i))
    taken = np.zeros((height, width), bool)
    own: list[np.ndarray | None] = [None] * len(claims)
    for i in order:
        mask = np.asarray(claims[i].mask, bool)
        if mask.shape != (height, width):
            raise ValueError(f"claim {i} ({claims[i].label}) is {mask.shape}, the image is {(height, width)}")
        own[i] = mask & ~taken
        taken |= mask
    return own  # type: ignore[return-value]


LabelMapFor = Callable[[str, object, float, bool], np.ndarray]
"""label_map_for(engine, result, threshold, sharpen) -> int32 [H, W] of that result (post-processing only)."""


def route_claims(results: Mapping[str, object], routes: Mapping[str, Route], classes: list[str],
                 label_map_for: LabelMapFor, default: Mapping[str, Route] | None = None) -> list[Claim]:
    """The claims of every class from its engine's result (``engine.SegmentationResult``).

    *routes*: class -> Route; *default*: engine -> Route for classes without one. A class
    whose engine has no result (or that the engine dropped) claims nothing.
    """
    claims: list[Claim] = []
    maps: dict[tuple, np.ndarray] = {}
    for name in classes:
        route = routes.get(name) or (default or {}).get(_engine_for(name, results))
        if route is None or route.engine not in results:
            continue
        result = results[route.engine]
        used = list(result.classes)
        if name not in used:
            continue
        rank = -1.0 if route.score is None else route.score
        if route.mode == "instances":
            index = used.index(name)
            for inst in result.instances:
                if inst.class_index == index and inst.score >= route.threshold:
                    claims.append(Claim(name, np.asarray(inst.mask, bool), INSTANCE, rank, float(inst.score)))
            continue
        key = (route.engine, route.threshold, route.sharpen)
        if key not in maps:
            maps[key] = np.asarray(label_map_for(route.engine, result, route.threshold, route.sharpen))
        claims.append(Claim(name, maps[key] == used.index(name) + 1, REGION, rank, 0.0))
    return claims


def _engine_for(name: str, results: Mapping[str, object]) -> str:
    for engine, result in results.items():
        if name in getattr(result, "classes", ()):
            return engine
    return ""


def route_partition(results: Mapping[str, object], routes: Mapping[str, Route], classes: list[str],
                    label_map_for: LabelMapFor, default: Mapping[str, Route] | None = None):
    """(partition, instances): int32 [H, W] (0 = none, i = classes[i-1]) holding every claim's own
    pixels, and [(class index 0-based, score, own bool mask)] of the instance claims."""
    sizes = {tuple(int(v) for v in r.image_size) for r in results.values()}
    if len(sizes) != 1:
        raise ValueError(f"the engines' results are for different image sizes: {sorted(sizes)}")
    size = sizes.pop()
    claims = route_claims(results, routes, classes, label_map_for, default)
    own = merge_claims(claims, size)
    partition = np.zeros(size, np.int32)
    instances = []
    index = {name: i for i, name in enumerate(classes)}
    for claim, mask in zip(claims, own):
        partition[mask] = index[claim.label] + 1
        if claim.kind == INSTANCE:
            instances.append((index[claim.label], claim.score, mask))
    return partition, instances


def partition_shapes(partition: np.ndarray, classes: list[str], instances, *, scores: Mapping[str, float] | None = None,
                     tolerance: float = 1.5, min_area_fraction: float = 0.0005):
    """Unaccepted model shapes of a routed partition: one per instance ((class index, score,
    mask), every component above the minimum area a part) and one per connected region of
    the remaining pixels of each class (score: the class's calibrated score, if any)."""
    from annotator.core.geometry import min_pixels_for, polygon_rings, region_polygons, regions
    from annotator.core.shapes import Shape

    size = partition.shape
    min_pixels = min_pixels_for(min_area_fraction, *size)
    rest = partition.copy()
    shapes = []
    for class_index, score, mask in instances:
        mask = np.asarray(mask, bool)
        rest[mask] = 0
        kept = np.zeros(size, bool)
        for region in regions(mask, min_pixels):
            rows, cols = region.pixels.shape
            kept[region.y0:region.y0 + rows, region.x0:region.x0 + cols] |= region.pixels
        shape = Shape.from_mask(classes[class_index], kept, tolerance=tolerance, source="model", score=float(score),
                                accepted=False)
        if shape is not None:
            shapes.append(shape)
    for i, name in enumerate(classes, start=1):
        mask = rest == i
        if not mask.any():
            continue
        score = (scores or {}).get(name)
        for region in regions(mask, min_pixels):
            for poly in region_polygons(region, tolerance):
                exterior, holes = polygon_rings(poly)
                shapes.append(Shape(name, exterior, holes, source="model", score=score, accepted=False))
    return shapes


def routed_proposals(results: Mapping[str, object], routes: Mapping[str, Route], classes: list[str],
                     label_map_for: LabelMapFor, *, default: Mapping[str, Route] | None = None,
                     tolerance: float = 1.5, min_area_fraction: float = 0.0005):
    """(shapes, partition): unaccepted model shapes of one image from several engines'
    results, and the int32 [H, W] partition they come from (0 = none, i = classes[i-1]).

    Regions: one shape per connected region of a stuff class's pixels; instances: one
    shape per instance (every component a part). No two shapes share a pixel (at tolerance
    0; simplified outlines may touch). Regions below the minimum area are in the partition
    but give no shape.
    """
    partition, instances = route_partition(results, routes, classes, label_map_for, default)
    scores = {name: r.score for name, r in routes.items() if r.score is not None}
    shapes = partition_shapes(partition, classes, instances, scores=scores, tolerance=tolerance,
                              min_area_fraction=min_area_fraction)
    return shapes, partition
