"""Speed paths keep the outputs of the unoptimised path within stated tolerances."""

import numpy as np
import torch

from engine import Segmenter, SegmenterConfig


def test_text_encoder_stays_float32_when_vit_is_reduced(tiny_model_dir):
    seg = Segmenter.load(str(tiny_model_dir), device="cpu", dtype="bfloat16")
    assert seg.itm.vision_dtype == torch.bfloat16
    assert next(seg.model.vision_model.parameters()).dtype == torch.bfloat16
    assert {p.dtype for p in seg.model.text_encoder.parameters()} == {torch.float32}
    assert {p.dtype for p in seg.model.itm_head.parameters()} == {torch.float32}


def test_bf16_vit_keeps_the_maps(tiny_model_dir, cat_rgb, segmenter):
    """bf16 ViT (the CUDA default) vs fp32: heatmaps within 5e-2 relative, label maps >= 95 % equal."""
    seg = Segmenter.load(str(tiny_model_dir), device="cpu", dtype="bfloat16",
                         config=SegmenterConfig(drop_passes=1))
    ref = Segmenter.load(str(tiny_model_dir), device="cpu", config=SegmenterConfig(drop_passes=1))
    low = seg.segment(cat_rgb, ["cat", "wall", "floor"])
    full = ref.segment(cat_rgb, ["cat", "wall", "floor"])
    rel = np.abs(low.heatmaps - full.heatmaps).max() / np.abs(full.heatmaps).max()
    assert rel < 5e-2
    assert (low.label_map == full.label_map).mean() >= 0.95


def test_vit_without_autograd_gives_the_reference_maps(segmenter, cat_rgb):
    """Ours (ViT under no_grad, frozen weights) == a full backward through the whole model."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from engine_speed import reference_maps

    ours = segmenter.segment(cat_rgb, ["cat", "wall", "floor"])
    ref = reference_maps(segmenter, cat_rgb, ["cat", "wall", "floor"])
    assert np.abs(ours.heatmaps - ref).max() <= 1e-4 * np.abs(ref).max()
    assert not any(p.requires_grad for p in segmenter.model.parameters())
