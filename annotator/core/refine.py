"""Sharpen proposals: each coarse region becomes prompts for the interactive model.

PnP-OVSS regions follow a 21x21 patch grid. For every region to sharpen, the
interactive model (SAM 2.1 / SAM 3 tracker, through a ``predict`` callable) gets:

* its bounding box,
* positive points at the class heatmap's local maxima inside the region (the
  region's most interior pixel when there is no heatmap),
* negative points in the neighbouring regions of other classes (their most
  interior pixel near the region).

The answer is clipped to the region dilated by a bounded margin and to the pixels
no fixed region holds; where two sharpened regions claim a pixel, the one that held
it before keeps it. So the regions stay a partition (no overlaps), and regions that
are not being sharpened (human or accepted shapes, unselected proposals) are never
changed. An empty answer leaves the region as it was.

Two front ends share this: ``sharpen_label_map`` (a whole label map, before it
becomes shapes: ``label --refine``, Propose with the setting on) and
``sharpen_shapes`` (selected proposals of an annotated image: the GUI action).

    predict(points [[x, y], ...], labels [1|0, ...], box [x0, y0, x1, y1]) -> bool [H, W]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from annotator.core.geometry import mask_to_polygons, polygon_rings, regions
from annotator.core.shapes import Part, Shape

Predict = Callable[[list, list, list], np.ndarray]


@dataclass(frozen=True)
class RefineOptions:
    margin_fraction: float = 0.15
    """Dilation margin as a fraction of the region's larger box side..."""
    min_margin: int = 3
    max_margin: int = 48
    """...bounded to [min_margin, max_margin] pixels."""
    positives: int = 3
    """Positive points per region (heatmap maxima)."""
    negatives: int = 4
    """Negative points per region (one per neighbouring region of another class)."""
    min_pixels: int = 16
    """Regions smaller than this are left as they are (too small to prompt)."""


@dataclass
class Prompts:
    box: list[float]  # x0, y0, x1, y1 (continuous pixel coordinates)
    points: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)


@dataclass
class _Item:
    """One region: its pixels cropped to its box, its class and whether it may change."""

    pixels: np.ndarray  # bool [h, w]
    x0: int
    y0: int
    group: str  # class name: negatives come from other groups
    editable: bool

    @property
    def box(self) -> tuple[int, int, int, int]:
        h, w = self.pixels.shape
        return self.x0, self.y0, self.x0 + w, self.y0 + h


# --- prompts -------------------------------------------------------------------------------

def margin_for(item: _Item, options: RefineOptions) -> int:
    h, w = item.pixels.shape
    return int(np.clip(round(options.margin_fraction * max(h, w)), options.min_margin, options.max_margin))


def region_prompts(item: _Item, heat: np.ndarray | None, neighbours: Sequence[_Item], size: tuple[int, int],
                   options: RefineOptions) -> Prompts:
    """Box, heatmap-maxima positives and neighbour negatives for one region.

    *heat*: the class heatmap at image size (float [H, W]) or None.
    """
    x0, y0, x1, y1 = item.box
    prompts = Prompts(box=[float(x0), float(y0), float(x1), float(y1)])
    for x, y in _positive_points(item, heat, options.positives):
        prompts.points.append([x + 0.5, y + 0.5])
        prompts.labels.append(1)
    for x, y in _negative_points(item, neighbours, size, options):
        prompts.points.append([x + 0.5, y + 0.5])
        prompts.labels.append(0)
    return prompts


