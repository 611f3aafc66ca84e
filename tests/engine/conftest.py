import numpy as np
import pytest

from engine import Segmenter, SegmenterConfig


@pytest.fixture(scope="session")
def segmenter(tiny_model_dir):
    return Segmenter.load(model=str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def eager_segmenter(tiny_model_dir):
    """The unoptimised path: HF's eager ViT attention."""
    return Segmenter.load(model=str(tiny_model_dir), device="cpu", config=SegmenterConfig(vision_attention="eager"))


@pytest.fixture(scope="session")
def cat_rgb(samples_dir):
    from engine.images import load_rgb

    return load_rgb(samples_dir / "chelsea.png")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
