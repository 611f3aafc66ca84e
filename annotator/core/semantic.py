"""Semantic label PNGs: export a project as one class-id image per image, import such a folder.

Layout written by ``export_semantic`` (read by mmsegmentation's ``BaseSegDataset`` with
``seg_map_suffix='.png'`` and by VOC-style loaders, which read PNG index values):

    OUT/SegmentationClass/<image path without extension>.png  indexed colour (mode P, VOC palette);
                                                              pixel value = class id
    OUT/labels/<same>.png                                     greyscale (mode L), the same values,
                                                              for loaders that read colour from P
    OUT/labels.csv                                            id,name,r,g,b (colour = VOC palette entry)
    OUT/labelmap.txt                                          the same classes for CVAT / Datumaro VOC
                                                              readers: 'name:r,g,b::' lines
    OUT/ImageSets/Segmentation/all.txt                        the exported names, one per line

VOC readers that know no ``labels.csv`` (Datumaro's ``voc_segmentation``, so CVAT's
"Segmentation mask" import) take the class names from ``labelmap.txt``: ``background``
first, then each class with its palette colour, in id order. They map the PNG's colours
through it, so the names come back right even where ids have gaps (after a class was
deleted); without it they would read VOC's own names (aeroplane, bicycle...).

Pixel values: the class's category id (the label set's id, as in COCO export); 0 =
unlabeled, or 255 with ``unlabeled=255`` (the "ignore" value of VOC/mmseg).
**Overlaps**: shapes are painted in the image's shape order, so where shapes overlap
the pixel takes the class of the LAST shape, the one the canvas draws on top.
Only images with an annotation file are exported (an image nobody annotated is not
"all unlabeled"); ``accepted_only`` leaves pending proposals out. Two images whose
paths differ only by extension (a.jpg, a.png) are written as ``a.jpg.png``/``a.png.png``.

``import_semantic`` reads such a folder back: for each label PNG and each class value
in it, one shape (``Shape.from_mask``: every region a part, holes kept, pixel-exact).
Classes come from ``labels.csv``; else from a CVAT/Datumaro ``labelmap.txt``
(``name:r,g,b::`` per line, the line order is the value); else, for a folder with
``SegmentationClass/``, the 21 Pascal VOC classes (0 = background). Indexed and
greyscale PNGs give values directly; RGB PNGs (as Datumaro and CVAT write them) are
mapped through the classes' colours (black = unlabeled, VOC's (224, 224, 192) =
ignore). The classes join the label set by the COCO category-id rule
(coco/categories.py). Re-importing replaces the shapes an earlier import made.
"""

from __future__ import annotations

import csv
import io
import os
import struct
import uuid
import warnings
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from annotator.core.atomic import atomic_write_bytes, atomic_write_text, sync_all
from annotator.core.coco.categories import plan_categories
from annotator.core.jobs import Progress, check, stage
from annotator.core.project import AnnotationFileError, Project
from annotator.core.rollback import project_writes
from annotator.core.shapes import Shape

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")
VOID_COLOR = (224, 224, 192)  # VOC's object-boundary "void" colour (index 255)
COLOR_DIR = "SegmentationClass"
GREY_DIR = "labels"
LABELS_FILE = "labels.csv"
LABELMAP_FILE = "labelmap.txt"
LABELMAP_HEADER = "# label:color_rgb:parts:actions"
LIST_FILE = "ImageSets/Segmentation/all.txt"
UNLABELED_VALUES = (0, 255)
_NAMESPACE = uuid.UUID("0c7f4f0e-1d3b-4d7e-9a55-7c2b9f4c1e21")


class SemanticFormatError(ValueError):
    """The export cannot be written as 8-bit label PNGs, or an import folder is unusable;
    names the class, file or value and the fix. Nothing was written."""


def voc_palette() -> list[tuple[int, int, int]]:
    """The PASCAL VOC colour map: colour i spreads the bits of i over r, g, b (256 entries)."""
    out = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    return out


