"""SAM 3 engine through the public Segmenter API, checked against HF's own per-class pipeline."""

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from engine import Cancelled, DeviceOutOfMemoryError, Instance, ModelNotFoundError, Segmenter, SegmenterConfig

CLASSES = ["cat", "wall", "sky", "floor", "a very nice table"]


@pytest.fixture(scope="module")
def sam3(tiny_sam3_dir):
    return Segmenter.load(model=str(tiny_sam3_dir), device="cpu")


@pytest.fixture(scope="module")
def cat_image(samples_dir):
    return Image.open(samples_dir / "chelsea.png").convert("RGB")


@pytest.fixture(scope="module")
def hf_reference(tiny_sam3_dir, cat_image, mask_bracket):
    """HF's pipeline, one class at a time: Sam3Processor(images, text=c) -> Sam3Model -> post-processing."""
    from transformers import Sam3Model, Sam3Processor

    model = Sam3Model.from_pretrained(tiny_sam3_dir).eval()
    processor = Sam3Processor.from_pretrained(tiny_sam3_dir)
    size = [cat_image.size[::-1]]
    ref = {"heat": [], "presence": [], "scores": [], "instances": []}
    for c in CLASSES:
        inputs = processor(images=cat_image, text=c, return_tensors="pt")
        with torch.no_grad():
            out = model(**inputs)
        ref["heat"].append(out.semantic_seg.sigmoid()[0, 0].numpy())
        ref["presence"].append(out.presence_logits.sigmoid().item())
        sem = processor.post_process_semantic_segmentation(out, target_sizes=size, return_segmentation_scores=True)
        ref["scores"].append(sem[0]["segmentation_scores"][0].numpy())
        for key, mask_threshold in (("instances", 0.5), ("instances_loose", 0.5 - mask_bracket),
                                    ("instances_tight", 0.5 + mask_bracket)):
            ref.setdefault(key, []).append(processor.post_process_instance_segmentation(
                out, threshold=0.5, mask_threshold=mask_threshold, target_sizes=size)[0])
    return ref


def _label_map(scores: np.ndarray, threshold: float) -> np.ndarray:
    return np.where(scores.max(axis=0) >= threshold, scores.argmax(axis=0) + 1, 0).astype(np.int32)


def test_engine_is_picked_from_the_sam3_config(sam3, tiny_sam3_dir):
    from engine.loading import resolve_model_source

    assert sam3.engine == "sam3"
    source = resolve_model_source(str(tiny_sam3_dir))
    assert type(source.config).__name__ == "Sam3Config" and source.engine.name == "sam3"
    assert sam3.patch_size == 14 and sam3.default_threshold == 0.5


def test_equals_hf_pipeline_per_class(sam3, cat_image, hf_reference, assert_mask_bracketed):
    res = sam3.segment(np.asarray(cat_image), CLASSES)
    assert res.engine == "sam3" and res.classes == CLASSES and res.image_size == (300, 451)
    assert res.heatmaps.dtype == np.float32 and res.heatmaps.shape == (5, 32, 32)  # model output resolution
    np.testing.assert_allclose(res.heatmaps, np.stack(ref := hf_reference["heat"]), atol=1e-4, rtol=0)
    assert len(ref) == 5
    for c, p in zip(CLASSES, hf_reference["presence"]):
        assert res.presence[c] == pytest.approx(p, abs=1e-5)
    expected = _label_map(np.stack(hf_reference["scores"]), 0.5)
    assert res.label_map.dtype == np.int32
    np.testing.assert_array_equal(res.label_map, expected)
    assert 0 < (res.label_map > 0).sum() < res.label_map.size  # the test model has contrast: both cases occur

    # Instances: HF's instance post-processing per class, highest score first.
    for ci, (hf, loose, tight) in enumerate(zip(*(hf_reference[key] for key in (
            "instances", "instances_loose", "instances_tight")))):
        mine = [i for i in res.instances if i.class_index == ci]
        order = np.argsort(-hf["scores"].numpy(), kind="stable")
        assert [i.score for i in mine] == pytest.approx(hf["scores"].numpy()[order].tolist(), abs=1e-5)
        for inst, k in zip(mine, order):
            assert isinstance(inst, Instance) and inst.mask.dtype == bool and inst.mask.shape == (300, 451)
            assert_mask_bracketed(inst.mask, hf["masks"][k].numpy(), loose["masks"][k].numpy(),
                                  tight["masks"][k].numpy())
            assert inst.box == pytest.approx(hf["boxes"][k].tolist(), abs=1e-3)
    assert len(res.instances) > 0
    assert [i.class_index for i in res.instances] == sorted(i.class_index for i in res.instances)


