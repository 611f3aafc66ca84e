"""Where every file of a project's state folder lives; imports nothing of the project.

Layout 2 (this version)::

    <root>/.pnp-annotator/
        project.json                     label set + settings          (PROJECT_FILE)
        coco.json                        COCO metadata kept for export (COCO_FILE)
        index.json, index.log            status index and its journal  (INDEX_FILE, JOURNAL_FILE)
        lock                             the running labelling run     (LOCK_FILE)
        layout.json                      {"schema": "pnp-annotator/layout", "version": 2}
        trash/<rel>.json, .heat.npz      set-aside files of deleted images
        images/<rel>.json                one annotation file per image (IMAGES_DIR)
        images/<rel>.heat.npz            its last model result

Every per-image file is under ``images/``, so no image path (a subfolder called ``trash``,
``lock`` or ``index.json``) can meet the project's own files. Layout 1 (before) kept the
per-image files directly in the state folder; ``core.migration`` moves a project to
layout 2 on first open, and a project that cannot be moved (a read-only folder) is read
in place: ``StateLayout.detect`` says which one a folder has.

    layout = StateLayout.detect(root / STATE_DIR)
    layout.annotation("sub/a.png")      # .../.pnp-annotator/images/sub/a.png.json
    layout.heatmap("sub/a.png")         # .../.pnp-annotator/images/sub/a.png.heat.npz
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path, PurePosixPath

STATE_DIR = ".pnp-annotator"
PROJECT_FILE = "project.json"
COCO_FILE = "coco.json"
INDEX_FILE = "index.json"
JOURNAL_FILE = "index.log"
LOCK_FILE = "lock"
TRASH_DIR = "trash"
IMAGES_DIR = "images"
CACHE_DIR = "cache"  # layout 2 only (calibration's model outputs and scores): rebuilt when missing
LAYOUT_FILE = "layout.json"
LAYOUT_SCHEMA = "pnp-annotator/layout"
LAYOUT_VERSION = 2
STAGING_DIR = ".migrating"
"""Layout-1 projects: the new ``images/`` subtree is built here before it counts (core.migration)."""

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
"""Files the project lists as images; an annotation file is ``<image>.<one of these>.json``."""
ANNOTATION_SUFFIX = ".json"
HEAT_SUFFIX = ".heat.npz"

OWN_NAMES = frozenset({PROJECT_FILE, COCO_FILE, INDEX_FILE, JOURNAL_FILE, LOCK_FILE, TRASH_DIR, LAYOUT_FILE,
                       IMAGES_DIR, PROJECT_FILE + ".damaged"})
"""Top-level names of the state folder that are the project's own (never an image's, in layout 2)."""


class StateFolderError(OSError):
    """The state folder (or a file in it) is not what the project writes: a plain file where the
    folder should be, a symbolic link, a device. The message names the path and what to do."""


def checked_rel(rel: str) -> str:
    """*rel* as a clean relative POSIX path; ValueError for an absolute path or one with '..'."""
    p = PurePosixPath(str(rel).replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"'{rel}' is not a path relative to the project folder")
    return p.as_posix()


class StateLayout:
    """The paths of one state folder. ``images_dir`` is ``state_dir/images`` in layout 2 and
    the state folder itself in layout 1 (read in place)."""

    def __init__(self, state_dir: str | os.PathLike, version: int = LAYOUT_VERSION,
                 images_dir: str | os.PathLike | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.version = version
        if images_dir is not None:
            self.images_dir = Path(images_dir)
        else:
            self.images_dir = self.state_dir / IMAGES_DIR if version >= 2 else self.state_dir

    @classmethod
    def detect(cls, state_dir: str | os.PathLike) -> StateLayout:
        """The layout a state folder has now: 2 when it has ``layout.json`` or nothing yet
        (a new project starts in layout 2), else 1. A layout-2 marker with the staging folder
        still there (a migration that stopped while removing the old files) reads the staging
        folder, which is complete by then."""
        state_dir = Path(state_dir)
        if read_layout_version(state_dir) >= 2:
            staging = state_dir / STAGING_DIR
            if staging.is_dir():
                return cls(state_dir, LAYOUT_VERSION, staging)
            return cls(state_dir, LAYOUT_VERSION)
        if not state_dir.exists() or not any(layout1_entries(state_dir)):
            return cls(state_dir, LAYOUT_VERSION)
        return cls(state_dir, 1)

    # --- the project's own files -------------------------------------------------------------
    @property
    def project_file(self) -> Path:
        return self.state_dir / PROJECT_FILE

    @property
    def coco_file(self) -> Path:
        return self.state_dir / COCO_FILE

    @property
    def index_file(self) -> Path:
        return self.state_dir / INDEX_FILE

    @property
    def journal_file(self) -> Path:
        return self.state_dir / JOURNAL_FILE

    @property
    def lock_file(self) -> Path:
        return self.state_dir / LOCK_FILE

    @property
    def layout_file(self) -> Path:
        return self.state_dir / LAYOUT_FILE

    @property
    def trash_dir(self) -> Path:
        return self.state_dir / TRASH_DIR

    @property
    def cache_dir(self) -> Path:
        return self.state_dir / CACHE_DIR

    # --- per-image files -------------------------------------------------------------------------
    def annotation(self, rel: str) -> Path:
        """The annotation file of image *rel* (a path relative to the project root)."""
        return self.images_dir / (checked_rel(rel) + ANNOTATION_SUFFIX)

    def heatmap(self, rel: str) -> Path:
        """The heatmap file (last model result) of image *rel*."""
        return self.images_dir / (checked_rel(rel) + HEAT_SUFFIX)

    def skip_dir(self, folder: Path, name: str) -> bool:
        """True for a folder that a walk over the per-image files must not enter (hidden ones;
        in layout 1 the trash, which sits among the image folders)."""
        if name.startswith("."):
            return True
        return self.version < 2 and folder == self.state_dir and name == TRASH_DIR

    def trash_target(self, path: Path) -> Path:
        """Where a per-image file goes in the trash: its path under ``images_dir`` below
        ``trash/``, numbered (``name~2.png.json``) when an earlier copy is there already."""
        target = self.trash_dir / path.relative_to(self.images_dir)
        stem, _, suffixes = target.name.partition(".")
        number = 1
        while target.exists():
            number += 1
            target = target.with_name(f"{stem}~{number}.{suffixes}")
        return target


def read_layout_version(state_dir: Path) -> int:
    """The version in ``layout.json``; 0 when there is none or it cannot be read."""
    try:
        data = json.loads((Path(state_dir) / LAYOUT_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return 0
    if isinstance(data, dict) and data.get("schema") == LAYOUT_SCHEMA and isinstance(data.get("version"), int):
        return data["version"]
    return 0


def layout_record() -> str:
    return json.dumps({"schema": LAYOUT_SCHEMA, "version": LAYOUT_VERSION}) + "\n"


def layout1_entries(state_dir: str | os.PathLike):
    """Names at the top of a layout-1 state folder that hold per-image files: image folders
    (one called ``images``, ``lock`` or ``index.json`` among them) and annotation and heatmap
    files; not the project's own files, its trash or hidden (temp) files."""
    try:
        entries = sorted(os.scandir(state_dir), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        if name in OWN_NAMES and name != IMAGES_DIR:
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir == (name == TRASH_DIR):
                continue  # the project's own: its trash folder, its files
        yield name


def check_state_dir(state_dir: str | os.PathLike) -> None:
    """StateFolderError when the state folder exists and is not a real folder (a plain file,
    a symbolic link to anywhere, a device); nothing when it is a folder or absent."""
    path = Path(state_dir)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateFolderError(exc.errno, f"{path} cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise StateFolderError(f"{path} is a symbolic link; the project's state folder must be a real folder "
                               f"(the tool never writes through links there). Replace the link with the folder "
                               f"it points to, or remove it.")
    if not stat.S_ISDIR(st.st_mode):
        raise StateFolderError(f"{path} is not a folder; pnp-annotator keeps the project's labels and "
                               f"annotations in a folder of that name. Rename or remove that file.")
