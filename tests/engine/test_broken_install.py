"""A torchvision that does not work with the installed torch: every model loader says so, and how to fix it.

The broken pair is simulated: torchvision's operator raises what a torchvision built for
another torch raises ("operator torchvision::nms does not exist").
"""

from __future__ import annotations

import numpy as np
import pytest

from engine import BrokenInstallError, Segmenter
from engine.interactive import InteractiveSegmenter


@pytest.fixture
def broken_torchvision(monkeypatch):
    import torchvision

    import engine.loading

    def nms(*args, **kwargs):
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(torchvision.ops, "nms", nms)
    monkeypatch.setattr(engine.loading, "_STACK_OK", False)


def test_segmenter_load_names_the_pair_and_the_fix(broken_torchvision, tiny_model_dir):
    with pytest.raises(BrokenInstallError) as info:
        Segmenter.load(str(tiny_model_dir), device="cpu")
    message = str(info.value)
    assert "do not work together" in message and "operator torchvision::nms does not exist" in message
    assert "pip install --force-reinstall torch==" in message and "torchvision==0." in message


def test_interactive_load_says_the_same(broken_torchvision, tiny_sam2_dir):
    with pytest.raises(BrokenInstallError, match="do not work together"):
        InteractiveSegmenter.load(str(tiny_sam2_dir), device="cpu")


def test_cli_label_prints_it_without_a_traceback(broken_torchvision, tiny_model_dir, tmp_path, capsys):
    from PIL import Image

    from annotator import cli

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "a.png")
    assert cli.main(["label", str(tmp_path), "--classes", "sky", "--model", str(tiny_model_dir),
                     "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "do not work together" in err and "pip install --force-reinstall" in err
    assert "Traceback" not in err


def test_a_working_pair_passes(tiny_sam2_dir):
    import engine.loading

    engine.loading.check_torch_stack()  # the real torch + torchvision of this environment
    assert engine.loading._STACK_OK
