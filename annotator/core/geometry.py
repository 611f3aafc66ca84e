"""Conversions between binary masks, shapely polygons and ``Shape`` rings.

The one place that turns pixels into polygons (model proposals and COCO RLE
import both use it). OpenCV traces each connected region's border through the
*centres* of its border pixels; growing that outline by half a pixel (mitred, so
straight edges stay straight) and shifting by +0.5 puts it on the pixel *edges*
in COCO coordinates, so one-pixel regions become unit squares, one-pixel-wide
lines become rectangles and a full-image region becomes the image rectangle.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.ops import split, unary_union

_HALF = 0.5


@dataclass(frozen=True)
class Region:
    """One 8-connected region of a mask: its pixels cropped to its bounding box."""

    pixels: np.ndarray  # bool [h, w], the region only (other regions in the box are False)
    x0: int
    y0: int
    area: int  # pixel count


def regions(mask: np.ndarray, min_pixels: int = 1) -> Iterator[Region]:
    """Connected regions of a bool mask with at least *min_pixels* pixels, in label order."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    if not mask.any():
        return
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < min_pixels:
            continue
        yield Region(labels[y:y + h, x:x + w] == i, x, y, area)


def region_polygons(region: Region, tolerance: float = 0.0) -> list[Polygon]:
    """Valid polygons (with holes) covering the region's pixels, simplified by *tolerance* px."""
    # One pixel of zero padding so contours never run along the crop border.
    padded = np.pad(region.pixels.astype(np.uint8), 1)
    contours, hierarchy = cv2.findContours(padded, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    hierarchy = hierarchy[0]  # [N, 4]: next, previous, first child, parent
    offset = np.array([region.x0 - 1 + _HALF, region.y0 - 1 + _HALF])  # crop -> image, centre -> edge
    pieces: list[BaseGeometry] = []
    for i, contour in enumerate(contours):
        if hierarchy[i][3] != -1:
            continue  # a hole; handled with its parent
        body = _grow(_outline(contour[:, 0, :] + offset), _HALF)
        holes = []
        child = hierarchy[i][2]
        while child != -1:
            # A hole's contour runs through the surrounding region's pixel centres,
            # so the hole itself is that outline shrunk by half a pixel.
            hole = _grow(_outline(contours[child][:, 0, :] + offset), -_HALF)
            if not hole.is_empty:
                holes.append(hole)
            child = hierarchy[child][0]
        if holes:  # one difference with all holes at once, not one per hole on a growing body
            body = body.difference(holes[0] if len(holes) == 1 else shapely.union_all(holes))
        pieces.append(body)
    # Mitred corners can poke past the pixels at sharp angles; the region's box is a
    # hard bound of its true outline, so clip to it.
    h, w = region.pixels.shape
    bound = box(region.x0, region.y0, region.x0 + w, region.y0 + h)
    polys = polygons_of(unary_union(pieces).intersection(bound))
    if tolerance > 0:
        polys = [q for p in polys for q in _simplified(p, tolerance)]
    return polys


def _simplified(poly: Polygon, tolerance: float) -> list[Polygon]:
    """Douglas-Peucker within *tolerance*; a region that would vanish (smaller than the
    tolerance, e.g. a single pixel at 1.5 px) keeps its exact outline instead."""
    out = polygons_of(shapely.make_valid(poly.simplify(tolerance, preserve_topology=True)))
    return out if sum(p.area for p in out) > 0.5 * poly.area else [poly]


def mask_to_polygons(mask: np.ndarray, tolerance: float = 0.0, min_pixels: int = 1) -> list[Polygon]:
    """Polygons (with holes) of every region of a bool mask."""
    return [p for r in regions(mask, min_pixels) for p in region_polygons(r, tolerance)]


def _outline(points: np.ndarray) -> BaseGeometry:
    """The traced centre-line as a valid geometry; degenerate traces become points or lines."""
    points = points.astype(np.float64)
    if len(points) == 1:
        return Point(points[0])
    if len(points) == 2:
        return LineString(points)
    return shapely.make_valid(Polygon(points))


def _grow(geom: BaseGeometry, distance: float) -> BaseGeometry:
    # Square caps turn a lone pixel centre into the full pixel square.
    return geom.buffer(distance, join_style="mitre", cap_style="square", mitre_limit=2.0)


def polygons_of(geom: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons inside any geometry, exterior counter-clockwise."""
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [orient(geom, 1.0)] if geom.area > 0 else []
    parts = getattr(geom, "geoms", [])
    return [p for g in parts for p in polygons_of(g)]


def polygon_rings(poly: Polygon) -> tuple[np.ndarray, list[np.ndarray]]:
    """(exterior, holes) as open float64 [N, 2] rings, the layout ``Shape`` stores."""
    ext = np.asarray(poly.exterior.coords, dtype=np.float64)[:-1]
    holes = [np.asarray(r.coords, dtype=np.float64)[:-1] for r in poly.interiors]
    return ext, holes


def rings_polygon(exterior: np.ndarray, holes: list[np.ndarray]) -> BaseGeometry:
    """A valid shapely geometry from rings (self-intersections are repaired by make_valid)."""
    return shapely.make_valid(Polygon(exterior, holes))


def split_holes(poly: Polygon) -> list[Polygon]:
    """Cut a polygon with holes into hole-free pieces whose union is the polygon.

    COCO polygon segmentations are a union of simple polygons and cannot express
    holes; a vertical cut through each hole opens it, so the pieces cover exactly
    the polygon minus its holes.
    """
    if not poly.interiors:
        return [poly]
    _, miny, _, maxy = poly.bounds
    cuts = []
    for ring in poly.interiors:
        x = Polygon(ring).representative_point().x  # strictly inside the hole
        cuts.append([(x, miny - 1), (x, maxy + 1)])
    out: list[Polygon] = []
    for piece in polygons_of(split(poly, MultiLineString(cuts))):
        # A cut through a hole's vertex can leave that hole whole; cut again.
        out.extend(split_holes(piece) if piece.interiors else [piece])
    return out


def min_pixels_for(fraction: float, height: int, width: int) -> int:
    """The smallest region kept, in pixels, for a fraction of the image area (at least 1)."""
    return max(1, math.ceil(fraction * height * width))
