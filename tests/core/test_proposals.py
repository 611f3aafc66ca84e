import numpy as np
import pytest
from helpers import iou

from annotator.core.proposals import proposals_from_result, shapes_from_label_map


def union_mask(shapes, label, h, w):
    out = np.zeros((h, w), bool)
    for s in shapes:
        if s.label == label:
            out |= s.mask(h, w)
    return out


def test_region_with_two_holes_is_one_shape_with_two_holes():
    lm = np.zeros((60, 80), np.int32)
    lm[10:50, 10:70] = 1
    lm[15:25, 15:30] = 0
    lm[30:45, 40:60] = 2  # a hole filled by another class is still a hole of class 1
    shapes = shapes_from_label_map(lm, ["wall", "door"], tolerance=0, min_area_fraction=0)
    walls = [s for s in shapes if s.label == "wall"]
    assert len(walls) == 1 and len(walls[0].holes) == 2
    assert (walls[0].mask(60, 80) == (lm == 1)).all()
    assert all(s.source == "model" and not s.accepted and s.score is None for s in shapes)


def test_class_with_three_separate_regions_gives_three_shapes():
    lm = np.zeros((40, 100), np.int32)
    for x in (5, 40, 75):
        lm[10:30, x:x + 15] = 1
    shapes = shapes_from_label_map(lm, ["car"])
    assert len(shapes) == 3
    assert (union_mask(shapes, "car", 40, 100) == (lm == 1)).all()


def test_empty_map_gives_no_shapes():
    assert shapes_from_label_map(np.zeros((30, 30), np.int32), ["sky"]) == []


def test_one_pixel_region_is_a_unit_square_or_dropped_by_min_area():
    lm = np.zeros((20, 20), np.int32)
    lm[7, 3] = 1
    (s,) = shapes_from_label_map(lm, ["bird"], tolerance=1.5, min_area_fraction=0)
    assert s.area == 1 and s.bbox == (3.0, 7.0, 1.0, 1.0)
    assert shapes_from_label_map(lm, ["bird"], min_area_fraction=0.01) == []


def test_full_image_region_is_the_image_rectangle():
    (s,) = shapes_from_label_map(np.ones((33, 47), np.int32), ["sky"])
    assert s.area == 33 * 47 and s.bbox == (0.0, 0.0, 47.0, 33.0)
    assert len(s.exterior) == 4


def test_blobby_map_round_trips_exactly_without_simplification_and_closely_with_it():
    rng = np.random.default_rng(1)
    import cv2

    noise = cv2.GaussianBlur(rng.random((75, 100)).astype(np.float32), (0, 0), 3)
    small = np.digitize(noise, np.quantile(noise, [0.35, 0.7])).astype(np.uint8)  # 0, 1, 2
    lm = cv2.resize(small, (400, 300), interpolation=cv2.INTER_NEAREST).astype(np.int32)
    exact = shapes_from_label_map(lm, ["a", "b"], tolerance=0, min_area_fraction=0)
    simple = shapes_from_label_map(lm, ["a", "b"], tolerance=1.5, min_area_fraction=0)
    for label, index in (("a", 1), ("b", 2)):
        assert iou(union_mask(exact, label, 300, 400), lm == index) == 1.0
        assert iou(union_mask(simple, label, 300, 400), lm == index) > 0.97  # 1.5 px of freedom along every edge
    assert sum(len(s.exterior) for s in simple) < sum(len(s.exterior) for s in exact) * 0.8


def test_min_area_fraction_drops_small_regions():
    lm = np.zeros((100, 100), np.int32)
    lm[0:40, 0:40] = 1  # 16 % of the image
    lm[80:83, 80:83] = 1  # 9 px = 0.09 %
    assert len(shapes_from_label_map(lm, ["x"], min_area_fraction=0.0005)) == 2
    assert len(shapes_from_label_map(lm, ["x"], min_area_fraction=0.001)) == 1


def test_score_is_mean_normalised_heatmap_inside_region():
    lm = np.zeros((40, 40), np.int32)
    lm[:, :20] = 1
    lm[:, 20:] = 2
    heat = np.zeros((2, 4, 4), np.float32)
    heat[0, :, :2] = 5.0  # class 1 hot on the left
    heat[1] = 3.0  # constant: normalises to 0
    left, right = shapes_from_label_map(lm, ["a", "b"], heat)
    assert left.label == "a" and left.score > 0.8
    assert right.label == "b" and right.score == 0.0


