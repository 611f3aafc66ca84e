"""Reading and checking a COCO file before anything is imported.

``read_coco`` tells the COCO flavours apart first (``detect_kind``): an instances
file and a results list are imported; a panoptic, keypoints-only, image-label or
captions file is refused with a message saying what it is and what is supported.
The checks stop at the first problem and name it with a JSON path
(``annotations[12].segmentation.size``), the annotation id and the fix, so a user
can repair the file; nothing is written for a file that fails them. Coordinates
must be finite and within ``shapes.MAX_COORD``: NaN, Inf (which Python's JSON reader
accepts) and absurd magnitudes reject the whole file.

Hostile files are refused before anything large is allocated: an RLE's size must be its
image's and its runs (read from the counts, ``rle_runs``, never decoded here) must add up to
exactly height x width; a results list's mask sizes are held to ``MAX_MASK_PIXELS``; ids
must fit 64 bits; JSON nested deeper than Python's reader can follow, and kept values
nested over ``safejson.MAX_NESTING`` levels, are refused.
"""

from __future__ import annotations

import json
import math
import os
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from annotator.core import safejson
from annotator.core.labels import MAX_ID
from annotator.core.shapes import MAX_COORD

SUPPORTED = ("pnp-annotator imports COCO instances files (polygons, RLE incl. crowd, boxes; "
             "keypoints and other fields are kept alongside) and COCO results lists "
             "(detections/segmentations with scores, imported as proposals); "
             "`import --format semantic-png` reads folders of label PNGs")

# The largest image any reader here opens (PIL's decompression-bomb bound, engine.images.MAX_PIXELS):
# a results list's mask sizes are checked against it before any image is matched.
MAX_MASK_PIXELS = 2 * Image.MAX_IMAGE_PIXELS

KINDS = ("instances", "results", "panoptic", "keypoints", "labels", "captions")


class CocoFormatError(ValueError):
    """A COCO file is unreadable, breaks the schema or is a flavour that is not imported;
    names the file and the first problem."""


def read_coco(path: str | os.PathLike) -> dict[str, Any] | list[dict[str, Any]]:
    """Parse and validate an instances file or a results list; CocoFormatError otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CocoFormatError(f"{path}: cannot be read ({exc})") from None
    try:
        data = safejson.loads(text)
    except json.JSONDecodeError as exc:
        raise CocoFormatError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, "
                              f"column {exc.colno}") from None
    try:
        kind = detect_kind(data)
        if kind == "results":
            validate_results(data)
        elif kind == "instances":
            validate_coco(data)
        else:
            raise CocoFormatError(_unsupported(kind))
        _check_finite_everywhere(data)
    except CocoFormatError as exc:
        raise CocoFormatError(f"{path}: {exc}") from None
    return data


def detect_kind(data: Any) -> str:
    """One of KINDS, from the file's structure (not its name)."""
    if isinstance(data, list):
        return "results"
    if not isinstance(data, dict):
        raise CocoFormatError(f"the top level must be a JSON object (or a results list), got {type(data).__name__}")
    anns = data.get("annotations")
    if not isinstance(anns, list) or not anns or not all(isinstance(a, dict) for a in anns):
        return "instances"  # validated (and explained) by validate_coco
    if any("segments_info" in a for a in anns):
        return "panoptic"
    if any("caption" in a for a in anns):
        return "captions"
    has_geometry = [bool(a.get("segmentation")) or "bbox" in a for a in anns]
    if all("keypoints" in a for a in anns) and not any(a.get("segmentation") for a in anns):
        return "keypoints"
    if not any(has_geometry):
        return "labels"
    return "instances"


