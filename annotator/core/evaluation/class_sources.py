"""Where each image's class list comes from: the ground truth, ITM presence, or a file.

* ``gt``: the classes present in the image's ground truth (an oracle: it leaks labels,
  so results are marked ``oracle``).
* ``presence``: every dataset class; the engine keeps those whose ITM match probability
  passes ``SegmenterConfig.presence_threshold`` (see ``runner``).
* a JSON file ``{image_id: value}`` where value is either a list of class names or the
  authors' raw GPT-4o answer ``"[id1: name1, ...], [p1, ...]"`` (spec 3.1: classes with
  p > 70 kept in GPT's order; if none survive, the dataset's first class).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .classnames import natural_name, reference_name
from .datasets import DatasetInfo

GPT_MIN_CONFIDENCE = 70  # strict ">", SEG:765


class ClassListError(ValueError):
    """A class-list file cannot be used; the message names the file, image and fix."""


@dataclass(frozen=True)
class ClassSource:
    kind: str  # "gt" | "presence" | "file"
    path: Path | None = None
    lists: dict[str, list[int]] = field(default_factory=dict)
    fallbacks: frozenset[str] = frozenset()
    """Images of a file whose list fell back to the first class."""

    @property
    def oracle(self) -> bool:
        return self.kind == "gt"

    def describe(self) -> str:
        return f"file:{self.path}" if self.kind == "file" else self.kind

    def class_ids(self, info: DatasetInfo, image_id: str, id_mask: np.ndarray) -> list[int]:
        """Dataset class ids to prompt for one image (never empty)."""
        if self.kind == "presence":
            return list(info.class_ids)
        if self.kind == "file":
            return self.lists[image_id]
        present = set(np.unique(id_mask).tolist())
        # An image with only background still needs one class to prompt for; the
        # dataset's first class is the released code's fallback too.
        return [cid for cid in info.class_ids if cid in present] or [info.class_ids[0]]

    def check_covers(self, image_ids: list[str]) -> None:
        """Fail before any model work if the file lacks an image to be evaluated."""
        if self.kind != "file":
            return
        missing = [i for i in image_ids if i not in self.lists]
        if missing:
            raise ClassListError(
                f"{self.path} has no class list for {len(missing)} of the images, e.g. {missing[0]!r}; "
                "keys must be image file stems (\"2007_000033\", \"000000397133\", \"ADE_val_00000001\")"
            )


def class_source(spec: str, info: DatasetInfo) -> ClassSource:
    """``"gt"``, ``"presence"``, or the path of a JSON class-list file."""
    if spec in ("gt", "presence"):
        return ClassSource(spec)
    return load_class_file(Path(spec), info)


def load_class_file(path: Path, info: DatasetInfo) -> ClassSource:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClassListError(f"class-list file {path} not found (use gt, presence or a JSON file)") from None
    except (OSError, ValueError) as exc:
        raise ClassListError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ClassListError(f"{path} must hold a JSON object {{image_id: [class names] or GPT-4o answer}}")
    lookup = name_lookup(info)
    lists, fallbacks = {}, set()
    for image_id, value in data.items():
        if isinstance(value, str):
            ids = parse_gpt_answer(value, info)
            where = f"{path}, image {image_id!r}"
            if ids is None:
                raise ClassListError(f"{where}: cannot parse GPT-4o answer {value!r}")
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            ids = _ids_from_names(value, lookup, f"{path}, image {image_id!r}")
        else:
            raise ClassListError(f"{path}, image {image_id!r}: expected a list of class names or a string")
        if not ids:
            ids = [info.class_ids[0]]
            fallbacks.add(image_id)
        lists[image_id] = ids
    return ClassSource("file", path, lists, frozenset(fallbacks))


def name_lookup(info: DatasetInfo) -> dict[str, int]:
    """Every accepted spelling of a class name (dataset, natural, one-word, released) -> id.

    The dataset's own spellings are registered first, so where the released code's
    names collide (ADE20K calls 59 "screen door" "screen") the dataset's meaning wins.
    """
    lookup = {}
    for cid, name in info.classes:
        for spelling in (name, natural_name(name)):
            lookup.setdefault(normalise(spelling), cid)
    for cid, name in info.classes:
        for spelling in (reference_name(name), info.released_names.get(cid, name),
                         reference_name(info.released_names.get(cid, name))):
            lookup.setdefault(normalise(spelling), cid)
    return lookup


def normalise(name: str) -> str:
    return " ".join(name.lower().split())


def _ids_from_names(names: list[str], lookup: dict[str, int], where: str) -> list[int]:
    ids = []
    for name in names:
        cid = lookup.get(normalise(name))
        if cid is None:
            raise ClassListError(f"{where}: {name!r} is not a class of this dataset")
        if cid not in ids:
            ids.append(cid)
    return ids


_BETWEEN_GROUPS = re.compile(r"\]\s*,?\s*\[")


def parse_gpt_answer(text: str, info: DatasetInfo) -> list[int] | None:
    """Class ids kept from one raw GPT-4o answer, in GPT's order, without duplicates.

    Reads answers the way the released scripts do (SEG:726-787, SEGC:858-963), taking
    the most lenient of them where they differ: the two bracket groups may be separated
    by newlines; a missing confidence group keeps every class (COCO script); extra
    classes without a confidence, and class items without a numeric id, are skipped
    (COCO-Stuff script). A confidence is the number after an item's last ":" and
    before "%", kept when > 70. Ids are dataset ids (VOC/PC/ADE 1-based, COCO category
    ids); ids that are not classes of *info* are dropped (the COCO scripts do).
    Returns [] when nothing is kept (the caller falls back), None when a confidence
    is not a number.
    """
    parts = _BETWEEN_GROUPS.sub("], [", text.strip()).strip("][").split("], [")
    class_items = parts[0].split(",") if parts[0].strip() else []
    if len(parts) == 1:
        probs = [100.0] * len(class_items)
    else:
        try:
            probs = [float(p.split(":")[-1].split("%")[0]) for p in parts[1].split(",") if p.strip()]
        except ValueError:
            return None
    valid = set(info.class_ids)
    ids: list[int] = []
    for item, p in zip(class_items, probs):
        try:
            cid = int(item.split(":")[0])
        except ValueError:
            continue
        if p > GPT_MIN_CONFIDENCE and cid in valid and cid not in ids:
            ids.append(cid)
    return ids
