"""The batch runner with a scripted segmenter: fast, and able to fail on purpose."""

import threading

import numpy as np
import pytest
from helpers import square, write_image

from annotator.core.annotations import ImageAnnotations
from annotator.core.batch import BatchOptions, ClassListError, label_images
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

    def __init__(self, refuse_classes=None, interrupt_on_call=None):
        self.batches = []
        self.refuse_classes = refuse_classes
        self.interrupt_on_call = interrupt_on_call

    def _check(self, rgb, classes):
        if self.refuse_classes:
            raise ValueError(self.refuse_classes)
        if rgb[0, 0, 0] == 255:
            raise RuntimeError("simulated failure on a red image")

    def segment_batch(self, images, classes_per_image, progress=None, cancel=None):
        self.batches.append(len(images))
        if self.interrupt_on_call == len(self.batches):
            raise KeyboardInterrupt
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
    summary = label_images(project, seg, project.images(), BatchOptions(["sky", "road"], batch_size=2,
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
    label_images(project, FakeSegmenter(), ["img0.png"], BatchOptions(["sky"]))
    shapes = project.load("img0.png").shapes
    assert shapes[:2] == [human, kept] and len(shapes) == 3 and shapes[2].id != stale.id


def test_failing_and_unreadable_images_are_reported_and_the_run_goes_on(project):
    write_image(project.root / "img2.png", 40, 30, color=(255, 0, 0))  # the fake model fails on red
    (project.root / "img4.png").write_bytes(b"not a png")
    summary = label_images(project, FakeSegmenter(), project.images(), BatchOptions(["sky"], batch_size=2))
    failed = dict(summary.failed)
    assert set(failed) == {"img2.png", "img4.png"}
    assert "simulated failure" in failed["img2.png"] and "img4.png" in failed["img4.png"]
    assert summary.labelled == ["img0.png", "img1.png", "img3.png"]


def test_damaged_annotation_file_is_reported_and_left_untouched(project):
    path = project.annotation_path("img1.png")
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    summary = label_images(project, FakeSegmenter(), project.images(), BatchOptions(["sky"]))
    assert [rel for rel, _ in summary.failed] == ["img1.png"] and "not valid JSON" in summary.failed[0][1]
    assert path.read_text() == "{broken"


def test_skip_annotated_skips_images_with_shapes_or_an_earlier_run(project):
    project.save(ImageAnnotations("img0.png", 40, 30, [Shape("car", square(0, 0, 4, 4))]))
    project.save(ImageAnnotations("img1.png", 40, 30, [], model_run={"classes": ["sky"]}))
    project.save(ImageAnnotations("img2.png", 40, 30, []))  # a file, but nothing in it: not done
    summary = label_images(project, FakeSegmenter(), project.images(), BatchOptions(["sky"], skip_annotated=True))
    assert summary.skipped == ["img0.png", "img1.png"]
    assert summary.labelled == ["img2.png", "img3.png", "img4.png"]


def test_interrupt_keeps_finished_images_and_a_second_run_resumes(project):
    options = BatchOptions(["sky"], batch_size=1)
    first = label_images(project, FakeSegmenter(interrupt_on_call=3), project.images(), options)
    assert first.cancelled and first.labelled == ["img0.png", "img1.png"]
    options.skip_annotated = True
    seg = FakeSegmenter()
    second = label_images(project, seg, project.images(), options)
    assert second.skipped == ["img0.png", "img1.png"] and second.labelled == ["img2.png", "img3.png", "img4.png"]
    assert seg.batches == [1, 1, 1]


def test_cancel_token_stops_between_batches(project):
    cancel = threading.Event()
    seen = []

    def on_image(rel, outcome, detail):
        seen.append(rel)
        cancel.set()

    summary = label_images(project, FakeSegmenter(), project.images(), BatchOptions(["sky"], batch_size=2),
                           on_image=on_image, cancel=cancel)
    assert summary.cancelled and summary.labelled == ["img0.png", "img1.png"] == seen


def test_a_class_list_the_engine_refuses_stops_the_run_before_anything_is_saved(project):
    with pytest.raises(ClassListError, match="no tokens"):
        label_images(project, FakeSegmenter(refuse_classes="Class 'xyz' has no tokens"), project.images(),
                     BatchOptions(["xyz"], batch_size=2))
    assert not any(project.has_annotations(rel) for rel in project.images())
