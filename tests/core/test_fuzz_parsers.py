"""Property-based tests of every parser of outside files (issue 17, deliver 3): COCO files and
results lists, annotation files, heatmap files and semantic label PNGs, given arbitrary JSON
values, mutations of valid files and random bytes.

Each gives a clear refusal (the parser's own error type, with a message) or a per-file
problem in its report, never another exception, a crash or a hang, and never a write
outside the project; a refused import leaves the project's files as they were. The examples
per property are few in the normal run (the file takes seconds); ``HYPOTHESIS_PROFILE=long``
(or ``benchmarks/fuzz_long.py``) runs thousands. The deadline is generous (the machine may
be loaded): it catches a bomb or a hang, not a slow example.
"""

import io
import json
import os
import zipfile

import numpy as np
import pytest
from helpers import write_image
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as mask_utils

import engine.images  # noqa: F401 - imported by the importers on first use: not inside a timed example
from annotator.core import heatcache
from annotator.core.annotations import ImageAnnotations
from annotator.core.coco import CocoFormatError, import_coco
from annotator.core.coco.meta import image_ids, load_meta
from annotator.core.project import AnnotationFileError, Project
from annotator.core.semantic import SemanticFormatError, import_semantic
from annotator.core.shapes import Shape

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
FUZZ = settings(max_examples=2000 if LONG else 60, deadline=20_000, database=None, derandomize=not LONG,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# --- values -------------------------------------------------------------------------------------
scalars = (st.none() | st.booleans() | st.integers(-3, 300) | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["", "a.png", "0", "5:", "ooo", "\x1b[2J", "../../x", 10**30, -1, 0, 1e308]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8) | st.sampled_from(
                               ["id", "size", "counts", "image_id", "category_id", "segmentation", "bbox",
                                "score", "iscrowd", "attributes", "images", "annotations", "categories"]),
                               inner, max_size=4), max_leaves=12)
rle_text = st.text(alphabet=[chr(c) for c in range(0x20, 0x80)], max_size=24)


