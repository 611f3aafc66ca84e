"""Kept heatmap files (core.heatcache): the proposals a relaunch recomputes from the file are
the ones the fresh result gave, whatever the maps' scale (issue 20 row 1), and a damaged or
hostile file is refused before anything large is allocated (issue 17 row 11)."""

import io
import zipfile

import numpy as np
import pytest
from helpers import write_image

from annotator.core import heatcache
from annotator.core.project import Project
from annotator.core.proposals import shapes_from_label_map
from engine import Segmenter, SegmenterConfig
from engine.pnp_ovss.postprocess import label_map_from_maps, resize_rgb


@pytest.fixture
def project(tmp_path):
    write_image(tmp_path / "imgs" / "a.png", 96, 64)
    return Project.open(tmp_path / "imgs")


def proposals(maps, classes, image_size, work_rgb, config, threshold):
    lm = label_map_from_maps(maps, image_size, work_rgb, config, threshold=threshold).label_map
    return [(s.label, [p.exterior.tolist() for p in s.parts], s.score)
            for s in shapes_from_label_map(lm, classes, maps, tolerance=0)]


def saved_and_reloaded(project, result, work_size, threshold=0.3):
    saved = heatcache.SavedResult(list(result["classes"]), result["heatmaps"], result["image_size"], work_size,
                                  threshold, 1.0, "auto")
    heatcache.save_result(project, "a.png", saved)
    back = heatcache.load_result(project, "a.png")
    assert back is not None and back.work_size == work_size and back.threshold == threshold
    return back


@pytest.mark.parametrize("scale", [1.0, 1e-9, 1e-30])
def test_proposals_from_the_kept_file_equal_the_fresh_ones_at_any_scale(project, scale):
    rng = np.random.default_rng(3)
    maps = (rng.random((3, 24, 24)) ** 3 * scale).astype(np.float32)
    rgb = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
    config = SegmenterConfig()
    result = {"classes": ["sky", "road", "car"], "heatmaps": maps, "image_size": (64, 96)}
    back = saved_and_reloaded(project, result, (64, 96))
    fresh = proposals(maps, result["classes"], (64, 96), rgb, config, 0.3)
    assert len(fresh) >= 2  # the maps give several classes: a zeroed file would give one
    assert proposals(back.heatmaps, back.classes, back.image_size, rgb, config, back.threshold) == fresh


def test_proposals_of_the_tiny_model_survive_the_file(project, tiny_model_dir):
    from engine.images import load_rgb

    segmenter = Segmenter.load(model=str(tiny_model_dir), device="cpu")
    rgb = load_rgb(project.image_path("a.png"))
    result = segmenter.segment(rgb, ["sky", "road", "car"])
    work = tuple(result.work_image.shape[:2])
    back = saved_and_reloaded(project, {"classes": result.classes, "heatmaps": result.heatmaps,
                                        "image_size": result.image_size}, work)
    assert np.array_equal(back.heatmaps, result.heatmaps)
    work_rgb = resize_rgb(rgb, *back.work_size)
    for threshold in (0.1, 0.3, 0.6):
        fresh = proposals(result.heatmaps, result.classes, result.image_size, result.work_image, segmenter.config,
                          threshold)
        again = proposals(back.heatmaps, back.classes, back.image_size, work_rgb, segmenter.config, threshold)
        assert again == fresh


def npz(path, **arrays):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def good_arrays(**changes):
    arrays = dict(heatmaps=np.ones((2, 4, 4), np.float32), classes=np.array(["a", "b"]),
                  image_size=np.array([64, 96]), work_size=np.array([32, 48]), params=np.array([0.2, 1.0]),
                  background=np.array("auto"))
    arrays.update(changes)
    return arrays


