"""Calibration through the engine contract with fake engines (tests/core/calibration_fakes.py)."""

from __future__ import annotations

import numpy as np
import pytest
from calibration_fakes import CAR_BEST, SKY_BEST, FakeConfig, ObjectEngine, StuffEngine, make_image
from PIL import Image

from annotator.core.annotations import ImageAnnotations
from annotator.core.calibration import (CalibrationEngine, CalibrationOptions, Candidate, calibrate,
                                        reviewed_images)
from annotator.core.calibration.cache import cache_dir
from annotator.core.calibration.truth import split_halves
from annotator.core.project import Project
from annotator.core.shapes import Shape

CLASSES = ["sky", "car"]


def add_images(project: Project, seeds, reviewed=True, noise_codes=None):
    for i, seed in enumerate(seeds):
        code = 0 if noise_codes is None else noise_codes[i]
        rgb, truth = make_image(seed, noise_code=code)
        rel = f"img{seed:03d}.png"
        Image.fromarray(rgb).save(project.root / rel)
        shapes = [Shape.from_mask(name, mask, source="human") for name, mask in truth.items()]
        if not reviewed:
            shapes.append(Shape.from_mask("sky", truth["car"], source="model", accepted=False))
        project.save(ImageAnnotations(rel, rgb.shape[1], rgb.shape[0], shapes))


def engines(noise=0):
    stuff = StuffEngine(FakeConfig(threshold=0.15, noise=noise))
    obj = ObjectEngine(FakeConfig(threshold=0.5))
    return stuff, obj, [CalibrationEngine(stuff, "fake-pnp"), CalibrationEngine(obj, "fake-sam3")]


@pytest.fixture
def project(tmp_path):
    return Project.open(tmp_path)


def test_routes_each_class_to_its_engine_and_recovers_thresholds(project):
    add_images(project, range(12))
    add_images(project, [100, 101], reviewed=False)  # pending proposals: not ground truth
    _, _, engs = engines()
    cal = calibrate(project, engs, CalibrationOptions(CLASSES))
    assert len(cal.images) == 12 and not any(i.startswith("img10") for i in cal.images)
    sky, car = cal.choice("sky"), cal.choice("car")
    assert (sky.chosen.engine, sky.chosen.mode) == ("pnp-ovss", "regions")
    assert (car.chosen.engine, car.chosen.mode) == ("sam3", "regions")
    step_sky = engs[0].thresholds[1] - engs[0].thresholds[0]
    step_car = engs[1].thresholds[1] - engs[1].thresholds[0]
    assert abs(sky.chosen.threshold - SKY_BEST) <= step_sky + 1e-9
    assert abs(car.chosen.threshold - CAR_BEST) <= step_car + 1e-9
    assert sky.in_sample.iou == pytest.approx(1.0) and car.in_sample.iou == pytest.approx(1.0)
    assert sky.in_sample.boundary_f == pytest.approx(1.0)
    assert sky.in_sample.delete == 0 and sky.in_sample.add == 0 and sky.in_sample.repaint == 0
    # the current settings (PnP-OVSS at 0.15) are worse on both, so the gain is positive
    assert sky.current == Candidate("pnp-ovss", "regions", False, 0.15)
    assert sky.gain > 0 and car.gain > 0.3
    # the instance candidate exists and is scored below the exact regions
    inst = [k for k, c in enumerate(cal.candidates) if c.mode == "instances" and c.threshold == 0.5][0]
    assert 0.5 < car.per_candidate[inst].iou < 1.0


def test_held_out_differs_from_in_sample_when_the_choice_fits_noise(project):
    # each image's best sky threshold moves by up to +-3 rows (0.06) at random: the choice
    # fitted on all images is optimistic, the held-out estimate is not
    rng = np.random.default_rng(5)
    add_images(project, range(16), noise_codes=list(rng.integers(0, 250, 16)))
    _, _, engs = engines(noise=3)
    cal = calibrate(project, engs, CalibrationOptions(CLASSES))
    sky = cal.choice("sky")
    assert sky.held_out.iou < sky.in_sample.iou
    assert [h["chosen_on"] for h in sky.halves] == ["A", "B"]
    assert all(h["test_iou"] <= h["fit_iou"] + 1e-12 for h in sky.halves)
    # without noise the choice generalises: held-out equals in-sample
    car = cal.choice("car")
    assert car.held_out.iou == pytest.approx(car.in_sample.iou)


