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
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    seg = Segmenter.load(str(tiny_model_dir), device="cpu")
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        submitted = []
        real_submit = pool.submit
        pool.submit = lambda fn, *a, **k: submitted.append(fn) or real_submit(fn, *a, **k)
        seg.use_postprocess_pool(pool)  # the engine is handed processes, it starts none
        steps = []
        pooled = seg.segment_batch(paths, ["cat", "sky"], batch_size=2, progress=lambda *a: steps.append(a))
        assert len(submitted) == 3  # the process pool really ran
        again = seg.postprocess(pooled[0], threshold=0.3)
        assert len(submitted) == 4
        np.testing.assert_array_equal(again, segmenter.postprocess(pooled[0], threshold=0.3))
    inline = segmenter.segment_batch(paths, ["cat", "sky"], batch_size=2)
    for a, b in zip(pooled, inline):
        np.testing.assert_array_equal(a.label_map, b.label_map)
        assert a.seconds["crf"] >= 0 and a.seconds["postprocess"] > 0
    assert [s for s in steps if s[0] == "postprocess"] == [("postprocess", i, 3) for i in (1, 2, 3)]


def _zero_blocks(x, dropped, grid, patch):
    """The plain definition: each dropped patch's block set to 0, one block at a time."""
    x = x.clone()
    for b, patches in enumerate(dropped):
        for p in patches:
            r, c = divmod(p, grid)
            x[b, :, patch * r:patch * (r + 1), patch * c:patch * (c + 1)] = 0
    return x


def test_zero_patches_in_one_mask_equals_zeroing_block_by_block():
    from engine.pnp_ovss.segmenter import zero_patches

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 3, 48, 48, generator=gen)
    dropped = [[0, 5, 8], [], [3, 4, 7, 2]]
    out = zero_patches(x, dropped, grid=3, patch=16)
    assert torch.equal(out, _zero_blocks(x, dropped, 3, 16))
    assert torch.equal(x, x.clone()) and not torch.equal(out, x)  # the input is left as it was
    assert torch.equal(zero_patches(x, [[], [], []], 3, 16), x)


def test_batched_passes_equal_one_image_at_a_time(segmenter, samples_dir):
    """The pass loop copies each pass's maps, logits and dropped patches once per batch:
    every image keeps its own patches and maps (padding the captions of a batch changes
    the text encoder's rounding, not the choice)."""
    paths = sorted(samples_dir.iterdir())[:3]
    names = [["cat", "sky"], ["sky", "rocket", "person"], ["cup"]]
    batched = segmenter.segment_batch(paths, names, batch_size=3)
    for path, n, res in zip(paths, names, batched):
        one = segmenter.segment(path, n)
        assert res.dropped == one.dropped
        np.testing.assert_allclose(res.match_logits, one.match_logits, rtol=1e-5, atol=1e-6)
        for a, b in zip(res.passes, one.passes):
            assert a.shape == b.shape == (len(n), segmenter.grid, segmenter.grid)
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())