def test_prompt_batches_do_not_change_results(tiny_sam3_dir, sam3, cat_image):
    from engine.sam3.config import Sam3SegmenterConfig

    one = Segmenter.load(str(tiny_sam3_dir), device="cpu", config=Sam3SegmenterConfig(prompt_batch_size=1))
    a = one.segment(cat_image, CLASSES)
    b = sam3.segment(cat_image, CLASSES)  # prompt_batch_size 4: two chunks
    np.testing.assert_allclose(a.heatmaps, b.heatmaps, atol=1e-5, rtol=0)
    assert (a.label_map == b.label_map).mean() > 0.999


def _count_vision_calls(seg, monkeypatch) -> list:
    calls = []
    real = seg.model.get_vision_features
    monkeypatch.setattr(seg.model, "get_vision_features", lambda **kw: calls.append(1) or real(**kw))
    return calls


def test_vision_encoder_runs_once_per_image(tiny_sam3_dir, samples_dir, monkeypatch):
    seg = Segmenter.load(str(tiny_sam3_dir), device="cpu")
    calls = _count_vision_calls(seg, monkeypatch)
    rgb = np.asarray(Image.open(samples_dir / "chelsea.png").convert("RGB"))
    first = seg.segment(rgb, ["cat", "wall"])
    assert len(calls) == 1
    again = seg.segment(rgb.copy(), ["sky", "cat"])  # same content, another array: cached
    assert len(calls) == 1
    np.testing.assert_allclose(again.heatmaps[1], first.heatmaps[0], atol=1e-5)
    seg.segment(rgb[:, :-1], ["cat"])  # another size: encoded
    assert len(calls) == 2
    other = sorted(samples_dir.iterdir())[0]
    seg.segment(other, ["cat"])  # cache holds 2 images: chelsea.png is evicted
    seg.segment(rgb, ["cat"])
    assert len(calls) == 4


def test_postprocess_makes_no_model_call(sam3, cat_image, monkeypatch):
    res = sam3.segment(cat_image, CLASSES)

    def forbidden(*a, **k):
        raise AssertionError("the model must not run")

    monkeypatch.setattr(sam3.model, "forward", forbidden)
    monkeypatch.setattr(sam3.model, "get_vision_features", forbidden)
    np.testing.assert_array_equal(sam3.postprocess(res), res.label_map)
    low = sam3.postprocess(res, threshold=0.2)
    assert (low > 0).sum() > (res.label_map > 0).sum()
    assert (sam3.postprocess(res, threshold=1.0) == 0).all()
    from engine.sam3.postprocess import resize_probabilities

    scores = np.stack([resize_probabilities(torch.from_numpy(h), (300, 451)).numpy() for h in res.heatmaps])
    np.testing.assert_array_equal(low, _label_map(scores, 0.2))
    with pytest.raises(ValueError, match="threshold"):
        sam3.postprocess(res, threshold=1.5)


def test_presence_threshold_filters_classes(tiny_sam3_dir, cat_image, sam3):
    full = sam3.segment(cat_image, CLASSES)
    cut = sorted(full.presence.values())[2]  # keeps the 3 most present classes
    # A PnP-OVSS config passes on what both engines share: the presence threshold.
    seg = Segmenter.load(str(tiny_sam3_dir), device="cpu", config=SegmenterConfig(presence_threshold=cut))
    assert seg.config.presence_threshold == cut and seg.config.threshold == 0.5
    res = seg.segment(cat_image, CLASSES)
    kept = [c for c in CLASSES if full.presence[c] >= cut]
    assert res.classes == kept and len(kept) == 3 and res.presence == full.presence
    assert res.heatmaps.shape[0] == 3
    assert {i.class_index for i in res.instances} <= {0, 1, 2}
    assert res.label_map.max() <= 3


