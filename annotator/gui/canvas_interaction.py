"""Hit-testing and polygon geometry for the canvas, with no Qt.

A shape's geometry is handled here as *rings*: a tuple of every ring of every part, in
``Shape.rings()`` order (part 0's exterior and holes, then part 1's ...), filled and
hit-tested even-odd (parts do not overlap, holes lie inside their part), each a float64
array [N, 2] of (x, y) image pixels, open (the last vertex is not repeated). Every function returns new arrays and never mutates its
input, because the document keeps the old arrays for undo.

Tolerances are given in image pixels; the canvas divides its screen-pixel tolerance by
the zoom so that a handle is equally easy to grab at any zoom.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence

import numpy as np

Rings = tuple[np.ndarray, ...]

MIN_VERTICES = 3  # a ring with fewer vertices has no area; deleting below this is refused


class HitKind(enum.Enum):
    VERTEX = "vertex"
    EDGE = "edge"
    BODY = "body"


@dataclasses.dataclass(frozen=True)
class Hit:
    """What lies under the cursor.

    ring/index address a vertex (VERTEX) or the edge from vertex `index` to `index + 1`
    (EDGE); both are None for BODY. `point` is where on the edge the cursor projects
    (EDGE) or the vertex itself (VERTEX); None for BODY.
    """

    kind: HitKind
    shape_id: str
    ring: int | None = None
    index: int | None = None
    point: tuple[float, float] | None = None


def rings_of(exterior: np.ndarray, holes: Sequence[np.ndarray]) -> Rings:
    return (np.asarray(exterior, dtype=np.float64), *(np.asarray(h, dtype=np.float64) for h in holes))


def nearest_vertex(rings: Rings, point: Sequence[float], tolerance: float) -> tuple[int, int] | None:
    """(ring, index) of the vertex closest to `point` if within `tolerance`, else None."""
    p = np.asarray(point, dtype=np.float64)
    best: tuple[float, int, int] | None = None
    for r, ring in enumerate(rings):
        d = np.hypot(*(ring - p).T)
        i = int(np.argmin(d))
        if d[i] <= tolerance and (best is None or d[i] < best[0]):
            best = (float(d[i]), r, i)
    return None if best is None else (best[1], best[2])


def nearest_edge(
    rings: Rings, point: Sequence[float], tolerance: float
) -> tuple[int, int, tuple[float, float]] | None:
    """(ring, index, projection) of the closest edge within `tolerance`, else None.

    Edge `index` runs from vertex index to vertex index + 1 (wrapping to 0).
    """
    p = np.asarray(point, dtype=np.float64)
    best: tuple[float, int, int, np.ndarray] | None = None
    for r, ring in enumerate(rings):
        a = ring
        b = np.roll(ring, -1, axis=0)
        ab = b - a
        length2 = np.einsum("ij,ij->i", ab, ab)
        # Degenerate (zero-length) edges project onto their start vertex.
        t = np.where(length2 > 0, np.einsum("ij,ij->i", p - a, ab) / np.where(length2 > 0, length2, 1), 0.0)
        proj = a + np.clip(t, 0.0, 1.0)[:, None] * ab
        d = np.hypot(*(proj - p).T)
        i = int(np.argmin(d))
        if d[i] <= tolerance and (best is None or d[i] < best[0]):
            best = (float(d[i]), r, i, proj[i])
    if best is None:
        return None
    return best[1], best[2], (float(best[3][0]), float(best[3][1]))


def contains(rings: Rings, point: Sequence[float]) -> bool:
    """Even-odd point-in-polygon over all rings, the same rule the canvas fills with.

    So a point inside a hole is outside the shape, and a hole of a hole is inside again.
    """
    x, y = float(point[0]), float(point[1])
    crossings = 0
    for ring in rings:
        xa, ya = ring[:, 0], ring[:, 1]
        xb, yb = np.roll(xa, -1), np.roll(ya, -1)
        straddles = (ya > y) != (yb > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = xa + (y - ya) * (xb - xa) / (yb - ya)
        crossings += int(np.count_nonzero(straddles & (x < x_cross)))
    return crossings % 2 == 1


def bounds(rings: Rings) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) over all rings (a multi-part shape's parts lie apart)."""
    pts = np.vstack(rings)
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def contains_parts(rings: Rings, layout: Sequence[int], point: Sequence[float]) -> bool:
    """Inside any part (each part even-odd over its own rings; *layout* = rings per part),
    so two overlapping parts of one shape do not cancel out."""
    k = 0
    for n in layout:
        if contains(rings[k:k + n], point):
            return True
        k += n
    return False


