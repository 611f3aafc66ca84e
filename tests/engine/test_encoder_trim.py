"""SAM 2.1's embedding without its unused attention weights and with its neck folded: the same embedding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from engine.interactive import InteractiveSegmenter, encoder_trim
from engine.testing import random_sam2

RGB = np.random.default_rng(3).integers(0, 255, (48, 64, 3), dtype=np.uint8)


def model_and_pixels(seed: int = 0):
    model, processor = random_sam2("tiny", seed=seed)
    model.requires_grad_(False)
    return model, processor, processor(images=RGB, return_tensors="pt")["pixel_values"]


def hf_embeddings(model, pixels):
    with torch.inference_mode():
        return [t.clone() for t in model.get_image_embeddings(pixels)]


REWRITES_APPLY = (encoder_trim.attention_matches() and encoder_trim.embedding_matches()
                  and encoder_trim.mlp_matches())
# With another transformers release the rewrites are not used (its own code runs, slower): the
# tests of what they compute have nothing to test there.
needs_rewrites = pytest.mark.skipif(
    not REWRITES_APPLY, reason=f"transformers {transformers.__version__}: encoder_trim's rewrites were written "
                               f"against {encoder_trim.WRITTEN_FOR} and are not used with it (slower embeddings)")


def test_the_rewrites_apply_to_the_transformers_they_were_written_for():
    """The hashes are those of the release named in encoder_trim. After an upgrade this skips and
    the embedding is transformers' own (slower): compare the functions encoder_trim names with the
    new release's, and add their hashes if the rewrites still compute the same thing."""
    if transformers.__version__ != encoder_trim.WRITTEN_FOR:
        pytest.skip(f"transformers {transformers.__version__}, not {encoder_trim.WRITTEN_FOR}")
    assert REWRITES_APPLY


@needs_rewrites
def test_lean_attention_gives_bitwise_the_same_embedding():
    from transformers.models.sam2.modeling_sam2 import Sam2MultiScaleAttention

    model, _, pixels = model_and_pixels()
    plain = hf_embeddings(model, pixels)
    attentions = [m for m in model.modules() if isinstance(m, Sam2MultiScaleAttention)]
    assert encoder_trim.trim_attention(model) == len(attentions) > 0
    assert encoder_trim.trim_attention(model) == 0, "a module is given the lean forward once"
    assert all(torch.equal(a, b) for a, b in zip(hf_embeddings(model, pixels), plain))


@needs_rewrites
@pytest.mark.parametrize("seed", [0, 1])
def test_the_folded_neck_gives_transformers_embedding(seed):
    model, _, pixels = model_and_pixels(seed)
    assert encoder_trim.foldable(model)
    plain = hf_embeddings(model, pixels)
    with torch.inference_mode():
        ours = encoder_trim.embed(model, pixels)
    assert [t.shape for t in ours] == [t.shape for t in plain]
    for a, b in zip(ours, plain):
        assert float((a - b).abs().max()) <= 1e-5 * float(b.abs().max())
    assert torch.equal(ours[-1], plain[-1]), "the lowest level is computed as transformers does"


@needs_rewrites
def test_the_segmenter_embeds_with_the_folded_neck_and_decodes_as_transformers(tmp_path):
    model, processor, pixels = model_and_pixels()
    plain = hf_embeddings(model, pixels)
    seg = InteractiveSegmenter(model, processor, torch.device("cpu"), "sam2", backend="torch")
    assert seg._folded_neck
    seg.set_image("a", RGB)
    for a, b in zip(seg._embedding("a").features, plain):
        assert float((a - b).abs().max()) <= 1e-5 * float(b.abs().max())


