"""Exemplar jobs in the interactive lane (no Qt): the newest box set per image, failures that leave
clicks alone, and which SAM 3 they run on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from test_engine_worker import FakeSegmenter, batch_options, fake_polygonize, folder  # noqa: F401

from annotator.core.proposal_settings import ProposalSettings
from annotator.gui.exemplar_jobs import ExemplarJob, ExemplarModels, ExemplarsNeedSam3, is_sam3
from annotator.gui.interactive_jobs import ClickJob, InteractiveLane
from engine.base import Instance
from engine.errors import ModelNotFoundError
from engine.sam3.exemplars import ExemplarResult

PIXELS = np.zeros((40, 60, 3), np.uint8)


class Seg:
    def __init__(self):
        self.calls = []

    def find_like(self, image, boxes, labels, text=None, threshold=None):
        self.calls.append(list(boxes))
        mask = np.zeros(image.shape[:2], bool)
        mask[5:15, 5:25] = True
        return ExemplarResult([Instance(0, 0.75, (5, 5, 25, 15), mask)], image.shape[:2], list(boxes),
                              list(labels), [], {"vision": 0.0})


def job(job_id, image="a.png", boxes=((5, 5, 25, 15),), labels=(1,)):
    return ExemplarJob(job_id, image, "/x/" + image, PIXELS, list(boxes), list(labels), None, "cup", 0.5)


def lane_with(exemplars, clicks=None):
    out = {"results": [], "failed": [], "missing": []}
    lane = InteractiveLane(lambda: clicks, out["results"].append, lambda *a: None,
                           lambda *a: out["failed"].append(a), out["missing"].append, exemplars=exemplars)
    return lane, out


def test_newest_box_set_per_image_runs():
    seg = Seg()
    lane, out = lane_with(lambda: seg)
    lane.put(job(1))
    lane.put(job(2, boxes=[(5, 5, 25, 15), (30, 5, 50, 15)], labels=[1, 0]))  # supersedes job 1
    lane.put(job(3, image="b.png"))
    lane.drain()
    assert [r.job_id for r in out["results"]] == [2, 3] and len(seg.calls) == 2
    first = out["results"][0]
    assert first.image == "a.png" and [s.score for s in first.shapes] == [0.75] and first.shapes[0].label == "cup"
    assert first.missed == [] and first.duplicates == 0 and "proposals" in first.seconds


def test_missing_sam3_fails_the_job_only():
    class Clicks:
        def set_image(self, key, pixels):
            pass

        def predict(self, points, labels, box, image_key):
            from engine.interactive import Prediction

            return Prediction(np.zeros((40, 60), bool), 0.5)

    def missing():
        raise ExemplarsNeedSam3("Exemplar boxes need SAM 3")

    lane, out = lane_with(missing, clicks=Clicks())
    lane.put(job(1))
    lane.put(ClickJob(2, "a.png", "/x/a.png", PIXELS, [(3.0, 3.0)], [1]))
    lane.drain()
    assert out["failed"][0][:3] == (1, "a.png", "no model") and "need SAM 3" in out["failed"][0][3]
    assert out["missing"] == [], "not the interactive model's dialog"
    assert [r.job_id for r in out["results"]] == [2], "the queued click still ran"


def test_the_sam3_used(tmp_path):
    folder = tmp_path / "sam3"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "sam3"}), encoding="utf-8")
    assert is_sam3(str(folder)) and is_sam3("facebook/sam3") and not is_sam3("facebook/sam2.1-hiera-tiny")
    assert not is_sam3(str(tmp_path))

    main, loaded = object(), []
    settings = {"now": ("Salesforce/blip-itm-large-flickr", str(folder), "cpu")}
    models = ExemplarModels(lambda: main, lambda: settings["now"], loader=lambda m, d: loaded.append(m) or object())
    first = models.get()
    assert models.get() is first and loaded == [str(folder)], "loaded once, kept"
    settings["now"] = (str(folder), "", "cpu")  # SAM 3 as the main model: its segmenter, shared with Propose
    assert models.get() is main
    settings["now"] = ("Salesforce/blip-itm-large-flickr", "facebook/sam2.1-hiera-tiny", "cpu")
    with pytest.raises(ModelNotFoundError, match="Exemplar boxes need SAM 3") as info:
        models.get()
    assert "facebook/sam3" in str(info.value) and "interactive model" in str(info.value)


@pytest.mark.gui
def test_a_box_goes_ahead_of_a_running_propose_and_queued_batch(qtbot, tmp_path, monkeypatch, folder):
    """Through EngineClient and the engine thread, as the window sends it."""
    from pathlib import Path

    from annotator.gui import exemplar_jobs
    from annotator.gui.engine_worker import EngineClient, EngineSettings

    sam3 = tmp_path / "sam3"
    sam3.mkdir()
    (sam3 / "config.json").write_text(json.dumps({"model_type": "sam3"}), encoding="utf-8")
    seg = Seg()
    monkeypatch.setattr(exemplar_jobs, "load_sam3", lambda model, device: seg)
    fake = FakeSegmenter(passes=6, pass_seconds=0.4)
    client = EngineClient(EngineSettings(model="fake"), factory=lambda s: fake, polygonize=fake_polygonize)
    try:
        client.set_interactive_model(str(sam3))
        order = []
        client.exemplarsFound.connect(lambda r: order.append("box"))
        client.proposalsReady.connect(lambda *a: order.append("propose"))
        client.segment("b.png", Path("b.png"), ["sky"], ProposalSettings(), pixels=PIXELS)
        client.batch(folder, ["0.png", "1.png"], batch_options())
        qtbot.waitUntil(lambda: fake.passes_run >= 1, timeout=10000)
        client.exemplars("a.png", "/x/a.png", PIXELS, [(5, 5, 25, 15)], [1], text=None, label="cup",
                         threshold=0.5, existing=[])
        qtbot.waitUntil(lambda: "box" in order, timeout=20000)
        assert order[0] == "box", "the box did not wait for the running Propose"
        assert seg.calls == [[(5.0, 5.0, 25.0, 15.0)]]
        qtbot.waitUntil(lambda: not client.busy(), timeout=30000)
    finally:
        client.shutdown()


def test_sam3_weights_as_the_interactive_model_load(tiny_sam3_dir):
    """The production loader: the tiny SAM 3 folder named as the interactive model, PnP-OVSS main."""
    models = ExemplarModels(lambda: pytest.fail("not the main model"),
                            lambda: ("Salesforce/blip-itm-large-flickr", str(tiny_sam3_dir), "cpu"))
    seg = models.get()
    assert seg.engine == "sam3" and models.get() is seg
    res = seg.find_like(PIXELS, [(5, 5, 25, 15)], [1], threshold=0.0)
    assert res.boxes == [(5.0, 5.0, 25.0, 15.0)] and all(i.mask.shape == (40, 60) for i in res.instances)
    models.release()
    assert models.get() is not seg, "released: loaded again"
