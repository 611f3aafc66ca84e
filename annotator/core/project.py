"""``Project``: a folder of images, its label set, settings and per-image annotation files.

Layout (all state in one hidden folder, so the images folder stays the user's; every
path is in ``core.layout``)::

    <root>/.pnp-annotator/project.json                      label set + settings
    <root>/.pnp-annotator/images/<relative image path>.json one file per annotated image

A project of an older layout is moved to this one on open (``core.migration``).

Every write is atomic (``atomic.py``). A damaged file is reported with its path
and the reason, and only that file is affected.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from annotator.core.annotations import ImageAnnotations
from annotator.core import safejson
from annotator.core.atomic import TEMP_SUFFIX, atomic_write_json, atomic_write_text, sync_all
from annotator.core.index import IndexEntry, StatusIndex
from annotator.core.labels import LabelSet
from annotator.core.layout import (
    IMAGE_EXTENSIONS,
    PROJECT_FILE,
    STATE_DIR,
    StateFolderError,  # noqa: F401  (re-exported: Project.open raises it)
    StateLayout,
    check_state_dir,
    checked_rel,
)
from annotator.core.statefiles import check_no_links, read_state_text
from annotator.core.proposal_settings import (BACKGROUND_MODES, DEFAULT_MIN_AREA_FRACTION, DEFAULT_TOLERANCE,
                                              PROPOSAL_MODES, ProposalSettings, check)

PROJECT_SCHEMA = "pnp-annotator/project"
PROJECT_VERSION = 1


class AnnotationFileError(ValueError):
    """A project or annotation file could not be read; names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class ProjectSettings:
    """Everything that decides what a labelling run produces; one per project folder.

    Stored in project.json and read and written by the CLI and the window alike, so a
    model or threshold chosen in one is what the other runs with.
    """

    classes: str = ""
    """The class prompt as the user typed it, e.g. "sky, road, car"."""
    model: str = ""
    """Model id or folder; empty means engine.config.DEFAULT_MODEL."""
    device: str = "auto"
    """"auto", "cpu", "cuda" or "mps"."""
    threshold: float | None = None
    """Heatmap threshold in [0, 1] of the project's engine; None means the engine's default."""
    class_thresholds: dict[str, float] = field(default_factory=dict)
    """Threshold of single classes, over ``threshold`` (``ProposalSettings.class_thresholds``)."""
    engine_thresholds: dict[str, float] = field(default_factory=dict)
    """Thresholds the user set for the engines not in use (engine name -> threshold), back
    in ``threshold`` when the project switches to that engine again (``switch_model``)."""
    background: str = "auto"
    """Background channel: "auto" (fewer than 3 classes), "always" or "never"."""
    presence_threshold: float | None = None
    """Drop classes whose image-text match probability is below this (None: keep all)."""
    proposals: str = "auto"
    """"regions" (one shape per connected region of the label map), "instances" (one per
    detected object) or "auto" (instances for engines that detect them, else regions)."""
    simplify_tolerance: float = DEFAULT_TOLERANCE
    """Polygon simplification tolerance in pixels."""
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION
    """Regions smaller than this fraction of the image are dropped (0.05 %)."""
    interactive_model: str = ""
    """Model for click-to-segment tools; empty means facebook/sam2.1-hiera-tiny."""
    refine: bool = False
    """Sharpen proposal outlines after a labelling run."""
    routes: dict = field(default_factory=dict)
    """Per class, the route calibration chose (``core.routing.Route`` as a dict: engine,
    model, mode, threshold, sharpen, score); classes without one use the settings above.
    Absent in older project files (empty)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def proposal_settings(self) -> ProposalSettings:
        """The record every model run of this project carries."""
        return ProposalSettings(threshold=self.threshold, class_thresholds=self.class_thresholds,
                                background=self.background, tolerance=self.simplify_tolerance,
                                min_area_fraction=self.min_area_fraction, proposals=self.proposals,
                                refine=self.refine or self.routes_sharpen())

    def routes_sharpen(self) -> bool:
        """Whether a calibrated route sharpens its class: a run then sharpens (those classes,
        and the unrouted ones only when ``refine`` is on: ``core.refine.sharpened_classes``)."""
        return any(isinstance(r, dict) and bool(r.get("sharpen")) for r in (self.routes or {}).values())

    def switch_model(self, model: str, engine_of) -> None:
        """Use *model*; when its engine (``engine_of(model)`` -> engine name) differs from the
        current one, the threshold the user set for the old engine is kept for it and the new
        engine's own comes back (None: that engine's default)."""
        old, new = engine_of(self.model), engine_of(model)
        self.model = model
        if old == new:
            return
        kept = dict(self.engine_thresholds)  # a new dict: a copied ProjectSettings may share the old one
        if self.threshold is not None:
            kept[old] = self.threshold
        self.threshold = kept.pop(new, None)
        self.engine_thresholds = kept

    @classmethod
    def from_dict(cls, d: Any) -> ProjectSettings:
        """Known keys are type-checked; unknown keys (from newer versions) are ignored."""
        if not isinstance(d, dict):
            raise ValueError("settings: expected an object")
        out = cls()
        for f in fields(cls):
            if f.name in d:
                setattr(out, f.name, _checked_setting(f.name, d[f.name]))
        return out


_CHOICES = {"device": DEVICES}
# project.json names of ProposalSettings fields (the record checks them)
_RECORD_FIELDS = {"threshold": "threshold", "class_thresholds": "class_thresholds", "background": "background",
                  "simplify_tolerance": "tolerance", "min_area_fraction": "min_area_fraction",
                  "proposals": "proposals", "refine": "refine"}


def _checked_setting(name: str, value: Any) -> Any:
    """*value* for setting *name*, or ValueError naming the field and what it accepts."""
    if name in _RECORD_FIELDS or name == "engine_thresholds":
        key = _RECORD_FIELDS.get(name, "class_thresholds")  # engine name -> threshold: the same shape
        try:
            return check({key: value})[key]
        except ValueError as exc:
            raise ValueError(f"settings.{name}{str(exc)[len(key):]}") from None
    if name == "presence_threshold":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"settings.{name}: expected null or a number in [0, 1], got {value!r}")
        return float(value)
    if name == "routes":
        from annotator.core.routing import check_routes

        return check_routes(value)
    if not isinstance(value, str):
        raise ValueError(f"settings.{name}: expected a string, got {value!r}")
    choices = _CHOICES.get(name)
    if choices is not None and value not in choices:
        raise ValueError(f"settings.{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


class Project:
    def __init__(self, root: Path, labels: LabelSet, settings: ProjectSettings,
                 problems: list[str] | None = None, layout: StateLayout | None = None) -> None:
        self.root = root
        self.labels = labels
        self.settings = settings
        self.problems: list[str] = problems or []
        """Files that could not be read when the project was opened (path: reason)."""
        self._damaged_project_file = bool(problems)
        self.layout = layout or StateLayout.detect(root / STATE_DIR)
        """Where each state file is (``core.layout``)."""
        self._marked = self.layout.version < 2 or self.layout.layout_file.is_file()
        self.index = StatusIndex(self.layout.state_dir, IMAGE_EXTENSIONS, layout=self.layout)
        """Statuses without parsing every file (``core.index``)."""

    # --- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | os.PathLike) -> Project:
        """Open (or start) the project of an image folder; a damaged project.json is
        reported in ``problems`` and defaults are used, so images stay reachable.
        StateFolderError (an OSError) when ``.pnp-annotator`` is not a real folder."""
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            raise NotADirectoryError(f"'{root}' is not a folder of images")
        check_state_dir(root / STATE_DIR)
        layout, problems = _open_layout(root / STATE_DIR)
        path = layout.project_file
        if not os.path.lexists(path):
            return cls(root, LabelSet(), ProjectSettings(), problems, layout)
        try:
            labels, settings = _read_project_file(path)
        except AnnotationFileError as exc:
            return cls(root, LabelSet(), ProjectSettings(),
                       [*problems, f"{exc}. Using an empty label set and default settings; the damaged file is "
                                   f"kept as {PROJECT_FILE}.damaged when settings are next saved."], layout)
        project = cls(root, labels, settings, problems, layout)
        project._damaged_project_file = False
        return project

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    def save_settings(self) -> None:
        """Write project.json (label set and settings) atomically."""
        path = self.layout.project_file
        check_no_links(self.state_dir, path)
        if self._damaged_project_file and path.is_file() and not path.is_symlink():
            shutil.copy2(path, path.with_name(PROJECT_FILE + ".damaged"))
            self._damaged_project_file = False
        atomic_write_json(path, {
            "schema": PROJECT_SCHEMA,
            "version": PROJECT_VERSION,
            "labels": self.labels.to_dict(),
            "settings": self.settings.to_dict(),
        })

    # --- images ---------------------------------------------------------------------------
    def images(self) -> list[str]:
        """Every image under the root, recursive, as sorted relative POSIX paths.

        Hidden folders (the state folder among them) are not searched. (os.scandir and
        string operations: 20,000 files in tens of milliseconds.)
        """
        found: list[str] = []
        stack = [("", str(self.root))]
        while stack:
            prefix, folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append((prefix + name + "/", entry.path))
                elif os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                    found.append(prefix + name)
        return sorted(found)

    def image_path(self, rel: str) -> Path:
        return self.root / checked_rel(rel)

    def annotation_path(self, rel: str) -> Path:
        return self.layout.annotation(rel)

    def prepare_write(self, path: Path) -> None:
        """Before writing a per-image file: refuse a link on its way (StateFolderError) and mark a
        new state folder as layout 2 (``core.layout``) so it is never mistaken for layout 1."""
        check_no_links(self.state_dir, path)
        if not self._marked:
            from annotator.core.migration import write_marker

            self.state_dir.mkdir(parents=True, exist_ok=True)
            write_marker(self.state_dir)
            self._marked = True

    def has_annotations(self, rel: str) -> bool:
        """True when an annotation file exists for the image (even one with no shapes)."""
        return self.annotation_path(rel).is_file()

    # --- annotations ----------------------------------------------------------------------
    def load(self, rel: str) -> ImageAnnotations:
        """The saved annotations of an image, or an empty set sized from the image header.

        Raises AnnotationFileError (file + reason) for a damaged file, and
        engine.images.ImageReadError when there is no file and the image is unreadable.
        """
        path = self.annotation_path(rel)
        try:
            text = read_state_text(path)
        except FileNotFoundError:
            from annotator.core.imageinfo import image_size

            width, height = image_size(self.image_path(rel))
            return ImageAnnotations(rel, width, height)
        except (OSError, UnicodeDecodeError) as exc:
            raise AnnotationFileError(path, f"cannot be read ({exc})") from None
        try:
            ann = ImageAnnotations.from_dict(safejson.loads(text))
        except json.JSONDecodeError as exc:
            raise AnnotationFileError(path, f"is not valid JSON ({exc}); restore it from a backup "
                                            "or delete it to start this image afresh") from None
        except ValueError as exc:
            raise AnnotationFileError(path, str(exc)) from None
        ann.image = rel  # the file's place decides which image it belongs to
        return ann

    def save(self, ann: ImageAnnotations, *, durable: bool = True, text: str | None = None) -> None:
        """Write one image's annotations atomically (and note it in the status index).

        ``durable=False``: no fsync (see ``save_many``). *text*: ``annotation_text(ann)``
        when the caller encoded it already."""
        path = self.annotation_path(ann.image)
        self.prepare_write(path)
        atomic_write_text(path, annotation_text(ann) if text is None else text, durable=durable)
        self.index.note_saved(checked_rel(ann.image), ann, path)

    def save_many(self, anns, *, progress=None, cancel=None, texts=None) -> list[str]:
        """Save many images' annotations (an import): each file atomically, the whole lot
        made durable by one sync at the end instead of one fsync per file. Returns the
        images written; *cancel* (``is_set()``) stops between files; progress(done, total);
        *texts*: each one's ``annotation_text``, when encoded already."""
        anns = list(anns)
        texts = list(texts) if texts is not None else [None] * len(anns)
        written = []
        try:
            for i, (ann, text) in enumerate(zip(anns, texts)):
                if cancel is not None and cancel.is_set():
                    break
                self.save(ann, durable=False, text=text)
                written.append(ann.image)
                if progress is not None:
                    progress(i + 1, len(anns))
        finally:
            sync_all()
        return written

    def entry(self, rel: str) -> IndexEntry | None:
        """The image's status entry, from the index when its file is unchanged since, else
        parsed now; None when it has no annotation file. Status "damaged" for a bad file."""
        return self.index.lookup(checked_rel(rel))

    def stray_temp_files(self) -> list[Path]:
        """Temp files left by a crash mid-write (the real files are intact); safe to delete."""
        if not self.state_dir.is_dir():
            return []
        return sorted(self.state_dir.rglob(f".*{TEMP_SUFFIX}"))