def test_too_few_reviewed_images_says_how_many_more(project):
    add_images(project, range(4))
    _, _, engs = engines()
    cal = calibrate(project, engs, CalibrationOptions(CLASSES, min_images=6))
    for choice in cal.choices:
        assert choice.chosen is None and choice.needed == 2 and choice.images == 4
        assert choice.held_out is None and choice.gain is None


def test_calibrating_twice_gives_the_same_choice_and_runs_the_model_only_on_new_images(project):
    add_images(project, range(8))
    stuff, obj, engs = engines()
    first = calibrate(project, engs, CalibrationOptions(CLASSES))
    assert first.engines["pnp-ovss"]["model_runs"] == 8 and stuff.images_seen == 8
    assert obj.images_seen == 8
    assert any(cache_dir(project).rglob("*.npz"))

    stuff2, obj2, engs2 = engines()  # a new process: everything comes from the cache
    second = calibrate(project, engs2, CalibrationOptions(CLASSES))
    assert stuff2.images_seen == 0 and obj2.images_seen == 0
    assert second.engines["sam3"] == {"model": "fake-sam3", "model_runs": 0, "cached": 8}
    assert [c.chosen for c in second.choices] == [c.chosen for c in first.choices]
    assert np.array_equal(second.stats, first.stats)
    assert first.rescored == 8 and second.rescored == 0  # the grid's scores were cached too

    add_images(project, range(8, 11))
    third = calibrate(project, engs2, CalibrationOptions(CLASSES))
    assert stuff2.images_seen == 3 and obj2.images_seen == 3
    assert third.engines["pnp-ovss"]["model_runs"] == 3 and third.engines["pnp-ovss"]["cached"] == 8
    assert third.rescored == 3

    # an edited truth is scored again, from the cached model outputs
    ann = project.load("img000.png")
    project.save(ImageAnnotations(ann.image, ann.width, ann.height, ann.shapes[:1]))
    fourth = calibrate(project, engs2, CalibrationOptions(CLASSES))
    assert fourth.rescored == 1 and stuff2.images_seen == 3
    assert not np.array_equal(fourth.stats, third.stats)
    # scores from the cache equal scores computed afresh
    fresh = calibrate(project, engs2, CalibrationOptions(CLASSES, boundary_tolerance=3))
    import shutil
    shutil.rmtree(cache_dir(project) / "scores")
    again = calibrate(project, engs2, CalibrationOptions(CLASSES))
    assert again.rescored == 11 and np.array_equal(again.stats, fresh.stats)


def test_a_replaced_image_or_other_classes_miss_the_cache(project):
    add_images(project, range(6))
    stuff, _, engs = engines()
    calibrate(project, engs, CalibrationOptions(CLASSES))
    rgb, _ = make_image(0)
    rgb[40:, :4] = 0  # the same truth, another file
    Image.fromarray(rgb).save(project.root / "img000.png")
    import os

    os.utime(project.root / "img000.png", ns=(1, 1))  # a new stamp even on a coarse clock
    calibrate(project, engs, CalibrationOptions(CLASSES))
    assert stuff.images_seen == 7
    calibrate(project, engs, CalibrationOptions(["car", "sky"]))
    assert stuff.images_seen == 13


def test_a_damaged_cache_entry_is_one_more_model_run(project):
    add_images(project, range(6))
    stuff, _, engs = engines()
    calibrate(project, engs, CalibrationOptions(CLASSES))
    import shutil

    shutil.rmtree(cache_dir(project) / "scores")
    entry = sorted(p for p in cache_dir(project).rglob("*.npz"))[0]
    entry.write_bytes(b"not a zip")
    again = calibrate(project, engs, CalibrationOptions(CLASSES))
    assert again.engines["pnp-ovss"]["model_runs"] + again.engines["sam3"]["model_runs"] == 1


