"""Is the model on this computer? Asked once in the background at start, so the window can say so.

The check never loads the model (seconds, gigabytes) and never downloads: a local
folder must hold a config.json and weights; a Hugging Face id must have both in the
local cache. Whether the hub is reachable is asked too (a 2 s TCP connect), so the
missing-model dialog can offer the download only where it can work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from engine.hub import hub_reachable as tcp_reachable
from engine.hub import offline as offline_by_setting

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


@dataclass(frozen=True)
class ModelState:
    model: str
    available: bool
    online: bool
    reason: str  # one sentence for a person at the window, empty when available


def hub_reachable(timeout: float = 2.0) -> bool:
    return not offline_by_setting() and tcp_reachable(timeout)


def check_model(model: str, online: bool | None = None) -> ModelState:
    """Where *model* (a folder or a hub id) stands on this computer; *online* None asks the network."""
    online = hub_reachable() if online is None else online
    path = Path(model).expanduser()
    if path.exists() or model.startswith(("/", ".", "~")) or "\\" in model or model.count("/") > 1:
        if not path.is_dir():
            return ModelState(model, False, online, f"The folder {path} does not exist.")
        if not (path / "config.json").is_file() or not any((path / f).is_file() for f in WEIGHT_FILES):
            return ModelState(model, False, online,
                              f"The folder {path} does not hold a saved model (config.json and weights).")
        return ModelState(model, True, online, "")
    from huggingface_hub import try_to_load_from_cache

    cached = [try_to_load_from_cache(model, name) for name in ("config.json", *WEIGHT_FILES)]
    if isinstance(cached[0], str) and any(isinstance(c, str) for c in cached[1:]):
        return ModelState(model, True, online, "")
    return ModelState(model, False, online, f"{model} has not been downloaded to this computer yet.")


class ModelCheck(QThread):
    """Runs ``check_model`` off the GUI thread; ``done`` carries the ModelState."""

    done = Signal(object)

    def __init__(self, model: str, parent=None):
        super().__init__(parent)
        self._model = model

    def run(self) -> None:
        try:
            state = check_model(self._model)
        except Exception as e:  # noqa: BLE001 - a check that fails must not look like a missing model
            state = ModelState(self._model, True, False, f"could not check: {e}")
        self.done.emit(state)
