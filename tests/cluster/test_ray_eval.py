"""`eval --ray`: the evaluation loop's stages on the local Ray runtime give the local matrix."""

from __future__ import annotations

import argparse
import json

import pytest

from annotator.core.evaluation import command

from evaluation.synthetic import PAIRS, STEMS, pattern_mask, write_voc

# One Ray runtime at a time: under pytest-xdist (`make test`) these modules run on one worker.
pytestmark = pytest.mark.xdist_group("ray")


def _eval(tmp_path, capsys, name, argv):
    parser = argparse.ArgumentParser(prog="pnp-annotator")
    command.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / f"{name}.json"
    rc = command.run(parser.parse_args(["eval", *argv, "--out", str(out)]))
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return json.loads(out.read_text()), captured


def test_eval_on_ray_scores_like_a_local_run(ray_runtime, tiny_model_dir, tmp_path, capsys):
    import torch

    a, b = PAIRS["voc"]
    root = write_voc(tmp_path / "voc", {s: pattern_mask(a, b, 8) for s in STEMS["voc"]})
    argv = ["--dataset", "voc", "--root", str(root), "--model", str(tiny_model_dir), "--device", "cpu",
            "--classes-from", "gt", "--batch-size", "1"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the model actor (the engine's last bits depend on it)
    try:
        local, _ = _eval(tmp_path, capsys, "local", argv)
        ray, captured = _eval(tmp_path, capsys, "ray", [*argv, "--ray"])
    finally:
        torch.set_num_threads(threads)
    assert "Running on" in captured.err
    assert ray["images"] == local["images"] == 2
    assert ray["confusion_matrix"] == local["confusion_matrix"]
    assert sum(map(sum, ray["confusion_matrix"])) == 2 * 3 * 512  # every scored pixel, once
    assert ray["metrics"] == local["metrics"]
    assert ray["device"].startswith("ray: 1 CPU model actor")