def _interior(pixels: np.ndarray) -> np.ndarray:
    """Distance of each pixel to the region's border (0 outside)."""
    return cv2.distanceTransform(np.pad(pixels.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]


def _positive_points(item: _Item, heat: np.ndarray | None, count: int) -> list[tuple[int, int]]:
    """Image pixels (x, y) of the heatmap's local maxima inside the region, strongest first,
    at least a quarter of the region's size apart; the most interior pixel without a heatmap."""
    depth = _interior(item.pixels)
    inner = depth >= min(2.0, float(depth.max()))  # keep clear of the coarse border
    h, w = item.pixels.shape
    if heat is not None and count > 0:
        crop = heat[item.y0:item.y0 + h, item.x0:item.x0 + w].astype(np.float32)
        values = np.where(inner, crop, -np.inf).astype(np.float32)
        if np.isfinite(values).any() and np.ptp(crop[inner]) > 1e-6:
            k = max(3, (max(h, w) // 8) | 1)
            peaks = inner & (values >= cv2.dilate(values, np.ones((k, k), np.uint8)))
            ys, xs = np.nonzero(peaks)
            order = np.argsort(-values[ys, xs], kind="stable")
            spacing = max(h, w) / 4
            chosen: list[tuple[int, int]] = []
            for i in order:
                p = (int(xs[i]), int(ys[i]))
                if all(np.hypot(p[0] - q[0], p[1] - q[1]) >= spacing for q in chosen):
                    chosen.append(p)
                if len(chosen) == count:
                    break
            if chosen:
                return [(x + item.x0, y + item.y0) for x, y in chosen]
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return [(int(x) + item.x0, int(y) + item.y0)]


def _negative_points(item: _Item, neighbours: Sequence[_Item], size: tuple[int, int],
                     options: RefineOptions) -> list[tuple[int, int]]:
    """One point per neighbouring region of another class, in its most interior pixel
    within the region's dilated box; the neighbours sharing most pixels there first."""
    m = margin_for(item, options)
    H, W = size
    x0, y0, x1, y1 = item.box
    X0, Y0, X1, Y1 = max(0, x0 - m), max(0, y0 - m), min(W, x1 + m), min(H, y1 + m)
    found = []
    for other in neighbours:
        if other.group == item.group or other is item:
            continue
        ox0, oy0, ox1, oy1 = other.box
        ix0, iy0, ix1, iy1 = max(X0, ox0), max(Y0, oy0), min(X1, ox1), min(Y1, oy1)
        if ix0 >= ix1 or iy0 >= iy1:
            continue
        near = other.pixels[iy0 - oy0:iy1 - oy0, ix0 - ox0:ix1 - ox0]
        if not near.any():
            continue
        depth = _interior(other.pixels)[iy0 - oy0:iy1 - oy0, ix0 - ox0:ix1 - ox0]
        y, x = np.unravel_index(int(np.argmax(np.where(near, depth, -1))), near.shape)
        found.append((int(near.sum()), (int(x) + ix0, int(y) + iy0)))
    found.sort(key=lambda f: -f[0])
    return [p for _, p in found[:options.negatives]]


# --- the shared core -------------------------------------------------------------------------

NO_OBJECT = "the model found no object there"
TOO_SMALL = "too small to sharpen"
TAKEN = "its area went to a neighbouring shape"


def _sharpen(items: list[_Item], size: tuple[int, int], predict: Predict,
             heat_for: Callable[[str], np.ndarray | None], options: RefineOptions,
             why: dict[int, str] | None = None) -> dict[int, np.ndarray | None]:
    """New full-size masks of the editable items (None: left as it was; *why*, when given,
    gets the reason for each editable item left as it was)."""
    H, W = size
    why = {} if why is None else why
    targets = [i for i, it in enumerate(items) if it.editable and int(it.pixels.sum()) >= options.min_pixels]
    chosen = set(targets)
    why.update({i: TOO_SMALL for i, it in enumerate(items) if it.editable and i not in chosen})
    fixed = np.zeros(size, bool)  # what no sharpened region may take
    for i, it in enumerate(items):
        if i not in targets:
            x0, y0, x1, y1 = it.box
            fixed[y0:y1, x0:x1] |= it.pixels
    raw: dict[int, tuple[np.ndarray, tuple[int, int, int, int]]] = {}
    for i in targets:
        it = items[i]
        prompts = region_prompts(it, heat_for(it.group), items, size, options)
        answer = np.asarray(predict(prompts.points, prompts.labels, prompts.box), dtype=bool)
        if answer.shape != size:
            raise ValueError(f"the interactive model answered a {answer.shape} mask for a {size} image")
        m = margin_for(it, options)
        x0, y0, x1, y1 = it.box
        X0, Y0, X1, Y1 = max(0, x0 - m), max(0, y0 - m), min(W, x1 + m), min(H, y1 + m)
        grown = np.zeros((Y1 - Y0, X1 - X0), np.uint8)
        grown[y0 - Y0:y1 - Y0, x0 - X0:x1 - X0] = it.pixels
        grown = cv2.dilate(grown, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * m + 1, 2 * m + 1))) > 0
        crop = answer[Y0:Y1, X0:X1] & grown & ~fixed[Y0:Y1, X0:X1]
        if crop.any():
            raw[i] = (crop, (X0, Y0, X1, Y1))
        else:
            why[i] = NO_OBJECT
    # Contested pixels: the region that held them keeps them; the rest go in order.
    owner = np.full(size, -1, np.int32)
    for first_pass in (True, False):
        for i, (crop, (X0, Y0, X1, Y1)) in raw.items():
            view = owner[Y0:Y1, X0:X1]
            take = crop & (view == -1)
            if first_pass:
                it = items[i]
                held = np.zeros_like(crop)
                x0, y0, x1, y1 = it.box
                held[y0 - Y0:y1 - Y0, x0 - X0:x1 - X0] = it.pixels
                take &= held
            view[take] = i
    out: dict[int, np.ndarray | None] = {i: None for i in targets}
    for i in raw:
        mask = owner == i
        out[i] = mask if mask.any() else None
        if out[i] is None:
            why[i] = TAKEN
    return out


def _class_heat(heatmaps: np.ndarray | None, classes: Sequence[str], size: tuple[int, int]):
    """heat_for(name) -> the class heatmap resized to the image (float32 [H, W]) or None."""
    cache: dict[str, np.ndarray | None] = {}
    H, W = size

    def heat_for(name: str):
        if name not in cache:
            if heatmaps is None or name not in classes:
                cache[name] = None
            else:
                hm = np.asarray(heatmaps[list(classes).index(name)], np.float32)
                cache[name] = cv2.resize(hm, (W, H), interpolation=cv2.INTER_LINEAR)
        return cache[name]

    return heat_for


# --- front ends -----------------------------------------------------------------------------------

def sharpened_classes(result) -> set[str] | None:
    """The classes of *result* a sharpening run changes: those whose calibrated route says so
    (a routed result, ``core.routed_segmenter``: unrouted classes follow the project's own
    Sharpen setting through their default route), else None: every class."""
    routes = getattr(result, "routes", None)
    if not routes:
        return None
    return {name for name, route in routes.items() if getattr(route, "sharpen", False)}


def sharpen_label_map(label_map: np.ndarray, classes: Sequence[str], predict: Predict,
                      heatmaps: np.ndarray | None = None, options: RefineOptions = RefineOptions(),
                      only: set[str] | None = None) -> np.ndarray:
    """A new label map (0 = unlabeled, i = classes[i-1]) with every region sharpened (of the
    classes in *only*, when given; the others' pixels stay as they were).

    *heatmaps*: [C, P, P] aligned with *classes*, or None.
    """
    label_map = np.asarray(label_map)
    size = label_map.shape
    items = [_Item(r.pixels, r.x0, r.y0, name, only is None or name in only)
             for index, name in enumerate(classes, start=1)
             for r in regions(label_map == index)]
    new = _sharpen(items, size, predict, _class_heat(heatmaps, classes, size), options)
    out = np.zeros(size, label_map.dtype)
    index_of = {name: i for i, name in enumerate(classes, start=1)}
    for i, it in enumerate(items):
        if new.get(i) is not None:
            out[new[i]] = index_of[it.group]
    for i, it in enumerate(items):  # left as they were: their pixels no sharpened region took
        if new.get(i) is None:
            x0, y0, x1, y1 = it.box
            view = out[y0:y1, x0:x1]
            view[it.pixels & (view == 0)] = index_of[it.group]
    return out


def is_proposal(shape: Shape) -> bool:
    return shape.source == "model" and not shape.accepted


def sharpen_shapes(shapes: Sequence[Shape], height: int, width: int, predict: Predict, *,
                   ids: Sequence[str] | None = None, heatmaps: np.ndarray | None = None,
                   classes: Sequence[str] = (), tolerance: float = 1.5,
                   options: RefineOptions = RefineOptions(), left: dict[str, str] | None = None) -> dict[str, Shape]:
    """Sharpened replacements of the proposals among *ids* (all proposals when None).

    Returns {shape id: its replacement}: same id, label, score and every other field,
    accepted=False, the new outline as its parts (a region the model splits keeps all
    its pieces as parts of the one shape). Shapes left as they were (human, accepted,
    unselected, empty answer) are absent; *left*, when given, gets {id: reason} for the
    proposals asked for that were left as they were (NO_OBJECT, TOO_SMALL, TAKEN).
    """
    left = {} if left is None else left
    size = (height, width)
    wanted = None if ids is None else set(ids)
    items, owners = [], []
    for s in shapes:
        mask = s.mask(height, width)
        ys, xs = np.nonzero(mask)
        editable = is_proposal(s) and (wanted is None or s.id in wanted)
        if len(xs) == 0:
            if editable:
                left[s.id] = TOO_SMALL
            continue
        x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        items.append(_Item(mask[y0:y1, x0:x1], x0, y0, s.label, editable))
        owners.append(s)
    why: dict[int, str] = {}
    new = _sharpen(items, size, predict, _class_heat(heatmaps, classes, size), options, why)
    left.update({owners[i].id: reason for i, reason in why.items()})
    out: dict[str, Shape] = {}
    for i, mask in new.items():
        if mask is None:
            continue
        polys = sorted(mask_to_polygons(mask, tolerance=tolerance), key=lambda p: p.area, reverse=True)
        if polys:
            shape = owners[i]
            out[shape.id] = shape.replace(parts=[Part(*polygon_rings(p)) for p in polys], accepted=False)
        else:
            left[owners[i].id] = TOO_SMALL
    return out


# --- with the interactive segmenter (engine.interactive) -----------------------------------------

def interactive_predict(segmenter, key: str, rgb: np.ndarray) -> Predict:
    """``predict`` for the refine functions from an ``InteractiveSegmenter`` (one embedding)."""
    segmenter.set_image(key, rgb)
    return lambda points, labels, box: segmenter.predict(points, labels, box, image_key=key).mask


def make_refiner(segmenter, options: RefineOptions = RefineOptions()):
    """refiner(rel, rgb, result) -> result with its label map sharpened (the pipeline's hook).

    The image embedding is dropped afterwards: a folder run sees each image once.
    """
    def refiner(rel: str, rgb: np.ndarray, result):
        if not getattr(result, "classes", None):
            return result
        only = sharpened_classes(result)
        if only is not None and not only:
            return result  # no class of this run is to be sharpened: no image embedding either
        key = f"refine:{rel}"
        try:
            predict = interactive_predict(segmenter, key, rgb)
            result.label_map = sharpen_label_map(result.label_map, result.classes, predict,
                                                 getattr(result, "heatmaps", None), options, only=only)
        finally:
            segmenter.forget(key)
        return result

    return refiner


class RefinerLoadError(RuntimeError):
    """The interactive model ``--refine`` needs cannot be loaded; the message is the
    command line's error line (what is missing and how to get it)."""


def load_refiner(settings, options: RefineOptions = RefineOptions()):
    """``make_refiner`` with the project's interactive model (*settings*: ProjectSettings:
    ``interactive_model``, ``device``), loaded as the window and ``label`` load it.

    The one loader of ``label --refine``, on this machine and in a Ray model actor, so
    that both sharpen with the same model and fail with the same words: RefinerLoadError.
    """
    from engine import BrokenInstallError, ModelNotFoundError
    from engine.interactive import DEFAULT_INTERACTIVE_MODEL, InteractiveSegmenter

    model = settings.interactive_model or DEFAULT_INTERACTIVE_MODEL
    try:
        segmenter = InteractiveSegmenter.load(model, device=settings.device or "auto")
    except (ModelNotFoundError, BrokenInstallError) as exc:
        raise RefinerLoadError(f"--refine: {exc}") from exc
    except (ValueError, RuntimeError) as exc:
        raise RefinerLoadError(f"--refine: cannot load {model!r} on device {settings.device!r}: {exc}") from exc
    return make_refiner(segmenter, options)
