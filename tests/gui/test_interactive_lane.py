"""Clicks in the engine thread: the tiny SAM 2 behind EngineClient, ahead of model work."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from test_engine_worker import FakeSegmenter, batch_options, fake_polygonize, folder  # noqa: F401

from annotator.core.proposal_settings import ProposalSettings
from annotator.gui.engine_worker import EngineClient, EngineSettings, load_interactive
from engine.errors import ModelNotFoundError

pytestmark = pytest.mark.gui

RGB = np.zeros((60, 80, 3), np.uint8)
RGB[15:45, 20:60] = 200


@pytest.fixture
def make_client(qtbot, tiny_sam2_dir):
    made = []

    def make(fake=None, interactive_factory=None):
        calls = []

        def factory(model, device):
            calls.append(model)
            return load_interactive(str(tiny_sam2_dir), "cpu")

        c = EngineClient(EngineSettings(model="fake"), factory=lambda s: fake or FakeSegmenter(),
                         polygonize=fake_polygonize, interactive_factory=interactive_factory or factory)
        c.loads = calls
        made.append(c)
        return c

    yield make
    for c in made:
        c.shutdown()


def test_click_returns_outline_for_its_image(qtbot, make_client):
    client = make_client()
    with qtbot.waitSignal(client.embedded, timeout=30000) as embedded:
        client.embed("a.png", "/p/a.png", RGB)
    assert embedded.args[1] == "a.png"
    with qtbot.waitSignal(client.clickReady, timeout=30000) as ready:
        client.click("a.png", "/p/a.png", RGB, [(40.0, 30.0)], [1], tolerance=0.0)
    result = ready.args[0]
    assert result.image == "a.png"
    assert (result.area == 0) == (result.parts == [])
    outline = sum(_mask_area(e, h) for e, h in result.parts)
    assert outline == pytest.approx(result.area, rel=0.03), "the outline follows the mask's pixel edges"
    assert client.loads == [""], "the model loads once, lazily"


def _mask_area(exterior, holes):
    from shapely.geometry import Polygon

    return Polygon(exterior, holes).area


def test_click_jumps_ahead_of_a_running_propose_and_queued_batch(qtbot, make_client, folder):
    fake = FakeSegmenter(passes=6, pass_seconds=0.4)
    client = make_client(fake)
    order = []
    client.clickReady.connect(lambda r: order.append(("click", time.perf_counter())))
    client.proposalsReady.connect(lambda *a: order.append(("propose", time.perf_counter())))
    with qtbot.waitSignal(client.embedded, timeout=30000):  # the model loaded, embedding cached
        client.embed("a.png", "/p/a.png", RGB)
    client.segment("b.png", Path("b.png"), ["sky"], ProposalSettings(), pixels=RGB)
    client.batch(folder, ["0.png", "1.png"], batch_options())
    qtbot.waitUntil(lambda: fake.passes_run >= 1, timeout=10000)
    sent = time.perf_counter()
    client.click("a.png", "/p/a.png", RGB, [(40.0, 30.0)], [1])
    qtbot.waitUntil(lambda: any(k == "click" for k, _ in order), timeout=10000)
    waited = next(t for k, t in order if k == "click") - sent
    assert [k for k, _ in order][0] == "click", "the click did not wait for the Propose job"
    assert waited < 2 * 0.4 + 1.0, f"waited {waited:.2f} s, more than about one pass"
    qtbot.waitUntil(lambda: not client.busy(), timeout=20000)


def test_only_the_newest_click_per_image_is_delivered(qtbot, make_client):
    client = make_client()
    got = []
    client.clickReady.connect(got.append)
    with qtbot.waitSignal(client.embedded, timeout=30000):
        client.embed("a.png", "/p/a.png", RGB)
    client.click("a.png", "/p/a.png", RGB, [(10.0, 10.0)], [1])
    last = client.click("a.png", "/p/a.png", RGB, [(40.0, 30.0)], [1])
    qtbot.waitUntil(lambda: any(r.job_id == last for r in got), timeout=10000)
    assert all(r.job_id == last for r in got)


def test_missing_interactive_model_is_reported_once_and_app_goes_on(qtbot, make_client):
    def missing(model, device):
        raise ModelNotFoundError("Cannot load the interactive segmentation model 'x'")

    client = make_client(interactive_factory=missing)
    with qtbot.waitSignal(client.interactiveMissing, timeout=10000) as info:
        client.click("a.png", "/p/a.png", RGB, [(40.0, 30.0)], [1])
    assert "interactive segmentation model" in info.args[0]
    with qtbot.waitSignal(client.proposalsReady, timeout=10000):  # Propose still works
        client.segment("b.png", Path("b.png"), ["sky"], ProposalSettings(), pixels=RGB)


def test_mask_parts_drops_specks_and_fills_pinholes():
    from annotator.gui.interactive_jobs import mask_parts

    mask = np.zeros((100, 100), bool)
    mask[20:60, 20:60] = True
    mask[40, 40] = False  # a pinhole
    mask[90, 90] = True  # a speck
    exact = mask_parts(mask, 0.0)
    assert len(exact) == 2 and len(exact[0][1]) == 1, "at 0 every region and hole is kept"
    (exterior, holes), = mask_parts(mask, 0.0, min_area_fraction=0.001)  # 10 px
    assert holes == [] and np.ptp(exterior[:, 0]) == 40


def test_first_use_of_onnx_runtime_is_said_in_the_status_signal(qtbot, make_client, tmp_path, monkeypatch):
    """A fresh cache folder: the export runs on the engine thread and says so; the click still lands."""
    monkeypatch.setenv("PNP_ANNOTATOR_CACHE_DIR", str(tmp_path))
    client = make_client()
    notices = []
    client.interactiveNotice.connect(notices.append)
    with qtbot.waitSignal(client.clickReady, timeout=300000):
        client.click("a.png", "/p/a.png", RGB, [(40.0, 30.0)], [1], tolerance=0.0)
    assert any("Preparing the click model for ONNX Runtime" in n for n in notices)
    assert any("ready on ONNX Runtime" in n for n in notices)
    assert list((tmp_path / "onnx").glob("sam2-*.onnx"))
