"""Which model (and so which engine) proposals come from: both engines' checkpoints plus local folders.

``model_choices`` lists them for the Model menu and the Settings dialog: each engine's
default checkpoint (PnP-OVSS on BLIP, SAM 3) and every local folder the user chose.
``ModelMenu`` is the Model > Segmentation Model submenu; picking an entry emits
``modelChosen`` with the hub id or folder, which the window stores and hands to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from annotator.gui.settings import AppSettings

MAX_FOLDERS = 8


@dataclass(frozen=True)
class ModelChoice:
    model: str
    """Hub id or local folder, as stored in AppSettings.model."""
    text: str
    """Menu text."""
    tip: str


def engine_catalog():
    """engine.config.ENGINES (imported lazily: no torch import here)."""
    from engine.config import ENGINES

    return ENGINES


def engine_of_hub_id(model: str):
    from engine.config import engine_for_hub_id

    return engine_for_hub_id(model)


def model_choices(settings: AppSettings) -> list[ModelChoice]:
    """Each engine's default checkpoint, then the local folders chosen (newest first)."""
    out = []
    for info in engine_catalog():
        gated = "; gated: accept its licence on the hub, then `hf auth login`" if info.gated else ""
        out.append(ModelChoice(info.default_model, f"{info.title}: {info.default_model}",
                               f"{info.title}, {info.size}, licence {info.licence}{gated}"))
    known = {c.model for c in out}
    for folder in local_folders(settings):
        if folder not in known:
            out.append(ModelChoice(folder, f"Local folder: {folder}", "A saved model folder (BLIP or SAM 3)"))
            known.add(folder)
    return out


def local_folders(settings: AppSettings) -> list[str]:
    """The folders in ``settings.model_folders`` plus the current model if it is no hub id."""
    folders = [f for f in settings.model_folders.splitlines() if f.strip()]
    current = settings.model.strip()
    if current and engine_of_hub_id(current) is None and _looks_like_folder(current) and current not in folders:
        folders.insert(0, current)
    return folders


def remember_folder(settings: AppSettings, model: str) -> None:
    """Before *model* replaces ``settings.model``: keep both in ``settings.model_folders``
    if they are local folders, the new one first (hub ids are listed anyway)."""
    folders = [m for m in (model, settings.model.strip()) if m and _looks_like_folder(m)]
    folders += [f for f in settings.model_folders.splitlines() if f.strip()]
    settings.model_folders = "\n".join(list(dict.fromkeys(folders))[:MAX_FOLDERS])


def _looks_like_folder(model: str) -> bool:
    from engine.loading import looks_like_hub_id

    return Path(model).expanduser().exists() or not looks_like_hub_id(model)


class ModelMenu(QMenu):
    """Model > Segmentation Model: one checkable entry per choice, and Choose Folder…"""

    modelChosen = Signal(str)

    def __init__(self, settings: AppSettings, parent: QWidget | None = None):
        super().__init__("Segmentation &Model", parent)
        self.setObjectName("model_menu")
        self._settings = settings
        self._group = QActionGroup(self)
        self._group.setExclusive(True)
        self.aboutToShow.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.clear()
        for action in self._group.actions():
            self._group.removeAction(action)
        current = self._settings.model_or_default()
        for choice in model_choices(self._settings):
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
