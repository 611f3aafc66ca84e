"""Annotations set aside instead of deleted: ``.pnp-annotator/trash/``.

An image deleted from the folder leaves its annotation file behind (export lists it,
the window shows it as missing). ``trash_annotations`` moves that file, and the image's
heatmap file, into the trash folder under the same relative path, so nothing is lost:
moving the file back restores the annotations. The status index never lists the trash
(``core.index`` skips the folder).

    moved = trash_annotations(project, "d00/img000001.png")   # [Path, ...] of the moved files
"""

from __future__ import annotations

import os
from pathlib import Path

TRASH_DIR = "trash"
"""Folder under the state folder; the status index does not look inside it."""


def trash_path(state_dir: Path, rel_file: str) -> Path:
    """Where *rel_file* (a path under the state folder) goes: the same relative path under the
    trash, numbered (``name~2.png.json``) when an earlier copy is there already."""
    target = state_dir / TRASH_DIR / rel_file
    stem, _, suffixes = target.name.partition(".")
    number = 1
    while target.exists():
        number += 1
        target = target.with_name(f"{stem}~{number}.{suffixes}")
    return target


def trash_annotations(project, rel: str) -> list[Path]:
    """Move the annotation file of image *rel* (and its heatmap file, if any) to the trash;
    returns the new paths. FileNotFoundError when *rel* has no annotation file."""
    from annotator.core.heatcache import heat_path

    annotation = project.annotation_path(rel)
    if not annotation.is_file():
        raise FileNotFoundError(f"{rel} has no annotation file ({annotation})")
    moved = []
    for path in (annotation, heat_path(project, rel)):
        if not path.exists():
            continue
        target = trash_path(project.state_dir, path.relative_to(project.state_dir).as_posix())
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)  # same file system: a rename, never a copy half-written
        moved.append(target)
    project.index.note_removed(rel)
    return moved