def find_hit(
    shapes: Sequence[tuple[str, Rings]],
    point: Sequence[float],
    tolerance: float,
    selected_id: str | None = None,
    layouts: dict[str, Sequence[int]] | None = None,
) -> Hit | None:
    """The hit under `point`, by priority.

    `shapes` are in paint order (last is on top). Vertices and edges are hit only on the
    selected shape, because those are the only handles drawn, and neighbouring proposals
    from one label map share their borders: grabbing an invisible vertex of the wrong
    shape would surprise. Then the topmost shape whose fill contains the point, or whose
    outline passes within `tolerance`, is a BODY hit. `layouts` (shape id -> rings per
    part, ``Shape.ring_layout()``) makes the fill test part by part for multi-part shapes.
    """
    by_id = dict(shapes)
    if selected_id is not None and selected_id in by_id:
        rings = by_id[selected_id]
        v = nearest_vertex(rings, point, tolerance)
        if v is not None:
            ring, index = v
            vx, vy = rings[ring][index]
            return Hit(HitKind.VERTEX, selected_id, ring, index, (float(vx), float(vy)))
        e = nearest_edge(rings, point, tolerance)
        if e is not None:
            return Hit(HitKind.EDGE, selected_id, e[0], e[1], e[2])
    x, y = float(point[0]), float(point[1])
    for shape_id, rings in reversed(shapes):
        xmin, ymin, xmax, ymax = bounds(rings)
        if not (xmin - tolerance <= x <= xmax + tolerance and ymin - tolerance <= y <= ymax + tolerance):
            continue
        layout = layouts.get(shape_id) if layouts else None
        inside = contains_parts(rings, layout, point) if layout else contains(rings, point)
        if inside or nearest_edge(rings, point, tolerance) is not None:
            return Hit(HitKind.BODY, shape_id)
    return None


def move_vertex(rings: Rings, ring: int, index: int, point: Sequence[float]) -> Rings:
    out = [r.copy() for r in rings]
    out[ring][index] = point
    return tuple(out)


def insert_vertex(rings: Rings, ring: int, edge: int, point: Sequence[float]) -> Rings:
    """Insert `point` on edge `edge` of `ring`; it becomes vertex `edge + 1`."""
    out = list(rings)
    out[ring] = np.insert(rings[ring], edge + 1, np.asarray(point, dtype=np.float64), axis=0)
    return tuple(out)


def can_remove_vertex(rings: Rings, ring: int) -> bool:
    return len(rings[ring]) > MIN_VERTICES


def remove_vertex(rings: Rings, ring: int, index: int) -> Rings:
    if not can_remove_vertex(rings, ring):
        raise ValueError(f"a polygon ring keeps at least {MIN_VERTICES} vertices")
    out = list(rings)
    out[ring] = np.delete(rings[ring], index, axis=0)
    return tuple(out)


def translate(rings: Rings, dx: float, dy: float) -> Rings:
    d = np.array([dx, dy], dtype=np.float64)
    return tuple(r + d for r in rings)


def clamp_point(point: Sequence[float], width: float, height: float) -> tuple[float, float]:
    """Keep a vertex on the image: annotations outside it cannot be exported."""
    return (min(max(float(point[0]), 0.0), float(width)), min(max(float(point[1]), 0.0), float(height)))


def clamp_translation(rings: Rings, dx: float, dy: float, width: float, height: float) -> tuple[float, float]:
    """Shorten (dx, dy) so the moved shape stays on the image, sliding along the border."""
    xmin, ymin, xmax, ymax = bounds(rings)
    dx = min(max(dx, -xmin), width - xmax)
    dy = min(max(dy, -ymin), height - ymax)
    return float(dx), float(dy)


def ring_area(ring: np.ndarray) -> float:
    """Unsigned shoelace area: a drawn polygon with none (all clicks on a line) is refused."""
    x, y = ring[:, 0], ring[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def closes_draft(points: Sequence[Sequence[float]], point: Sequence[float], tolerance: float) -> bool:
    """A click near the first vertex of a draft with >= 3 vertices closes it (labelme)."""
    if len(points) < MIN_VERTICES:
        return False
    return bool(np.hypot(point[0] - points[0][0], point[1] - points[0][1]) <= tolerance)