def _unsupported(kind: str) -> str:
    what = {
        "panoptic": "a COCO panoptic file (annotations are PNG file names with segments_info); to import it, "
                    "convert it to an instances file first (e.g. panopticapi's "
                    "converters/panoptic2detection_coco_format.py)",
        "keypoints": "a COCO keypoints-only file (annotations have keypoints but no segmentation); keypoints "
                     "are kept when they come with a segmentation in an instances file, but a shape needs a "
                     "polygon or mask",
        "labels": "a COCO image-level labels file (annotations have a category but no segmentation or bbox); "
                  "image labels are not shapes and cannot be imported",
        "captions": "a COCO captions file (annotations are sentences); captions are not shapes and cannot be "
                    "imported",
    }[kind]
    return f"this is {what}. Supported: {SUPPORTED}."


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_id(v: Any) -> bool:
    """An integer that fits the 64-bit ids COCO readers use."""
    return _is_int(v) and -MAX_ID - 1 <= v <= MAX_ID


def _is_num(v: Any) -> bool:
    cls = type(v)
    if cls is float or cls is int:  # the common case, without the abc machinery (imports check millions)
        return True
    return isinstance(v, Real) and not isinstance(v, bool)


def _list(data: dict, key: str, required: bool) -> list:
    if key not in data:
        if required:
            raise CocoFormatError(f"missing top-level list '{key}': not a COCO instances file. {SUPPORTED}.")
        return []
    if not isinstance(data[key], list):
        raise CocoFormatError(f"'{key}' must be a list, got {type(data[key]).__name__}")
    return data[key]


def _check_entry(entry: Any, where: str, earlier_ids, kind: str) -> None:
    """An object with an integer id not used by an earlier entry of the same list."""
    if not isinstance(entry, dict):
        raise CocoFormatError(f"{where} must be an object")
    if not _is_id(entry.get("id")):
        raise CocoFormatError(f"{where}.id must be an integer that fits 64 bits, got {entry.get('id')!r}")
    if entry["id"] in earlier_ids:
        raise CocoFormatError(f"{where}.id {entry['id']} is used by an earlier {kind}; ids must be unique")


def validate_coco(data: Any) -> None:
    """Raise CocoFormatError for the first violation of the COCO instances schema."""
    if not isinstance(data, dict):
        raise CocoFormatError(f"the top level must be a JSON object, got {type(data).__name__}")
    images = _list(data, "images", required=True)
    categories = _list(data, "categories", required=True)
    annotations = _list(data, "annotations", required=False)  # test splits have none
    _check_nesting(data, "", {"images", "categories", "annotations"})

    sizes: dict[int, tuple[int, int]] = {}
    for i, im in enumerate(images):
        where = f"images[{i}]"
        _check_entry(im, where, sizes, "image")
        if not isinstance(im.get("file_name"), str) or not im["file_name"].strip():
            raise CocoFormatError(f"{where}.file_name must be a non-empty string")
        for key in ("width", "height"):
            if not _is_int(im.get(key)) or im[key] < 1:
                raise CocoFormatError(f"{where}.{key} must be a positive integer, got {im.get(key)!r}")
        sizes[im["id"]] = (im["height"], im["width"])
        _check_nesting(im, where, _CHECKED_IMAGE_KEYS)

    seen: set[int] = set()
    for i, cat in enumerate(categories):
        where = f"categories[{i}]"
        _check_entry(cat, where, seen, "category")
        seen.add(cat["id"])
        if not isinstance(cat.get("name"), str) or not cat["name"].strip():
            raise CocoFormatError(f"{where}.name must be a non-empty string")
        if cat["id"] < 0:
            raise CocoFormatError(f"{where} ('{cat['name']}').id is {cat['id']}: category ids are 1 to {MAX_ID} "
                                  "(0 only for a background placeholder)")
        if cat.get("supercategory") is not None and not isinstance(cat["supercategory"], str):
            raise CocoFormatError(f"{where}.supercategory must be a string")
        _check_nesting(cat, where, _CHECKED_CATEGORY_KEYS)

    for i, ann in enumerate(annotations):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict):
            raise CocoFormatError(f"{where} must be an object")
        try:
            if not _is_id(ann.get("image_id")):
                raise CocoFormatError(f"{where}.image_id must be an integer that fits 64 bits, "
                                      f"got {ann.get('image_id')!r}")
            if ann["image_id"] not in sizes:
                raise CocoFormatError(f"{where}.image_id {ann['image_id']} does not match any entry of 'images'")
            check_annotation(ann, where, sizes[ann["image_id"]])
        except CocoFormatError as exc:
            if "id" not in ann:
                raise
            raise CocoFormatError(f"{exc} [annotation id {ann['id']!r}]") from None


