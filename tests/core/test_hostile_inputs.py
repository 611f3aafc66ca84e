"""Hostile files (issue 17, the parsers): each is refused with a message naming the file and
the annotation or field, exit 2, before any large allocation, and nothing is written."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import write_image
from pycocotools import mask as mask_utils

from annotator import cli
from annotator.core.annotations import ImageAnnotations
from annotator.core.coco import CocoFormatError, import_coco
from annotator.core.project import Project
from annotator.core.shapes import Shape


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "imgs"
    write_image(root / "a.png", 96, 64)
    write_image(root / "b.png", 40, 30)
    p = Project.open(root)
    p.labels.add("car")
    p.save_settings()
    p.save(ImageAnnotations("b.png", 40, 30, [Shape("car", [[1, 1], [20, 1], [20, 20]])]))
    return p


def state_files(project: Project) -> dict:
    return {p: p.read_bytes() for p in project.state_dir.rglob("*") if p.is_file()}


def instances(segmentation, *, width=96, height=64, category_id=1, categories=None) -> dict:
    return {"images": [{"id": 1, "file_name": "a.png", "width": width, "height": height}],
            "categories": categories or [{"id": 1, "name": "car"}],
            "annotations": [{"id": 7, "image_id": 1, "category_id": category_id, "segmentation": segmentation}]}


def write_json(tmp_path, data, name="in.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def run_import(project, path, capsys) -> tuple[int, str]:
    code = cli.main(["import", str(path), "--images", str(project.root), "--workers", "0"])
    return code, capsys.readouterr().err


# --- rows 1 and 2: RLE bombs and short RLE ---------------------------------------------------
def test_a_results_list_claiming_a_huge_mask_is_refused_before_decoding(project, tmp_path):
    """138 bytes claiming a 200000 x 200000 mask: pycocotools would allocate 40 GB (a segfault)."""
    bomb = [{"image_id": 1, "category_id": 1, "score": 0.9,
             "segmentation": {"size": [200000, 200000], "counts": "0" + "ooooo9" * 3}}]
    path = write_json(tmp_path, bomb, "bomb.json")
    before = state_files(project)
    run = subprocess.run([sys.executable, "-m", "annotator", "import", str(path), "--images", str(project.root)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    assert "bomb.json" in run.stderr and "[0].segmentation.size" in run.stderr and "Traceback" not in run.stderr
    assert state_files(project) == before


@pytest.mark.parametrize("counts", ["0" + "ooooo9" * 3, "5:"])
def test_an_instances_rle_whose_size_or_runs_disagree_with_the_image_is_refused(project, tmp_path, capsys, counts):
    size = [200000, 200000] if counts != "5:" else [64, 96]
    path = write_json(tmp_path, instances({"size": size, "counts": counts}))
    before = state_files(project)
    code, err = run_import(project, path, capsys)
    assert code == 2
    assert "in.json" in err and "annotations[0].segmentation" in err and "annotation id 7" in err
    assert state_files(project) == before


def test_short_runs_are_refused_and_exact_runs_import_the_same_pixels(project, tmp_path, capsys):
    """'5:' on 64x96 is two runs, 5 + 10 = 15 pixels of 6144: pycocotools would fill the rest
    from uninitialised memory. The same runs padded to the image import exactly."""
    path = write_json(tmp_path, instances({"size": [64, 96], "counts": "5:"}))
    code, err = run_import(project, path, capsys)
    assert code == 2 and "add up to 15" in err and "6144" in err
    mask = np.zeros((64, 96), np.uint8, order="F")
    mask.T.flat[5:15] = 1  # column-major runs: 5 off, 10 on
    good = mask_utils.encode(mask)["counts"].decode()
    path = write_json(tmp_path, instances({"size": [64, 96], "counts": good}))
    code, _ = run_import(project, path, capsys)
    assert code == 0
    (shape,) = project.load("a.png").shapes
    assert np.array_equal(shape.mask(64, 96), mask.astype(bool))


@pytest.mark.parametrize("counts, why", [
    ([5, 10], "sums to 15"),
    ([-5, 6149], "non-negative"),
    ("o", "ends inside a run"),
    ("0\x7f", "not part of the format"),
    ("ooooooooo0", "more than 7 characters"),
    ("0@", "negative"),  # a second run of -32
])
def test_malformed_runs_are_named(project, tmp_path, counts, why):
    path = write_json(tmp_path, instances({"size": [64, 96], "counts": counts}))
    with pytest.raises(CocoFormatError, match=why):
        import_coco(project, path, workers=0)


def test_a_results_list_rle_is_checked_against_the_pixel_limit_and_its_runs(project, tmp_path):
    entry = {"image_id": 1, "category_id": 1, "score": 0.5, "segmentation": {"size": [64, 96], "counts": "5:"}}
    with pytest.raises(CocoFormatError, match=r"\[0\].segmentation.counts .*add up to 15"):
        import_coco(project, write_json(tmp_path, [entry]))
    entry["segmentation"] = {"size": [0, 96], "counts": ""}
    with pytest.raises(CocoFormatError, match=r"\[0\].segmentation.size is \[0, 96\]"):
        import_coco(project, write_json(tmp_path, [entry]))


# --- row 14: ids beyond 64 bits ----------------------------------------------------------------
@pytest.mark.parametrize("cid, why", [(10**30, "fits 64 bits"), (-3, "category ids are 1 to")])
def test_a_category_id_outside_64_bits_is_refused_naming_the_category(project, tmp_path, capsys, cid, why):
    data = instances([[1, 1, 30, 1, 30, 30]], category_id=cid, categories=[{"id": cid, "name": "truck"}])
    before = state_files(project)
    code, err = run_import(project, write_json(tmp_path, data), capsys)
    assert code == 2 and "categories[0]" in err and why in err
    assert state_files(project) == before


def test_a_project_file_with_a_huge_category_id_is_reported_damaged(project):
    settings = project.state_dir / "project.json"
    data = json.loads(settings.read_text())
    data["labels"]["categories"][0]["id"] = 10**30
    settings.write_text(json.dumps(data))
    reopened = Project.open(project.root)
    assert len(reopened.labels) == 0
    assert "project.json" in reopened.problems[0] and "64-bit id" in reopened.problems[0]


# --- row 12: a full disk or a read-only folder during import writes nothing ------------------------
@pytest.fixture
def many(tmp_path):
    """12 images, 4 of them annotated already, and a COCO file with a shape on each."""
    root = tmp_path / "many"
    for i in range(12):
        write_image(root / "sub" / f"{i:02}.png", 40, 30)
    p = Project.open(root)
    p.labels.add("car")
    p.save_settings()
    for i in range(4):
        p.save(ImageAnnotations(f"sub/{i:02}.png", 40, 30, [Shape("car", [[1, 1], [9, 1], [9, 9]])]))
    coco = {"images": [{"id": i + 1, "file_name": f"sub/{i:02}.png", "width": 40, "height": 30} for i in range(12)],
            "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "tree"}],
            "annotations": [{"id": i + 1, "image_id": i + 1, "category_id": 2,
                             "segmentation": [[2, 2, 30, 2, 30, 20]]} for i in range(12)],
            "info": {"description": "new"}}
    return p, write_json(tmp_path, coco, "many.json")


def failing_writes(monkeypatch, after: int, error: int):
    """Every atomic write after the first *after* fails with *error* (ENOSPC: a full disk)."""
    from annotator.core import atomic

    real = atomic.atomic_write_bytes
    done = []

    def write(path, data, **kw):
        if len(done) >= after:
            raise OSError(error, os.strerror(error), str(path))
        real(path, data, **kw)
        done.append(path)

    monkeypatch.setattr(atomic, "atomic_write_bytes", write)
    return done


def everything(root) -> dict:
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("after, error", [(0, 13), (2, 28), (7, 28)])  # EACCES at once; ENOSPC part-way
def test_a_failed_coco_import_puts_back_every_file_it_wrote(many, monkeypatch, capsys, after, error):
    import errno

    project, path = many
    before = everything(project.root)
    done = failing_writes(monkeypatch, after, error)
    code, err = run_import(project, path, capsys)
    assert code == 2 and len(done) == after
    assert os.strerror(error) in err and "put back" in err and "Nothing was imported" in err
    assert "Traceback" not in err
    assert everything(project.root) == before  # not one file added, changed or left behind
    assert error in (errno.EACCES, errno.ENOSPC)
    monkeypatch.undo()
    reopened = Project.open(project.root)
    assert reopened.labels.get("tree") is None and len(reopened.load("sub/00.png").shapes) == 1
    assert run_import(reopened, path, capsys)[0] == 0  # with room on the disk the same import works
    after = Project.open(project.root)
    assert len(after.load("sub/00.png").shapes) == 2 and after.labels.get("tree") is not None


def test_a_failed_results_import_puts_back_every_file_it_wrote(many, monkeypatch, tmp_path, capsys):
    from annotator.core.coco.meta import image_ids, load_meta

    project, _ = many
    ids = image_ids(project.images(), load_meta(project)[0])
    results = [{"image_id": ids[f"sub/{i:02}.png"], "category_id": 1, "score": 0.8,
                "segmentation": [[2, 2, 30, 2, 30, 20]]} for i in range(12)]
    path = write_json(tmp_path, results, "results.json")
    before = everything(project.root)
    failing_writes(monkeypatch, 5, 28)
    code, err = run_import(project, path, capsys)
    assert code == 2 and "No space left" in err
    assert everything(project.root) == before


def test_a_failed_semantic_import_puts_back_every_file_it_wrote(many, monkeypatch, tmp_path, capsys):
    from PIL import Image

    project, _ = many
    folder = tmp_path / "semantic"
    (folder / "labels" / "sub").mkdir(parents=True)
    (folder / "labels.csv").write_text("id,name\n1,car\n2,tree\n")
    for i in range(12):
        lm = np.zeros((30, 40), np.uint8)
        lm[3:20, 5:25] = 2
        Image.fromarray(lm).save(folder / "labels" / "sub" / f"{i:02}.png")
    before = everything(project.root)
    failing_writes(monkeypatch, 4, 28)
    code = cli.main(["import", str(folder), "--format", "semantic-png", "--images", str(project.root)])
    assert code == 2 and "No space left" in capsys.readouterr().err
    assert everything(project.root) == before


# --- row 13: deep JSON, broken or huge label PNGs, non-finite options, escape codes -----------------
def test_json_nested_100000_deep_is_refused_as_invalid_json(project, tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    code, err = run_import(project, path, capsys)
    assert code == 2 and "deep.json: not valid JSON: arrays and objects nested too deeply" in err
    assert "Traceback" not in err and "RecursionError" not in err


def test_a_kept_value_nested_too_deep_to_write_back_is_refused(project, tmp_path):
    data = instances([[1, 1, 30, 1, 30, 30]])
    data["annotations"][0]["extra"] = json.loads("[" * 500 + "]" * 500)  # parses, but is kept and written back
    with pytest.raises(CocoFormatError, match=r"annotations\[0\].extra nests .* more than 100 levels.*id 7"):
        import_coco(project, write_json(tmp_path, data))
    data = instances([[1, 1, 30, 1, 30, 30]])
    data["info"] = {"a": json.loads("[" * 200 + "]" * 200)}
    with pytest.raises(CocoFormatError, match="'info' nests"):
        import_coco(project, write_json(tmp_path, data))


def test_safejson_names_where_the_nesting_got_too_deep():
    from annotator.core import safejson

    with pytest.raises(json.JSONDecodeError) as info:
        safejson.loads('{"a": ' + "[" * 50_000 + "]" * 50_000 + "}")
    assert isinstance(info.value, ValueError) and info.value.pos == 6 + 499  # the 501st level
    assert safejson.loads("[[1]]") == [[1]]
    assert safejson.too_deep([[[]]], 2) and not safejson.too_deep([[[]]], 3)


def png_claiming(width: int, height: int) -> bytes:
    """A 57-byte PNG whose header claims width x height 8-bit grey pixels and holds none."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("content, why", [
    (png_claiming(20000, 10000), "DecompressionBombError"),  # 200 MP: PIL's limit is 179 MP
    (png_claiming(96, 64), "not a readable label PNG"),  # truncated: no pixel data
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a readable label PNG"),
    (b"GIF89a not a png", "not a readable label PNG"),
    (png_claiming(9000, 9000), "is 9000x9000 but the image is 96x64"),  # refused before decoding
])
def test_a_broken_or_huge_label_png_is_a_per_file_problem(project, tmp_path, capsys, content, why):
    folder = tmp_path / "semantic"
    (folder / "labels").mkdir(parents=True)
    (folder / "labels.csv").write_text("id,name\n1,car\n")
    (folder / "labels" / "a.png").write_bytes(content)
    good = np.zeros((30, 40), np.uint8)
    good[2:9, 2:9] = 1
    from PIL import Image

    Image.fromarray(good).save(folder / "labels" / "b.png")
    code = cli.main(["import", str(folder), "--format", "semantic-png", "--images", str(project.root)])
    out = capsys.readouterr().out
    assert code == 1 and why in out and "labels/a.png" in out
    assert len(project.load("b.png").shapes) == 2  # the good PNG of the same folder was imported


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999", "-1"])
def test_non_finite_or_negative_numeric_options_are_usage_errors(project, tmp_path, capsys, value):
    path = write_json(tmp_path, instances([[1, 1, 30, 1, 30, 30]]))
    for option in ("--tolerance", "--min-score"):
        assert cli.main(["import", str(path), "--images", str(project.root), f"{option}={value}"]) == 2
        err = capsys.readouterr().err
        assert option in err and ("finite" in err or ">= 0" in err)


