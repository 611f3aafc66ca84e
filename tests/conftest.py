"""Shared fixtures: tiny random-weight BLIP and SAM 3 models saved to disk once per session."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Under pytest-xdist (`make test`: one worker per core) idle OpenMP threads sleep instead of
# spinning: the workers' torch thread pools then do not burn each other's cores (measured on
# 2 cores: engine tests 83 s -> 55 s). The thread counts, and so the numbers, stay as they are.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "resources" / "samples"


@pytest.fixture(scope="session", autouse=True)
def user_cache_dir(tmp_path_factory) -> Path:
    """The app's cache folder (ONNX Runtime graphs of the interactive model) lives in a
    temporary folder for the whole session, subprocesses included: the user's is never touched."""
    folder = tmp_path_factory.mktemp("user-cache")
    os.environ["PNP_ANNOTATOR_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """Folder holding a tiny random BlipForImageTextRetrieval + tokenizer."""
    from engine.testing import build_random_model

    return build_random_model(tmp_path_factory.mktemp("tiny-blip"), size="tiny")


@pytest.fixture(scope="session")
def tiny_sam3_dir(tmp_path_factory) -> Path:
    """Folder holding a tiny random Sam3Model + Sam3Processor (byte-level CLIP tokenizer),
    with its heads scaled so maps have contrast and a few instances pass 0.5."""
    from engine.testing import build_random_sam3

    return build_random_sam3(tmp_path_factory.mktemp("tiny-sam3"), size="tiny")


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def tiny_sam2_dir(tmp_path_factory) -> Path:
    """Folder holding a tiny random Sam2Model + Sam2Processor (the interactive model)."""
    import numpy as np

    from engine.interactive import InteractiveSegmenter
    from engine.testing import build_random_sam2

    folder = build_random_sam2(tmp_path_factory.mktemp("tiny-sam2"), size="tiny")
    # Its ONNX Runtime graph is exported here, once: clicks in timed GUI waits then find it cached.
    InteractiveSegmenter.load(str(folder), device="cpu").set_image("warm-up", np.zeros((8, 8, 3), np.uint8))
    return folder


def _comparable_annotation(project, rel: str) -> dict:
    """An image's annotation file less what differs between any two runs: shape ids and the clock."""
    import json

    data = json.loads(project.annotation_path(rel).read_text())
    del data["model_run"]["time"]
    for shape in data["shapes"]:
        del shape["id"]
    return data


def _assert_mask_bracketed(mask, reference, loose, tight) -> None:
    """*mask* equals the *reference* mask except where the reference's probability lies within a
    small bracket around the threshold: it holds every pixel of *tight* (the reference
    post-processed at the threshold + the bracket) and none outside *loose* (at the threshold -
    the bracket), and the bracket must leave most pixels decided.

    An exact comparison depends on the CPU's thread count: one thread sums the same products in
    another order than two, and a pixel whose probability is a few float32 steps from the
    threshold falls on either side of it. The tiny random SAM 3's mask probabilities sit within
    1e-6 of 0.5 on a quarter to two thirds of the pixels, so with one thread 51 to 570 of 135,300
    pixels came out on the other side of HF's."""
    import numpy as np

    mask, reference = np.asarray(mask, bool), np.asarray(reference, bool)
    loose, tight = np.asarray(loose, bool), np.asarray(tight, bool)
    assert mask.shape == reference.shape == loose.shape == tight.shape
    assert not (mask & ~loose).any(), f"{int((mask & ~loose).sum())} pixels set where the reference is far below"
    assert not (tight & ~mask).any(), f"{int((tight & ~mask).sum())} pixels unset where the reference is far above"
    band = float((loose & ~tight).mean())
    assert band < 0.5, f"the bracket leaves {band:.0%} of the pixels undecided: it checks too little"


@pytest.fixture(scope="session")
def mask_bracket() -> float:
    """How far from a mask threshold (in probability) a pixel may differ from a reference mask:
    ~5 float32 steps at 0.5. References are post-processed at threshold -/+ this value and
    compared with assert_mask_bracketed."""
    return 3e-7


@pytest.fixture
def assert_mask_bracketed():
    """assert_mask_bracketed(mask, reference, loose, tight): equal up to pixels at the threshold."""
    return _assert_mask_bracketed


@pytest.fixture
def comparable():
    """comparable(project, rel) -> the annotation file as a dict, without run-dependent fields."""
    return _comparable_annotation
