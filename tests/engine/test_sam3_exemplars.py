"""SAM 3 exemplar boxes ("find all like this") against HF's own box-prompt pipeline."""

import numpy as np
import pytest
import torch
from PIL import Image

from engine import Segmenter
from engine.sam3.exemplars import check_boxes

POSITIVE = [(150.0, 40.0, 330.0, 260.0)]  # around the cat's head
WITH_NEGATIVE = ([(150.0, 40.0, 330.0, 260.0), (10.0, 200.0, 120.0, 290.0)], [1, 0])
THRESHOLD = 0.3  # the tiny random model's scores sit around 0.3-0.6: both sides occur


@pytest.fixture(scope="module")
def sam3(tiny_sam3_dir):
    return Segmenter.load(model=str(tiny_sam3_dir), device="cpu")


@pytest.fixture(scope="module")
def cat_image(samples_dir):
    return Image.open(samples_dir / "chelsea.png").convert("RGB")


@pytest.fixture(scope="module")
def hf(tiny_sam3_dir):
    from transformers import Sam3Model, Sam3Processor

    return Sam3Model.from_pretrained(tiny_sam3_dir).eval(), Sam3Processor.from_pretrained(tiny_sam3_dir)


def hf_instances(hf, image, boxes, labels, bracket, text=None):
    """HF's pipeline: Sam3Processor(images, input_boxes, input_boxes_labels[, text]) -> model -> post-processing."""
    model, processor = hf
    inputs = processor(images=image, input_boxes=[[list(b) for b in boxes]], input_boxes_labels=[list(labels)],
                       text=text, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    post = lambda mask_threshold: processor.post_process_instance_segmentation(  # noqa: E731
        out, threshold=THRESHOLD, mask_threshold=mask_threshold, target_sizes=[image.size[::-1]])[0]
    ref = post(0.5)
    ref["masks_loose"], ref["masks_tight"] = post(0.5 - bracket)["masks"], post(0.5 + bracket)["masks"]
    return ref


def assert_same(mine, ref, assert_mask_bracketed):
    order = np.argsort(-ref["scores"].numpy(), kind="stable")
    assert [i.score for i in mine.instances] == pytest.approx(ref["scores"].numpy()[order].tolist(), abs=1e-5)
    for inst, k in zip(mine.instances, order):
        assert inst.class_index == 0 and inst.mask.dtype == bool and inst.mask.shape == mine.image_size
        assert_mask_bracketed(inst.mask, ref["masks"][k].numpy(), ref["masks_loose"][k].numpy(),
                              ref["masks_tight"][k].numpy())
        assert inst.box == pytest.approx(ref["boxes"][k].tolist(), abs=1e-3)


@pytest.mark.parametrize("boxes, labels, text", [
    (POSITIVE, [1], None),
    (*WITH_NEGATIVE, None),
    (POSITIVE, [1], "cat"),
    (*WITH_NEGATIVE, "cat"),
], ids=["positive", "positive+negative", "box+text", "both+text"])
def test_equals_hf_box_prompts(sam3, hf, cat_image, boxes, labels, text, mask_bracket, assert_mask_bracketed):
    mine = sam3.find_like(np.asarray(cat_image), boxes, labels, text=text, threshold=THRESHOLD)
    ref = hf_instances(hf, cat_image, boxes, labels, mask_bracket, text)
    assert len(ref["scores"]) > 0, "the test needs a case where the tiny model finds something"
    assert mine.ignored == [] and mine.boxes == [tuple(b) for b in boxes] and mine.labels == labels
    assert_same(mine, ref, assert_mask_bracketed)


def test_each_prompt_part_reaches_the_model(sam3, cat_image):
    rgb = np.asarray(cat_image)
    scores = lambda r: [round(i.score, 6) for i in r.instances]  # noqa: E731
    positive = sam3.find_like(rgb, POSITIVE, [1], threshold=0.0)
    negative = sam3.find_like(rgb, *WITH_NEGATIVE, threshold=0.0)
    text = sam3.find_like(rgb, POSITIVE, [1], text="cat", threshold=0.0)
    assert len({tuple(scores(positive)), tuple(scores(negative)), tuple(scores(text))}) == 3


def test_vision_features_computed_once_for_boxes_and_text(tiny_sam3_dir, cat_image, monkeypatch):
    seg = Segmenter.load(str(tiny_sam3_dir), device="cpu")
    calls = []
    real = seg.model.get_vision_features
    monkeypatch.setattr(seg.model, "get_vision_features", lambda **kw: calls.append(1) or real(**kw))
    rgb = np.asarray(cat_image)
    first = seg.find_like(rgb, POSITIVE, [1])
    assert len(calls) == 1 and first.seconds["vision"] > 0
    seg.find_like(rgb.copy(), *WITH_NEGATIVE)  # a further box: same content, cached
    seg.find_like(rgb, POSITIVE, [1], text="cat")  # box + text
    seg.segment(rgb, ["cat", "wall"])  # a text prompt (Propose) of the same image
    again = seg.find_like(rgb, POSITIVE, [1])
    assert len(calls) == 1
    assert [i.score for i in again.instances] == [i.score for i in first.instances]
    seg.find_like(rgb[:, :-1], POSITIVE, [1])  # another image: encoded
    assert len(calls) == 2


def test_degenerate_boxes_are_ignored_with_a_message(sam3, cat_image):
    rgb = np.asarray(cat_image)  # 451 x 300
    res = sam3.find_like(rgb, [(100, 50, 100, 200), (500, 10, 600, 90), (-50, -40, -10, -5), *POSITIVE],
                         [1, 1, 0, 1], threshold=THRESHOLD)
    assert len(res.ignored) == 3
    assert "no width or height" in res.ignored[0] and "box 1" in res.ignored[0]
    assert "outside the 451x300 image" in res.ignored[1] and "outside" in res.ignored[2]
    assert res.boxes == [POSITIVE[0]] and res.labels == [1]
    alone = sam3.find_like(rgb, POSITIVE, [1], threshold=THRESHOLD)
    assert [i.score for i in res.instances] == [i.score for i in alone.instances]


def test_nothing_to_ask_makes_no_model_call(sam3, cat_image, monkeypatch):
    monkeypatch.setattr(sam3.model, "forward", lambda *a, **k: pytest.fail("no model call expected"))
    rgb = np.asarray(cat_image)
    res = sam3.find_like(rgb, [(0, 0, 0, 50)], [1])
    assert res.instances == [] and "no width or height" in res.ignored[0]
    res = sam3.find_like(rgb, [(10, 10, 60, 60)], [0])
    assert res.instances == [] and "only negative boxes" in res.ignored[-1]


def test_boxes_are_clipped_and_checked():
    boxes, labels, ignored = check_boxes([(400, 250, 500, 350), (30, 20, 10, 5)], [1, 0], (300, 451))
    assert boxes == [(400.0, 250.0, 451.0, 300.0), (10.0, 5.0, 30.0, 20.0)] and labels == [1, 0] and not ignored
    with pytest.raises(ValueError, match="label must be 1"):
        check_boxes([(0, 0, 5, 5)], [2], (10, 10))
    with pytest.raises(ValueError, match="2 boxes but 1 labels"):
        check_boxes([(0, 0, 5, 5), (1, 1, 2, 2)], [1], (10, 10))
    with pytest.raises(ValueError, match="finite"):
        check_boxes([(0, float("nan"), 5, 5)], [1], (10, 10))
    with pytest.raises(ValueError, match=r"expected \(x0, y0, x1, y1\)"):
        check_boxes([(0, 5, 5)], [1], (10, 10))
