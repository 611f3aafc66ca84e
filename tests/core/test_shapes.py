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
