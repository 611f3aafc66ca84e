"""The interactive segmenter against transformers' own SAM 2 pipeline, its cache and its errors.

The equality tests run on both decoding backends: torch, and ONNX Runtime (the CPU default).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import ModelNotFoundError
from engine.interactive import InteractiveSegmenter


BACKENDS = ["torch", "onnxruntime"]


@pytest.fixture(scope="module", params=BACKENDS)
def seg(request, tiny_sam2_dir):
    notices = []
    seg = InteractiveSegmenter.load(str(tiny_sam2_dir), device="cpu", cache_size=2, backend=request.param,
                                    status=notices.append)
    seg.notices = notices
    return seg


@pytest.fixture(scope="module")
def rgb():
    rng = np.random.default_rng(3)
    img = (rng.random((90, 120, 3)) * 60).astype(np.uint8)
    yy, xx = np.mgrid[:90, :120]
    img[(yy - 45) ** 2 + (xx - 60) ** 2 < 25 ** 2] = (220, 40, 40)
    return img


@pytest.fixture(scope="module")
def hf_sam2(tiny_sam2_dir):
    from transformers import Sam2Model, Sam2Processor

    return Sam2Model.from_pretrained(tiny_sam2_dir).eval(), Sam2Processor.from_pretrained(tiny_sam2_dir)


def _hf_reference(hf, rgb, points, labels, box):
    """transformers' documented route: Sam2Processor -> Sam2Model(pixel_values) -> post_process_masks."""
    model, processor = hf
    kwargs = {}
    if points:
        kwargs.update(input_points=[[points]], input_labels=[[labels]])
    if box is not None:
        kwargs["input_boxes"] = [[box]]
    inputs = processor(images=rgb, return_tensors="pt", **kwargs)
    multimask = box is None and len(points) == 1
    with torch.no_grad():
        out = model(**inputs, multimask_output=multimask)
    masks = processor.post_process_masks(out.pred_masks, inputs["original_sizes"])[0][0]
    scores = out.iou_scores[0, 0]
    best = int(torch.argmax(scores)) if multimask else 0
    return masks[best].numpy(), float(scores[best])


PROMPTS = [
    ([[60.0, 45.0]], [1], None),
    ([[60.0, 45.0], [10.0, 80.0]], [1, 0], None),
    ([], [], [30.0, 15.0, 95.0, 75.0]),
    ([[61.5, 44.5]], [1], [30.0, 15.0, 95.0, 75.0]),
    ([[20.0, 20.0], [100.0, 70.0], [60.0, 45.0]], [1, 1, 0], None),
]


@pytest.mark.parametrize("points,labels,box", PROMPTS)
def test_masks_equal_transformers_pipeline(seg, hf_sam2, rgb, points, labels, box):
    seg.set_image("disk", rgb)
    ours = seg.predict(points, labels, box)
    assert seg.backend == seg.requested_backend, seg.notices  # no fallback happened
    ref_mask, ref_score = _hf_reference(hf_sam2, rgb, points, labels, box)
    assert ours.mask.shape == (90, 120) and ours.mask.dtype == bool
    assert np.array_equal(ours.mask, ref_mask)
    assert ours.score == pytest.approx(ref_score, abs=1e-5)


def test_random_model_masks_are_not_trivial(seg, rgb):
    """The comparison above means something only if the masks differ between prompts."""
    seg.set_image("disk", rgb)
    masks = [seg.predict(p, lab, b).mask for p, lab, b in PROMPTS]
    fractions = {round(float(m.mean()), 3) for m in masks}
    assert len(fractions) > 1
    assert any(0.0 < float(m.mean()) < 1.0 for m in masks)


def test_second_click_does_not_run_image_encoder(seg, rgb, monkeypatch):
    calls = []
    encode = seg._encode
    monkeypatch.setattr(seg, "_encode", lambda pixels: calls.append(1) or encode(pixels))
    try:
        seg.forget()
        assert seg.set_image("a", rgb) is True
        seg.predict([[10, 10]], [1])
        seg.predict([[10, 10], [50, 50]], [1, 0])
        assert seg.set_image("a", rgb) is False
        assert len(calls) == 1
        # bounded LRU (cache_size=2): a third image evicts the least recently used one
        seg.set_image("b", rgb[:, ::-1].copy())
        seg.set_image("a", rgb)  # a is now the most recent
        seg.set_image("c", rgb[::-1].copy())  # evicts b
        assert len(calls) == 3
        assert seg.has_image("a") and seg.has_image("c") and not seg.has_image("b")
        seg.predict([[10, 10]], [1], image_key="a")
        assert len(calls) == 3
    finally:
        monkeypatch.undo()


def test_degenerate_box_is_a_point(seg, rgb):
    seg.set_image("disk", rgb)
    as_box = seg.predict(box=[60.0, 30.0, 60.0, 60.0])
    as_point = seg.predict([[60.0, 45.0]], [1])
    assert np.array_equal(as_box.mask, as_point.mask)


@pytest.mark.parametrize("points,labels,box,match", [
    ([[500, 10]], [1], None, "outside the 120x90 image"),
    ([[10, 10]], [1, 0], None, "1 points but 2 labels"),
    ([], [], None, "no prompt"),
    ([[10, 10]], [0], None, "only negative points"),
    ([[10, 10]], [2], None, "must be 1"),
])
def test_bad_prompts_are_named(seg, rgb, points, labels, box, match):
    seg.set_image("disk", rgb)
    with pytest.raises(ValueError, match=match):
        seg.predict(points, labels, box)


def test_predict_without_image_says_what_to_do(seg):
    with pytest.raises(LookupError, match="set_image"):
        seg.predict([[1, 1]], [1], image_key="never-set")


def test_missing_folder_gives_download_instructions(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist") as info:
        InteractiveSegmenter.load(str(tmp_path / "nope"), device="cpu")
    assert "hf download facebook/sam2.1-hiera-tiny" in str(info.value)


def test_uncached_hub_id_offline_is_model_not_found():
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE") as info:
        InteractiveSegmenter.load("facebook/sam2.1-hiera-tiny-not-cached", device="cpu")
    assert "hf download facebook/sam2.1-hiera-tiny-not-cached" in str(info.value)


def test_blip_folder_is_refused_by_kind(tiny_model_dir):
    with pytest.raises(ModelNotFoundError, match="not an interactive segmentation model"):
        InteractiveSegmenter.load(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="module")
def tracker_dir(tmp_path_factory):
    from engine.testing import build_random_sam3_tracker

    return build_random_sam3_tracker(tmp_path_factory.mktemp("tiny-sam3-tracker"))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("points,labels,box", [PROMPTS[0], PROMPTS[2], PROMPTS[3]])
def test_sam3_tracker_checkpoint_equals_transformers_pipeline(tracker_dir, rgb, points, labels, box, backend):
    from transformers import Sam3TrackerModel, Sam3TrackerProcessor

    seg = InteractiveSegmenter.load(str(tracker_dir), device="cpu", backend=backend)
    assert seg.engine == "sam3-tracker"
    seg.set_image("disk", rgb)
    ours = seg.predict(points, labels, box)
    assert seg.backend == backend
    hf = (Sam3TrackerModel.from_pretrained(tracker_dir).eval(), Sam3TrackerProcessor.from_pretrained(tracker_dir))
    ref_mask, ref_score = _hf_reference(hf, rgb, points, labels, box)
    assert np.array_equal(ours.mask, ref_mask)
    assert ours.score == pytest.approx(ref_score, abs=1e-5)
