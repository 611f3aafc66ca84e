"""Semantic label PNG export/import: exact label maps, overlap rule, round trip."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import square, write_image
from PIL import Image

from annotator.cli import main as cli_main
from annotator.core.annotations import ImageAnnotations
from annotator.core.project import Project
from annotator.core.semantic import SemanticFormatError, export_semantic, import_semantic, voc_palette
from annotator.core.shapes import Part, Shape


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "imgs"
    write_image(root / "a.jpg", 40, 30)
    write_image(root / "sub" / "b.png", 20, 10)
    write_image(root / "never.png", 8, 8)  # no annotation file: not exported
    p = Project.open(root)
    p.labels.add("sky", id=1)
    p.labels.add("car", id=7)  # ids with a gap are the pixel values
    p.labels.add("road", id=3)
    p.save_settings()
    p.save(ImageAnnotations("a.jpg", 40, 30, [
        Shape("sky", square(0, 0, 40, 10)),
        Shape("road", square(0, 20, 40, 30)),
        # a two-part car with a hole, overlapping the sky: drawn later, so it wins
        Shape("car", parts=[Part(square(5, 5, 15, 15), [square(8, 8, 10, 10)]), Part(square(30, 22, 35, 27))]),
        Shape("road", square(36, 0, 40, 4), source="model", accepted=False),
    ]))
    p.save(ImageAnnotations("sub/b.png", 20, 10, []))  # reviewed, nothing in it: all unlabeled
    return p


def fresh_project(tmp_path, *images):
    for rel, w, h in images:
        write_image(tmp_path / "fresh" / rel, w, h)
    return Project.open(tmp_path / "fresh")


def expected_a(unlabeled=0, with_proposal=True):
    m = np.full((30, 40), unlabeled, np.uint8)
    m[0:10, :] = 1
    m[20:30, :] = 3
    m[5:15, 5:15] = 7
    m[8:10, 8:10] = 1  # the car's hole shows the sky beneath it
    m[22:27, 30:35] = 7
    if with_proposal:
        m[0:4, 36:40] = 3
    return m


def test_export_writes_exact_label_maps_indexed_png_labels_file_and_list(project, tmp_path):
    out = tmp_path / "sem"
    report = export_semantic(project, out)
    assert report.images == 2 and report.not_annotated == 1 and report.problems == []
    grey = np.array(Image.open(out / "labels" / "a.png"))
    assert np.array_equal(grey, expected_a())
    with Image.open(out / "SegmentationClass" / "a.png") as indexed:
        assert indexed.mode == "P"
        assert np.array_equal(np.array(indexed), expected_a())
        palette = indexed.getpalette()
        assert tuple(palette[7 * 3:7 * 3 + 3]) == voc_palette()[7] == (128, 128, 128)
    assert voc_palette()[1] == (128, 0, 0) and voc_palette()[15] == (192, 128, 128)  # VOC's aeroplane, person
    assert np.array_equal(np.array(Image.open(out / "labels" / "sub" / "b.png")), np.zeros((10, 20), np.uint8))
    assert (out / "labels.csv").read_text().splitlines() == [
        "id,name,r,g,b", "1,sky,128,0,0", "7,car,128,128,128", "3,road,128,128,0"]
    assert (out / "ImageSets" / "Segmentation" / "all.txt").read_text().split() == ["a", "sub/b"]
    assert not (out / "labels" / "never.png").exists()
    assert report.pixels["car"] == int((expected_a() == 7).sum())


def test_unlabeled_255_and_accepted_only(project, tmp_path):
    export_semantic(project, tmp_path / "sem", unlabeled=255, accepted_only=True)
    got = np.array(Image.open(tmp_path / "sem" / "labels" / "a.png"))
    want = expected_a(with_proposal=False)
    want[want == 0] = 255
    assert np.array_equal(got, want)


def test_class_ids_beyond_8_bits_are_refused_naming_them(project, tmp_path):
    project.labels.add("toothbrush", id=300)
    with pytest.raises(SemanticFormatError, match=r"'toothbrush' \(id 300\)"):
        export_semantic(project, tmp_path / "sem")
    assert not (tmp_path / "sem").exists()


def test_png_round_trip_gives_one_multi_part_shape_per_class_and_the_same_map(project, tmp_path):
    out = tmp_path / "sem"
    export_semantic(project, out)
    fresh = fresh_project(tmp_path, ("a.jpg", 40, 30), ("sub/b.png", 20, 10))
    report = import_semantic(fresh, out)
    assert report.complete and report.images_matched == 2
    shapes = fresh.load("a.jpg").shapes
    assert sorted(s.label for s in shapes) == ["car", "road", "sky"]  # one shape per class
    assert len(next(s for s in shapes if s.label == "car").parts) == 2
    assert [(c.id, c.name) for c in fresh.labels] == [(1, "sky"), (7, "car"), (3, "road")]
    # exporting the imported project gives the very same label map
    export_semantic(fresh, tmp_path / "again")
    assert np.array_equal(np.array(Image.open(tmp_path / "again" / "labels" / "a.png")), expected_a())
    # importing again replaces instead of adding
    again = import_semantic(fresh, out)
    assert again.replaced == 3 and len(fresh.load("a.jpg").shapes) == 3


def test_import_reads_the_indexed_pngs_too_and_reports_unknown_values(project, tmp_path):
    out = tmp_path / "sem"
    export_semantic(project, out)
    import shutil
    shutil.rmtree(out / "labels")  # only SegmentationClass/ (VOC style) left
    lm = np.array(Image.open(out / "SegmentationClass" / "a.png"))
    lm[0, 0] = 9  # a value labels.csv does not list
    img = Image.frombytes("P", (40, 30), lm.tobytes())
    img.putpalette([v for c in voc_palette() for v in c])
    img.save(out / "SegmentationClass" / "a.png")
    fresh = fresh_project(tmp_path, ("a.jpg", 40, 30))
    report = import_semantic(fresh, out)
    assert any("pixel value 9 is not in labels.csv" in p for p in report.problems)
    assert any("sub/b.png: no image" in u for u in report.unmatched_images)
    assert len(fresh.load("a.jpg").shapes) == 3


def test_cli_export_and_import_semantic_png(project, tmp_path, capsys):
    out = tmp_path / "sem"
    assert cli_main(["export", str(project.root), "--format", "semantic-png", "--out", str(out)]) == 0
    assert "Wrote 2 label PNGs" in capsys.readouterr().out
    fresh = fresh_project(tmp_path, ("a.jpg", 40, 30), ("sub/b.png", 20, 10))
    assert cli_main(["import", str(out), "--images", str(fresh.root), "--format", "semantic-png"]) == 0
    assert "Imported 3 shapes" in capsys.readouterr().out
    assert cli_main(["import", str(tmp_path), "--images", str(fresh.root), "--format", "semantic-png"]) == 2
    assert "no labels.csv" in capsys.readouterr().err


# --- VOC-style folders written by Datumaro (tests/data/voc, see its README) ------------------------
VOC_DIR = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "voc" / "datumaro"


@pytest.mark.parametrize("with_labelmap", [False, True])
def test_datumaro_voc_rgb_masks_import_through_the_class_colours(tmp_path, with_labelmap):
    import shutil
    folder = tmp_path / "voc"
    shutil.copytree(VOC_DIR / "SegmentationClass", folder / "SegmentationClass")
    if with_labelmap:
        shutil.copy(VOC_DIR / "labelmap.txt", folder / "labelmap.txt")
    fresh = fresh_project(tmp_path, ("2007_000001.jpg", 20, 10))
    report = import_semantic(fresh, folder)
    assert report.complete, report
    assert any("read as Pascal VOC" in n for n in report.notes) != with_labelmap
    (shape,) = fresh.load("2007_000001.jpg").shapes
    assert shape.label == "bicycle" and shape.area == 200  # the whole mask is VOC colour (0, 128, 0)
    assert fresh.labels.get("bicycle").id == 2  # the VOC index is kept as the category id
    assert fresh.labels.get("background") is None and fresh.labels.get("ignored") is None


def test_an_output_folder_inside_the_image_folder_is_refused(project):
    with pytest.raises(SemanticFormatError, match="inside the image folder"):
        export_semantic(project, project.root / "masks")
    assert not (project.root / "masks").exists()


def test_images_differing_only_by_extension_keep_apart(tmp_path):
    root = tmp_path / "imgs"
    write_image(root / "a.jpg", 8, 8)
    write_image(root / "a.png", 8, 8)
    p = Project.open(root)
    p.labels.add("sky")
    p.save(ImageAnnotations("a.jpg", 8, 8, [Shape("sky", square(0, 0, 8, 4))]))
    p.save(ImageAnnotations("a.png", 8, 8, [Shape("sky", square(0, 4, 8, 8))]))
    export_semantic(p, tmp_path / "sem")
    assert sorted(f.name for f in (tmp_path / "sem" / "labels").iterdir()) == ["a.jpg.png", "a.png.png"]
    fresh = fresh_project(tmp_path, ("a.jpg", 8, 8), ("a.png", 8, 8))
    assert import_semantic(fresh, tmp_path / "sem").complete
    assert fresh.load("a.jpg").shapes[0].bbox == (0.0, 0.0, 8.0, 4.0)
    assert fresh.load("a.png").shapes[0].bbox == (0.0, 4.0, 8.0, 4.0)


class _CancelAt:
    """A cancel token set once progress has reported *at* images (as if Cancel was pressed then)."""

    def __init__(self, at: int):
        self.at, self.calls = at, []

    def progress(self, done: int, total: int) -> None:
        self.calls.append((done, total))

    def is_set(self) -> bool:
        return len(self.calls) > self.at


def test_export_reports_progress_per_image_and_a_cancel_writes_nothing(project, tmp_path):
    from annotator.core.jobs import JobCancelled

    steps = []
    export_semantic(project, tmp_path / "all", progress=lambda d, t: steps.append((d, t)))
    assert steps == [(0, 2), (1, 2), (2, 2)]
    token = _CancelAt(1)
    with pytest.raises(JobCancelled):
        export_semantic(project, tmp_path / "cancelled", progress=token.progress, cancel=token)
    assert token.calls == [(0, 2), (1, 2)] and not (tmp_path / "cancelled").exists()


def test_import_reports_progress_and_a_cancel_changes_nothing(project, tmp_path):
    from annotator.core.jobs import JobCancelled

    export_semantic(project, tmp_path / "sem")
    target = fresh_project(tmp_path, ("a.jpg", 40, 30), ("sub/b.png", 20, 10))
    for at in (1, 3):  # while reading the PNGs, then while tracing their shapes
        token = _CancelAt(at)
        with pytest.raises(JobCancelled):
            import_semantic(target, tmp_path / "sem", progress=token.progress, cancel=token)
        assert not list(target.state_dir.rglob("*.png.json")) and not list(target.state_dir.rglob("*.jpg.json"))
        assert target.labels.names == []
    steps = []
    report = import_semantic(target, tmp_path / "sem", progress=lambda d, t: steps.append((d, t)))
    assert steps == [(0, 2), (1, 2), (0, 2), (1, 2), (2, 2)]
    assert report.written == ["a.jpg", "sub/b.png"]


# --- labelmap.txt: what CVAT / Datumaro VOC readers take the class names from ----------------------
def test_export_writes_a_labelmap_naming_each_class_by_its_palette_colour(project, tmp_path):
    out = tmp_path / "sem"
    export_semantic(project, out)
    pal = voc_palette()
    assert (out / "labelmap.txt").read_text().splitlines() == [
        "# label:color_rgb:parts:actions", "background:0,0,0::",
        "sky:{},{},{}::".format(*pal[1]), "car:{},{},{}::".format(*pal[7]), "road:{},{},{}::".format(*pal[3])]
    # every colour the indexed PNG uses is a line of the labelmap
    named = {tuple(int(v) for v in line.split(":")[1].split(",")): line.split(":")[0]
             for line in (out / "labelmap.txt").read_text().splitlines()[1:]}
    with Image.open(out / "SegmentationClass" / "a.png") as indexed:
        used = {pal[v] for v in np.unique(np.array(indexed)).tolist()}
    assert {named[c] for c in used} == {"background", "sky", "car", "road"}
    export_semantic(project, tmp_path / "void", unlabeled=255)
    assert (tmp_path / "void" / "labelmap.txt").read_text().splitlines()[-1] == "ignored:224,224,192::"


def test_a_folder_with_only_the_labelmap_imports_the_right_names_despite_id_gaps(project, tmp_path):
    import shutil
    out = tmp_path / "sem"
    export_semantic(project, out)
    (out / "labels.csv").unlink()  # as a VOC reader sees it: SegmentationClass/ and labelmap.txt
    shutil.rmtree(out / "labels")
    fresh = fresh_project(tmp_path, ("a.jpg", 40, 30), ("sub/b.png", 20, 10))
    report = import_semantic(fresh, out)
    assert report.complete, report
    areas = {s.label: s.area for s in fresh.load("a.jpg").shapes}
    want = expected_a()
    assert areas == {name: float((want == v).sum()) for name, v in (("sky", 1), ("car", 7), ("road", 3))}


DATUMARO_VERSION = "1.13.12"


def _datumaro_python() -> str | None:
    """A Python that can import datumaro: $DATUMARO_PYTHON, else this one, else a venv of its
    own made once at <repo>/.venv-datumaro (git-ignored; datumaro is not a dependency of the
    project: its pins differ from ours). None only when that venv cannot be made (no index)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    for python in (os.environ.get("DATUMARO_PYTHON"), sys.executable):
        if python and subprocess.run([python, "-c", "import datumaro"], capture_output=True).returncode == 0:
            return python
    venv = Path(__file__).resolve().parents[2] / ".venv-datumaro"
    python, ready = venv / "bin" / "python", venv / f".installed-{DATUMARO_VERSION}"
    if ready.exists() and python.exists():
        return str(python)
    shutil.rmtree(venv, ignore_errors=True)  # a half-made one (an interrupted install)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, capture_output=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"datumaro=={DATUMARO_VERSION}"],
                       check=True, timeout=900, capture_output=True)
    except (subprocess.SubprocessError, OSError):
        return None
    ready.touch()
    return str(python)


