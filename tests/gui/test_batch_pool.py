"""The window's batch with the post-processing pool (started from the engine's thread) writes
the files ``label`` writes without it."""

from __future__ import annotations

import shutil

import pytest

from annotator import cli
from annotator.core.pipeline import PipelineOptions
from annotator.core.project import Project
from annotator.gui.engine_worker import EngineClient, EngineSettings

pytestmark = pytest.mark.gui


def test_gui_batch_with_post_processing_workers_writes_the_cli_files(comparable, qtbot, tmp_path, samples_dir,
                                                                     tiny_model_dir):
    cli_root, gui_root = tmp_path / "cli", tmp_path / "gui"
    for root in (cli_root, gui_root):
        shutil.copytree(samples_dir, root, ignore=shutil.ignore_patterns(".*"))
    assert cli.main(["label", str(cli_root), "--classes", "cat, sky, road", "--model", str(tiny_model_dir),
                     "--device", "cpu", "--batch-size", "1", "--postprocess-workers", "0"]) == 0
    cli_project, gui_project = Project.open(cli_root), Project.open(gui_root)
    gui_project.settings = cli_project.settings
    client = EngineClient(EngineSettings.from_project(gui_project.settings))
    try:
        done, saved = [], []
        client.batchDone.connect(lambda job, summary: done.append(summary))
        client.batchSaved.connect(lambda job, image, result, shapes, *_: saved.append(image))
        options = PipelineOptions.from_settings(gui_project.settings, ["cat", "sky", "road"],
                                                model=client.settings.model, batch_size=1, postprocess_workers=2)
        client.batch(gui_project, gui_project.images(), options)
        qtbot.waitUntil(lambda: not client.busy(), timeout=300000)
    finally:
        client.shutdown()
    images = cli_project.images()
    assert done and done[0].labelled == images and saved == images
    for rel in images:
        assert comparable(gui_project, rel) == comparable(cli_project, rel), rel
