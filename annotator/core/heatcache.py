"""Each image's last model result, kept beside its annotation file so the sliders work after a relaunch.

Layout: ``<root>/.pnp-annotator/images/<relative image path>.heat.npz`` (``core.layout``) holding

    heatmaps   float16 [C, P, P]  the aggregated per-class maps (all post-processing needs)
    classes    str [C]            classes as the engine used them
    image_size int [2]            (H, W) of the original image
    work_size  int [2]            (h, w) the engine post-processes at (the image is resized to it again)
    params     float [2]          threshold, simplification tolerance of the proposals now in the file
    background str                the background mode used

A few kilobytes per image (float16, compressed). The label map and the working image are
not kept: both are recomputed from the heatmaps and the image itself.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass

import numpy as np

from annotator.core.atomic import atomic_write_bytes
from annotator.core.project import Project
from annotator.core.statefiles import check_no_links

SUFFIX = ".heat.npz"


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
        heatmaps=np.asarray(saved.heatmaps, dtype=np.float16),
        classes=np.array(saved.classes, dtype=str),
        image_size=np.array(saved.image_size, dtype=np.int64),
        work_size=np.array(saved.work_size, dtype=np.int64),
        params=np.array([math.nan if saved.threshold is None else saved.threshold, saved.tolerance]),
        background=np.array(saved.background),
    )
    # not durable: a lost heatmap file only costs the sliders of one image until its next Propose
    atomic_write_bytes(heat_path(project, rel), buffer.getvalue(), durable=False)


def load_result(project: Project, rel: str) -> SavedResult | None:
    """The saved result of image *rel*, or None when there is none or it cannot be read.

    A damaged file only costs the sliders of that image (the proposals are in the
    annotation file), so it is treated as absent rather than as an error.
    """
    path = heat_path(project, rel)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            heatmaps = data["heatmaps"].astype(np.float32)
            classes = [str(c) for c in data["classes"]]
            image_size = tuple(int(v) for v in data["image_size"])
            work_size = tuple(int(v) for v in data["work_size"])
            threshold, tolerance = (float(v) for v in data["params"])
            background = str(data["background"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    if heatmaps.ndim != 3 or len(classes) != heatmaps.shape[0]:
        return None
    return SavedResult(classes, heatmaps, image_size, work_size,
                       None if math.isnan(threshold) else threshold, tolerance, background)