READ_BACK = """
import json, sys
import datumaro as dm
import numpy as np
ds = dm.Dataset.import_from(sys.argv[1], "voc_segmentation")
names = [c.name for c in ds.categories()[dm.AnnotationType.label]]
pixels = {}
for item in ds:
    for ann in item.annotations:
        if ann.type == dm.AnnotationType.mask:
            pixels[names[ann.label]] = pixels.get(names[ann.label], 0) + int(np.count_nonzero(ann.image))
print(json.dumps(pixels))
"""


def test_datumaro_reads_the_export_back_with_our_class_names(project, tmp_path):
    import json
    import subprocess
    python = _datumaro_python()
    if python is None:
        pytest.skip(f"datumaro=={DATUMARO_VERSION} could not be installed into .venv-datumaro (no package index?); "
                    "set DATUMARO_PYTHON to a Python that has it")
    out = tmp_path / "sem"
    report = export_semantic(project, out)
    run = subprocess.run([python, "-c", READ_BACK, str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    pixels = json.loads(run.stdout.strip().splitlines()[-1])
    assert pixels.pop("background") == 40 * 30 + 20 * 10 - sum(report.pixels.values()), "unlabeled"
    assert pixels == dict(report.pixels) and set(pixels) == {"sky", "car", "road"}
