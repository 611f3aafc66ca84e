"""Where a COCO export may be written: never over an image, a state file or someone's file.

``export --out`` and ``label --out`` name a file that is then replaced. It is refused
(``OutputRefused``, exit 2) when it is inside the image folder (the export would sit
among the images, or replace one) or inside the state folder, or when it names an
existing file that is not a previous export of ours, unless ``force``. Our exports start
with the key ``EXPORT_MARKER`` (``core.coco.export`` writes it first), so telling one
apart reads a few bytes, however large the file. The state folder is refused even with
``force``: nothing but the project writes there.
"""

from __future__ import annotations

import os
from pathlib import Path

from annotator.core.layout import STATE_DIR

EXPORT_MARKER = "pnp-annotator"
"""First key of every COCO file we write: {"pnp-annotator": {"export": "coco", "version": 1}, ...}."""
EXPORT_STAMP = {"export": "coco", "version": 1}
_HEAD = ('{"' + EXPORT_MARKER + '":').encode()


class OutputRefused(ValueError):
    """The chosen output would overwrite something not ours; the message says what and how to go on."""


def is_our_export(path: str | os.PathLike) -> bool:
    """True when *path* is a regular file that starts as our COCO exports do."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_HEAD) + 8)
    except OSError:
        return False
    return head.replace(b" ", b"").startswith(_HEAD.replace(b" ", b""))


def check_export_target(root: str | os.PathLike, out: str | os.PathLike, *, force: bool = False) -> None:
    """OutputRefused when writing a COCO file at *out* could destroy something (module doc)."""
    root = Path(root).resolve()
    target = Path(out).expanduser()
    resolved = target.resolve()
    if resolved.is_relative_to(root / STATE_DIR) or STATE_DIR in target.parts:
        raise OutputRefused(f"--out {out} is inside the project's state folder {root / STATE_DIR}, which only "
                            "pnp-annotator writes; choose a file elsewhere. Nothing was written")
    if resolved.is_dir():
        raise OutputRefused(f"--out {out} is a folder; name the COCO file to write, e.g. {target / 'coco.json'}")
    if force:
        return
    if resolved.is_relative_to(root):
        raise OutputRefused(f"--out {out} is inside the image folder {root}: it could replace an image or a file "
                            "of yours there. Choose a file outside the folder, or add --force to write it there. "
                            "Nothing was written")
    if os.path.lexists(target) and not is_our_export(target):
        raise OutputRefused(f"--out {out} exists and is not a COCO export of pnp-annotator; it is left as it is. "
                            "Choose another name, or add --force to replace it. Nothing was written")
