"""Imports report progress from their first pass on, each pass named (issue 20: a 400-image import
said only "Working..." for 12 s, then moved in 100-image steps)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import write_image

from annotator.core.coco import import_coco
from annotator.core.jobs import stage
from annotator.core.project import Project

LABELME = Path(__file__).resolve().parents[1] / "data" / "coco" / "labelme" / "annotations.json"


class Recorder:
    def __init__(self):
        self.events: list = []

    def __call__(self, done: int, total: int) -> None:
        self.events.append((done, total))

    def stage(self, text: str) -> None:
        self.events.append(text)


def test_coco_import_names_its_passes_and_counts_each_from_zero(tmp_path):
    data = json.loads(LABELME.read_text())
    for im in data["images"]:
        write_image(tmp_path / "imgs" / im["file_name"], im["width"], im["height"])
    project = Project.open(tmp_path / "imgs")
    recorder = Recorder()
    report = import_coco(project, LABELME, progress=recorder, workers=0)
    n = len(data["images"])
    assert report.images_matched == n and report.shapes > 0
    events = recorder.events
    first, second = events.index("matching images"), events.index("converting shapes")
    assert first == 0, "named before any count"
    assert events[first + 1] == (0, n) and events[second - 1] == (n - 1, n), "every image of the first pass"
    assert events[second + 1] == (0, n), "the second pass shows 0 of N at once"
    assert events[-1] == (n, n)


def test_a_plain_callable_needs_no_stage_method():
    calls = []
    stage(calls.append, "ignored")  # a callable without .stage is left alone
    stage(None, "ignored")
    assert calls == []