def test_an_old_float16_file_is_read_unless_a_map_underflowed(project):
    path = heatcache.heat_path(project, "a.png")
    npz(path, **good_arrays(heatmaps=np.ones((2, 4, 4), np.float16)))
    assert heatcache.load_result(project, "a.png").heatmaps.dtype == np.float32
    underflowed = np.ones((2, 4, 4), np.float16)
    underflowed[1] = np.float16(1e-9)  # what float16 made of small raw GradCAM values: zeros
    npz(path, **good_arrays(heatmaps=underflowed))
    assert heatcache.load_result(project, "a.png") is None
    with pytest.raises(heatcache.HeatFileError, match="rounded to zero"):
        heatcache.read_result(path)


def bomb_bytes(shape=(4096, 65536, 65536)) -> bytes:
    """A kilobyte .npz whose heatmaps header claims *shape* of float32 (a terabyte)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, value in good_arrays().items():
            if name != "heatmaps":
                member = io.BytesIO()
                np.lib.format.write_array(member, value)
                z.writestr(name + ".npy", member.getvalue())
        z.writestr("heatmaps.npy", header.getvalue() + bytes(256))
    return buffer.getvalue()


@pytest.mark.parametrize("case, why", [
    ("bomb", "claims shape"),
    ("work_size", r"work_size. must be two positive integers .*\[0, 48\]"),
    ("big_work", "larger than the image"),
    ("huge_image", "beyond the"),
    ("classes", "2 maps for 3 classes"),
    ("no classes", "expected 1 or more classes"),
    ("nan", "NaN"),
    ("object", "expected"),
    ("text", "not a readable heatmap file"),
    ("background", "background mode"),
])
def test_a_damaged_or_hostile_heatmap_file_is_refused_with_its_reason(project, case, why):
    path = heatcache.heat_path(project, "a.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    if case == "bomb":
        path.write_bytes(bomb_bytes())
        assert path.stat().st_size < 2048
    elif case == "text":
        path.write_text("not a zip")
    else:
        change = {"work_size": dict(work_size=np.array([0, 48])),
                  "big_work": dict(work_size=np.array([640, 960])),
                  "huge_image": dict(image_size=np.array([10**6, 10**6]), work_size=np.array([10, 10])),
                  "classes": dict(classes=np.array(["a", "b", "c"])),
                  "no classes": dict(classes=np.array([], dtype=str), heatmaps=np.ones((0, 4, 4), np.float32)),
                  "nan": dict(heatmaps=np.full((2, 4, 4), np.nan, np.float32)),
                  "object": dict(params=np.array([1, 2], dtype=np.int8)),
                  "background": dict(background=np.array("x" * 100))}[case]
        npz(path, **good_arrays(**change))
    with pytest.raises(heatcache.HeatFileError, match=why) as info:
        heatcache.read_result(path)
    assert str(path) in str(info.value)
    assert heatcache.load_result(project, "a.png") is None  # the window treats it as "no heatmap"


def test_a_heatmap_or_coco_metadata_file_that_is_a_link_is_not_followed(project, tmp_path):
    """A shared folder can plant links in the state folder: they are refused (no heatmap, no
    metadata, each with its reason), never read through."""
    from annotator.core.coco.meta import load_meta

    rng = np.random.default_rng(0)
    maps = rng.random((2, 8, 8)).astype(np.float32)
    saved = saved_and_reloaded(project, {"classes": ["sky", "car"], "heatmaps": maps, "image_size": (64, 96)},
                               (64, 96))
    heat = heatcache.heat_path(project, "a.png")
    outside = tmp_path / "elsewhere.npz"
    heat.rename(outside)
    heat.symlink_to(outside)
    assert heatcache.read_result(outside).classes == saved.classes  # the file itself is fine
    assert heatcache.load_result(project, "a.png") is None
    meta = project.layout.coco_file
    (tmp_path / "meta.json").write_text('{"schema": "pnp-annotator/coco-meta", "version": 1}')
    meta.symlink_to(tmp_path / "meta.json")
    _, problem = load_meta(project)
    assert problem is not None and "symbolic link" in problem
