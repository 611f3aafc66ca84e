"""Sharpen on a synthetic image whose answer is known: a disk on grass, blocky proposals."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.core.refine import RefineOptions, sharpen_label_map, sharpen_shapes
from annotator.core.proposals import shapes_from_label_map
from annotator.core.shapes import Shape

H, W, CX, CY, R = 96, 128, 60.0, 44.0, 22.0
YY, XX = np.mgrid[:H, :W]
DISK = (XX + 0.5 - CX) ** 2 + (YY + 0.5 - CY) ** 2 <= R ** 2
BLOCK = 8


def coarse_disk() -> np.ndarray:
    """The disk as a patch-grid model sees it: every 8x8 block that touches it (a superset)."""
    blocks = DISK.reshape(H // BLOCK, BLOCK, W // BLOCK, BLOCK).any(axis=(1, 3))
    return np.kron(blocks, np.ones((BLOCK, BLOCK), bool)).astype(bool)


class TrueDecoder:
    """Stand-in for the interactive model: the true object under the first positive point."""

    def __init__(self):
        self.calls = []

    def __call__(self, points, labels, box):
        self.calls.append((points, labels, box))
        x, y = next(p for p, v in zip(points, labels) if v == 1)
        on_disk = DISK[int(y), int(x)]
        return DISK.copy() if on_disk else ~DISK


def heatmaps():
    """[2, 12, 16] class heatmaps: disk peaks at its centre, grass is high away from it."""
    gy, gx = np.mgrid[:12, :16]
    d = np.hypot(gx + 0.5 - CX / 8, gy + 0.5 - CY / 8)
    return np.stack([np.exp(-d ** 2 / 4), d / d.max()]).astype(np.float32)


def test_label_map_regions_become_the_true_objects():
    coarse = np.where(coarse_disk(), 1, 2).astype(np.int32)
    decoder = TrueDecoder()
    sharp = sharpen_label_map(coarse, ["ball", "grass"], decoder, heatmaps())
    assert np.array_equal(sharp == 1, DISK)
    assert np.array_equal(sharp == 2, ~DISK)
    # prompts: the disk's box, a positive at the heatmap peak, a negative in the grass
    points, labels, box = next(c for c in decoder.calls if DISK[int(c[0][0][1]), int(c[0][0][0])])
    assert labels[0] == 1 and np.hypot(points[0][0] - CX, points[0][1] - CY) < 6
    assert 0 in labels and all(not DISK[int(y), int(x)] for (x, y), v in zip(points, labels) if v == 0)
    ys, xs = np.nonzero(coarse == 1)
    assert box == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_selected_proposal_becomes_the_disk_others_untouched():
    coarse = np.where(coarse_disk(), 1, 2).astype(np.int32)
    coarse[:12, :12] = 0  # where the human and the accepted shapes lie
    coarse[84:, :12] = 0
    shapes = shapes_from_label_map(coarse, ["ball", "grass"], heatmaps(), tolerance=0.0, min_area_fraction=0)
    ball = next(s for s in shapes if s.label == "ball")
    grass = [s for s in shapes if s.label == "grass"]
    human = Shape("tree", np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float))  # never changed
    accepted = Shape("grass", np.array([[0, 86], [10, 86], [10, 96], [0, 96]], float), source="model")
    everything = [ball, *grass, human, accepted]
    new = sharpen_shapes(everything, H, W, TrueDecoder(), ids=[ball.id, human.id, accepted.id],
                         heatmaps=heatmaps(), classes=["ball", "grass"], tolerance=0.0)
    assert set(new) == {ball.id}, "only the selected proposal changes; human and accepted shapes never"
    sharp = new[ball.id]
    assert sharp.id == ball.id and sharp.label == "ball" and sharp.score == ball.score
    assert sharp.source == "model" and not sharp.accepted
    assert np.array_equal(sharp.mask(H, W), DISK)
    after = [sharp, *grass, human, accepted]
    masks = np.stack([s.mask(H, W) for s in after])
    assert masks.sum(axis=0).max() == 1, "the partition stays non-overlapping"


def test_answer_is_clipped_to_a_bounded_margin_and_never_enters_fixed_regions():
    coarse = np.where(coarse_disk(), 1, 2).astype(np.int32)
    shapes = shapes_from_label_map(coarse, ["ball", "grass"], None, tolerance=0.0, min_area_fraction=0)
    ball = next(s for s in shapes if s.label == "ball")
    grass = next(s for s in shapes if s.label == "grass")
    grass_kept = grass.replace(source="human", accepted=True)
    everything_answer = lambda points, labels, box: np.ones((H, W), bool)  # noqa: E731
    opts = RefineOptions(max_margin=4)
    new = sharpen_shapes([ball, grass_kept], H, W, everything_answer, options=opts, tolerance=0.0)
    assert np.array_equal(new[ball.id].mask(H, W), coarse == 1), "the human grass is never taken"
    alone = sharpen_shapes([ball], H, W, everything_answer, options=opts, tolerance=0.0)
    grown = alone[ball.id].mask(H, W)
    ys, xs = np.nonzero(coarse == 1)
    gy, gx = np.nonzero(grown)
    assert gx.min() >= xs.min() - 4 and gx.max() <= xs.max() + 4
    assert gy.min() >= ys.min() - 4 and gy.max() <= ys.max() + 4


def test_empty_answer_leaves_the_region_as_it_was():
    coarse = np.where(coarse_disk(), 1, 2).astype(np.int32)
    nothing = lambda points, labels, box: np.zeros((H, W), bool)  # noqa: E731
    assert np.array_equal(sharpen_label_map(coarse, ["ball", "grass"], nothing), coarse)
    shapes = shapes_from_label_map(coarse, ["ball", "grass"], None, tolerance=0.0, min_area_fraction=0)
    assert sharpen_shapes(shapes, H, W, nothing) == {}


def test_wrong_answer_size_is_named():
    coarse = np.where(coarse_disk(), 1, 2).astype(np.int32)
    with pytest.raises(ValueError, match=r"\(10, 10\) mask for a \(96, 128\) image"):
        sharpen_label_map(coarse, ["ball", "grass"], lambda p, lab, b: np.zeros((10, 10), bool))


def test_proposals_left_as_they_were_come_with_a_reason():
    from annotator.core.refine import NO_OBJECT, TOO_SMALL

    coarse = np.where(coarse_disk(), 1, 2).astype(np.int32)
    shapes = shapes_from_label_map(coarse, ["ball", "grass"], None, tolerance=0.0, min_area_fraction=0)
    speck = Shape("ball", np.array([[1, 1], [3, 1], [3, 3], [1, 3]], float), source="model", accepted=False)
    nothing = lambda points, labels, box: np.zeros((H, W), bool)  # noqa: E731
    left: dict = {}
    assert sharpen_shapes([*shapes, speck], H, W, nothing, left=left) == {}
    assert left == {**{s.id: NO_OBJECT for s in shapes}, speck.id: TOO_SMALL}
    left.clear()
    new = sharpen_shapes(shapes, H, W, TrueDecoder(), heatmaps=heatmaps(), classes=["ball", "grass"], left=left)
    assert set(new) == {s.id for s in shapes} and left == {}


def test_a_routed_result_sharpens_only_the_classes_whose_route_says_so():
    """Issue 21: a calibrated route's Sharpen applies to its class alone; an unrouted class
    follows the project's own setting (its default route); no route sharpening: no embedding."""
    from types import SimpleNamespace

    from annotator.core.project import ProjectSettings
    from annotator.core.refine import make_refiner, sharpened_classes
    from annotator.core.routing import Route

    coarse = np.where(coarse_disk(), 1, 2).astype(np.int32)
    decoder = TrueDecoder()
    only_ball = sharpen_label_map(coarse, ["ball", "grass"], decoder, heatmaps(), only={"ball"})
    assert np.array_equal(only_ball == 1, DISK)  # the ball's new outline
    assert np.array_equal(only_ball == 2, coarse == 2), "grass (not sharpened) keeps its pixels exactly"
    untouched = sharpen_label_map(coarse, ["ball", "grass"], TrueDecoder(), heatmaps(), only=set())
    assert np.array_equal(untouched, coarse)

    routes = {"ball": Route("sam3", sharpen=True), "grass": Route("pnp-ovss", sharpen=False)}
    result = SimpleNamespace(classes=["ball", "grass"], label_map=coarse.copy(), heatmaps=heatmaps(), routes=routes)
    assert sharpened_classes(result) == {"ball"} and sharpened_classes(SimpleNamespace(classes=["a"])) is None

    class Interactive:  # core.refine's view of an interactive segmenter
        def __init__(self):
            self.images = []

        def set_image(self, key, rgb):
            self.images.append(key)

        def predict(self, points, labels, box, image_key=None):
            return SimpleNamespace(mask=decoder(points, labels, box))

        def has_image(self, key):
            return key in self.images

        def forget(self, key):
            pass

    seg = Interactive()
    refine = make_refiner(seg)
    rgb = np.zeros((H, W, 3), np.uint8)
    out = refine("a.png", rgb, result)
    assert np.array_equal(out.label_map == 1, DISK)
    result.routes = {"ball": Route("sam3", sharpen=False), "grass": Route("pnp-ovss", sharpen=False)}
    result.label_map = coarse.copy()
    seg.images.clear()
    assert np.array_equal(refine("a.png", rgb, result).label_map, coarse) and seg.images == []

    settings = ProjectSettings(refine=False, routes={"ball": {"engine": "sam3", "sharpen": True}})
    assert settings.proposal_settings().refine, "a route that sharpens makes the run load the refiner"
    assert not ProjectSettings(refine=False).proposal_settings().refine