def validate_results(data: Any) -> None:
    """A results list: [{image_id, category_id, segmentation | bbox, score}, ...]."""
    if not data:
        raise CocoFormatError("the results list is empty: nothing to import")
    for i, ann in enumerate(data):
        where = f"[{i}]"
        if not isinstance(ann, dict):
            raise CocoFormatError(f"{where} must be an object (a results list holds one object per detection)")
        if not _is_id(ann.get("image_id")):
            raise CocoFormatError(f"{where}.image_id must be an integer that fits 64 bits, "
                                  f"got {ann.get('image_id')!r}")
        if not _is_num(ann.get("score")) or not math.isfinite(ann["score"]):
            raise CocoFormatError(f"{where}.score must be a finite number: a results list entry has a score")
        seg = ann.get("segmentation")
        size = seg.get("size") if isinstance(seg, dict) else None
        hw = tuple(size) if isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size) else None
        if hw is not None and not (hw[0] >= 1 and hw[1] >= 1 and hw[0] * hw[1] <= MAX_MASK_PIXELS):
            raise CocoFormatError(f"{where}.segmentation.size is {list(hw)}: a mask must have 1 to "
                                  f"{MAX_MASK_PIXELS} pixels (no image larger can be opened)")
        check_annotation(ann, where, hw)


def check_annotation(ann: dict, where: str, hw: tuple[int, int] | None) -> None:
    """Types, geometry and finite, bounded coordinates of one annotation (hw: image size, if known)."""
    if not _is_id(ann.get("category_id")):
        raise CocoFormatError(f"{where}.category_id must be an integer that fits 64 bits, "
                              f"got {ann.get('category_id')!r}")
    seg = ann.get("segmentation")
    bbox = ann.get("bbox")
    if bbox is not None:
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_num(v) for v in bbox)):
            raise CocoFormatError(f"{where}.bbox must be [x, y, width, height]")
        _check_coords(bbox, f"{where}.bbox")
    if seg is None or seg == []:
        if bbox is None:
            raise CocoFormatError(f"{where} has no segmentation, so it needs 'bbox' as [x, y, width, height]")
        if not (bbox[2] > 0 and bbox[3] > 0):
            raise CocoFormatError(f"{where}.bbox has width or height <= 0: {bbox}")
    elif isinstance(seg, list):
        for j, poly in enumerate(seg):
            if not (isinstance(poly, list) and _all_num(poly)):
                raise CocoFormatError(f"{where}.segmentation[{j}] must be a flat list of numbers [x1, y1, x2, y2, ...]")
            if len(poly) < 6 or len(poly) % 2:
                raise CocoFormatError(f"{where}.segmentation[{j}] has {len(poly)} numbers; a polygon needs "
                                      "an even count of at least 6 (3 points)")
            _check_coords(poly, f"{where}.segmentation[{j}]")
    elif isinstance(seg, dict):
        if hw is None:
            raise CocoFormatError(f"{where}.segmentation.size must be [height, width]")
        _check_rle(seg, f"{where}.segmentation", hw)
    else:
        raise CocoFormatError(f"{where}.segmentation must be a list of polygons or an RLE object, "
                              f"got {type(seg).__name__}")
    if "score" in ann and ann["score"] is not None and (not _is_num(ann["score"]) or not math.isfinite(ann["score"])):
        raise CocoFormatError(f"{where}.score must be a finite number, got {ann['score']!r}")
    if "iscrowd" in ann and ann["iscrowd"] not in (0, 1, True, False):
        raise CocoFormatError(f"{where}.iscrowd must be 0 or 1, got {ann['iscrowd']!r}")
    attrs = ann.get("attributes", {})
    if not isinstance(attrs, dict):
        raise CocoFormatError(f"{where}.attributes must be an object")
    if "source" in attrs and attrs["source"] not in ("model", "human"):
        raise CocoFormatError(f"{where}.attributes.source must be 'model' or 'human', got {attrs['source']!r}")
    if "accepted" in attrs and not isinstance(attrs["accepted"], bool):
        raise CocoFormatError(f"{where}.attributes.accepted must be true or false")
    _check_nesting(ann, where, _CHECKED_ANNOTATION_KEYS)