def paths_of(value, prefix=()):
    """Every place in a JSON value: (path, ...) tuples of keys and indices."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths_of(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths_of(v, prefix + (i,))
    return out


@st.composite
def mutated(draw, base):
    """*base* with 1-3 places replaced by other values, deleted, or given an extra key."""
    doc = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        places = paths_of(doc)
        path = draw(st.sampled_from(places))
        if not path:
            doc = draw(json_values)
            continue
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["replace", "replace", "delete", "text", "add"]))
            if action == "delete":
                del parent[path[-1]]
            elif action == "text":
                parent[path[-1]] = draw(rle_text)
            elif action == "add" and isinstance(parent[path[-1]], dict):
                parent[path[-1]][draw(st.text(max_size=6))] = draw(json_values)
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed that place
    return doc


def snapshot(folder) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def outside(tmp, project) -> dict:
    return {p: v for p, v in snapshot(tmp).items() if not p.is_relative_to(project.root)}


# --- a project and valid files to mutate ---------------------------------------------------------
@pytest.fixture
def project(tmp_path):
    root = tmp_path / "imgs"
    write_image(root / "a.png", 96, 64)
    write_image(root / "sub" / "b.png", 40, 30)
    p = Project.open(root)
    p.labels.add("car")
    p.save_settings()
    p.save(ImageAnnotations("sub/b.png", 40, 30, [
        Shape("car", [[1, 1], [20, 1], [20, 20]], source="model", score=0.5, accepted=False),
        Shape("car", [[2, 2], [30, 2], [30, 25], [2, 25]], iscrowd=True, extra={"note": [1, {"a": None}]})]))
    p.valid_annotation = json.loads(p.annotation_path("sub/b.png").read_text())  # fuzzed examples overwrite it
    return p


def _rle(height, width):
    m = np.zeros((height, width), np.uint8, order="F")
    m[5:20, 10:40] = 1
    return mask_utils.encode(m)["counts"].decode()


VALID_COCO = {
    "info": {"description": "fuzz"}, "licenses": [{"id": 1, "name": "x"}],
    "images": [{"id": 1, "file_name": "a.png", "width": 96, "height": 64, "license": 1},
               {"id": 2, "file_name": "sub/b.png", "width": 40, "height": 30}],
    "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "tree", "supercategory": "plant"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 30, 1, 30, 30, 1, 30]]},
        {"id": 2, "image_id": 1, "category_id": 2, "segmentation": {"size": [64, 96], "counts": _rle(64, 96)},
         "iscrowd": 1},
        {"id": 3, "image_id": 2, "category_id": 2, "segmentation": {"size": [30, 40], "counts": [100, 50, 1050]}},
        {"id": 4, "image_id": 2, "category_id": 1, "bbox": [2, 3, 10, 12], "score": 0.7,
         "attributes": {"source": "model", "accepted": False}},
    ],
}


def valid_results(project):
    ids = image_ids(project.images(), load_meta(project)[0])
    return [{"image_id": ids["a.png"], "category_id": 1, "score": 0.9,
             "segmentation": {"size": [64, 96], "counts": _rle(64, 96)}},
            {"image_id": ids["sub/b.png"], "category_id": 1, "score": 0.4, "bbox": [1, 1, 5, 5]},
            {"image_id": ids["a.png"], "category_id": 1, "score": 0.2, "segmentation": [[1, 1, 9, 1, 9, 9]]}]


def check_import(project, tmp_path, text: str | bytes) -> None:
    """Import *text* as a COCO file: a report, or CocoFormatError with nothing written; never
    anything written outside the project."""
    path = tmp_path / "in.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    before, around = snapshot(project.state_dir), outside(tmp_path, project)
    try:
        report = import_coco(project, path, workers=0)
    except CocoFormatError as exc:
        assert str(path) in str(exc)
        assert snapshot(project.state_dir) == before
    else:
        assert report.kind in ("instances", "results")
    assert outside(tmp_path, project) == around


# --- COCO -----------------------------------------------------------------------------------------
def test_the_valid_files_import(project, tmp_path):
    check_import(project, tmp_path, json.dumps(VALID_COCO))
    assert len(project.load("a.png").shapes) == 2
    check_import(project, tmp_path, json.dumps(valid_results(project)))


@FUZZ
@given(value=json_values)
def test_coco_import_of_arbitrary_json(project, tmp_path, value):
    check_import(project, tmp_path, json.dumps(value))


@FUZZ
@given(doc=mutated(VALID_COCO))
def test_coco_import_of_a_mutated_instances_file(project, tmp_path, doc):
    check_import(project, tmp_path, json.dumps(doc))


@FUZZ
@given(data=st.data())
def test_coco_import_of_a_mutated_results_list(project, tmp_path, data):
    check_import(project, tmp_path, json.dumps(data.draw(mutated(valid_results(project)))))


@FUZZ
@given(counts=rle_text, size=st.lists(st.integers(-2, 70) | st.integers(-2**40, 2**40), min_size=2, max_size=2),
       results=st.booleans())
def test_coco_import_of_arbitrary_rle(project, tmp_path, counts, size, results):
    seg = {"size": size, "counts": counts}
    if results:
        doc = [{"image_id": valid_results(project)[0]["image_id"], "category_id": 1, "score": 1, "segmentation": seg}]
    else:
        doc = {**VALID_COCO, "annotations": [{"id": 9, "image_id": 1, "category_id": 1, "segmentation": seg}]}
    check_import(project, tmp_path, json.dumps(doc))


@FUZZ
@given(data=st.binary(max_size=300) | st.binary(max_size=60).map(lambda b: json.dumps(VALID_COCO).encode()[:200] + b))
def test_coco_import_of_random_bytes(project, tmp_path, data):
    check_import(project, tmp_path, data)


# --- annotation files ----------------------------------------------------------------------------
def check_load(project, text: bytes) -> None:
    path = project.annotation_path("sub/b.png")
    path.write_bytes(text)
    try:
        ann = project.load("sub/b.png")
    except AnnotationFileError as exc:
        assert str(path) in str(exc)
    else:
        assert isinstance(ann, ImageAnnotations)
    entry = project.entry("sub/b.png")  # the status index parses the same file
    assert entry is not None


@FUZZ
@given(data=st.data())
def test_annotation_file_loading(project, data):
    valid = project.valid_annotation
    kind = data.draw(st.sampled_from(["mutated", "json", "bytes"]))
    if kind == "mutated":
        text = json.dumps(data.draw(mutated(valid))).encode()
    elif kind == "json":
        text = json.dumps(data.draw(json_values)).encode()
    else:
        text = data.draw(st.binary(max_size=200))
    check_load(project, text)


# --- heatmap files ---------------------------------------------------------------------------------
def valid_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, heatmaps=np.random.default_rng(0).random((2, 6, 6)).astype(np.float32),
                        classes=np.array(["a", "b"]), image_size=np.array([64, 96]), work_size=np.array([32, 48]),
                        params=np.array([0.2, 1.0]), background=np.array("auto"))
    return buffer.getvalue()


VALID_NPZ = valid_npz()
dtypes = st.sampled_from(["<f2", "<f4", "<f8", ">f4", "<i8", "<i4", "u1", "<U3", "|S4", "?", "<c8"])


@st.composite
def npz_files(draw):
    kind = draw(st.sampled_from(["flipped", "truncated", "arrays", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    if kind == "truncated":
        return VALID_NPZ[:draw(st.integers(0, len(VALID_NPZ)))]
    if kind == "flipped":
        data = bytearray(VALID_NPZ)
        for _ in range(draw(st.integers(1, 6))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    arrays = {}
    for name in ("heatmaps", "classes", "image_size", "work_size", "params", "background"):
        if draw(st.integers(0, 9)) == 0:
            continue  # a member missing
        if draw(st.booleans()):
            shape = tuple(draw(st.lists(st.integers(0, 5), max_size=4)))
            value = np.zeros(shape, dtype=draw(dtypes))
            value.flat[:] = draw(st.integers(0, 3))
        else:
            value = np.array(draw(scalars))
            if value.dtype.hasobject:
                value = np.array(-1)
        arrays[name] = value
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:  # np.savez's layout, with headers that may claim anything
        for name, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, value, allow_pickle=False)
            raw = member.getvalue()
            if draw(st.integers(0, 5)) == 0:  # a header claiming another shape than the data
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(header, {"descr": value.dtype.str, "fortran_order": False,
                                                              "shape": (draw(st.integers(0, 2**40)), 3)})
                raw = header.getvalue() + raw[len(header.getvalue()):]
            z.writestr(name + ".npy", raw)
    return buffer.getvalue()


@FUZZ
@given(content=npz_files())
def test_heatmap_file_loading(project, content):
    path = heatcache.heat_path(project, "a.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    try:
        saved = heatcache.read_result(path)
    except heatcache.HeatFileError as exc:
        assert str(path) in str(exc)
        assert heatcache.load_result(project, "a.png") is None
    else:
        assert saved.heatmaps.dtype == np.float32 and saved.heatmaps.shape[0] == len(saved.classes)
        assert 1 <= saved.work_size[0] <= saved.image_size[0] and 1 <= saved.work_size[1] <= saved.image_size[1]


# --- semantic label PNGs ---------------------------------------------------------------------------
def valid_png() -> bytes:
    lm = np.zeros((64, 96), np.uint8)
    lm[5:30, 10:50] = 1
    buffer = io.BytesIO()
    Image.fromarray(lm).save(buffer, format="PNG")
    return buffer.getvalue()


VALID_PNG = valid_png()


@st.composite
def png_files(draw):
    kind = draw(st.sampled_from(["flipped", "truncated", "bytes", "image"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "truncated":
        return VALID_PNG[:draw(st.integers(0, len(VALID_PNG)))]
    if kind == "flipped":
        data = bytearray(VALID_PNG)
        for _ in range(draw(st.integers(1, 6))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    mode = draw(st.sampled_from(["L", "P", "RGB", "RGBA", "I;16", "1", "LA", "F", "I"]))
    size = (draw(st.integers(1, 100)), draw(st.integers(1, 70)))
    img = Image.new(mode, size)
    buffer = io.BytesIO()
    try:
        img.save(buffer, format="PNG")
    except OSError:
        return VALID_PNG
    return buffer.getvalue()


@FUZZ
@given(png=png_files(), labels=st.sampled_from(["id,name\n1,car\n", "id,name,r,g,b\n1,car,128,0,0\n2,x,0,128,0\n",
                                               "id,name\n1," + "x" * 140_000 + "\n"]) | st.text(max_size=60))
def test_semantic_png_import(project, tmp_path, png, labels):
    folder = tmp_path / "semantic"
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    (folder / "labels.csv").write_text(labels, encoding="utf-8", errors="surrogatepass")
    (folder / "labels" / "a.png").write_bytes(png)
    before, around = snapshot(project.state_dir), outside(tmp_path, project)
    try:
        report = import_semantic(project, folder)
    except SemanticFormatError as exc:
        assert str(folder) in str(exc)
        assert snapshot(project.state_dir) == before
    else:
        assert report.images_matched + len(report.problems) + len(report.unmatched_images) >= 1
    assert outside(tmp_path, project) == around
