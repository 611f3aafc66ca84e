"""SAM 2.1's encoder position embeddings are computed once per model, with bitwise-equal embeddings."""

from __future__ import annotations

import numpy as np
import torch

from engine.interactive import InteractiveSegmenter
from engine.interactive.encoder_memo import memoise_position_embeddings
from engine.testing import random_sam2

RGB = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)


def _memo_modules(model):
    return [m for m in model.modules() if hasattr(m, "_pnp_memo")]


def test_embeddings_are_bitwise_equal_and_position_embeddings_are_built_once():
    model, processor = random_sam2("tiny")
    model.requires_grad_(False)
    pixels = processor(images=RGB, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        plain = [t.clone() for t in model.get_image_embeddings(pixels)]

    assert memoise_position_embeddings(model) == 2
    memos = _memo_modules(model)
    assert len(memos) == 2, "the neck's sine embedding and the backbone's absolute one"
    neck = next(m for m in memos if type(m).__name__ == "Sam2SinePositionEmbedding")
    calls = []
    build = type(neck).build_sine_position_embedding
    type(neck).build_sine_position_embedding = staticmethod(lambda *a, **k: calls.append(1) or build(*a, **k))
    other = processor(images=RGB[::-1].copy(), return_tensors="pt")["pixel_values"]
    try:
        with torch.inference_mode():
            model.get_image_embeddings(pixels)
            first = len(calls)
            model.get_image_embeddings(other)
            again = model.get_image_embeddings(pixels)
    finally:
        type(neck).build_sine_position_embedding = staticmethod(build)
    assert first == len(neck._pnp_memo) == 4 and len(calls) == first, "built for the first image only"
    assert all(torch.equal(a, b) for a, b in zip(again, plain))


def test_the_segmenter_memoises_on_a_cpu():
    model, processor = random_sam2("tiny")
    InteractiveSegmenter(model.requires_grad_(False), processor, torch.device("cpu"), "sam2", backend="torch")
    assert len(_memo_modules(model)) == 2


def test_outside_inference_mode_nothing_is_memoised_and_a_weight_change_is_seen():
    model, processor = random_sam2("tiny")
    assert memoise_position_embeddings(model) == 2
    assert memoise_position_embeddings(model) == 0, "a model is wrapped once"
    pixels = processor(images=RGB, return_tensors="pt")["pixel_values"]
    backbone = next(m for m in _memo_modules(model) if hasattr(m, "pos_embed"))
    with torch.no_grad():
        model.get_image_embeddings(pixels)
    assert all(not m._pnp_memo for m in _memo_modules(model))
    with torch.inference_mode():
        before = [t.clone() for t in model.get_image_embeddings(pixels)]
    with torch.no_grad():
        backbone.pos_embed.add_(0.5)  # weights changed in place after the memo was made
    with torch.inference_mode():
        after = model.get_image_embeddings(pixels)
    fresh, _ = random_sam2("tiny")
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        expected = fresh.get_image_embeddings(pixels)
    assert not torch.equal(after[-1], before[-1])
    assert all(torch.equal(a, b) for a, b in zip(after, expected))


def test_the_sam3_tracker_is_left_as_it_is(tmp_path):
    from engine.interactive.loading import load_interactive_model
    from engine.testing import build_random_sam3_tracker

    model, _, engine = load_interactive_model(str(build_random_sam3_tracker(tmp_path)))
    assert engine == "sam3-tracker" and memoise_position_embeddings(model) == 0