# Keys whose values are checked field by field; every other key's value is kept and written back
# as it was, so its nesting is bounded (Python's JSON writer recurses once per level).
_CHECKED_ANNOTATION_KEYS = frozenset({"image_id", "category_id", "segmentation", "bbox", "area", "iscrowd",
                                      "score"})
_CHECKED_IMAGE_KEYS = frozenset({"id", "file_name", "width", "height"})
_CHECKED_CATEGORY_KEYS = frozenset({"id", "name", "supercategory"})


def _check_nesting(entry: dict, where: str, checked: frozenset) -> None:
    for key in entry.keys() - checked:
        value = entry[key]
        if isinstance(value, (list, dict)) and safejson.too_deep(value):
            name = f"{where}.{key}" if where else repr(key)
            raise CocoFormatError(f"{name} nests lists/objects more than {safejson.MAX_NESTING} levels deep; such "
                                  "a value cannot be kept. The whole file was rejected; nothing was imported")


def _check_finite_everywhere(data: Any) -> None:
    """Kept fields (keypoints, attributes, info, ...) are written back as JSON, which has no
    NaN or Infinity: refuse them up front rather than fail half-way through writing."""
    if isinstance(data, list):  # a results list
        entries = [("", i, a) for i, a in enumerate(data)]
    else:
        entries = [("annotations", i, a) for i, a in enumerate(data.get("annotations", []))]
        entries += [(key, None, data[key]) for key in data if key != "annotations"]
    # segmentation is checked as coordinates
    values = [{k: v for k, v in value.items() if k != "segmentation"} if isinstance(value, dict) and i is not None
              else value for _, i, value in entries]
    try:
        json.dumps(values, allow_nan=False)  # the common case: one call in C
        return
    except ValueError:
        pass
    for (key, i, _), value in zip(entries, values):  # name the first culprit
        try:
            json.dumps(value, allow_nan=False)
        except ValueError:
            where = f"{key}[{i}]" if i is not None else f"'{key}'"
            ident = f" (annotation id {value.get('id')!r})" if isinstance(value, dict) and "id" in value else ""
            raise CocoFormatError(f"{where}{ident} holds NaN or Infinity, which cannot be kept (JSON has no such "
                                  "numbers). The whole file was rejected; nothing was imported") from None


def _all_num(values: list) -> bool:
    """``all(_is_num(v) for v in values)``, with the common case (ints and floats) in C."""
    kinds = set(map(type, values))
    return kinds <= _PLAIN_NUMBERS or all(_is_num(v) for v in values)


_PLAIN_NUMBERS = {int, float}