def test_escape_codes_in_file_names_are_printed_escaped(project, tmp_path, capsys):
    hostile = "\x1b]0;owned\x07\x1b[2J\r\u202eevil.png"
    data = instances([[1, 1, 30, 1, 30, 30]])
    data["images"][0]["file_name"] = hostile
    code = cli.main(["import", str(write_json(tmp_path, data)), "--images", str(project.root)])
    out = capsys.readouterr().out
    assert code == 1
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    assert "\\x1b]0;owned\\x07\\x1b[2J\\x0d\\u202eevil.png" in out


def test_printable_escapes_controls_and_undecodable_bytes_only():
    from annotator.core.terminal import printable

    assert printable("photos/été 1.png") == "photos/été 1.png"
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable(os.fsdecode(b"caf\xe9.png")) == "caf\\xe9.png"  # a Latin-1 name on a UTF-8 system
    assert printable("two\nlines\tok") == "two\nlines\tok"
    assert printable("two\nlines", keep_lines=False) == "two\\x0alines"


# --- found by the fuzzing (tests/core/test_fuzz_parsers.py) ---------------------------------------
def test_an_annotation_file_whose_score_is_a_list_is_a_damaged_file(project):
    from annotator.core.project import AnnotationFileError

    path = project.annotation_path("b.png")
    data = json.loads(path.read_text())
    data["shapes"][0]["score"] = []
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationFileError, match="score: expected a finite number or null, got list"):
        project.load("b.png")
    assert project.entry("b.png").status == "damaged"


