"""Ground truth for calibration: the shapes of reviewed images.

An image is *reviewed* when every shape in it is human-made or accepted and it has at
least one (``ImageAnnotations.status == "reviewed"``): a pending proposal means the
annotator has not said yet what the right answer is, so such images are left out.

Each reviewed image gives, per class, the masks of its shapes (one per shape, so that
"shapes to add / delete" can be counted) rasterised at the annotation's size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from annotator.core.project import AnnotationFileError, Project


@dataclass
class TruthImage:
    """One reviewed image: its shapes' masks per class (bool [H, W] each)."""

    image: str
    height: int
    width: int
    shapes: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def union(self, label: str) -> np.ndarray:
        """All pixels of class *label* (bool [H, W]; empty when the class is absent)."""
        out = np.zeros((self.height, self.width), bool)
        for mask in self.shapes.get(label, ()):
            out |= mask
        return out

    def has(self, label: str) -> bool:
        return any(m.any() for m in self.shapes.get(label, ()))


def reviewed_images(project: Project, cancel=None) -> list[str]:
    """Relative paths of the reviewed images, sorted (status index; parses only stale files)."""
    entries = project.index.refresh(cancel=cancel)
    images = set(project.images())
    return sorted(rel for rel, e in entries.items() if e.status == "reviewed" and rel in images)


def load_truth(project: Project, rel: str, classes: list[str]) -> TruthImage:
    """The reviewed shapes of *rel* for the calibrated *classes* (case-insensitive match;
    labels outside the class list are ignored: no engine was asked for them).

    Raises AnnotationFileError for a damaged file, ValueError when the image is not reviewed
    (a proposal is pending) -- it changed since it was listed.
    """
    ann = project.load(rel)
    if ann.status != "reviewed":
        raise AnnotationFileError(project.annotation_path(rel), "is no longer reviewed (a proposal is pending)")
    by_key = {c.casefold(): c for c in classes}
    truth = TruthImage(rel, int(ann.height), int(ann.width))
    for shape in ann.shapes:
        name = by_key.get(shape.label.casefold())
        if name is None:
            continue
        truth.shapes.setdefault(name, []).append(shape.mask(truth.height, truth.width))
    return truth


def split_halves(images: list[str], present: list[bool]) -> tuple[list[int], list[int]]:
    """Two halves of *images* (indices) for choosing on one and reporting on the other.

    Deterministic (the same images give the same halves, whatever their listing order):
    images are ordered by a hash of their path, then dealt alternately, separately for
    those where the class is *present* and those where it is not, so both halves see the
    class about equally often.
    """
    digest = [hashlib.sha1(name.encode("utf-8")).hexdigest() for name in images]
    order = sorted(range(len(images)), key=lambda i: digest[i])
    a: list[int] = []
    b: list[int] = []
    for wanted in (True, False):
        group = [i for i in order if bool(present[i]) == wanted]
        for k, i in enumerate(group):
            (a if k % 2 == 0 else b).append(i)
    return sorted(a), sorted(b)
