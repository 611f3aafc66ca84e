"""Routing classes to engines: one non-overlapping partition; kept shapes untouched."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.core.annotations import ImageAnnotations
from annotator.core.project import Project, ProjectSettings
from annotator.core.routing import (INSTANCE, REGION, Claim, Route, check_routes, merge_claims, routed_proposals,
                                    routes_of)
from annotator.core.shapes import Shape
from engine import Instance, SegmentationResult

H, W = 40, 48


def box(y0, x0, y1, x1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


@st.composite
def claim_lists(draw):
    out = []
    for i in range(draw(st.integers(1, 7))):
        y0, x0 = draw(st.integers(0, H - 2)), draw(st.integers(0, W - 2))
        mask = box(y0, x0, draw(st.integers(y0 + 1, H)), draw(st.integers(x0 + 1, W)))
        out.append(Claim(f"c{i % 3}", mask, draw(st.sampled_from([INSTANCE, REGION])),
                         draw(st.floats(0, 1)), draw(st.floats(0, 1))))
    return out


@settings(max_examples=60, deadline=None)
@given(claim_lists())
def test_merged_claims_never_overlap_and_cover_what_was_claimed(claims):
    own = merge_claims(claims, (H, W))
    total = np.zeros((H, W), np.int32)
    for c, m in zip(claims, own):
        assert not (m & ~c.mask).any()  # nobody gets a pixel it did not claim
        total += m
    assert total.max() <= 1
    claimed = np.logical_or.reduce([c.mask for c in claims])
    assert np.array_equal(total.astype(bool), claimed)


def test_instances_lie_over_regions_and_the_higher_calibrated_score_wins():
    road = Claim("road", box(20, 0, 40, 48), REGION, rank=0.9)
    car = Claim("car", box(15, 10, 30, 20), INSTANCE, rank=0.4, score=0.8)
    grass = Claim("grass", box(30, 0, 40, 48), REGION, rank=0.6)
    own = merge_claims([road, car, grass], (H, W))
    assert own[1].sum() == car.mask.sum()  # the instance keeps all its pixels
    assert own[0][35, 30] and not own[2][35, 30]  # road (0.9) beats grass (0.6)
    assert not own[0][25, 15]


def fake_result(engine, classes, maps, instances=()):
    return SegmentationResult(classes=list(classes), heatmaps=np.stack(maps).astype(np.float32), presence={},
                              label_map=np.zeros((H, W), np.int32), image_size=(H, W), engine=engine,
                              instances=list(instances))


def threshold_map(engine, result, threshold, sharpen):
    maps = result.heatmaps
    return np.where(maps.max(0) >= threshold, maps.argmax(0) + 1, 0).astype(np.int32)


def test_routed_proposals_merge_two_engines_into_one_partition():
    sky = box(0, 0, 20, 48) * 0.8
    road = box(18, 0, 40, 48) * 0.6  # overlaps sky's last rows
    pnp = fake_result("pnp-ovss", ["sky", "road", "car"], [sky, road, box(22, 5, 30, 15) * 0.9])
    car1, car2 = box(22, 5, 30, 15), box(25, 30, 35, 44)
    sam = fake_result("sam3", ["car"], [car1 * 0.9],
                      [Instance(0, 0.9, (5, 22, 15, 30), car1), Instance(0, 0.7, (30, 25, 44, 35), car2),
                       Instance(0, 0.3, (0, 0, 5, 5), box(0, 0, 5, 5))])
    routes = {"sky": Route("pnp-ovss", mode="regions", threshold=0.5, score=0.9),
              "road": Route("pnp-ovss", mode="regions", threshold=0.5, score=0.7),
              "car": Route("sam3", mode="instances", threshold=0.5, score=0.8)}
    shapes, partition = routed_proposals({"pnp-ovss": pnp, "sam3": sam}, routes, ["sky", "road", "car"],
                                         threshold_map, tolerance=0.0, min_area_fraction=0.0)
    cars = [s for s in shapes if s.label == "car"]
    assert len(cars) == 2  # the 0.3 instance is below the route's threshold
    masks = [s.mask(H, W) for s in shapes]
    assert np.sum(masks, axis=0).max() == 1
    assert all(not s.accepted and s.source == "model" for s in shapes)
    assert partition[26, 35] == 3 and partition[5, 5] == 1 and partition[38, 2] == 2
    assert np.array_equal(partition > 0, np.logical_or.reduce(masks))


def test_a_routed_propose_never_changes_human_or_accepted_shapes(tmp_path):
    project = Project.open(tmp_path)
    human = Shape("sky", [[0, 0], [20, 0], [20, 10], [0, 10]])
    accepted = Shape("road", [[0, 30], [40, 30], [40, 40], [0, 40]], source="model", accepted=True, score=0.5)
    pending = Shape("car", [[1, 1], [5, 1], [5, 5]], source="model", accepted=False)
    ann = ImageAnnotations("a.png", W, H, [human, accepted, pending])
    before = {s.id: s.to_dict() for s in (human, accepted)}
    pnp = fake_result("pnp-ovss", ["sky", "road"], [box(0, 0, 20, 48) * 0.8, box(20, 0, 40, 48) * 0.8])
    sam = fake_result("sam3", ["car"], [box(22, 5, 30, 15) * 0.9],
                      [Instance(0, 0.9, (5, 22, 15, 30), box(22, 5, 30, 15))])
    routes = {"car": Route("sam3", mode="instances", threshold=0.5, score=0.8)}
    default = {"pnp-ovss": Route("pnp-ovss", threshold=0.5)}
    shapes, _ = routed_proposals({"pnp-ovss": pnp, "sam3": sam}, routes, ["sky", "road", "car"], threshold_map,
                                 default=default)
    removed = ann.apply_proposals(shapes)
    assert [s.id for s in removed] == [pending.id]
    after = {s.id: s.to_dict() for s in ann.shapes if s.id in before}
    assert after == before
    assert {s.label for s in ann.shapes if not s.accepted} == {"sky", "road", "car"}
    project.save(ann)
    assert {s.id for s in project.load("a.png").shapes} >= set(before)


def test_routes_are_stored_checked_and_old_files_load(tmp_path):
    project = Project.open(tmp_path)
    assert project.settings.routes == {}
    project.settings.routes = {"car": Route("sam3", "facebook/sam3", "instances", 0.45, False, 0.7).to_dict()}
    project.save_settings()
    again = Project.open(tmp_path)
    assert routes_of(again.settings)["car"] == Route("sam3", "facebook/sam3", "instances", 0.45, False, 0.7)
    assert ProjectSettings.from_dict({"classes": "a"}).routes == {}  # a file from before routes
    with pytest.raises(ValueError, match=r"settings.routes\['car'\].mode: instances need the sam3"):
        check_routes({"car": {"engine": "pnp-ovss", "mode": "instances", "threshold": 0.3}})
    with pytest.raises(ValueError, match="threshold"):
        check_routes({"car": {"engine": "sam3", "threshold": 2}})
