import numpy as np
import pytest
from helpers import square, two_hole_shape

from annotator.core.shapes import Shape


def test_square_rasterises_to_its_pixels_and_reports_area_and_bbox():
    s = Shape("car", square(2, 3, 6, 5))
    m = s.mask(10, 10)
    expected = np.zeros((10, 10), bool)
    expected[3:5, 2:6] = True
    assert (m == expected).all()
    assert s.area == 8.0
    assert s.bbox == (2.0, 3.0, 4.0, 2.0)


def test_holes_are_subtracted():
    s = two_hole_shape()
    assert s.has_holes
    assert s.area == 600 - 16 - 36
    assert not s.mask(40, 50)[16, 16]


def test_closed_ring_is_stored_open_and_defaults_are_human_accepted():
    s = Shape("sky", [[0, 0], [4, 0], [4, 4], [0, 0]])
    assert s.exterior.shape == (3, 2) and s.exterior.dtype == np.float64
    assert s.source == "human" and s.accepted and s.score is None and len(s.id) == 32


def test_dict_round_trip_keeps_everything_including_id():
    s = two_hole_shape(source="model", score=0.25, accepted=False)
    back = Shape.from_dict(s.to_dict())
    assert back == s and back.id == s.id


def test_copy_is_deep_and_keeps_id():
    s = two_hole_shape()
    c = s.copy()
    c.exterior[0, 0] = 99
    c.holes[0][0, 0] = 99
    assert c.id == s.id and s.exterior[0, 0] == 10 and s.holes[0][0, 0] == 14


@pytest.mark.parametrize("kwargs, field", [
    (dict(label="", exterior=square(0, 0, 1, 1)), "label"),
    (dict(label="a", exterior=[[0, 0], [1, 1]]), "exterior"),
    (dict(label="a", exterior=[[0, 0], [1, np.nan], [2, 2]]), "exterior"),
    (dict(label="a", exterior=square(0, 0, 4, 4), holes=[[[1, 1]]]), "holes[0]"),
    (dict(label="a", exterior=square(0, 0, 1, 1), source="robot"), "source"),
    (dict(label="a", exterior=square(0, 0, 1, 1), score=float("inf")), "score"),
])
def test_invalid_shapes_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field.replace("[", r"\[")):
        Shape(**kwargs)


def test_from_dict_names_missing_field():
    with pytest.raises(ValueError, match="'exterior'"):
        Shape.from_dict({"id": "x", "label": "a"})


# --- Shape model v2: parts, iscrowd, extra -------------------------------------------------
from annotator.core.shapes import Part  # noqa: E402


def two_part_shape(**kw) -> Shape:
    """A 4x2 rectangle and, apart from it, a 6x6 square with a 2x2 hole (8 + 32 pixels)."""
    return Shape("car", parts=[Part(square(2, 3, 6, 5)), Part(square(10, 10, 16, 16), [square(12, 12, 14, 14)])],
                 **kw)


def test_multi_part_shape_mask_area_and_bbox_are_the_union():
    s = two_part_shape()
    m = s.mask(20, 20)
    expected = np.zeros((20, 20), bool)
    expected[3:5, 2:6] = True
    expected[10:16, 10:16] = True
    expected[12:14, 12:14] = False
    assert (m == expected).all()
    assert s.area == 8 + 32 and s.bbox == (2.0, 3.0, 14.0, 13.0)
    assert s.is_multipart and s.has_holes
    assert np.array_equal(s.exterior, square(2, 3, 6, 5)) and s.holes == []  # the first part's view


def test_rle_is_the_union_and_decodes_to_the_mask():
    from pycocotools import mask as mask_utils
    s = two_part_shape()
    assert (mask_utils.decode(s.rle(20, 20)).astype(bool) == s.mask(20, 20)).all()


def test_from_mask_keeps_every_component_and_hole_exactly():
    m = np.zeros((30, 40), bool)
    m[2:10, 2:12] = True
    m[4:6, 4:6] = False  # a hole
    m[20:25, 30:38] = True  # a second component
    m[28, 0] = True  # a single pixel
    s = Shape.from_mask("wall", m, source="model", accepted=False, score=0.5)
    assert len(s.parts) == 3 and s.source == "model" and not s.accepted and s.score == 0.5
    assert (s.mask(30, 40) == m).all()
    assert Shape.from_mask("wall", np.zeros((5, 5), bool)) is None


def test_with_parts_keeps_identity_and_fields_and_makes_a_new_object():
    s = two_part_shape(source="model", score=0.2, accepted=False, iscrowd=True, extra={"keypoints": [1, 2, 2]})
    t = s.with_parts([Part(square(0, 0, 2, 2))])
    assert t is not s and t.id == s.id and t.label == s.label and t.iscrowd and t.extra == s.extra
    assert (t.source, t.score, t.accepted) == ("model", 0.2, False)
    assert len(t.parts) == 1 and len(s.parts) == 2  # the original is unchanged


def test_rings_and_with_rings_round_trip_a_flattened_edit():
    s = two_part_shape()
    rings = s.rings()
    assert len(rings) == 3 and s.ring_layout() == [1, 2]
    moved = s.with_rings([r + 1 for r in rings])
    assert np.array_equal(moved.parts[1].holes[0], square(13, 13, 15, 15))
    with pytest.raises(ValueError, match="3 rings"):
        s.with_rings(rings[:2])


def test_v2_dict_round_trip_keeps_parts_iscrowd_and_extra():
    s = two_part_shape(iscrowd=True, extra={"attributes": {"occluded": True}, "coco_id": 17})
    d = s.to_dict()
    assert d["iscrowd"] is True and len(d["parts"]) == 2 and d["extra"]["coco_id"] == 17
    assert "exterior" not in d
    assert Shape.from_dict(d) == s


def test_version_1_shape_dict_is_read_as_one_part():
    v1 = {"id": "abc", "label": "wall", "source": "human", "accepted": True, "score": None,
          "exterior": square(10, 10, 40, 30).tolist(), "holes": [square(14, 14, 18, 18).tolist()]}
    s = Shape.from_dict(v1)
    assert len(s.parts) == 1 and len(s.holes) == 1 and not s.iscrowd and s.extra == {}
    assert s.area == 600 - 16


def test_exterior_and_parts_together_are_refused_and_empty_parts_too():
    with pytest.raises(ValueError, match="not both"):
        Shape("a", square(0, 0, 1, 1), parts=[Part(square(0, 0, 1, 1))])
    with pytest.raises(ValueError, match="at least one part"):
        Shape("a", parts=[])
    with pytest.raises(ValueError, match=r"parts\[1\]"):
        Shape("a", parts=[Part(square(0, 0, 1, 1)), "nonsense"])


@pytest.mark.parametrize("bad", [1e308, -1e7, float("nan")])
def test_absurd_coordinates_are_refused_before_rasterising(bad):
    with pytest.raises(ValueError, match="exterior"):
        Shape("a", [[0, 0], [bad, 0], [4, 4]])


def test_copy_of_a_multi_part_shape_is_deep():
    s = two_part_shape(extra={"k": [1]})
    c = s.copy()
    c.parts[1].holes[0][0, 0] = 99
    c.extra["k"].append(2)
    assert c == c.copy() and s.parts[1].holes[0][0, 0] == 12 and s.extra == {"k": [1]}
