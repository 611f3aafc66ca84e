"""What a COCO file carries beyond shapes and categories, kept so an export writes it back.

Stored in ``.pnp-annotator/coco.json`` (atomic writes):

    {"schema": "pnp-annotator/coco-meta", "version": 1,
     "info": {...} | null, "licenses": [...] | null, "extra": {other top-level keys},
     "images": {"<relative path>": {"id": 40, "extra": {"license": 0, "coco_url": "..."}}}}

Image ids: an image keeps the id it had in the last imported file; an image without
one gets the next ids after the largest kept id, in path order (1..N for a project
that never imported COCO). ``image_ids`` is that one rule, used by the exporter and
by the results-list importer (a results list refers to images by these ids).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annotator.core import safejson
from annotator.core.atomic import atomic_write_json
from annotator.core.statefiles import read_state_text

META_FILE = "coco.json"
SCHEMA = "pnp-annotator/coco-meta"
VERSION = 1


@dataclass
class CocoMeta:
    info: dict[str, Any] | None = None
    licenses: list[Any] | None = None
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    """relative path -> {"id": int, "extra": {other image keys}}"""
    extra: dict[str, Any] = field(default_factory=dict)
    """Top-level keys other than info, licenses, images, annotations, categories (e.g. "type")."""

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "version": VERSION, "info": self.info, "licenses": self.licenses,
                "images": self.images, "extra": self.extra}


def load_meta(project) -> tuple[CocoMeta, str | None]:
    """The stored metadata (empty if none) and a problem line if the file is damaged."""
    path = project.layout.coco_file  # core.layout.COCO_FILE == META_FILE
    if not path.is_file():
        return CocoMeta(), None
    try:
        d = safejson.loads(read_state_text(path))  # a link in the state folder is refused
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise ValueError(f"field 'schema' is not {SCHEMA!r}")
        if not isinstance(d.get("version"), int) or d["version"] > VERSION:
            raise ValueError(f"version {d.get('version')!r} is not readable by this pnp-annotator "
                             f"(reads up to {VERSION})")
        images = d.get("images") or {}
        if not isinstance(images, dict) or not all(isinstance(v, dict) for v in images.values()):
            raise ValueError("'images' must map relative paths to objects")
        info = d.get("info")
        licenses = d.get("licenses")
        extra = d.get("extra") if isinstance(d.get("extra"), dict) else {}
        return CocoMeta(info if isinstance(info, dict) else None,
                        licenses if isinstance(licenses, list) else None, images, extra), None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return CocoMeta(), (f"{path}: COCO metadata (info, licenses, image fields) unreadable and not used: "
                            f"{exc}")


def save_meta(project, meta: CocoMeta) -> None:
    atomic_write_json(project.layout.coco_file, meta.to_dict())


def image_ids(rels: list[str], meta: CocoMeta) -> dict[str, int]:
    """relative path -> COCO image id (kept ids first, then new ones in path order)."""
    out: dict[str, int] = {}
    used: set[int] = set()
    for rel in rels:
        kept = meta.images.get(rel, {}).get("id")
        if isinstance(kept, int) and not isinstance(kept, bool) and kept not in used:
            out[rel] = kept
            used.add(kept)
    next_id = max(used, default=0) + 1
    for rel in rels:
        if rel not in out:
            out[rel] = next_id
            next_id += 1
    return out