def test_proposals_from_result_reads_the_result_fields():
    class Result:
        label_map = np.pad(np.ones((10, 10), np.int32), 5)
        classes = ["cup"]
        heatmaps = np.ones((1, 21, 21), np.float32)

    (s,) = proposals_from_result(Result(), min_area_fraction=0)
    assert s.label == "cup" and s.area == 100 and s.score == 0.0


@pytest.mark.parametrize("lm, classes, heat, message", [
    (np.zeros((4,), np.int32), ["a"], None, "2-D"),
    (np.full((4, 4), 3, np.int32), ["a"], None, "values 3..3"),
    (np.zeros((4, 4), np.float32), ["a"], None, "integer"),
    (np.zeros((4, 4), np.int32), ["a"], np.zeros((2, 3, 3)), "C = 1"),
])
def test_bad_inputs_raise_clear_errors(lm, classes, heat, message):
    with pytest.raises(ValueError, match=message):
        shapes_from_label_map(lm, classes, heat)


# --- instances (SAM 3) ----------------------------------------------------------------------
def _instance(class_index, score, mask):
    from engine import Instance

    ys, xs = np.nonzero(mask)
    return Instance(class_index, score, (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)),
                    mask)


def test_instances_give_one_shape_each_and_overlaps_go_to_the_higher_score():
    from annotator.core.proposals import shapes_from_instances

    h, w = 60, 80
    low, high, far = (np.zeros((h, w), bool) for _ in range(3))
    low[10:40, 10:50] = True
    high[20:50, 30:70] = True  # overlaps low
    far[2:8, 2:8] = True
    far[50:58, 2:8] = True  # two components: one shape with two parts
    shapes = shapes_from_instances([_instance(0, 0.6, low), _instance(0, 0.9, high), _instance(1, 0.7, far)],
                                   ["cat", "dog"], (h, w), tolerance=0, min_area_fraction=0)
    assert [(s.label, s.score) for s in shapes] == [("cat", 0.9), ("dog", 0.7), ("cat", 0.6)]
    assert all(s.source == "model" and not s.accepted for s in shapes)
    np.testing.assert_array_equal(shapes[0].mask(h, w), high)
    np.testing.assert_array_equal(shapes[2].mask(h, w), low & ~high)
    assert len(shapes[1].parts) == 2 and (shapes[1].mask(h, w) == far).all()
    two_cats = [s for s in shapes if s.label == "cat"]
    assert not (two_cats[0].mask(h, w) & two_cats[1].mask(h, w)).any()


def test_instances_drop_speckle_and_instances_swallowed_by_higher_ones():
    from annotator.core.proposals import shapes_from_instances

    h, w = 100, 100
    big, inside, speck = (np.zeros((h, w), bool) for _ in range(3))
    big[10:90, 10:90] = True
    inside[20:40, 20:40] = True  # entirely under a higher score: nothing left
    speck[95:97, 95:97] = True  # 4 px: below 0.05 % of 10 000 px (5 px)
    shapes = shapes_from_instances([_instance(0, 0.9, big), _instance(0, 0.8, inside), _instance(1, 0.7, speck)],
                                   ["cat", "dog"], (h, w), min_area_fraction=0.0005)
    assert [s.label for s in shapes] == ["cat"]


def test_proposal_modes():
    from annotator.core.proposals import resolve_proposals

    assert resolve_proposals("auto", "sam3") == "instances"
    assert resolve_proposals("auto", "pnp-ovss") == "regions"
    assert resolve_proposals("regions", "sam3") == "regions"
    with pytest.raises(ValueError, match="needs an engine that detects objects"):
        resolve_proposals("instances", "pnp-ovss")
    with pytest.raises(ValueError, match="proposals must be one of"):
        resolve_proposals("objects", "sam3")


def test_sam3_result_to_shapes_in_both_modes(tiny_sam3_dir, samples_dir):
    from engine import Segmenter

    seg = Segmenter.load(str(tiny_sam3_dir), device="cpu")
    res = seg.segment(samples_dir / "chelsea.png", ["cat", "wall", "sky"])
    inst = proposals_from_result(res, tolerance=0, min_area_fraction=0)  # auto: instances
    assert 0 < len(inst) <= len(res.instances)
    assert {s.score for s in inst} <= {i.score for i in res.instances}
    regions = proposals_from_result(res, mode="regions", tolerance=0, min_area_fraction=0)
    union = np.zeros(res.image_size, bool)
    for s in regions:
        union |= s.mask(*res.image_size)
    np.testing.assert_array_equal(union, res.label_map > 0)