def test_sharpening_candidates_use_the_interactive_model(project):
    add_images(project, range(6))
    _, _, engs = engines()
    calls = []

    def sharpener(rel, rgb):
        sky = rgb[..., 0] > 128  # an oracle: answers with the true sky wherever the box is

        def predict(points, labels, box):
            calls.append(rel)
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            out = np.zeros_like(sky)
            out[y0:y1, x0:x1] = sky[y0:y1, x0:x1]
            return out
        return predict, lambda: None

    cal = calibrate(project, engs[:1], CalibrationOptions(["sky"]), sharpener=sharpener)
    assert cal.sharpened and calls
    sharp = [k for k, c in enumerate(cal.candidates) if c.sharpen and c.threshold == 0.1][0]
    plain = [k for k, c in enumerate(cal.candidates) if not c.sharpen and c.threshold == 0.1][0]
    sky = cal.choice("sky")
    assert sky.per_candidate[sharp].iou > sky.per_candidate[plain].iou


def test_cancel_stops_with_job_cancelled(project):
    from annotator.core.jobs import JobCancelled

    add_images(project, range(6))
    _, _, engs = engines()

    class After:
        def __init__(self):
            self.n = 0

        def is_set(self):
            self.n += 1
            return self.n > 3

    with pytest.raises(JobCancelled):
        calibrate(project, engs, CalibrationOptions(CLASSES), cancel=After())


def test_reviewed_images_and_halves(project):
    add_images(project, range(5))
    add_images(project, [50], reviewed=False)
    assert reviewed_images(project) == [f"img{i:03d}.png" for i in range(5)]
    names = [f"x{i}.png" for i in range(10)]
    present = [i % 3 == 0 for i in range(10)]
    a, b = split_halves(names, present)
    assert sorted(a + b) == list(range(10)) and not set(a) & set(b)
    assert abs(sum(present[i] for i in a) - sum(present[i] for i in b)) <= 1
    assert split_halves(list(reversed(names)), list(reversed(present)))[0] == sorted(9 - i for i in a)


def test_apply_stores_the_chosen_routes_in_project_json(project):
    from annotator.core.calibration.apply import apply_routes
    from annotator.core.routing import routes_of

    add_images(project, range(8))
    _, _, engs = engines()
    cal = calibrate(project, engs, CalibrationOptions(CLASSES + ["dog"]))
    written = apply_routes(project, cal)
    assert set(written) == {"sky", "car"}  # no reviewed dog: no route, defaults stay
    routes = routes_of(Project.open(project.root).settings)
    assert routes["car"].engine == "sam3" and routes["car"].model == "fake-sam3"
    assert routes["car"].threshold == cal.choice("car").chosen.threshold
    assert routes["sky"].score == pytest.approx(cal.choice("sky").held_out.iou)
    # the next calibration compares against the routes now stored
    again = calibrate(project, engs, CalibrationOptions(CLASSES))
    assert again.choice("car").current == cal.choice("car").chosen
    assert again.choice("car").gain == pytest.approx(0.0)


def test_report_files_and_summary(project, tmp_path):
    from annotator.core.calibration.report import summary_lines, write_report

    add_images(project, range(6))
    _, _, engs = engines()
    cal = calibrate(project, engs, CalibrationOptions(CLASSES + ["dog"]))
    lines = summary_lines(cal)
    assert lines[0].startswith("sky: PnP-OVSS (BLIP) regions @ 0.25") and "expected gain +" in lines[0]
    assert lines[2] == ("dog: 0 reviewed image(s) show it; 6 more needed before it is calibrated "
                        "(settings left as they are)")
    paths = write_report(cal, tmp_path / "report")
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    page = paths["html"].read_text()
    assert "(chosen)" in page and "(current)" in page and "6 more needed" in page