def test_another_transformers_runs_its_own_code(monkeypatch):
    """A release whose functions differ from the ones rewritten here: nothing is replaced."""
    model, processor, pixels = model_and_pixels()
    plain = hf_embeddings(model, pixels)
    monkeypatch.setattr(encoder_trim, "_ATTENTION", {"Sam2MultiScaleAttention.forward": "0" * 16})
    monkeypatch.setattr(encoder_trim, "_EMBEDDING", dict(encoder_trim._EMBEDDING, **{
        "Sam2VisionNeck.forward": "0" * 16}))
    monkeypatch.setattr(encoder_trim, "_GELU", "0" * 16)
    caches = (encoder_trim.attention_matches, encoder_trim.embedding_matches, encoder_trim.mlp_matches)
    for cache in caches:
        cache.cache_clear()
    try:
        seg = InteractiveSegmenter(model, processor, torch.device("cpu"), "sam2", backend="torch")
        from transformers.models.sam2.modeling_sam2 import Sam2MultiScaleAttention

        attentions = [m for m in model.modules() if isinstance(m, Sam2MultiScaleAttention)]
        assert not seg._folded_neck and attentions and not any("forward" in vars(m) for m in attentions)
        assert not any("forward" in vars(m) for m in _mlps(model))
        seg.set_image("a", RGB)
        assert all(torch.equal(a, b) for a, b in zip(seg._embedding("a").features, plain))
    finally:
        for cache in caches:
            cache.cache_clear()


def test_the_sam3_tracker_is_left_as_it_is(tmp_path):
    from engine.interactive.loading import load_interactive_model
    from engine.testing import build_random_sam3_tracker

    model, _, engine = load_interactive_model(str(build_random_sam3_tracker(tmp_path)))
    assert engine == "sam3-tracker"
    assert not encoder_trim.foldable(model) and encoder_trim.trim_attention(model) == 0


@needs_rewrites
def test_a_neck_with_a_top_down_sum_into_the_high_levels_is_not_folded():
    model, _, _ = model_and_pixels()
    model.vision_encoder.neck.fpn_top_down_levels = [1, 2, 3]
    assert not encoder_trim.foldable(model)


def _mlps(model):
    from transformers.models.sam2.modeling_sam2 import Sam2FeedForward

    return [m for m in model.vision_encoder.backbone.modules() if isinstance(m, Sam2FeedForward)]


def _linears(model):
    mlp_inputs = {id(m.proj_in) for m in _mlps(model)}
    return [m for m in model.vision_encoder.backbone.modules()
            if isinstance(m, torch.nn.Linear) and id(m) not in mlp_inputs]


@needs_rewrites
def test_onednn_products_give_transformers_embedding():
    model, _, pixels = model_and_pixels()
    plain = hf_embeddings(model, pixels)
    mlps, linears = _mlps(model), _linears(model)
    assert mlps and len(linears) > len(mlps)
    # each MLP's first layer is fused with its GELU; every linear layer is a product with its bias
    # (the MLPs' first layers too: that is what they run if the fused op fails)
    assert encoder_trim.use_onednn(model) == len(mlps) + len(linears) + len(mlps)
    assert encoder_trim.use_onednn(model) == 0, "a module is given oneDNN once"
    assert all("forward" not in vars(m) for m in model.mask_decoder.modules()), "the decoder is not touched"
    ours = hf_embeddings(model, pixels)
    for a, b in zip(ours, plain):
        assert float((a - b).abs().max()) <= 1e-5 * float(b.abs().max())
    with torch.no_grad():  # outside inference mode: torch's and transformers' own forwards
        assert all(torch.equal(a, b) for a, b in zip(model.get_image_embeddings(pixels), plain))


@needs_rewrites
def test_a_module_whose_onednn_op_fails_runs_torch_forward(monkeypatch):
    model, _, pixels = model_and_pixels()
    plain = hf_embeddings(model, pixels)
    modules = encoder_trim.use_onednn(model)
    calls = []

    def broken(*args):
        calls.append(1)
        raise RuntimeError("no oneDNN kernel for this CPU")

    monkeypatch.setattr(encoder_trim, "_onednn_linear", broken)
    assert all(torch.equal(a, b) for a, b in zip(hf_embeddings(model, pixels), plain))
    assert len(calls) == modules, "each module tries once"
    hf_embeddings(model, pixels)
    assert len(calls) == modules, "and then keeps torch's forward"


@needs_rewrites
def test_the_segmenter_uses_onednn_on_a_cpu():
    model, processor, _ = model_and_pixels()
    InteractiveSegmenter(model, processor, torch.device("cpu"), "sam2", backend="torch")
    assert all("forward" in vars(m) for m in _mlps(model) + _linears(model))