@dataclass
class SemanticExportReport:
    out: Path | None = None
    images: int = 0  # label PNGs written
    not_annotated: int = 0  # images without an annotation file: not written
    pixels: Counter = field(default_factory=Counter)  # class name -> labelled pixels
    problems: list[str] = field(default_factory=list)


def label_map(shapes: list[Shape], height: int, width: int, ids: dict[str, int], unlabeled: int = 0) -> np.ndarray:
    """uint8 [H, W] of class ids; later shapes paint over earlier ones (the overlap rule)."""
    out = np.full((height, width), unlabeled, dtype=np.uint8)
    for shape in shapes:
        out[shape.mask(height, width)] = ids[shape.label]
    return out


def export_semantic(project: Project, out: str | os.PathLike, *, accepted_only: bool = False,
                    unlabeled: int = 0, progress: Progress | None = None, cancel=None) -> SemanticExportReport:
    """Write the label PNGs, labels.csv and the image list under *out* (see module docstring).

    progress(done, total) per image. The PNGs are encoded in memory first (a few kB each):
    *cancel* (``is_set()``) raises JobCancelled until then, with nothing written; the
    writing that follows finishes."""
    if unlabeled not in UNLABELED_VALUES:
        raise SemanticFormatError(f"unlabeled must be 0 or 255, not {unlabeled}")
    from engine.images import ImageReadError  # deferred: `engine` imports torch

    out = Path(out)
    if out.resolve().is_relative_to(project.root.resolve()):
        raise SemanticFormatError(f"{out} is inside the image folder {project.root}: its PNGs would be listed as "
                                  "images of the project; choose a folder outside it. Nothing was written")
    report = SemanticExportReport(out=out)
    labels = project.labels
    limit = 254 if unlabeled == 255 else 255
    too_big = [f"'{c.name}' (id {c.id})" for c in labels if c.id > limit]
    if too_big:
        raise SemanticFormatError(f"class ids must be 1..{limit} for 8-bit label PNGs (unlabeled = {unlabeled}); "
                                  f"{', '.join(too_big)} cannot be written. Nothing was written")
    rels = [r for r in project.images() if project.has_annotations(r)]
    report.not_annotated = len(project.images()) - len(rels)
    names = _png_names(rels)
    palette = [v for rgb in voc_palette() for v in rgb]
    encoded: list[tuple[str, bytes, bytes]] = []  # (name, grey PNG, indexed PNG)
    for done, rel in enumerate(rels):
        check(cancel)
        if progress is not None:
            progress(done, len(rels))
        try:
            ann = project.load(rel)
        except (AnnotationFileError, ImageReadError) as exc:
            report.problems.append(f"{rel}: not exported: {exc}")
            continue
        shapes = [s for s in ann.shapes if s.accepted or not accepted_only]
        unknown = sorted({s.label for s in shapes if labels.get(s.label) is None})
        if unknown:
            report.problems.append(f"{rel}: class(es) {', '.join(unknown)} not in the label set; those shapes "
                                   "left out")
        shapes = [s for s in shapes if labels.get(s.label) is not None]
        lm = label_map(shapes, ann.height, ann.width, {s.label: labels.get(s.label).id for s in shapes}, unlabeled)
        values, counts = np.unique(lm, return_counts=True)
        for v, n in zip(values.tolist(), counts.tolist()):
            cat = labels.by_id(v) if v != unlabeled else None
            if cat is not None:
                report.pixels[cat.name] += n
        indexed = Image.frombytes("P", (ann.width, ann.height), lm.tobytes())  # values = palette indices
        indexed.putpalette(palette)
        encoded.append((names[rel], _png(Image.fromarray(lm)), _png(indexed)))
    check(cancel)
    if progress is not None:
        progress(len(rels), len(rels))
    # Every image is encoded: now write.
    written: list[str] = []
    for name, grey, color in encoded:
        atomic_write_bytes(out / GREY_DIR / f"{name}.png", grey, durable=False)
        atomic_write_bytes(out / COLOR_DIR / f"{name}.png", color, durable=False)
        written.append(name)
    sync_all()  # one flush for the lot instead of two per image
    report.images = len(written)
    pal = voc_palette()
    rows = ["id,name,r,g,b"] + [",".join([str(c.id), _csv_field(c.name), *map(str, pal[c.id])]) for c in labels]
    atomic_write_text(out / LABELS_FILE, "\n".join(rows) + "\n")
    atomic_write_text(out / LABELMAP_FILE, labelmap_text([(c.name, pal[c.id]) for c in labels], unlabeled))
    atomic_write_text(out / LIST_FILE, "".join(f"{n}\n" for n in written))
    return report


