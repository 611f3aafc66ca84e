"""Calibrated routes in the labelling pipeline: several engines behind one segmenter."""

from __future__ import annotations

import numpy as np
from calibration_fakes import FakeConfig, ObjectEngine, StuffEngine, make_image
from PIL import Image

from annotator.core.proposal_settings import ProposalSettings
from annotator.core.annotations import ImageAnnotations
from annotator.core.pipeline import PipelineOptions, load_segmenter, result_to_shapes, run_pipeline
from annotator.core.project import Project, ProjectSettings
from annotator.core.routed_segmenter import ROUTED, RoutedSegmenter
from annotator.core.routing import Route
from annotator.core.shapes import Shape

CLASSES = ["sky", "car"]


def routed(**routes):
    stuff, obj = StuffEngine(FakeConfig(threshold=0.25)), ObjectEngine(FakeConfig(threshold=0.6))
    return stuff, obj, RoutedSegmenter({"pnp-ovss": stuff, "sam3": obj}, routes, "pnp-ovss")


def test_routed_propose_merges_engines_and_keeps_human_and_accepted_shapes(tmp_path):
    project = Project.open(tmp_path)
    truths = {}
    for seed in range(3):
        rgb, truths[seed] = make_image(seed)
        Image.fromarray(rgb).save(tmp_path / f"im{seed}.png")
    human = Shape("sky", [[0, 0], [10, 0], [10, 5], [0, 5]])
    accepted = Shape("car", [[50, 40], [60, 40], [60, 46]], source="model", accepted=True, score=0.9)
    project.save(ImageAnnotations("im0.png", 64, 48, [human, accepted,
                                                      Shape("car", [[1, 1], [4, 1], [4, 4]], source="model",
                                                            accepted=False)]))
    before = {s.id: s.to_dict() for s in (human, accepted)}
    stuff, obj, seg = routed(car=Route("sam3", mode="instances", threshold=0.5, score=0.8))
    summary = run_pipeline(project, seg, project.images(),
                           PipelineOptions(CLASSES, settings=ProposalSettings(tolerance=0.0, min_area_fraction=0.0),
                                           postprocess_workers=0))
    assert len(summary.labelled) == 3 and not summary.failed
    assert stuff.images_seen == 3 and obj.images_seen == 3  # one run per engine and image
    for seed in range(3):
        ann = project.load(f"im{seed}.png")
        new = [s for s in ann.shapes if not s.accepted]
        masks = [s.mask(48, 64) for s in new]
        assert np.sum(masks, axis=0).max() == 1  # one partition
        cars = [s for s in new if s.label == "car"]
        assert len(cars) == 1 and cars[0].score == 0.9  # SAM 3's instance (ObjectEngine scores 0.9)
        sky = np.logical_or.reduce([s.mask(48, 64) for s in new if s.label == "sky"])
        assert np.array_equal(sky, truths[seed]["sky"])  # PnP-OVSS at its threshold: exact
        assert ann.model_run is not None
    kept = {s.id: s.to_dict() for s in project.load("im0.png").shapes if s.id in before}
    assert kept == before


def test_sliders_re_merge_without_a_model_call():
    rgb, truth = make_image(4)
    stuff, obj, seg = routed(car=Route("sam3", mode="regions", threshold=0.6, score=0.9))
    result = seg.segment(rgb, CLASSES)
    assert result.engine == ROUTED and result.classes == CLASSES
    assert result.heatmaps.shape == (2, 48, 64)  # a map for every class, from its own engine
    assert np.array_equal(result.label_map == 2, truth["car"])
    looser = seg.postprocess(result, threshold=0.15)  # only unrouted sky follows the slider
    assert stuff.images_seen == 1 and obj.images_seen == 1
    assert (looser == 1).sum() > (result.label_map == 1).sum()
    assert np.array_equal(looser == 2, truth["car"])  # car keeps its route (and wins over sky: its score)
    shapes = result_to_shapes(result, ProposalSettings(tolerance=0.0, min_area_fraction=0.0))
    assert {s.label for s in shapes} == {"sky", "car"}


def test_load_segmenter_routes_to_both_tiny_engines(tmp_path, tiny_model_dir, tiny_sam3_dir):
    settings = ProjectSettings(model=str(tiny_model_dir), device="cpu",
                               routes={"car": Route("sam3", str(tiny_sam3_dir), "instances", 0.3, False,
                                                    0.5).to_dict()})
    seg = load_segmenter(settings)
    try:
        assert seg.engine == ROUTED and set(seg.segmenters) == {"pnp-ovss", "sam3"}
        rgb, _ = make_image(1)
        result = seg.segment(rgb, ["sky", "car"])
        assert result.engine == ROUTED and set(result.parts) == {"pnp-ovss", "sam3"}
        assert result.parts["sam3"].classes == ["car"] and result.parts["pnp-ovss"].classes == ["sky"]
        assert result.heatmaps.shape[0] == len(result.classes)
        shapes = result_to_shapes(result, ProposalSettings(tolerance=0.0, min_area_fraction=0.0))
        masks = [s.mask(48, 64) for s in shapes]
        assert not masks or np.sum(masks, axis=0).max() == 1
    finally:
        seg.close()


def test_ray_ships_a_routed_result_without_its_engines_parts():
    from annotator.core.executors.ray_label import _slim

    rgb, _ = make_image(2)
    _, _, seg = routed(car=Route("sam3", mode="instances", threshold=0.5, score=0.8))
    slim = _slim(seg.segment(rgb, CLASSES))
    assert slim.parts == {} and slim.label_map is None and slim.instances == []
    assert slim.classes == CLASSES and slim.image_size == (48, 64)
