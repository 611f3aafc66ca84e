"""Bad input gets a clear error naming the problem, never a crash."""

import numpy as np
import pytest
from PIL import Image

from engine import ModelNotFoundError, Segmenter
from engine.images import ImageReadError, load_rgb
from engine.prompts import normalize_classes


@pytest.mark.parametrize(
    "classes,match",
    [([], "empty"), (["sky", "  "], "#2 of 2 is blank"), ("", "blank"), ([3], "not a string"), (None, "list of names")],
)
def test_bad_class_lists(segmenter, cat_rgb, classes, match):
    with pytest.raises(ValueError, match=match):
        segmenter.segment(cat_rgb, classes)


def test_class_normalisation():
    assert normalize_classes("sky, road ,  potted   plant,SKY") == ["sky", "road", "potted plant"]
    assert normalize_classes(("Car", "car", "CAR", "person")) == ["Car", "person"]


def test_prompt_over_the_token_budget(segmenter, cat_rgb):
    classes = [f"class{i}" for i in range(200)]  # each splits into several pieces
    with pytest.raises(ValueError, match=r"too long for the text encoder: .* limit is 512"):
        segmenter.segment(cat_rgb, classes)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "1", "F"])
def test_image_modes(segmenter, tmp_path, mode, cat_rgb):
    base = Image.fromarray(cat_rgb)
    if mode == "I;16":
        img = Image.fromarray((np.asarray(base.convert("L"), np.uint16) * 16))  # 12-bit data
        assert img.mode == "I;16"
    elif mode == "F":
        img = Image.fromarray(np.asarray(base.convert("L"), np.float32) / 255)
    elif mode == "P":
        img = base.convert("P")
        img.info["transparency"] = 0
    else:
        img = base.convert(mode)
    ext = {"CMYK": "tif", "F": "tif", "I;16": "png"}.get(mode, "png")
    path = tmp_path / f"img.{ext}"
    img.save(path)
    rgb = load_rgb(path)
    assert rgb.shape == (300, 451, 3) and rgb.dtype == np.uint8 and rgb.flags.writeable
    if mode in ("I;16", "F"):
        assert rgb.max() == 255  # range stretched, not left near-black
    res = segmenter.segment(path, ["cat", "wall"])
    assert res.label_map.shape == (300, 451)


def test_exif_rotation(segmenter, tmp_path, cat_rgb):
    img = Image.fromarray(cat_rgb)  # 451 wide, 300 tall
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    rgb = load_rgb(path)
    assert rgb.shape == (451, 300, 3)
    assert segmenter.segment(path, ["cat"]).label_map.shape == (451, 300)


def test_tiny_image(segmenter):
    res = segmenter.segment(np.full((1, 1, 3), 200, np.uint8), ["sky", "road"])
    assert res.label_map.shape == (1, 1)
    res = segmenter.segment(np.full((2, 3, 3), 20, np.uint8), ["sky", "road", "car"])
    assert res.label_map.shape == (2, 3)


def test_huge_image(segmenter):
    rgb = np.zeros((9000, 12000, 3), np.uint8)
    rgb[:4500] = (90, 140, 230)  # "sky" half
    res = segmenter.segment(rgb, ["sky", "road"])
    assert res.label_map.shape == (9000, 12000)
    assert res.work_image.shape[:2] == (768, 1024)  # blur + CRF at the capped working size


def test_oversized_file_is_refused(tmp_path):
    path = tmp_path / "big.png"
    Image.new("1", (20000, 10000)).save(path)  # 200 MP, above PIL's bomb guard
    with pytest.raises(ImageReadError, match="big.png"):
        load_rgb(path)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"])
def test_corrupt_files(segmenter, tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match="broken.png"):
        segmenter.segment(path, ["sky"])


def test_truncated_jpeg(tmp_path, cat_rgb):
    path = tmp_path / "cut.jpg"
    Image.fromarray(cat_rgb).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ImageReadError, match="cut.jpg"):
        load_rgb(path)


def test_missing_file_and_bad_arrays(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        load_rgb(tmp_path / "nope.jpg")
    with pytest.raises(ImageReadError, match="shape"):
        load_rgb(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ImageReadError, match="Unsupported"):
        load_rgb(42)
    assert load_rgb(np.zeros((4, 4), np.float32)).shape == (4, 4, 3)


def test_missing_local_model_folder(tmp_path):
    with pytest.raises(ModelNotFoundError) as err:
        Segmenter.load(model=str(tmp_path / "no-such-model"), device="cpu")
    msg = str(err.value)
    assert "does not exist" in msg and "hf download Salesforce/blip-itm-large-flickr" in msg


def test_folder_without_a_model(tmp_path):
    (tmp_path / "weights").mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        Segmenter.load(model=str(tmp_path / "weights"), device="cpu")


def test_hub_id_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache" / "hub"))
    with pytest.raises(ModelNotFoundError) as err:
        Segmenter.load(model="Salesforce/blip-itm-large-flickr-missing", device="cpu")
    msg = str(err.value)
    assert "HF_HUB_OFFLINE" in msg and "hf download Salesforce/blip-itm-large-flickr-missing" in msg
    assert "--model /path/to/folder" in msg


def test_bad_device(tiny_model_dir):
    with pytest.raises(ValueError, match="device"):
        Segmenter.load(model=str(tiny_model_dir), device="tpu")


@pytest.mark.parametrize("content, words", [
    (b"", "the file is empty"),
    (b"these are notes, not pixels", "not an image in a format this program reads"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "cut short (truncated)"),
])
def test_unreadable_files_are_explained_in_plain_words(tmp_path, content, words):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as err:
        load_rgb(path)
    message = str(err.value)
    assert message.startswith(f"Cannot read image '{path}': ") and words in message
    assert "Error" not in message, "no Python exception names"


def test_a_truncated_jpeg_is_called_cut_short(tmp_path, cat_rgb):
    path = tmp_path / "cut.jpg"
    Image.fromarray(cat_rgb).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ImageReadError, match=r"cut\.jpg'.*cut short \(truncated\)") as err:
        load_rgb(path)
    assert "OSError" not in str(err.value)
