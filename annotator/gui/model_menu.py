"""Which model (and so which engine) proposals come from: both engines' checkpoints plus local folders.

``model_choices`` lists them for the Model menu and the Settings dialog: each engine's
default checkpoint (PnP-OVSS on BLIP, SAM 3) and every local folder the user chose.
``ModelMenu`` is the Model > Segmentation Model submenu; picking an entry emits
``modelChosen`` with the hub id or folder, which the window stores and hands to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from annotator.gui.settings import AppSettings, default_model

MAX_FOLDERS = 8


@dataclass(frozen=True)
class ModelChoice:
    model: str
    """Hub id or local folder, as stored in AppSettings.model."""
    text: str
    """Menu text."""
    tip: str


def engine_catalog():
    """The labelling engines of the registry (``engine.config.engines``; no torch import here)."""
    from engine.config import engines

    return engines()


def engine_of_hub_id(model: str):
    from engine.config import engine_for_hub_id

    return engine_for_hub_id(model)


def model_choices(current: str, folders: list[str]) -> list[ModelChoice]:
    """Each engine's default checkpoint, then the local folders (with *current* if it is one) in
    path order: choosing one does not move the entries about. Each folder names its engine."""
    out = []
    for info in engine_catalog():
        gated = "; gated: accept its licence on the hub, then `hf auth login`" if info.gated else ""
        out.append(ModelChoice(info.default_model, f"{info.title}: {info.default_model}",
                               f"{info.title}, {info.size}, licence {info.licence}{gated}"))
    known = {c.model for c in out}
    current = current.strip()
    candidates = ([current] if current and engine_of_hub_id(current) is None and _looks_like_folder(current)
                  else []) + list(folders)
    for folder in sorted(dict.fromkeys(candidates), key=lambda f: (f.casefold(), f)):
        if folder not in known:
            engine = folder_engine(folder)
            out.append(ModelChoice(folder, f"Local folder ({engine}): {folder}",
                                   f"A saved model folder: {engine}"))
            known.add(folder)
    return out


def folder_engine(folder: str) -> str:
    """The engine a local model folder holds, from its config.json's model_type, in words."""
    import json

    config = Path(folder).expanduser() / "config.json"
    if not config.is_file():
        return "not found" if not Path(folder).expanduser().exists() else "no config.json"
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "")
    except (OSError, ValueError, AttributeError):
        return "unreadable config.json"
    from engine.config import engine_for_model_type

    info = engine_for_model_type(str(model_type))
    return info.title if info is not None else f"unknown model type {model_type!r}"


def local_folders(app: AppSettings) -> list[str]:
    """The local model folders chosen before (``AppSettings.weights_folders``), newest first."""
    return [f for f in app.weights_folders.splitlines() if f.strip()]


def remember_folder(app: AppSettings, old: str, new: str) -> None:
    """When *new* replaces *old* as the model: keep both in ``app.weights_folders`` if they are
    local folders, the new one first (hub ids are listed anyway). The caller saves *app*."""
    folders = [m.strip() for m in (new, old) if m and m.strip() and _looks_like_folder(m.strip())]
    app.weights_folders = "\n".join(list(dict.fromkeys(folders + local_folders(app)))[:MAX_FOLDERS])


def _looks_like_folder(model: str) -> bool:
    from engine.loading import looks_like_hub_id

    return Path(model).expanduser().exists() or not looks_like_hub_id(model)


class ModelMenu(QMenu):
    """Model > Segmentation Model: one checkable entry per choice, and Choose Local Folder…"""

    modelChosen = Signal(str)

    def __init__(self, app: AppSettings, current: Callable[[], str], parent: QWidget | None = None):
        """*current*: the model the engine runs with now ("" = the default engine's)."""
        super().__init__("Segmentation &Model", parent)
        self.setObjectName("model_menu")
        self._app, self._current = app, current
        self._group = QActionGroup(self)
        self._group.setExclusive(True)
        self.aboutToShow.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.clear()
        for action in self._group.actions():
            self._group.removeAction(action)
        current = self._current().strip() or default_model()
        for choice in model_choices(current, local_folders(self._app)):
            action = QAction(choice.text, self)
            action.setCheckable(True)
            action.setChecked(choice.model == current)
            action.setToolTip(choice.tip)
            action.setStatusTip(choice.tip)
            action.setData(choice.model)
            action.triggered.connect(lambda _=False, m=choice.model: self.modelChosen.emit(m))
            self._group.addAction(action)
            self.addAction(action)
        self.addSeparator()
        browse = QAction("Choose Local Folder…", self)
        browse.setStatusTip("A folder holding a saved model (config.json + weights): BLIP or SAM 3")
        browse.triggered.connect(self._browse)
        self.addAction(browse)

    def entries(self) -> list[tuple[str, str, bool]]:
        """(text, model, checked) of the model entries, for tests and the README."""
        return [(a.text(), a.data(), a.isChecked()) for a in self._group.actions()]

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.parentWidget(), "Folder with a saved model")
        if folder:
            self.modelChosen.emit(folder)
