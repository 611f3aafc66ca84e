"""Each image's last model result, kept beside its annotation file so the sliders work after a relaunch.

Layout: ``<root>/.pnp-annotator/images/<relative image path>.heat.npz`` (``core.layout``) holding

    heatmaps   float32 [C, P, P]  the aggregated per-class maps (all post-processing needs)
    classes    str [C]            classes as the engine used them
    image_size int [2]            (H, W) of the original image
    work_size  int [2]            (h, w) the engine post-processes at (the image is resized to it again)
    params     float [2]          threshold, simplification tolerance of the proposals now in the file
    background str                the background mode used

A few kilobytes per image (compressed). The maps are kept as float32, exactly as the engine
made them: raw GradCAM values are often far below float16's smallest number (6e-8), and
maps rounded to zero gave other proposals after a relaunch. Files written as float16 before
are still read, unless a class's map is all zeros (it underflowed: those maps would not give
the image's proposals back). The label map and the working image are not kept: both are
recomputed from the heatmaps and the image itself.

Reading checks every array's header (dtype, shape, size) before anything is allocated, so a
damaged or hostile file (a kilobyte claiming a huge array, a working size the image cannot be
resized to) is refused with a reason (``HeatFileError``) instead of exhausting memory.
"""

from __future__ import annotations

import io
import logging
import math
import os
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from annotator.core.atomic import atomic_write_bytes
from annotator.core.project import Project
from annotator.core.statefiles import check_no_links, open_state_file

SUFFIX = ".heat.npz"
MAX_CLASSES = 4096
MAX_MAP_SIDE = 4096
MAX_MAP_VALUES = 1 << 26  # C x h x w: 256 MB as float32, far above any engine's maps
MAX_IMAGE_PIXELS = 2 * Image.MAX_IMAGE_PIXELS  # no larger image is ever opened (engine.images)
_DEFLATE_RATIO = 1100  # deflate cannot expand data more than ~1032 times
_MEMBERS = {  # name: (allowed dtype kinds and sizes, ndim)
    "heatmaps": ({"<f2", "<f4"}, 3),
    "classes": (None, 1),  # unicode, checked apart
    "image_size": ({"<i8", "<i4"}, 1),
    "work_size": ({"<i8", "<i4"}, 1),
    "params": ({"<f8", "<f4"}, 1),
    "background": (None, 0),
}
_MAX_NAME_CHARS = 1024
BACKGROUND_MODES = ("auto", "always", "never")

log = logging.getLogger(__name__)


class HeatFileError(ValueError):
    """A heatmap file is damaged or not one of ours; names the file and the reason."""


@dataclass(frozen=True)
class SavedResult:
    """What a heatmap file holds; ``threshold`` is None when the engine's default was used."""

    classes: list[str]
    heatmaps: np.ndarray  # float32 [C, P, P]
    image_size: tuple[int, int]  # (H, W)
    work_size: tuple[int, int]  # (h, w)
    threshold: float | None
    tolerance: float
    background: str


def heat_path(project: Project, rel: str):
    """``images/<rel>.heat.npz`` under the state folder (``core.layout``); a link on its way is refused."""
    path = project.layout.heatmap(rel)
    check_no_links(project.state_dir, path)
    return path


def save_result(project: Project, rel: str, saved: SavedResult) -> None:
    """Write (atomically) the heatmap file of image *rel*."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        heatmaps=np.asarray(saved.heatmaps, dtype=np.float32),
        classes=np.array(saved.classes, dtype=str),
        image_size=np.array(saved.image_size, dtype=np.int64),
        work_size=np.array(saved.work_size, dtype=np.int64),
        params=np.array([math.nan if saved.threshold is None else saved.threshold, saved.tolerance]),
        background=np.array(saved.background),
    )
    # not durable: a lost heatmap file only costs the sliders of one image until its next Propose
    atomic_write_bytes(heat_path(project, rel), buffer.getvalue(), durable=False)


def load_result(project: Project, rel: str) -> SavedResult | None:
    """The saved result of image *rel*, or None when there is none or it cannot be used.

    A damaged file only costs the sliders of that image (the proposals are in the
    annotation file), so it is treated as absent (the reason is logged) rather than as
    an error.
    """
    try:
        path = heat_path(project, rel)
        if not path.is_file():
            return None
        with os.fdopen(open_state_file(path), "rb") as fh:  # a link in the state folder is refused
            return read_result(fh, name=path)
    except (OSError, HeatFileError) as exc:
        log.warning("%s", exc)
        return None


def read_result(path, *, name=None) -> SavedResult:
    """The result kept in heatmap file *path* (a path or an open binary file, then named
    *name* in messages); HeatFileError (file + reason) when it is damaged, hostile or written
    by float16 rounding that lost a class's map."""
    path_in = path
    path = name if name is not None else path
    try:
        with zipfile.ZipFile(path_in) as archive:
            arrays = {member: _read_member(archive, member) for member in _MEMBERS}
    except HeatFileError as exc:
        raise HeatFileError(f"{path}: {exc}") from None
    except (OSError, EOFError, ValueError, zlib.error, zipfile.BadZipFile, zipfile.LargeZipFile,
            NotImplementedError, RuntimeError) as exc:  # RuntimeError: a member flagged as encrypted
        raise HeatFileError(f"{path}: not a readable heatmap file ({type(exc).__name__}: {exc})") from None
    try:
        return _saved(arrays)
    except HeatFileError as exc:
        raise HeatFileError(f"{path}: {exc}") from None


