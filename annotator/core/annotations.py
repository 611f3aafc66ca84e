"""``ImageAnnotations``: the shapes of one image and the proposal/review rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annotator.core.shapes import Shape

SCHEMA = "pnp-annotator/image"
VERSION = 2
"""Version 2: each shape has ``parts`` (one or more polygons with holes), ``iscrowd`` and
``extra``. Version-1 files (one ``exterior``/``holes`` per shape) are read, migrated in
memory, and written as version 2 on the next save."""


@dataclass
class ImageAnnotations:
    image: str  # path relative to the project root, POSIX separators
    width: int
    height: int
    shapes: list[Shape] = field(default_factory=list)
    model_run: dict[str, Any] | None = None
    """Set by a proposal run: {"classes": [...], "model": str, "time": ISO-8601}. It tells a
    resumed batch run that this image was already processed, even when nothing was found."""
    migrated_from: int | None = field(default=None, compare=False)
    """The schema version of the file this was read from, when older than VERSION (else None)."""

    @property
    def status(self) -> str:
        """'none' (no shapes), 'proposed' (some shape awaits review) or 'reviewed'."""
        if not self.shapes:
            return "none"
        if any(not s.accepted for s in self.shapes):
            return "proposed"
        return "reviewed"

    def apply_proposals(self, shapes: list[Shape], *, skip_kept: bool = False) -> list[Shape]:
        """Replace the unaccepted model shapes by *shapes*; return the removed ones.

        Human shapes and accepted shapes are the user's work and are never touched.
        *skip_kept*: a proposal identical (label and geometry) to a kept shape is not
        added, so re-running the model on a reviewed image does not stack pending copies
        on accepted shapes (the model's runs ask for it; an imported results file keeps
        every entry it lists).
        """
        removed = [s for s in self.shapes if s.source == "model" and not s.accepted]
        kept = [s for s in self.shapes if not (s.source == "model" and not s.accepted)]
        if skip_kept:
            shapes = [s for s in shapes if not any(same_region(s, k) for k in kept)]
        self.shapes = kept + list(shapes)
        return removed

    def shape(self, shape_id: str) -> Shape | None:
        return next((s for s in self.shapes if s.id == shape_id), None)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema": SCHEMA,
            "version": VERSION,
            "image": self.image,
            "width": self.width,
            "height": self.height,
            "shapes": [s.to_dict() for s in self.shapes],
        }
        if self.model_run is not None:
            d["model_run"] = self.model_run
        return d

    @classmethod
    def from_dict(cls, d: Any) -> ImageAnnotations:
        """Inverse of to_dict; ValueError names the field (and shape index) that is wrong."""
        if not isinstance(d, dict):
            raise ValueError(f"expected a JSON object at the top level, got {type(d).__name__}")
        if d.get("schema") != SCHEMA:
            raise ValueError(f"field 'schema' is {d.get('schema')!r}, expected {SCHEMA!r}: "
                             "this is not a pnp-annotator annotation file")
        version = d.get("version")
        if not isinstance(version, int) or version < 1:
            raise ValueError(f"field 'version' is {version!r}, expected a positive integer")
        if version > VERSION:
            raise ValueError(f"schema version {version} was written by a newer pnp-annotator "
                             f"(this one reads up to {VERSION}); upgrade pnp-annotator")
        for key in ("width", "height"):
            v = d.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"field '{key}' is {v!r}, expected a positive integer")
        if not isinstance(d.get("image"), str):
            raise ValueError("field 'image' must be the image's relative path")
        raw = d.get("shapes")
        if not isinstance(raw, list):
            raise ValueError("field 'shapes' must be a list")
        shapes = []
        for i, s in enumerate(raw):
            try:
                shapes.append(Shape.from_dict(s))
            except ValueError as exc:
                raise ValueError(f"shapes[{i}]: {exc}") from None
        model_run = d.get("model_run")
        if model_run is not None and not isinstance(model_run, dict):
            raise ValueError("field 'model_run' must be an object or absent")
        return cls(d["image"], d["width"], d["height"], shapes, model_run,
                   migrated_from=version if version < VERSION else None)


def same_region(a: Shape, b: Shape) -> bool:
    """Same class and exactly the same parts (the model re-deriving a shape already kept)."""
    return a.label.casefold() == b.label.casefold() and a.parts == b.parts
