"""Application settings (model, device, post-processing defaults) kept in QSettings.

Per-project state (the class prompt, simplification) lives in the project's
ProjectSettings instead, so it travels with the folder. Tests point QSettings at
a temporary folder (see ``use_settings_folder``) and never touch the user's.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings

from annotator.gui.engine_worker import EngineSettings

ORGANIZATION = "pnp-annotator"
APPLICATION = "pnp-annotator"
DEVICES = ("auto", "cpu", "cuda", "mps")
BACKGROUND_MODES = ("auto", "always", "never")


def default_model() -> str:
    from engine.config import DEFAULT_MODEL

    return DEFAULT_MODEL


@dataclass
class AppSettings:
    model: str = ""  # Hugging Face id or a local folder; "" means the engine's default
    device: str = "auto"
    presence_threshold: float = 0.0  # 0 keeps every class the user typed
    background: str = "auto"
    threshold: float = 0.15
    simplify_tolerance: float = 1.5  # pixels; default for projects that never set theirs
    min_area_fraction: float = 0.0005
    last_path: str = ""
    model_folders: str = ""  # local model folders the user chose, one per line, newest first

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
        settings = cls(**values)
        if settings.device not in DEVICES:
            settings.device = "auto"
        if settings.background not in BACKGROUND_MODES:
            settings.background = "auto"
        return settings

    def save(self) -> None:
        store = _store()
        for f in fields(self):
            store.setValue(f.name, getattr(self, f.name))
        store.sync()

    def model_or_default(self) -> str:
        return self.model.strip() or default_model()

    def engine(self) -> EngineSettings:
        return EngineSettings(model=self.model_or_default(), device=self.device,
                              presence_threshold=self.presence_threshold or None,
                              threshold=self.threshold, background=self.background)


def _store() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def use_settings_folder(folder: str | Path) -> None:
    """Keep every QSettings file of this process under *folder* (tests, screenshots)."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)


def set_application_names() -> None:
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
