"""The labelling pipeline with a scripted segmenter: fast, and able to fail on purpose."""

import threading

import numpy as np
import pytest
from helpers import square, write_image

from annotator.core.proposal_settings import ProposalSettings
from annotator.core.annotations import ImageAnnotations
from annotator.core.pipeline import ClassListError, PipelineOptions, is_annotated, run_pipeline
from annotator.core.project import Project
from annotator.core.shapes import Shape


class Result:
    def __init__(self, rgb, classes):
        h, w = rgb.shape[:2]
        self.classes = list(classes)
        self.image_size = (h, w)
        self.label_map = np.zeros((h, w), np.int32)
        self.label_map[:, : w // 2] = 1  # left half: first class
        self.heatmaps = np.random.default_rng(0).random((len(classes), 21, 21)).astype(np.float32)


class FakeSegmenter:
    """segment_batch fails for a whole batch holding a red image; segment() then fails only on it."""

    def __init__(self, refuse_classes=None, interrupt_on_call=None, cancel_on_call=None):
        self.batches = []
        self.refuse_classes = refuse_classes
        self.interrupt_on_call = interrupt_on_call
        self.cancel_on_call = cancel_on_call

    def _check(self, rgb, classes):
        if self.refuse_classes:
            raise ValueError(self.refuse_classes)
        if rgb[0, 0, 0] == 255:
            raise RuntimeError("simulated failure on a red image")

    def segment_batch(self, images, classes_per_image, progress=None, cancel=None, batch_size=8):
        from engine import Cancelled

        self.batches.append(len(images))
        if self.interrupt_on_call == len(self.batches):
            raise KeyboardInterrupt
        if self.cancel_on_call == len(self.batches):
            cancel.set()  # the user presses Cancel while this batch is in the model
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")  # the engine checks its token between passes
        for rgb, classes in zip(images, classes_per_image):
            self._check(rgb, classes)
        return [Result(rgb, c) for rgb, c in zip(images, classes_per_image)]

    def segment(self, image, classes, progress=None, cancel=None):
        self._check(image, classes)
        return Result(image, classes)


@pytest.fixture
def project(tmp_path):
    for i in range(5):
        write_image(tmp_path / f"img{i}.png", 40, 30)
    return Project.open(tmp_path)


def test_every_image_gets_unaccepted_proposals_in_batches(project):
    seg = FakeSegmenter()
    summary = run_pipeline(project, seg, project.images(), PipelineOptions(["sky", "road"], batch_size=2,
                                                                         model="tiny"))
    assert seg.batches == [2, 2, 1]
    assert summary.labelled == project.images() and not summary.failed and not summary.cancelled
    assert summary.shapes_per_class == {"sky": 5}
    ann = project.load("img3.png")
    (shape,) = ann.shapes
    assert shape.label == "sky" and shape.source == "model" and not shape.accepted and shape.area == 20 * 30
    assert ann.model_run["classes"] == ["sky", "road"] and ann.model_run["model"] == "tiny"
    assert project.labels.names == ["sky", "road"]


def test_rerun_replaces_only_unaccepted_model_shapes(project):
    human = Shape("car", square(30, 0, 40, 10))
    kept = Shape("road", square(0, 0, 5, 5), source="model", accepted=True)
    stale = Shape("sky", square(0, 20, 5, 25), source="model", accepted=False)
    project.save(ImageAnnotations("img0.png", 40, 30, [human, kept, stale]))
    run_pipeline(project, FakeSegmenter(), ["img0.png"], PipelineOptions(["sky"]))
    shapes = project.load("img0.png").shapes
    assert shapes[:2] == [human, kept] and len(shapes) == 3 and shapes[2].id != stale.id


def test_failing_and_unreadable_images_are_reported_and_the_run_goes_on(project):
    write_image(project.root / "img2.png", 40, 30, color=(255, 0, 0))  # the fake model fails on red
    (project.root / "img4.png").write_bytes(b"not a png")
    summary = run_pipeline(project, FakeSegmenter(), project.images(), PipelineOptions(["sky"], batch_size=2))
    failed = dict(summary.failed)
    assert set(failed) == {"img2.png", "img4.png"}
    assert "simulated failure" in failed["img2.png"] and "img4.png" in failed["img4.png"]
    assert summary.labelled == ["img0.png", "img1.png", "img3.png"]


def test_damaged_annotation_file_is_reported_and_left_untouched(project):
    path = project.annotation_path("img1.png")
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    summary = run_pipeline(project, FakeSegmenter(), project.images(), PipelineOptions(["sky"]))
    assert [rel for rel, _ in summary.failed] == ["img1.png"] and "not valid JSON" in summary.failed[0][1]
    assert path.read_text() == "{broken"


def test_skip_annotated_skips_images_with_shapes_or_an_earlier_run(project):
    project.save(ImageAnnotations("img0.png", 40, 30, [Shape("car", square(0, 0, 4, 4))]))
    project.save(ImageAnnotations("img1.png", 40, 30, [], model_run={"classes": ["sky"]}))
    project.save(ImageAnnotations("img2.png", 40, 30, []))  # a file, but nothing in it: not done
    summary = run_pipeline(project, FakeSegmenter(), project.images(), PipelineOptions(["sky"], skip_annotated=True))
    assert summary.skipped == ["img0.png", "img1.png"]
    assert summary.labelled == ["img2.png", "img3.png", "img4.png"]


def test_interrupt_keeps_finished_images_and_a_second_run_resumes(project):
    options = PipelineOptions(["sky"], batch_size=1)
    first = run_pipeline(project, FakeSegmenter(interrupt_on_call=3), project.images(), options)
    assert first.cancelled and first.labelled == ["img0.png", "img1.png"]
    options.skip_annotated = True
    seg = FakeSegmenter()
    second = run_pipeline(project, seg, project.images(), options)
    assert second.skipped == ["img0.png", "img1.png"] and second.labelled == ["img2.png", "img3.png", "img4.png"]
    assert seg.batches == [1, 1, 1]


def test_cancel_stops_the_run_and_keeps_the_batches_the_model_finished(project):
    cancel = threading.Event()
    seen = []
    seg = FakeSegmenter(cancel_on_call=2)
    summary = run_pipeline(project, seg, project.images(), PipelineOptions(["sky"], batch_size=2),
                           on_image=lambda rel, outcome, detail: seen.append(rel), cancel=cancel)
    assert summary.cancelled and summary.labelled == ["img0.png", "img1.png"] == seen
    assert seg.batches == [2, 2]
    assert [rel for rel in project.images() if project.has_annotations(rel)] == ["img0.png", "img1.png"]


def test_a_class_list_the_engine_refuses_stops_the_run_before_anything_is_saved(project):
    with pytest.raises(ClassListError, match="no tokens"):
        run_pipeline(project, FakeSegmenter(refuse_classes="Class 'xyz' has no tokens"), project.images(),
                     PipelineOptions(["xyz"], batch_size=2))
    assert not any(project.has_annotations(rel) for rel in project.images())


def test_model_run_is_written_even_when_the_model_finds_nothing(project):
    class NothingFound(FakeSegmenter):
        def segment_batch(self, images, classes_per_image, **kw):
            results = super().segment_batch(images, classes_per_image, **kw)
            for r in results:
                r.label_map[:] = 0
            return results

    summary = run_pipeline(project, NothingFound(), ["img0.png"], PipelineOptions(["sky"], model="m"))
    ann = project.load("img0.png")
    assert summary.labelled == ["img0.png"] and ann.shapes == [] and ann.model_run["model"] == "m"
    assert is_annotated(project, "img0.png") and not is_annotated(project, "img1.png")


def test_a_full_disk_stops_the_run_instead_of_running_the_model_on_every_image(project, monkeypatch):
    import errno

    real_save = Project.save
    saves = []

    def save(self, ann):
        saves.append(ann.image)
        if len(saves) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(self, ann)

    monkeypatch.setattr(Project, "save", save)
    seg = FakeSegmenter()
    summary = run_pipeline(project, seg, project.images(), PipelineOptions(["sky"], batch_size=1))
    assert summary.labelled == ["img0.png"] and "No space left" in summary.stopped
    assert "--skip-annotated" in summary.stopped
    assert len(seg.batches) < 5  # the model was not run on every remaining image


def test_threshold_and_background_of_the_options_post_process_again_without_the_model(project):
    calls = []

    class Configured(FakeSegmenter):
        class config:  # noqa: N801 - stands in for a SegmenterConfig
            threshold, background = 0.15, "auto"

        def postprocess(self, result, threshold=None, background=None):
            calls.append((threshold, background))
            return np.ones_like(result.label_map)  # everything becomes the first class

    options = PipelineOptions(["sky"], settings=ProposalSettings(threshold=0.4, background="auto"))
    run_pipeline(project, Configured(), ["img0.png"], options)
    assert calls == [(0.4, None)] and project.load("img0.png").shapes[0].area == 40 * 30
    calls.clear()
    run_pipeline(project, Configured(), ["img1.png"], PipelineOptions(["sky"], settings=ProposalSettings(threshold=0.15)))
    assert calls == []


def test_options_come_from_the_project_settings(project):
    project.settings.simplify_tolerance, project.settings.threshold = 0.5, 0.3
    options = PipelineOptions.from_settings(project.settings, ["sky"], batch_size=8)
    assert (options.settings.tolerance, options.settings.threshold, options.batch_size, options.classes) == (
        0.5, 0.3, 8, ["sky"])
    assert options.settings == project.settings.proposal_settings()