def _check_coords(values: list, where: str) -> None:
    try:  # the common case in C: every value finite and within the limit
        arr = np.asarray(values, dtype=np.float64)
        if np.isfinite(arr).all() and (np.abs(arr) <= MAX_COORD).all():
            return
    except (TypeError, ValueError, OverflowError):
        pass
    for k, v in enumerate(values):  # name the first bad value
        if not math.isfinite(v):
            raise CocoFormatError(f"{where}[{k}] is {v}: coordinates must be finite numbers. "
                                  "The whole file was rejected; nothing was imported")
        if abs(v) > MAX_COORD:
            raise CocoFormatError(f"{where}[{k}] is {v:g}: beyond the limit of {MAX_COORD:g} pixels. "
                                  "The whole file was rejected; nothing was imported")


def _check_rle(seg: dict, where: str, hw: tuple[int, int]) -> None:
    """The RLE's size is the image's and its runs cover exactly H x W pixels, checked
    without decoding the mask: a file claiming a huge mask, or runs that stop short
    (pycocotools fills the rest with whatever memory held), is refused before any
    allocation."""
    size, counts = seg.get("size"), seg.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)):
        raise CocoFormatError(f"{where}.size must be [height, width]")
    if tuple(size) != tuple(hw):
        raise CocoFormatError(f"{where}.size is {size} but the image is [{hw[0]}, {hw[1]}] (height, width)")
    pixels = hw[0] * hw[1]
    if isinstance(counts, list):
        if not all(_is_int(v) and v >= 0 for v in counts):
            raise CocoFormatError(f"{where}.counts (uncompressed RLE) must be non-negative integers")
        if sum(counts) != pixels:
            raise CocoFormatError(f"{where}.counts sums to {sum(counts)} pixels but the image has "
                                  f"{hw[0]} x {hw[1]} = {pixels}")
    elif isinstance(counts, str):
        try:
            runs = rle_runs(counts)
        except ValueError as exc:
            raise CocoFormatError(f"{where}.counts is not a valid compressed COCO RLE: {exc}") from None
        total = int(runs.sum())
        if total != pixels:
            raise CocoFormatError(f"{where}.counts is not a valid compressed COCO RLE for an image of "
                                  f"{hw[0]} x {hw[1]} = {pixels} pixels: its runs add up to {total}")
    else:
        raise CocoFormatError(f"{where}.counts must be a string (compressed RLE) or a list of integers")


_RUN_CHARS = 7  # 35 bits: more than any count of a mask within MAX_PIXELS needs


def rle_runs(counts: str) -> np.ndarray:
    """int64 run lengths of a compressed COCO RLE string, read without decoding the mask.

    The format (pycocotools' rleToString): each run is 5-bit groups, least significant
    first, as characters 48 + group, bit 0x20 of a character saying "more groups follow"
    and bit 0x10 of the last one the sign; from the third run on, each is stored as the
    difference to the run two before it. ValueError for characters outside the format, a
    string ending inside a run, a run longer than _RUN_CHARS characters or a negative run.
    """
    try:
        raw = counts.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("it holds non-ASCII characters") from None
    c = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return np.zeros(0, dtype=np.int64)
    bad = np.flatnonzero((c < 0) | (c > 63))
    if bad.size:
        raise ValueError(f"character {raw[bad[0]:bad[0] + 1]!r} at position {bad[0]} is not part of the format")
    more = (c & 0x20) != 0
    if more[-1]:
        raise ValueError("the string ends inside a run")
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _RUN_CHARS:
        raise ValueError(f"a run is written with more than {_RUN_CHARS} characters")
    shift = 5 * (np.arange(c.size) - np.repeat(starts, lengths))
    x = np.add.reduceat((c & 0x1F) << shift, starts)
    negative = (c[ends] & 0x10) != 0
    x[negative] -= np.left_shift(1, 5 * lengths[negative])  # two's complement of the value's bits
    runs = x.copy()  # from the fourth run on, runs[i] = x[i] + runs[i - 2]: a running sum per parity
    runs[1::2] = np.cumsum(x[1::2])
    runs[2::2] = np.cumsum(x[2::2])
    if (runs < 0).any():
        raise ValueError(f"run {int(np.flatnonzero(runs < 0)[0])} is negative")
    return runs