def _read_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    """One array, its header checked against the limits before its data is read."""
    try:
        info = archive.getinfo(name + ".npy")
    except KeyError:
        raise HeatFileError(f"'{name}' is missing") from None
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise HeatFileError(f"'{name}' has .npy format version {version}, not one this program writes")
        kinds, ndim = _MEMBERS[name]
        if dtype.hasobject or len(shape) != ndim:
            raise HeatFileError(f"'{name}' is a {len(shape)}-d {dtype} array; expected {ndim}-d")
        if kinds is None:
            if dtype.kind != "U" or dtype.itemsize > 4 * _MAX_NAME_CHARS:
                raise HeatFileError(f"'{name}' holds {dtype}, not text of at most {_MAX_NAME_CHARS} characters")
        elif dtype.str not in kinds:
            raise HeatFileError(f"'{name}' holds {dtype}, expected one of {sorted(kinds)}")
        count = math.prod(shape)
        limit = MAX_MAP_VALUES if name == "heatmaps" else MAX_CLASSES if name == "classes" else 2
        if name != "background" and count > limit:
            raise HeatFileError(f"'{name}' claims shape {shape}: more than {limit} values")
        nbytes = count * dtype.itemsize
        data_bytes = info.file_size - f.tell()
        if data_bytes != nbytes or nbytes > _DEFLATE_RATIO * max(info.compress_size, 1) + 4096:
            raise HeatFileError(f"'{name}' claims shape {shape} ({nbytes} bytes) but holds {data_bytes} bytes "
                                f"in {info.compress_size} compressed")
        data = f.read(nbytes)
    if len(data) != nbytes:
        raise HeatFileError(f"'{name}' is truncated")
    array = np.frombuffer(data, dtype=dtype)
    return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


def _saved(arrays: dict[str, np.ndarray]) -> SavedResult:
    heatmaps, classes = arrays["heatmaps"], [str(c) for c in arrays["classes"]]
    if len(classes) != heatmaps.shape[0]:
        raise HeatFileError(f"{heatmaps.shape[0]} maps for {len(classes)} classes")
    if not classes or not 1 <= min(heatmaps.shape[1:]) <= max(heatmaps.shape[1:]) <= MAX_MAP_SIDE:
        raise HeatFileError(f"maps of shape {heatmaps.shape}: expected 1 or more classes of 1 to {MAX_MAP_SIDE} "
                            "values a side")
    if not np.isfinite(heatmaps).all():
        raise HeatFileError("the maps hold NaN or infinite values")
    if heatmaps.dtype == np.float16 and heatmaps.size and not heatmaps.reshape(len(classes), -1).any(axis=1).all():
        raise HeatFileError("written as float16, and a class's map rounded to zero; it would not give the "
                            "image's proposals back (Propose again to keep new heatmaps)")
    sizes = []
    for name in ("image_size", "work_size"):
        values = arrays[name]
        if values.shape != (2,) or not (values >= 1).all():
            raise HeatFileError(f"'{name}' must be two positive integers (height, width), got {values.tolist()}")
        sizes.append((int(values[0]), int(values[1])))
    (height, width), (work_h, work_w) = sizes
    if height * width > MAX_IMAGE_PIXELS:
        raise HeatFileError(f"image_size {height}x{width} is beyond the {MAX_IMAGE_PIXELS} pixels of any image "
                            "that can be opened")
    if work_h > height or work_w > width:
        raise HeatFileError(f"work_size {work_h}x{work_w} is larger than the image ({height}x{width}); the "
                            "engine only ever shrinks it")
    params = arrays["params"]
    if params.shape != (2,):
        raise HeatFileError(f"'params' must hold threshold and tolerance, got {params.tolist()}")
    threshold, tolerance = (float(v) for v in params)
    if not (math.isnan(threshold) or 0.0 <= threshold <= 1.0) or not (math.isfinite(tolerance) and tolerance >= 0):
        raise HeatFileError(f"'params' threshold {threshold} / tolerance {tolerance} are out of range")
    background = str(arrays["background"])
    if background not in BACKGROUND_MODES:
        raise HeatFileError(f"background mode {background[:40]!r} is not one of {', '.join(BACKGROUND_MODES)}")
    return SavedResult(classes, heatmaps.astype(np.float32), (height, width), (work_h, work_w),
                       None if math.isnan(threshold) else threshold, tolerance, background)
