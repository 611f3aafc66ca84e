"""The engine thread: supersede, cancel within an image, routing by image id, lazy load.

A small fake segmenter (injected through the worker's factory seam) makes timing
deterministic; the same behaviour on the real tiny model is covered in test_e2e.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from window_fixtures import GuiTurns

from annotator.core.proposal_settings import ProposalSettings
from annotator.gui.engine_worker import CANCELLED, NO_MODEL, EngineClient, EngineSettings
from engine.errors import Cancelled, ModelNotFoundError

pytestmark = pytest.mark.gui


class FakeSegmenter:
    """Follows the engine contract: progress per pass, cancel checked between passes."""

    def __init__(self, passes=4, pass_seconds=0.05):
        self.passes, self.pass_seconds = passes, pass_seconds
        self.config = SimpleNamespace(threshold=0.15, background="auto")
        self.passes_run = 0
        self.postprocess_calls = 0
        self.thread = None

    def segment(self, image, classes, progress=None, cancel=None):
        self.thread = threading.current_thread()
        if not classes:
            raise ValueError("the class list is empty: type at least one class name")
        for k in range(self.passes):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            end = time.perf_counter() + self.pass_seconds
            while time.perf_counter() < end:  # CPU work, holding the GIL like torch glue code does
                sum(range(2000))
            self.passes_run += 1
            if progress:
                progress("pass", k + 1, self.passes)
        h, w = image.shape[:2]
        label_map = np.ones((h, w), np.int32)
        return SimpleNamespace(classes=list(classes), heatmaps=np.zeros((len(classes), 21, 21), np.float32),
                               label_map=label_map, image_size=(h, w))

    def segment_batch(self, images, classes_per_image, progress=None, cancel=None, batch_size=8):
        return [self.segment(image, classes, progress, cancel) for image, classes in zip(images, classes_per_image)]

    def postprocess(self, result, threshold=None, background=None, crf=None):
        self.postprocess_calls += 1
        return (result.label_map * 0 + int(threshold * 100)).astype(np.int32)


def fake_polygonize(result, settings):
    # One token per class, tagged with what produced it, so tests can see which job won.
    return [(c, int(result.label_map.flat[0]), settings.tolerance) for c in result.classes]


IMG = np.zeros((8, 8, 3), np.uint8)


@pytest.fixture
def fake():
    return FakeSegmenter()


@pytest.fixture
def client(qtbot, fake):
    c = EngineClient(EngineSettings(model="fake"), factory=lambda s: fake, polygonize=fake_polygonize)
    yield c
    c.shutdown()


def wait_idle(qtbot, client, timeout=5000):
    qtbot.waitUntil(lambda: not client.busy(), timeout=timeout)


def test_results_carry_their_image_and_run_off_the_gui_thread(qtbot, client, fake):
    got = []
    client.proposalsReady.connect(lambda j, image, res, shapes, *_: got.append((image, shapes)))
    client.segment("a.png", Path("a.png"), ["sky"], ProposalSettings(), pixels=IMG)
    client.segment("b.png", Path("b.png"), ["cat", "dog"], ProposalSettings(), pixels=IMG)
    wait_idle(qtbot, client)
    assert [g[0] for g in got] == ["a.png", "b.png"]
    assert [s[0] for s in got[1][1]] == ["cat", "dog"]
    assert fake.thread is not threading.main_thread()


def test_gui_loop_turns_during_every_pass(qtbot, fake):
    """The job (passes of CPU work holding the GIL, as torch glue code does) runs on the engine
    thread and, before it returns, waits for a turn of the GUI's event loop since it began: it
    finishes only because the loop kept turning while it ran (GuiTurns; no timing)."""
    fake.pass_seconds = 0.1
    with GuiTurns() as gui:
        client = EngineClient(EngineSettings(model="fake"), factory=lambda s: gui.wrap(fake),
                              polygonize=fake_polygonize)
        try:
            client.segment("a.png", Path("a.png"), ["sky"], ProposalSettings(), pixels=IMG)
            wait_idle(qtbot, client, timeout=60000)
        finally:
            client.shutdown()
    assert fake.passes_run == 4
    assert "segment" in gui.names
    assert threading.main_thread().name not in gui.threads
    assert gui.stalled == [], f"the GUI loop did not turn during {gui.stalled}"


def test_newer_job_for_same_image_supersedes_the_older(qtbot, client, fake):
    fake.pass_seconds = 0.1
    got, failures = [], []
    client.proposalsReady.connect(lambda j, image, res, shapes, *_: got.append((j, shapes)))
    client.failed.connect(lambda *a: failures.append(a))
    first = client.segment("a.png", Path("a.png"), ["sky"], ProposalSettings(), pixels=IMG)
    qtbot.waitUntil(lambda: fake.passes_run >= 1, timeout=3000)
    second = client.segment("a.png", Path("a.png"), ["cat"], ProposalSettings(), pixels=IMG)
    wait_idle(qtbot, client)
    assert [j for j, _ in got] == [second]
    assert got[0][1][0][0] == "cat"
    assert fake.passes_run < 8, "the superseded job should stop at its next pass"
    assert failures == [], "a superseded job is not reported as a failure"
    assert first < second


def test_cancel_stops_within_the_image(qtbot, client, fake):
    fake.pass_seconds = 0.1
    failures, got = [], []
    client.failed.connect(lambda *a: failures.append(a))
    client.proposalsReady.connect(lambda *a: got.append(a))
    progress = []
    client.progress.connect(lambda *a: progress.append(a))
    client.segment("a.png", Path("a.png"), ["sky"], ProposalSettings(), pixels=IMG)
    qtbot.waitUntil(lambda: len(progress) >= 1, timeout=3000)
    client.cancel_interactive()
    wait_idle(qtbot, client)
    assert got == []
    assert failures and failures[0][1] == "a.png" and failures[0][2] == CANCELLED
    assert fake.passes_run < fake.passes


def test_bad_class_list_is_reported_with_reason(qtbot, client):
    failures = []
    client.failed.connect(lambda *a: failures.append(a))
    client.segment("a.png", Path("a.png"), [], ProposalSettings(), pixels=IMG)
    wait_idle(qtbot, client)
    assert failures[0][2] == "bad input" and "class list is empty" in failures[0][3]


def test_an_unreadable_image_fails_before_the_model_loads(qtbot, tmp_path):
    """Propose on a text file named .png (the window has not decoded it yet): the reason in
    plain words at once, and no model load for it (issue 20, row 15)."""
    loads = []
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    client = EngineClient(EngineSettings(model="fake"), factory=lambda s: loads.append(s) or FakeSegmenter(),
                          polygonize=fake_polygonize)
    try:
        failures = []
        client.failed.connect(lambda *a: failures.append(a))
        client.segment("notes.png", bad, ["sky"], ProposalSettings())
        wait_idle(qtbot, client)
        assert [(f[1], f[2]) for f in failures] == [("notes.png", "unreadable image")]
        assert "Traceback" not in failures[0][3] and loads == []
    finally:
        client.shutdown()


def test_missing_model_signals_then_loads_after_reconfigure(qtbot):
    loads = []

    def factory(settings):
        loads.append(settings.model)
        if settings.model == "missing":
            raise ModelNotFoundError("no weights at 'missing': download them or choose a folder")
        return FakeSegmenter(passes=1, pass_seconds=0)

    client = EngineClient(EngineSettings(model="missing"), factory=factory, polygonize=fake_polygonize)
    try:
        missing, failures, states, got = [], [], [], []
        client.modelMissing.connect(missing.append)
        client.failed.connect(lambda *a: failures.append(a))
        client.stateChanged.connect(states.append)
        client.proposalsReady.connect(lambda *a: got.append(a))
        client.segment("a.png", Path("a.png"), ["sky"], ProposalSettings(), pixels=IMG)
        wait_idle(qtbot, client)
        assert missing and "download" in missing[0]
        assert failures[0][2] == NO_MODEL
        client.configure(EngineSettings(model="good"))
        client.segment("a.png", Path("a.png"), ["sky"], ProposalSettings(), pixels=IMG)
        client.segment("b.png", Path("b.png"), ["sky"], ProposalSettings(), pixels=IMG)
        wait_idle(qtbot, client)
        assert len(got) == 2
        assert loads == ["missing", "good"], "the model loads lazily, once"
        assert states[:2] == ["loading model", "no model"] and states[-1] == "ready"
    finally:
        client.shutdown()


def test_postprocess_skips_crf_when_only_simplification_moves(qtbot, client, fake):
    results = []
    client.proposalsReady.connect(lambda j, image, res, shapes, *_: results.append((res, shapes)))
    client.segment("a.png", Path("a.png"), ["sky"], ProposalSettings(), pixels=IMG)
    wait_idle(qtbot, client)
    result = results[0][0]
    client.postprocess("a.png", result, ProposalSettings(threshold=0.3, tolerance=1.0))
    wait_idle(qtbot, client)
    client.postprocess("a.png", result, ProposalSettings(threshold=0.3, tolerance=4.0))
    wait_idle(qtbot, client)
    assert fake.postprocess_calls == 1
    assert results[1][0] is None and results[1][1] == [("sky", 30, 1.0)]
    assert results[2][1] == [("sky", 30, 4.0)]


def test_a_slider_rerun_in_the_pool_leaves_the_engine_thread_free(qtbot, client, fake):
    """Post-processing handed to the pool (core.postpool) is waited for outside the engine
    thread: the next job runs meanwhile, and the re-run lands when its label map is back."""
    from concurrent.futures import Future

    futures = []
    fake.postprocess_async = lambda result, threshold=None, background=None: futures.append(Future()) or futures[-1]
    got = []
    client.proposalsReady.connect(lambda j, image, res, shapes, settings, run: got.append((image, res, shapes, settings)))
    client.segment("a.png", Path("a.png"), ["sky"], ProposalSettings(), pixels=IMG)
    wait_idle(qtbot, client)
    result = got[0][1]
    slider = ProposalSettings(threshold=0.3, tolerance=2.0)
    client.postprocess("a.png", result, slider)
    qtbot.waitUntil(lambda: len(futures) == 1, timeout=5000)
    client.segment("b.png", Path("b.png"), ["cat"], ProposalSettings(), pixels=IMG)
    qtbot.waitUntil(lambda: any(g[0] == "b.png" for g in got), timeout=5000)
    assert client.busy() and [g[0] for g in got] == ["a.png", "b.png"], "a.png's re-run is still in the pool"
    futures[0].set_result(np.full((8, 8), 30, np.int32))
    wait_idle(qtbot, client)
    assert got[-1][0] == "a.png" and got[-1][2] == [("sky", 30, 2.0)] and got[-1][3] is slider


@pytest.fixture
def folder(tmp_path):
    """A project of five small images and one that cannot be decoded."""
    from PIL import Image

    from annotator.core.project import Project

    for i in range(5):
        Image.new("RGB", (8, 8)).save(tmp_path / f"{i}.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    return Project.open(tmp_path)


def batch_options(classes=("sky",)):
    from annotator.core.pipeline import PipelineOptions

    return PipelineOptions(list(classes))


def test_batch_runs_the_pipeline_saves_and_reports_each_image(qtbot, fake, folder):
    fake.pass_seconds = 0.0
    client = EngineClient(EngineSettings(model="fake"), factory=lambda s: fake, polygonize=fake_polygonize)
    try:
        saved, failures, progress, done = [], [], [], []
        client.batchSaved.connect(lambda j, image, res, shapes, *_: saved.append((image, len(shapes))))
        client.failed.connect(lambda *a: failures.append(a))
        client.batchImage.connect(lambda j, n, total, image: progress.append((n, total, image)))
        client.batchDone.connect(lambda j, summary: done.append(summary))
        client.batch(folder, ["0.png", "bad.png", "1.png"], batch_options())
        wait_idle(qtbot, client)
        assert saved == [("0.png", 1), ("1.png", 1)]  # the pipeline's shapes, not the injected polygonizer's
        assert [(f[1], f[2]) for f in failures] == [("bad.png", "unreadable image")]
        assert progress == [(0, 3, ""), (1, 3, "0.png"), (2, 3, "bad.png"), (3, 3, "1.png")]
        assert done[0].labelled == ["0.png", "1.png"]
        assert folder.load("0.png").model_run["requested"] == ["sky"], "saved by the worker, as the CLI does"
    finally:
        client.shutdown()


def test_batch_cancel_stops_inside_the_current_image(qtbot, fake, folder):
    fake.pass_seconds = 0.1
    client = EngineClient(EngineSettings(model="fake"), factory=lambda s: fake, polygonize=fake_polygonize)
    try:
        failures, progress = [], []
        client.failed.connect(lambda *a: failures.append(a))
        client.progress.connect(lambda *a: progress.append(a))
        job = client.batch(folder, [f"{i}.png" for i in range(5)], batch_options())
        qtbot.waitUntil(lambda: len(progress) >= 1, timeout=3000)
        client.cancel(job)
        wait_idle(qtbot, client)
        assert fake.passes_run < fake.passes, "cancel must not wait for the image to finish"
        assert failures[-1][2] == CANCELLED
        assert not any(folder.has_annotations(f"{i}.png") for i in range(5))
    finally:
        client.shutdown()


def test_only_model_device_or_presence_changes_reload(qtbot):
    loads = []

    def factory(settings):
        loads.append(settings)
        return FakeSegmenter(passes=1, pass_seconds=0)

    client = EngineClient(EngineSettings(model="m"), factory=factory, polygonize=fake_polygonize)
    try:
        def run():
            client.segment("a.png", Path("a.png"), ["sky"], ProposalSettings(), pixels=IMG)
            wait_idle(qtbot, client)

        run()
        client.configure(EngineSettings(model="m", presence_threshold=None))
        run()
        assert len(loads) == 1, "the same model, device and presence threshold: no reload"
        client.configure(EngineSettings(model="m", device="cpu"))
        run()
        assert len(loads) == 2 and loads[-1].device == "cpu"
    finally:
        client.shutdown()


def test_batch_in_chunks_uses_segment_batch_on_the_real_model(qtbot, tiny_model_dir, samples_dir, tmp_path):
    """On CUDA a batch job sends chunks of images through segment_batch; forced here on CPU."""
    import shutil

    from annotator.core.project import Project
    from annotator.gui.engine_worker import load_segmenter

    shutil.copytree(samples_dir, tmp_path / "images")
    project = Project.open(tmp_path / "images")
    loaded, calls = [], []

    def factory(settings):
        seg = load_segmenter(settings)
        real = seg.segment_batch
        seg.segment_batch = lambda images, *a, **k: calls.append(len(images)) or real(images, *a, **k)
        loaded.append(seg)
        return seg

    client = EngineClient(EngineSettings(model=str(tiny_model_dir), device="cpu"), factory=factory)
    client._worker.batch_size = 2
    try:
        got, failures = {}, []
        client.batchSaved.connect(lambda j, image, res, shapes, *_: got.setdefault(image, (res, shapes)))
        client.failed.connect(lambda *a: failures.append(a))
        images = project.images()[:3] + ["missing.png"]
        client.batch(project, images, batch_options(["cat", "sky"]))
        wait_idle(qtbot, client, timeout=180000)  # a spawned CRF process: slow on a loaded machine
        assert sorted(got) == sorted(images[:3])
        assert [f[1] for f in failures] == ["missing.png"]
        assert calls == [2, 1]  # a chunk of two, then the last image
        single = loaded[0].segment(samples_dir / images[0], ["cat", "sky"])
        res, shapes = got[images[0]]
        assert (res.label_map == single.label_map).mean() > 0.999
        assert shapes and all(s.source == "model" and not s.accepted for s in shapes)
        assert [s.id for s in project.load(images[0]).shapes] == [s.id for s in shapes]
    finally:
        client.shutdown()
        for seg in loaded:
            seg.close()