def labelmap_text(classes: list[tuple[str, tuple[int, int, int]]], unlabeled: int = 0) -> str:
    """A CVAT/Datumaro VOC labelmap.txt: background (black), the classes with their colours, and
    with ``unlabeled=255`` VOC's void colour as 'ignored' (Datumaro's name for VOC's void pixels)."""
    used = {name.casefold() for name, _ in classes}
    lines = [LABELMAP_HEADER]
    if "background" not in used:
        lines.append("background:0,0,0::")
    lines += [f"{_labelmap_name(name)}:{r},{g},{b}::" for name, (r, g, b) in classes]
    if unlabeled == 255 and "ignored" not in used:
        lines.append("ignored:{},{},{}::".format(*VOID_COLOR))
    return "\n".join(lines) + "\n"


def _labelmap_name(name: str) -> str:
    """':' separates a labelmap line's fields and '#' starts a comment: neither may open or sit in a name."""
    return name.replace(":", "_").lstrip("#") or "_"


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _csv_field(text: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([text])
    return buf.getvalue()


def _png_names(rels: list[str]) -> dict[str, str]:
    """rel -> name without .png: the path minus its extension, unless two images share it."""
    stem = {r: str(PurePosixPath(r).with_suffix("")) for r in rels}
    counts = Counter(stem.values())
    return {r: stem[r] if counts[stem[r]] == 1 else r for r in rels}


# --- import -------------------------------------------------------------------------------
@dataclass
class SemanticImportReport:
    images_matched: int = 0
    shapes: int = 0
    replaced: int = 0
    written: list[str] = field(default_factory=list)
    unmatched_images: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.unmatched_images or self.problems)


def read_labels_csv(path: Path) -> list[dict]:
    """[{id, name, color?}] from labels.csv (header id,name[,r,g,b]); SemanticFormatError names the row."""
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:  # csv.Error: a field over 128 kB
        raise SemanticFormatError(f"{path}: cannot be read ({exc})") from None
    if not rows or [h.strip().lower() for h in rows[0][:2]] != ["id", "name"]:
        raise SemanticFormatError(f"{path}: the first line must be the header id,name[,r,g,b]")
    cats, seen = [], set()
    for n, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        try:
            cid = int(row[0])
        except (ValueError, IndexError):
            raise SemanticFormatError(f"{path}, line {n}: the id must be an integer, got {row[:1]}") from None
        if len(row) < 2 or not row[1].strip():
            raise SemanticFormatError(f"{path}, line {n}: a class name is missing")
        if not 0 <= cid <= 255 or cid in seen:
            raise SemanticFormatError(f"{path}, line {n}: id {cid} is outside 0..255 or listed twice")
        seen.add(cid)
        cat = {"id": cid, "name": row[1].strip()}
        try:
            rgb = [int(v) for v in row[2:5]]
            if len(rgb) == 3 and all(0 <= v <= 255 for v in rgb):
                cat["color"] = rgb
        except ValueError:
            pass
        cats.append(cat)
    return cats


