"""Pure geometry of the canvas: no QApplication, no widget."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.gui import canvas_interaction as ci

SQUARE = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], dtype=np.float64)
HOLE = np.array([[40, 40], [60, 40], [60, 60], [40, 60]], dtype=np.float64)
RINGS = ci.rings_of(SQUARE, [HOLE])


def test_nearest_vertex_within_tolerance_only():
    assert ci.nearest_vertex(RINGS, (98, 3), tolerance=5) == (0, 1)
    assert ci.nearest_vertex(RINGS, (61, 59), tolerance=5) == (1, 2)
    assert ci.nearest_vertex(RINGS, (50, 20), tolerance=5) is None


def test_nearest_vertex_prefers_the_closest_ring():
    rings = ci.rings_of(SQUARE, [np.array([[3, 3], [20, 3], [3, 20]], dtype=np.float64)])
    assert ci.nearest_vertex(rings, (2.5, 2.5), tolerance=10) == (1, 0)


def test_nearest_edge_projects_onto_the_segment():
    ring, index, proj = ci.nearest_edge(RINGS, (50, 2), tolerance=5)
    assert (ring, index) == (0, 0)
    assert proj == pytest.approx((50, 0))
    # The closing edge (last vertex back to the first) is an edge too.
    assert ci.nearest_edge(RINGS, (1, 50), tolerance=5)[:2] == (0, 3)
    assert ci.nearest_edge(RINGS, (25, 25), tolerance=5) is None


def test_contains_uses_even_odd_so_holes_are_outside():
    assert ci.contains(RINGS, (10, 10))
    assert not ci.contains(RINGS, (50, 50))  # in the hole
    assert not ci.contains(RINGS, (150, 50))


def test_find_hit_priority_vertex_edge_body():
    shapes = [("a", RINGS)]
    assert ci.find_hit(shapes, (99, 1), 4, selected_id="a").kind is ci.HitKind.VERTEX
    hit = ci.find_hit(shapes, (50, 101), 4, selected_id="a")
    assert (hit.kind, hit.ring, hit.index) == (ci.HitKind.EDGE, 0, 2)
    assert ci.find_hit(shapes, (20, 20), 4, selected_id="a").kind is ci.HitKind.BODY
    assert ci.find_hit(shapes, (50, 50), 4, selected_id="a") is None  # the hole


def test_find_hit_handles_only_on_the_selected_shape():
    shapes = [("a", RINGS)]
    hit = ci.find_hit(shapes, (99, 1), 4, selected_id=None)
    assert hit == ci.Hit(ci.HitKind.BODY, "a")


def test_find_hit_topmost_body_wins():
    other = ci.rings_of(SQUARE + 50, [])
    shapes = [("below", RINGS), ("above", other)]
    assert ci.find_hit(shapes, (70, 70), 2).shape_id == "above"
    assert ci.find_hit(shapes, (20, 20), 2).shape_id == "below"


def test_edits_return_new_arrays_and_keep_the_input():
    moved = ci.move_vertex(RINGS, 1, 0, (42, 41))
    assert moved[1][0].tolist() == [42, 41]
    assert RINGS[1][0].tolist() == [40, 40]
    assert moved[0] is not RINGS[0] or np.array_equal(moved[0], SQUARE)

    inserted = ci.insert_vertex(RINGS, 0, 0, (50, 0))
    assert inserted[0].tolist() == [[0, 0], [50, 0], [100, 0], [100, 100], [0, 100]]
    assert len(RINGS[0]) == 4
    assert inserted[1] is RINGS[1]  # the hole rides along untouched

    removed = ci.remove_vertex(inserted, 0, 1)
    assert np.array_equal(removed[0], SQUARE)


def test_remove_vertex_refuses_below_three():
    triangle = ci.rings_of(SQUARE[:3], [])
    assert not ci.can_remove_vertex(triangle, 0)
    with pytest.raises(ValueError, match="at least 3"):
        ci.remove_vertex(triangle, 0, 0)


def test_translate_moves_holes_too():
    moved = ci.translate(RINGS, 5, -2)
    assert moved[0][0].tolist() == [5, -2]
    assert moved[1][0].tolist() == [45, 38]


def test_clamping_keeps_geometry_on_the_image():
    assert ci.clamp_point((-3, 250), 200, 150) == (0, 150)
    assert ci.clamp_translation(RINGS, 500, -30, 200, 150) == (100, 0)
    assert ci.clamp_translation(RINGS, 10, 20, 200, 150) == (10, 20)


def test_closes_draft_near_first_vertex_with_three_points():
    pts = [(0, 0), (10, 0), (10, 10)]
    assert ci.closes_draft(pts, (1, 1), tolerance=3)
    assert not ci.closes_draft(pts, (5, 5), tolerance=3)
    assert not ci.closes_draft(pts[:2], (0, 0), tolerance=3)


def test_ring_area():
    assert ci.ring_area(SQUARE) == 10000
    assert ci.ring_area(SQUARE[::-1]) == 10000
    assert ci.ring_area(np.array([[0, 0], [5, 5], [10, 10]], dtype=np.float64)) == 0


def test_overlap_of_two_parts_of_one_shape_is_inside_with_a_layout():
    a = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    b = a + 5  # overlaps a on [5, 10] x [5, 10]
    shapes = [("s", (a, b))]
    assert ci.find_hit(shapes, (7, 7), 0.5) is None  # even-odd over all rings: the overlap cancels
    assert ci.find_hit(shapes, (7, 7), 0.5, layouts={"s": [1, 1]}).shape_id == "s"
    assert ci.contains_parts((a, b), [1, 1], (12, 12)) and not ci.contains_parts((a, b), [1, 1], (20, 20))
