"""Segmenter behaviour through its public API: results, batching, cancel, presence, speed paths."""

import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine import Cancelled, DeviceOutOfMemoryError, Segmenter, SegmenterConfig


def test_result_contract(segmenter, cat_rgb):
    calls = []
    res = segmenter.segment(cat_rgb, [" Cat ", "wall", "CAT", "floor"], progress=lambda *a: calls.append(a))
    assert res.classes == ["Cat", "wall", "floor"]  # trimmed, duplicates dropped (case-insensitive), order kept
    assert res.heatmaps.shape == (3, 21, 21) and res.heatmaps.dtype == np.float32
    assert res.label_map.shape == cat_rgb.shape[:2] and res.label_map.dtype == np.int32
    assert set(np.unique(res.label_map)) <= {0, 1, 2, 3}
    assert set(res.presence) == {"Cat", "wall", "floor"}
    assert all(0.0 <= p <= 1.0 for p in res.presence.values())
    assert [c for c in calls if c[0] == "pass"] == [("pass", k, 4) for k in range(1, 5)]
    assert calls[-1] == ("postprocess", 1, 1)


def test_batch_equals_single(segmenter, samples_dir):
    paths = [samples_dir / n for n in ("chelsea.png", "coffee.png", "rocket.jpg")]
    lists = [["cat", "wall"], ["cup", "table", "plate", "coffee"], ["rocket"]]
    batch = segmenter.segment_batch(paths, lists, batch_size=3)
    for path, classes, b in zip(paths, lists, batch):
        s = segmenter.segment(path, classes)
        assert b.classes == s.classes
        assert b.dropped == s.dropped
        scale = np.abs(s.heatmaps).max()
        assert np.abs(b.heatmaps - s.heatmaps).max() <= 1e-5 * scale
        assert (b.label_map == s.label_map).mean() > 0.999


def test_single_class_list_for_all_images(segmenter, samples_dir):
    paths = [samples_dir / "chelsea.png", samples_dir / "coffee.png"]
    res = segmenter.segment_batch(paths, ["sky", "ground"], batch_size=1)
    assert [r.classes for r in res] == [["sky", "ground"], ["sky", "ground"]]


def test_cancel_mid_job(segmenter, cat_rgb):
    token = threading.Event()
    seen = []

    def progress(stage, done, total):
        seen.append(done)
        if stage == "pass" and done == 2:
            token.set()

    with pytest.raises(Cancelled):
        segmenter.segment(cat_rgb, ["cat", "wall"], progress=progress, cancel=token)
    assert max(seen) == 2  # stopped at the next pass boundary


def test_cancel_before_start(segmenter, cat_rgb):
    token = threading.Event()
    token.set()
    with pytest.raises(Cancelled):
        segmenter.segment(cat_rgb, ["cat"], cancel=token)


def test_presence_threshold_drops_classes(tiny_model_dir, cat_rgb, segmenter):
    scores = segmenter.segment(cat_rgb, ["cat", "wall", "floor"]).presence
    cut = sorted(scores.values())[1]  # keeps the two best
    seg = Segmenter.load(str(tiny_model_dir), device="cpu", config=SegmenterConfig(presence_threshold=cut))
    res = seg.segment(cat_rgb, ["cat", "wall", "floor"])
    assert res.classes == [c for c in ["cat", "wall", "floor"] if scores[c] >= cut]
    assert len(res.classes) == 2 and res.heatmaps.shape[0] == 2
    assert set(res.presence) == {"cat", "wall", "floor"}
    seg_none = Segmenter.load(str(tiny_model_dir), device="cpu", config=SegmenterConfig(presence_threshold=1.0))
    empty = seg_none.segment(cat_rgb, ["cat", "wall"])
    assert empty.classes == [] and empty.heatmaps.shape == (0, 21, 21)
    assert (empty.label_map == 0).all()


def test_postprocess_makes_no_model_call(segmenter, cat_rgb, monkeypatch):
    res = segmenter.segment(cat_rgb, ["cat", "wall"])

    def forbidden(*a, **k):
        raise AssertionError("model called")

    monkeypatch.setattr(segmenter.itm, "image_tokens", forbidden)
    monkeypatch.setattr(segmenter.itm, "gradcam", forbidden)
    same = segmenter.postprocess(res)
    np.testing.assert_array_equal(same, res.label_map)
    loose = segmenter.postprocess(res, threshold=0.0, background="never", crf=False)
    assert loose.shape == res.label_map.shape
    assert (loose > 0).all()  # no background channel: every pixel gets a class
    with_bg = segmenter.postprocess(res, threshold=0.9, background="always", crf=False)
    assert (with_bg == 0).sum() > (loose == 0).sum()
    with pytest.raises(ValueError, match="background"):
        segmenter.postprocess(res, background="sometimes")


def test_out_of_memory_is_reported(segmenter, cat_rgb, monkeypatch):
    def oom(x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(segmenter.itm, "image_tokens", oom)
    with pytest.raises(DeviceOutOfMemoryError, match="ran out of memory"):
        segmenter.segment(cat_rgb, ["cat"])


def test_sdpa_vision_attention_matches_eager(segmenter, eager_segmenter, cat_rgb):
    """The fused ViT attention is a speed change only: maps equal within 1e-4 relative."""
    assert segmenter.config.vision_attention == "sdpa"
    fast = segmenter.segment(cat_rgb, ["cat", "wall", "floor"])
    slow = eager_segmenter.segment(cat_rgb, ["cat", "wall", "floor"])
    assert fast.dropped == slow.dropped
    assert np.abs(fast.heatmaps - slow.heatmaps).max() <= 1e-4 * np.abs(slow.heatmaps).max()
    assert (fast.label_map == slow.label_map).mean() > 0.999


def test_crf_max_side_downscales_and_returns_full_size(segmenter, cat_rgb, monkeypatch):
    import engine.pnp_ovss.postprocess as pp

    shapes = []
    real = pp.dense_crf
    monkeypatch.setattr(pp, "dense_crf", lambda s, rgb, cfg, scale: shapes.append(rgb.shape) or real(s, rgb, cfg, scale))
    monkeypatch.setattr(segmenter, "config", replace(segmenter.config, crf_max_side=200))
    res = segmenter.segment(cat_rgb, ["cat", "wall"])  # 451 x 300
    assert shapes == [(133, 200, 3)]
    assert res.label_map.shape == (300, 451)
    monkeypatch.setattr(segmenter, "config", replace(segmenter.config, crf_max_side=1024))
    shapes.clear()
    segmenter.segment(cat_rgb, ["cat", "wall"])
    assert shapes == [(300, 451, 3)]  # below the cap: full resolution
