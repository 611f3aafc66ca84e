"""Model outputs kept between calibrations, so a second one runs the model only on new images.

One compressed ``.npz`` per engine and image under ``cache_dir(project)/<engine key>/``.
An entry is used only when the engine key (engine, model, config), the image's path,
size and modification time, and the requested classes all match; anything else
(missing, damaged, stale) is a miss and the model runs again. Entries hold what
post-processing needs: per-class maps (float16), the working size (the working image
is recomputed from the image), presence and instances (bit-packed masks).

Results are always passed through this record, also when just computed, so a
calibration from the cache and one from the model see exactly the same numbers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotator.core.atomic import atomic_write_bytes
from annotator.core.project import Project
from annotator.core.statefiles import check_no_links, read_state_bytes

CACHE_FORMAT = 1


def cache_dir(project: Project) -> Path:
    """Where calibration keeps model outputs and grid scores (in the state folder's layout)."""
    return project.layout.cache_dir / "calibration"


@dataclass
class ModelOutput:
    """What one model run on one image gave (see the module docstring)."""

    engine: str
    classes: list[str]
    heatmaps: np.ndarray  # float32 [C, h, w]
    image_size: tuple[int, int]
    work_size: tuple[int, int] | None = None
    presence: dict[str, float] = field(default_factory=dict)
    inst_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    inst_score: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    inst_box: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float64))
    inst_masks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), bool))

    @classmethod
    def of(cls, result) -> "ModelOutput":
        """The record of an engine ``SegmentationResult`` (maps rounded to float16, as stored)."""
        h, w = (int(v) for v in result.image_size)
        insts = list(getattr(result, "instances", None) or [])
        work = getattr(result, "work_image", None)
        return cls(
            engine=str(getattr(result, "engine", "pnp-ovss")),
            classes=[str(c) for c in result.classes],
            heatmaps=np.asarray(result.heatmaps, np.float16).astype(np.float32),
            image_size=(h, w),
            work_size=None if work is None else (int(work.shape[0]), int(work.shape[1])),
            presence={str(k): float(v) for k, v in (getattr(result, "presence", None) or {}).items()},
            inst_class=np.array([i.class_index for i in insts], np.int64),
            inst_score=np.array([i.score for i in insts], np.float64),
            inst_box=np.array([i.box for i in insts], np.float64).reshape(-1, 4),
            inst_masks=(np.stack([np.asarray(i.mask, bool) for i in insts]) if insts
                        else np.zeros((0, h, w), bool)),
        )

    def to_result(self, rgb: np.ndarray | None):
        """An engine ``SegmentationResult`` that ``Segmenter.postprocess`` accepts; *rgb* (the
        image) gives the working image again where the engine post-processes on it."""
        from engine import Instance, SegmentationResult

        work_image = None
        if self.work_size is not None and rgb is not None:
            from engine.pnp_ovss.postprocess import resize_rgb

            work_image = resize_rgb(rgb, *self.work_size)
        instances = [Instance(int(c), float(s), tuple(float(v) for v in b), m)
                     for c, s, b, m in zip(self.inst_class, self.inst_score, self.inst_box, self.inst_masks)]
        return SegmentationResult(classes=list(self.classes), heatmaps=self.heatmaps, presence=dict(self.presence),
                                  label_map=np.zeros(self.image_size, np.int32), image_size=self.image_size,
                                  engine=self.engine, instances=instances, work_image=work_image)


def image_stamp(project: Project, rel: str) -> tuple[int, int]:
    """(size, mtime_ns) of the image file: a replaced image is a cache miss."""
    st = os.stat(project.image_path(rel))
    return int(st.st_size), int(st.st_mtime_ns)


class OutputCache:
    """Model outputs of one engine (by its key) for a project's images."""

    def __init__(self, project: Project, engine_key: str) -> None:
        self.folder = cache_dir(project) / engine_key
        self.project = project

    def path(self, rel: str) -> Path:
        return self.folder / (hashlib.sha1(rel.encode("utf-8")).hexdigest()[:24] + ".npz")

    def load(self, rel: str, classes: list[str]) -> ModelOutput | None:
        path = self.path(rel)
        if path.is_symlink() or not path.is_file():
            return None  # never follow a link inside the state folder
        try:
            output, meta = _decode(read_state_bytes(path))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, json.JSONDecodeError):
            return None  # a damaged entry costs one model run, nothing else
        try:
            stamp = list(image_stamp(self.project, rel))
        except OSError:
            return None
        if meta.get("image") != rel or meta.get("stamp") != stamp or meta.get("requested") != list(classes):
            return None
        return output

    def store(self, rel: str, classes: list[str], output: ModelOutput) -> tuple[ModelOutput, str]:
        """Write the entry (atomically; not durable: a lost entry is one model run) and return
        it as it will be read back, with "" or why it could not be written (it is still used)."""
        meta = {"image": rel, "stamp": list(image_stamp(self.project, rel)), "requested": list(classes)}
        data = _encode(output, meta)
        problem = ""
        try:
            check_no_links(self.project.state_dir, self.path(rel))
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path(rel), data, durable=False)
        except OSError as exc:
            problem = f"cannot keep the model output of {rel} in {self.folder}: {exc}"
        return _decode(data)[0], problem


