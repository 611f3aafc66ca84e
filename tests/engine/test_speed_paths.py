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


def test_postprocess_in_worker_processes_gives_the_same_label_maps(tiny_model_dir, samples_dir, segmenter):
    paths = sorted(samples_dir.iterdir())[:3]
    seg = Segmenter.load(str(tiny_model_dir), device="cpu", config=SegmenterConfig(postprocess_workers=2))
    try:
        steps = []
        pooled = seg.segment_batch(paths, ["cat", "sky"], batch_size=2, progress=lambda *a: steps.append(a))
        assert seg._executor is not None  # the process pool really ran
    finally:
        seg.close()
    inline = segmenter.segment_batch(paths, ["cat", "sky"], batch_size=2)
    for a, b in zip(pooled, inline):
        np.testing.assert_array_equal(a.label_map, b.label_map)
        assert a.seconds["crf"] >= 0 and a.seconds["postprocess"] > 0
    assert [s for s in steps if s[0] == "postprocess"] == [("postprocess", i, 3) for i in (1, 2, 3)]
