"""The window's batch and ``pnp-annotator label`` are one pipeline: the same files come out."""

from __future__ import annotations

import shutil

import pytest

from annotator import cli
from annotator.core.pipeline import PipelineOptions
from annotator.core.project import Project
from annotator.gui.engine_worker import EngineClient, EngineSettings

pytestmark = pytest.mark.gui


def test_cli_label_and_gui_batch_write_identical_annotation_files(comparable, qtbot, tmp_path, samples_dir, tiny_model_dir):
    cli_root, gui_root = tmp_path / "cli", tmp_path / "gui"
    for root in (cli_root, gui_root):
        shutil.copytree(samples_dir, root, ignore=shutil.ignore_patterns(".*"))
    # batch size 1 as the window on a CPU: scores of another batch size differ in the 7th digit
    args = ["label", str(cli_root), "--classes", "cat, sky, road", "--model", str(tiny_model_dir), "--device", "cpu",
            "--batch-size", "1"]
    assert cli.main(args) == 0

    cli_project = Project.open(cli_root)
    gui_project = Project.open(gui_root)
    gui_project.settings = cli_project.settings  # what the window reads from project.json
    client = EngineClient(EngineSettings.from_project(gui_project.settings))  # the window's factory and worker
    try:
        done = []
        client.batchDone.connect(lambda job, summary: done.append(summary))
        options = PipelineOptions.from_settings(gui_project.settings, ["cat", "sky", "road"],
                                                model=client.settings.model)
        client.batch(gui_project, gui_project.images(), options)
        qtbot.waitUntil(lambda: not client.busy(), timeout=300000)
    finally:
        client.shutdown()
    images = cli_project.images()
    assert done and done[0].labelled == images and len(images) == 4
    for rel in images:
        assert comparable(gui_project, rel) == comparable(cli_project, rel), rel
    assert any(comparable(cli_project, rel)["shapes"] for rel in images)