def read_labelmap(path: Path) -> list[dict]:
    """[{id, name, color?}] from a CVAT/Datumaro VOC labelmap.txt: 'name:r,g,b:parts:actions' per
    line, '#' comments; a class's value is its line's position (0 = the first)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SemanticFormatError(f"{path}: cannot be read ({exc})") from None
    cats = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, rest = line.partition(":")
        cat: dict = {"id": len(cats), "name": name.strip()}
        try:
            rgb = [int(v) for v in rest.split(":")[0].split(",")]
            if len(rgb) == 3 and all(0 <= v <= 255 for v in rgb):
                cat["color"] = rgb
        except ValueError:
            pass
        cats.append(cat)
    if not cats or len(cats) > 256:
        raise SemanticFormatError(f"{path}: expected 1..256 'name:r,g,b::' lines, found {len(cats)}")
    return cats


def _classes(folder: Path, report: SemanticImportReport) -> list[dict]:
    if (folder / LABELS_FILE).is_file():
        return read_labels_csv(folder / LABELS_FILE)
    if (folder / LABELMAP_FILE).is_file():
        return read_labelmap(folder / LABELMAP_FILE)
    if (folder / COLOR_DIR).is_dir():
        report.notes.append(f"no {LABELS_FILE} or labelmap.txt: read as Pascal VOC (0 = background, 1 = aeroplane "
                            "... 20 = tvmonitor, 255 = void)")
        palette = voc_palette()
        return [{"id": i, "name": n, "color": list(palette[i])} for i, n in enumerate(VOC_CLASSES)]
    raise SemanticFormatError(f"{folder}: no {LABELS_FILE} (id,name[,r,g,b] per class) or labelmap.txt in this "
                              "folder, and no SegmentationClass/ folder; one of them says which class each "
                              "pixel value is")


def _values(img: Image.Image, colors: dict[tuple[int, int, int], int], png: Path,
            report: SemanticImportReport) -> np.ndarray | None:
    """uint8 [H, W] class values of a label PNG: P/L directly, RGB through the class colours."""
    if img.mode in ("L", "P"):
        return np.array(img)
    if img.mode not in ("RGB", "RGBA"):
        report.problems.append(f"{png}: mode {img.mode} is not a label PNG (greyscale, indexed or RGB "
                               "class colours); not imported")
        return None
    rgb = np.array(img.convert("RGB")).astype(np.int64)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    uniq, inverse = np.unique(packed, return_inverse=True)
    lut = np.zeros(len(uniq), dtype=np.uint8)
    for k, code in enumerate(uniq.tolist()):
        color = (code >> 16, (code >> 8) & 255, code & 255)
        if color == (0, 0, 0):
            lut[k] = 0
        elif color == VOID_COLOR:
            lut[k] = 255
        elif color in colors:
            lut[k] = colors[color]
        else:
            lut[k] = 0
            report.problems.append(f"{png}: colour {color} is not a class colour; those pixels left unlabeled")
    return lut[inverse.reshape(packed.shape)]


_PNG_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, Image.DecompressionBombError)
"""What PIL raises for a damaged image: UnidentifiedImageError and truncated data are OSErrors,
broken PNG chunks SyntaxError, oversized text chunks ValueError, images over its pixel
limit DecompressionBombError."""


def _read_label_png(png: Path, ann, colors: dict, report: SemanticImportReport,
                    by_color: bool = False) -> np.ndarray | None:
    """The class values of one label PNG, its size checked against its image's from the
    header, before the pixels are decoded; None (a problem noted) when unusable. *by_color*:
    an indexed PNG is read through its palette colours (classes named by a labelmap.txt)."""
    try:
        with Image.open(png) as img:
            if img.size != (ann.width, ann.height):
                report.problems.append(f"{png}: the label PNG is {img.width}x{img.height} but the image is "
                                       f"{ann.width}x{ann.height}; not imported")
                return None
            with warnings.catch_warnings():  # as large as an image that was opened: no bomb
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                return _values(img.convert("RGB") if by_color and img.mode == "P" else img, colors, png, report)
    except _PNG_ERRORS as exc:
        report.problems.append(f"{png}: not a readable label PNG ({type(exc).__name__}: {exc}); not imported")
        return None


def import_semantic(project: Project, folder: str | os.PathLike, *, replace: bool = False,
                    progress: Progress | None = None, cancel=None) -> SemanticImportReport:
    """Add one shape per class and image from a folder of label PNGs (see module docstring).

    progress(done, total) per image, twice: reading the PNGs, then tracing their shapes.
    *cancel* (``is_set()``) raises JobCancelled until the writing starts, with nothing
    written; the writing then finishes."""
    from engine.images import ImageReadError  # deferred: `engine` imports torch

    folder = Path(folder)
    report = SemanticImportReport()
    cats = _classes(folder, report)
    colors = {tuple(c["color"]): c["id"] for c in cats if "color" in c and c["id"] not in UNLABELED_VALUES}
    # A labelmap.txt names classes by colour (its line order need not be the PNG values: ids with gaps).
    by_color = not (folder / LABELS_FILE).is_file() and (folder / LABELMAP_FILE).is_file() and bool(colors)
    order = (COLOR_DIR, GREY_DIR) if by_color else (GREY_DIR, COLOR_DIR)
    source = next((folder / d for d in order if (folder / d).is_dir()), folder)
    pngs = sorted(p for p in source.rglob("*.png") if not p.name.startswith("."))
    maps: dict[str, np.ndarray] = {}
    rel_of = _match(project, [p.relative_to(source).with_suffix("").as_posix() for p in pngs], report)
    loaded = {}
    stage(progress, "reading label PNGs")
    for done, png in enumerate(pngs):
        check(cancel)
        if progress is not None:
            progress(done, len(pngs))
        rel = rel_of.get(png.relative_to(source).with_suffix("").as_posix())
        if rel is None:
            continue
        try:
            ann = project.load(rel)
        except (AnnotationFileError, ImageReadError) as exc:
            report.problems.append(f"{rel}: not imported: {exc}")
            continue
        values = _read_label_png(png, ann, colors, report, by_color)
        if values is not None:
            maps[rel] = values
            loaded[rel] = ann
    used = {int(v) for m in maps.values() for v in np.unique(m)} - set(UNLABELED_VALUES)
    known = {c["id"] for c in cats}
    for v in sorted(used - known):
        report.problems.append(f"pixel value {v} is not in {LABELS_FILE}; those pixels not imported")
    plan = plan_categories([c for c in cats if c["id"] not in UNLABELED_VALUES and tuple(c.get("color", ())) !=
                            VOID_COLOR], used, project.labels)
    report.problems += plan.problems
    report.notes += plan.notes
    results = []
    stage(progress, "tracing shapes")
    for done, (rel, lm) in enumerate(maps.items()):
        check(cancel)
        if progress is not None:
            progress(done, len(maps))
        ann = loaded[rel]
        report.images_matched += 1
        shapes = []
        for v in sorted({int(x) for x in np.unique(lm)} & set(plan.names)):
            name = plan.names[v]
            shape = Shape.from_mask(name, lm == v, id=uuid.uuid5(_NAMESPACE, f"{rel}#{name}").hex)
            shapes.append(shape)
        incoming = {s.id for s in shapes}
        kept = [] if replace else [s for s in ann.shapes if s.id not in incoming]
        report.replaced += 0 if replace else len(ann.shapes) - len(kept)
        ann.shapes = kept + shapes
        report.shapes += len(shapes)
        results.append(ann)
    check(cancel)
    if progress is not None:
        progress(len(maps), len(maps))
    # Every check passed: now write, all or nothing.
    with project_writes(project, [a.image for a in results]):
        project.labels.set_categories(plan.labels.categories)
        project.save_settings()
        written = project.save_many(results)  # one sync for the lot, not one per file
    report.written.extend(written)
    return report


def _match(project: Project, names: list[str], report: SemanticImportReport) -> dict[str, str]:
    """PNG name (path without .png) -> project image: the exact path, else the path minus extension."""
    ours = project.images()
    exact = set(ours)
    by_stem: dict[str, list[str]] = defaultdict(list)
    for rel in ours:
        by_stem[str(PurePosixPath(rel).with_suffix(""))].append(rel)
    out = {}
    for name in names:
        if name in exact:
            out[name] = name
        elif len(by_stem.get(name, [])) == 1:
            out[name] = by_stem[name][0]
        elif by_stem.get(name):
            report.unmatched_images.append(f"{name}.png: matches {len(by_stem[name])} images ({', '.join(by_stem[name])})")
        else:
            report.unmatched_images.append(f"{name}.png: no image {name}.* in {project.root}")
    return out