def annotation_text(ann: ImageAnnotations) -> str:
    """The content of an image's annotation file (compact JSON: the C encoder). A file name
    that is not valid UTF-8 (surrogate-escaped bytes) is written as JSON escapes, which read
    back to the same name."""
    data = ann.to_dict()
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(data, ensure_ascii=True, allow_nan=False)
    return text + "\n"


def _open_layout(state_dir: Path) -> tuple[StateLayout, list[str]]:
    """The state folder's layout, moved to the current one first when it is older
    (``core.migration``); a folder that cannot be written is read in place."""
    layout = StateLayout.detect(state_dir)
    if layout.version >= 2 and layout.images_dir == state_dir / "images":
        if state_dir.is_dir() and not os.path.lexists(layout.layout_file):
            from annotator.core.migration import write_marker

            with contextlib.suppress(OSError):  # read-only: the first per-image write marks it
                write_marker(state_dir)
        return layout, []
    from annotator.core.migration import migrate

    try:
        return migrate(state_dir), []
    except OSError as exc:
        problems = []
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            problems.append(f"{state_dir}: could not be moved to the current layout ({exc}); it is read "
                            f"as it is and moved on a later open")
        return StateLayout.detect(state_dir), problems


def _read_project_file(path: Path) -> tuple[LabelSet, ProjectSettings]:
    try:
        data = safejson.loads(read_state_text(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationFileError(path, f"cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise AnnotationFileError(path, f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != PROJECT_SCHEMA:
        raise AnnotationFileError(path, f"field 'schema' must be {PROJECT_SCHEMA!r}")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise AnnotationFileError(path, f"field 'version' is {version!r}, expected a positive integer")
    if version > PROJECT_VERSION:
        raise AnnotationFileError(path, f"schema version {version} was written by a newer pnp-annotator "
                                        f"(this one reads up to {PROJECT_VERSION}); upgrade pnp-annotator")
    try:
        labels = LabelSet.from_dict(data.get("labels", {"categories": []}))
        settings = ProjectSettings.from_dict(data.get("settings", {}))
    except ValueError as exc:
        raise AnnotationFileError(path, str(exc)) from None
    return labels, settings
