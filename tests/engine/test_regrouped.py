"""The regrouped click graph computes what transformers' mask decoder computes (torch, no export)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from engine.interactive import onnx_backend, regrouped
from engine.testing import build_random_sam3_tracker, random_sam2


@pytest.fixture(scope="module")
def sam2():
    return random_sam2("tiny")[0].requires_grad_(False)


@pytest.fixture(scope="module")
def tracker(tmp_path_factory):
    from transformers import Sam3TrackerModel

    folder = build_random_sam3_tracker(tmp_path_factory.mktemp("tracker"))
    return Sam3TrackerModel.from_pretrained(folder).eval().requires_grad_(False)


def features_of(model, seed: int = 0):
    """An embedding of a random picture at the model's input size (what the encoder hands the decoder)."""
    side = model.prompt_encoder.input_image_size
    pixels = torch.from_numpy(np.random.default_rng(seed).standard_normal((1, 3, side, side)).astype(np.float32))
    with torch.inference_mode():
        return list(model.get_image_embeddings(pixels))


def prompts(side: float):
    """One point; an object and a background point; a box (corners labelled 2, 3) with a point."""
    p = lambda *xy: [v * side for v in xy]  # noqa: E731
    return [([p(0.4, 0.5)], [1]), ([p(0.4, 0.5), p(0.9, 0.1)], [1, 0]),
            ([p(0.3, 0.6), p(0.2, 0.25), p(0.75, 0.8)], [1, 2, 3])]


@pytest.mark.parametrize("which", ["sam2", "tracker"])
def test_regrouped_decoder_equals_transformers_order(which, sam2, tracker):
    model = sam2 if which == "sam2" else tracker
    assert regrouped.supports(model)
    reference = onnx_backend.PromptToMasks(model).eval()
    ours = regrouped.RegroupedPromptToMasks(model).eval()
    for seed in (0, 1):
        feats = features_of(model, seed)
        for points, labels in prompts(float(model.prompt_encoder.input_image_size)):
            args = (feats[0], feats[1], feats[-1], torch.tensor([[points]]), torch.tensor([[labels]]))
            with torch.inference_mode():
                ref_masks, ref_iou = reference(*args)
                masks, iou = ours(*args)
            assert masks.shape == ref_masks.shape and iou.shape == ref_iou.shape
            scale = float(ref_masks.abs().max())
            assert scale > 0
            assert float((masks - ref_masks).abs().max()) <= 1e-5 * scale
            assert float((iou - ref_iou).abs().max()) <= 1e-6


def test_masks_come_back_in_raster_order(sam2):
    """The blocked pixel order is undone exactly: with the last kernel zeroed and every hypernetwork
    picking channel 0, the masks are GELU of the high-resolution feature's first channel, in place."""
    model = copy.deepcopy(sam2)
    decoder = model.mask_decoder
    feats = features_of(model)
    low = decoder.upscale_conv2.out_channels
    with torch.no_grad():
        decoder.upscale_conv2.weight.zero_()
        decoder.upscale_conv2.bias.zero_()
        for mlp in decoder.output_hypernetworks_mlps:  # ReLU MLP whose last layer outputs e_0
            mlp.proj_out.weight.zero_()
            mlp.proj_out.bias.copy_(torch.nn.functional.one_hot(torch.tensor(0), low).float())
    ours = regrouped.RegroupedPromptToMasks(model).eval()
    with torch.inference_mode():
        masks, _ = ours(feats[0], feats[1], feats[-1], torch.tensor([[[[10.0, 20.0]]]]), torch.tensor([[[1]]]))
    expected = torch.nn.functional.gelu(feats[0][0, 0])
    assert torch.allclose(masks[0, 0, 0], expected, atol=1e-6) and torch.allclose(masks[0, 0, 3], expected, atol=1e-6)


def test_a_decoder_of_another_shape_is_exported_as_it_is(sam2):
    model = copy.deepcopy(sam2)
    conv = model.mask_decoder.upscale_conv1
    model.mask_decoder.upscale_conv1 = torch.nn.ConvTranspose2d(conv.in_channels, conv.out_channels, 4, stride=2,
                                                                padding=1)
    assert not regrouped.supports(model)
    with pytest.raises(ValueError, match="not a SAM 2 style mask decoder"):
        regrouped.RegroupedPromptToMasks(model)
    assert [type(w) for w in onnx_backend.graph_wrappers(model)] == [onnx_backend.PromptToMasks]
    assert [type(w) for w in onnx_backend.graph_wrappers(sam2)] == [regrouped.RegroupedPromptToMasks,
                                                                   onnx_backend.PromptToMasks]
