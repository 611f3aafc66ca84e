"""Per-user application state kept in QSettings: the last opened path.

Everything that decides what the model proposes (model, device, thresholds,
simplification) is per project, in ``ProjectSettings`` (project.json), shared
with the CLI. Tests point QSettings at a temporary folder (see
``use_settings_folder``) and never touch the user's.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings

from annotator.core.project import BACKGROUND_MODES, DEVICES  # noqa: F401 - the dialogs' choices

ORGANIZATION = "pnp-annotator"
APPLICATION = "pnp-annotator"


def default_model() -> str:
    from engine.config import DEFAULT_MODEL

    return DEFAULT_MODEL


@dataclass
class AppSettings:
    last_path: str = ""  # the last image shown (or folder opened): a relaunch reopens it
    recent: str = ""  # recently opened folders, one per line, newest first (gui.recent)
    weights_folders: str = ""  # local model folders the user chose, one per line, newest first
    heatmap_look: str = ""  # the heatmap dock's colour map ("" = its first)
    heatmap_opacity: int = 55  # percent
    show_heatmap: int = 0  # 1: the overlay is on (an int: QSettings gives "true"/"false" back as text)
    last_model: str = ""  # the model last chosen (Model menu, model dialog): a new folder starts with it
    import_format: str = ""  # File > Import's last format ("coco" | "semantic-png") and path
    import_path: str = ""

    @classmethod
    def load(cls) -> AppSettings:
        store = _store()
        values = {}
        for f in fields(cls):
            default = getattr(cls, f.name)
            raw = store.value(f.name, default)
            try:
                values[f.name] = type(default)(raw)
            except (TypeError, ValueError):
                values[f.name] = default  # a hand-edited or stale value: fall back, don't crash
        return cls(**values)

    def save(self) -> None:
        store = _store()
        for f in fields(self):
            store.setValue(f.name, getattr(self, f.name))
        store.sync()


def _store() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def use_settings_folder(folder: str | Path) -> None:
    """Keep every QSettings file of this process under *folder* (tests, screenshots)."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)


def set_application_names() -> None:
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
