"""Annotations set aside instead of deleted: ``.pnp-annotator/trash/`` (``core.layout``).

An image deleted from the folder leaves its annotation file behind (export lists it,
the window shows it as missing). ``trash_annotations`` moves that file, and the image's
heatmap file, into the trash folder under the image's relative path, so nothing is lost:
moving the file back (to ``images/``) restores the annotations. The status index never
lists the trash (it only walks ``images/``).

    moved = trash_annotations(project, "d00/img000001.png")   # [Path, ...] of the moved files
"""

from __future__ import annotations

import os
from pathlib import Path

from annotator.core.layout import TRASH_DIR  # noqa: F401  (re-exported for the window's message)
from annotator.core.statefiles import check_no_links


def trash_annotations(project, rel: str) -> list[Path]:
    """Move the annotation file of image *rel* (and its heatmap file, if any) to the trash;
    returns the new paths. FileNotFoundError when *rel* has no annotation file."""
    layout = project.layout
    annotation = layout.annotation(rel)
    if not annotation.is_file():
        raise FileNotFoundError(f"{rel} has no annotation file ({annotation})")
    moved = []
    for path in (annotation, layout.heatmap(rel)):
        if not os.path.lexists(path):
            continue
        target = layout.trash_target(path)
        check_no_links(layout.state_dir, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)  # same file system: a rename, never a copy half-written
        moved.append(target)
    project.index.note_removed(rel)
    return moved