def test_batch_and_progress(sam3, samples_dir):
    paths = sorted(samples_dir.iterdir())[:2]
    seen = []
    results = sam3.segment_batch(paths, ["cat", "sky", "wall", "floor", "road"], progress=lambda *a: seen.append(a))
    assert [r.image_size for r in results] == [np.asarray(Image.open(p)).shape[:2] for p in paths]
    assert [s for s in seen if s[0] == "pass"] == [("pass", k, 4) for k in range(1, 5)]  # 2 prompt chunks per image
    assert [s for s in seen if s[0] == "postprocess"] == [("postprocess", 1, 2), ("postprocess", 2, 2)]


@pytest.mark.parametrize(
    "classes,match",
    [([], "empty"), (["sky", "  "], "#2 of 2 is blank"), ("", "blank"), ([3], "not a string"), (None, "list of names")],
)
def test_bad_class_lists(sam3, cat_image, classes, match):
    with pytest.raises(ValueError, match=match):
        sam3.segment(cat_image, classes)


def test_class_name_over_the_token_limit(sam3, cat_image):
    with pytest.raises(ValueError, match=r"too long for SAM 3's text encoder: \d+ tokens, the limit is 32"):
        sam3.segment(cat_image, ["sky", "a very long class name that goes on and on"])


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_image_modes(sam3, tmp_path, cat_image, mode):
    img = cat_image.convert("L") if mode == "I;16" else cat_image.convert(mode)
    if mode == "I;16":
        img = Image.fromarray(np.asarray(img, np.uint16) * 16)
    path = tmp_path / "img.png"
    img.save(path)
    res = sam3.segment(path, ["cat", "wall"])
    assert res.label_map.shape == (300, 451)


def test_tiny_and_large_images(sam3):
    assert sam3.segment(np.full((1, 1, 3), 200, np.uint8), ["sky", "road"]).label_map.shape == (1, 1)
    assert sam3.segment(np.full((2, 3, 3), 20, np.uint8), ["sky"]).label_map.shape == (2, 3)
    rgb = np.zeros((3000, 4000, 3), np.uint8)
    rgb[:1500] = (90, 140, 230)
    res = sam3.segment(rgb, ["sky", "road"])
    assert res.label_map.shape == (3000, 4000) and all(i.mask.shape == (3000, 4000) for i in res.instances)


def test_corrupt_file(sam3, tmp_path):
    from engine.images import ImageReadError

    path = tmp_path / "broken.png"
    path.write_bytes(b"not an image")
    with pytest.raises(ImageReadError, match="broken.png"):
        sam3.segment(path, ["sky"])


def test_cancel(sam3, cat_image):
    token = threading.Event()
    token.set()
    with pytest.raises(Cancelled):
        sam3.segment(cat_image, ["cat"], cancel=token)
    token.clear()

    def progress(stage, done, total):
        if stage == "pass":
            token.set()

    with pytest.raises(Cancelled):
        sam3.segment(cat_image, CLASSES, progress=progress, cancel=token)  # stops before the 2nd prompt chunk


def test_out_of_memory_is_reported(tiny_sam3_dir, cat_image, monkeypatch):
    seg = Segmenter.load(str(tiny_sam3_dir), device="cpu")

    def oom(**kw):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(seg.model, "get_vision_features", oom)
    with pytest.raises(DeviceOutOfMemoryError, match="ran out of memory"):
        seg.segment(cat_image, ["cat"])


def test_folder_without_weights(tmp_path, tiny_sam3_dir):
    for name in ("config.json", "processor_config.json", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((tiny_sam3_dir / name).read_bytes())
    with pytest.raises(ModelNotFoundError) as err:
        Segmenter.load(model=str(tmp_path), device="cpu")
    msg = str(err.value)
    assert "Cannot load the SAM 3 weights" in msg and "gated" in msg and "hf auth login" in msg
