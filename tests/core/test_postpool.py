"""Post-processing in helper processes: the same files as in-process, sized from the cores."""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from annotator.core.proposal_settings import ProposalSettings
from annotator import cli
from annotator.core.pipeline import PipelineOptions, run_pipeline
from annotator.core.postpool import MIN_IMAGES_FOR_POOL, PostprocessPool, WorkerPlan, plan_workers
from annotator.core.project import Project


def _copy_samples(samples_dir, root):
    shutil.copytree(samples_dir, root, ignore=shutil.ignore_patterns(".*"))
    return root


def test_label_writes_the_same_files_with_and_without_the_pool(comparable, tmp_path, samples_dir, tiny_model_dir):
    roots = {workers: _copy_samples(samples_dir, tmp_path / f"w{workers}") for workers in ("0", "2")}
    for workers, root in roots.items():
        # --threshold differs from the engine's: the pool redoes the label map with it, as in-process
        args = ["label", str(root), "--classes", "cat, sky, road", "--model", str(tiny_model_dir), "--device", "cpu",
                "--batch-size", "2", "--threshold", "0.3", "--postprocess-workers", workers]
        assert cli.main(args) == 0
    inline, pooled = Project.open(roots["0"]), Project.open(roots["2"])
    images = inline.images()
    assert pooled.images() == images and len(images) == 4
    for rel in images:
        assert comparable(pooled, rel) == comparable(inline, rel), rel
    assert sum(len(comparable(inline, rel)["shapes"]) for rel in images) > 0


def test_a_pool_whose_worker_died_still_labels_every_image(tmp_path, samples_dir, tiny_model_dir):
    from engine import Segmenter

    segmenter = Segmenter.load(str(tiny_model_dir), device="cpu")
    project = Project.open(_copy_samples(samples_dir, tmp_path / "p"))
    with PostprocessPool(1) as pool:
        (pid,) = pool.worker_pids()
        os.kill(pid, signal.SIGKILL)
        summary = run_pipeline(project, segmenter, project.images(), PipelineOptions(["cat", "sky"], batch_size=2),
                               pool=pool)
    assert summary.labelled == project.images() and not summary.failed
    assert all(project.load(rel).model_run for rel in project.images())


@pytest.mark.parametrize("requested, device, images, cores, expected", [
    (None, "cpu", 24, 2, WorkerPlan(2, 1)),       # the CRF's share is larger than the model's on a CPU
    (None, "cpu", 24, 16, WorkerPlan(16, 8)),
    (None, "cuda", 24, 16, WorkerPlan(15, 1)),     # one core (one torch thread) feeds the GPU
    (None, "cpu", MIN_IMAGES_FOR_POOL - 1, 2, WorkerPlan(0, None)),  # start-up would cost more than it saves
    (None, "cpu", 24, 1, WorkerPlan(0, None)),
    (0, "cuda", 24, 16, WorkerPlan(0, None)),      # off
    (3, "cpu", 2, 2, WorkerPlan(3, 1)),            # asked for: used whatever the run's size
])
def test_pool_size_follows_the_cores_and_the_device(requested, device, images, cores, expected):
    assert plan_workers(requested, device, images, cores=cores) == expected


def test_postprocess_workers_must_not_be_negative(capsys, tmp_path):
    assert cli.main(["label", str(tmp_path), "--classes", "a", "--postprocess-workers", "-1"]) == 2
    assert "must be >= 0" in capsys.readouterr().err


def test_cancel_with_the_pool_still_saves_what_the_model_finished(tmp_path, samples_dir, tiny_model_dir):
    import threading

    from engine import Segmenter

    segmenter = Segmenter.load(str(tiny_model_dir), device="cpu")
    project = Project.open(_copy_samples(samples_dir, tmp_path / "p"))
    cancel = threading.Event()
    batches = []

    def on_progress(stage, done, total):
        if stage == "pass" and done == total:  # the first batch left the model: the user presses Cancel
            batches.append(done)
            cancel.set()

    with PostprocessPool(2) as pool:
        summary = run_pipeline(project, segmenter, project.images(), PipelineOptions(["cat", "sky"], batch_size=2),
                               pool=pool, cancel=cancel, on_progress=on_progress)
    first_batch = project.images()[:2]
    assert summary.cancelled and summary.labelled == first_batch and not summary.failed
    assert all(project.load(rel).model_run for rel in first_batch)
    assert not any(project.has_annotations(rel) for rel in project.images()[2:])


def test_an_engine_that_finishes_its_own_results_gets_its_shapes_made_in_the_pool(comparable, tmp_path, samples_dir,
                                                                                   tiny_sam3_dir):
    from engine import Segmenter

    segmenter = Segmenter.load(str(tiny_sam3_dir), device="cpu")
    projects = [Project.open(_copy_samples(samples_dir, tmp_path / name)) for name in ("inline", "pooled")]
    # threshold 0.3: redone in this process by Segmenter.postprocess before the pool makes the shapes
    options = PipelineOptions(["cat", "sky"], batch_size=2,
                              settings=ProposalSettings(threshold=0.3, proposals="instances"), postprocess_workers=0)
    run_pipeline(projects[0], segmenter, projects[0].images(), options)
    with PostprocessPool(1) as pool:
        summary = run_pipeline(projects[1], segmenter, projects[1].images(), options, pool=pool)
    assert summary.labelled == projects[1].images() and not summary.failed
    for rel in projects[0].images():
        assert comparable(projects[1], rel) == comparable(projects[0], rel), rel
    assert sum(len(comparable(projects[0], rel)["shapes"]) for rel in projects[0].images()) > 0