def test_a_labels_csv_with_a_field_over_the_csv_limit_is_refused(project, tmp_path, capsys):
    folder = tmp_path / "semantic"
    (folder / "labels").mkdir(parents=True)
    (folder / "labels.csv").write_text("id,name\n1," + "x" * 200_000 + "\n")
    code = cli.main(["import", str(folder), "--format", "semantic-png", "--images", str(project.root)])
    err = capsys.readouterr().err
    assert code == 2 and "labels.csv: cannot be read (field larger than field limit" in err


def test_a_heatmap_file_flagged_encrypted_is_refused(project):
    import io
    import zipfile

    from annotator.core import heatcache

    buffer = io.BytesIO()
    np.savez(buffer, heatmaps=np.ones((1, 2, 2), np.float32))
    data = bytearray(buffer.getvalue())
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 1  # the central directory's "encrypted" flag
    path = heatcache.heat_path(project, "a.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    with pytest.raises(heatcache.HeatFileError, match="encrypted"):
        heatcache.read_result(path)
    assert zipfile.is_zipfile(path)


def test_a_failed_import_puts_the_open_projects_label_set_back(many, monkeypatch):
    """The window imports into the project it has open: its in-memory classes must match the files."""
    from annotator.core.rollback import WriteFailed

    project, path = many
    failing_writes(monkeypatch, 3, 28)
    with pytest.raises(WriteFailed, match="No space left on device.*put back as it was"):
        import_coco(project, path, workers=0)
    assert [c.name for c in project.labels] == ["car"]


def test_state_files_nested_100000_deep_are_damaged_files_not_crashes(project, tmp_path, capsys):
    """An annotation file, project.json or the index nested past Python's JSON reader is
    reported as invalid JSON naming the file, like any other damaged file."""
    from annotator.core.project import AnnotationFileError

    deep = "[" * 100_000 + "]" * 100_000
    project.annotation_path("b.png").write_text(deep)
    with pytest.raises(AnnotationFileError, match="b.png.*not valid JSON"):
        project.load("b.png")
    layout = project.layout
    layout.index_file.write_text(deep)
    layout.journal_file.write_text(deep + "\n")
    reopened = Project.open(project.root)  # the index is rebuilt from the annotation files
    assert reopened.entry("b.png").status == "damaged"
    layout.project_file.write_text(deep)
    code = cli.main(["export", str(project.root), "--out", str(tmp_path / "out.json")])
    err = capsys.readouterr().err
    # project.json: a warning naming it, defaults used, the file kept; b.png: a per-image failure
    assert code == 1 and "project.json: is not valid JSON (arrays and objects nested too deeply" in err
    assert "Traceback" not in err