def _encode(output: ModelOutput, meta: dict) -> bytes:
    h, w = output.image_size
    masks = np.asarray(output.inst_masks, bool).reshape(-1, h * w)
    header = dict(meta, format=CACHE_FORMAT, engine=output.engine, classes=output.classes,
                  image_size=[h, w], work_size=None if output.work_size is None else list(output.work_size),
                  presence=output.presence)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.array(json.dumps(header)),
                        heatmaps=np.asarray(output.heatmaps, np.float16),
                        inst_class=output.inst_class.astype(np.int64), inst_score=output.inst_score.astype(np.float64),
                        inst_box=output.inst_box.astype(np.float64).reshape(-1, 4),
                        inst_masks=np.packbits(masks, axis=1))
    return buffer.getvalue()


def _decode(data: bytes) -> tuple[ModelOutput, dict]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        if meta.get("format") != CACHE_FORMAT:
            raise ValueError("another cache format")
        h, w = (int(v) for v in meta["image_size"])
        packed = npz["inst_masks"]
        masks = np.unpackbits(packed, axis=1, count=h * w).astype(bool).reshape(-1, h, w)
        heatmaps = npz["heatmaps"].astype(np.float32)
        classes = [str(c) for c in meta["classes"]]
        if heatmaps.ndim != 3 or heatmaps.shape[0] != len(classes):
            raise ValueError("heatmaps do not match the classes")
        output = ModelOutput(engine=str(meta["engine"]), classes=classes, heatmaps=heatmaps, image_size=(h, w),
                             work_size=None if meta["work_size"] is None else tuple(int(v) for v in meta["work_size"]),
                             presence={str(k): float(v) for k, v in meta["presence"].items()},
                             inst_class=npz["inst_class"], inst_score=npz["inst_score"], inst_box=npz["inst_box"],
                             inst_masks=masks)
    return output, meta


def annotation_stamp(project: Project, rel: str) -> tuple[int, int]:
    """(size, mtime_ns) of the image's annotation file: an edited truth is scored again."""
    st = os.stat(project.annotation_path(rel))
    return int(st.st_size), int(st.st_mtime_ns)


class ScoreCache:
    """Each image's grid scores (int64 [candidates, classes, STATS]) under one scoring key: the
    engines' keys, the candidates, classes and scoring options. Valid while the image and its
    annotation file are unchanged, so a calibration with a few new reviewed images scores
    only those."""

    def __init__(self, project: Project, key: str) -> None:
        self.folder = cache_dir(project) / "scores" / key
        self.project = project

    def _stamp(self, rel: str) -> list[int]:
        return [*image_stamp(self.project, rel), *annotation_stamp(self.project, rel)]

    def path(self, rel: str) -> Path:
        return self.folder / (hashlib.sha1(rel.encode("utf-8")).hexdigest()[:24] + ".npz")

    def load(self, rel: str, shape: tuple[int, ...]) -> np.ndarray | None:
        path = self.path(rel)
        if path.is_symlink() or not path.is_file():
            return None
        try:
            with np.load(io.BytesIO(read_state_bytes(path)), allow_pickle=False) as npz:
                meta = json.loads(str(npz["meta"]))
                stats = npz["stats"].astype(np.int64)
            stamp = self._stamp(rel)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, json.JSONDecodeError):
            return None
        if meta.get("image") != rel or meta.get("stamp") != stamp or stats.shape != tuple(shape):
            return None
        return stats

    def store(self, rel: str, stats: np.ndarray) -> str:
        """Write the entry; returns "" or why it could not be written."""
        buffer = io.BytesIO()
        try:
            meta = {"image": rel, "stamp": self._stamp(rel)}
            np.savez_compressed(buffer, meta=np.array(json.dumps(meta)), stats=np.asarray(stats, np.int64))
            check_no_links(self.project.state_dir, self.path(rel))
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path(rel), buffer.getvalue(), durable=False)
        except OSError as exc:
            return f"cannot keep the scores of {rel} in {self.folder}: {exc}"
        return ""
