"""No weights: say so plainly, offer to download them or to choose a local folder.

The download runs in its own thread (not the engine thread: the app keeps
proposing with whatever model it has, and closing this dialog cancels it).
"""

from __future__ import annotations

import threading
from typing import Callable

from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QLabel, QMessageBox, QPlainTextEdit,
                               QProgressBar, QPushButton, QVBoxLayout, QWidget)

from annotator.gui.settings import default_model

Progress = Callable[[int, int], None]  # bytes done, bytes total (0 when not known yet)
DETAILS_MAX_HEIGHT = 160  # px: longer details scroll


class DownloadCancelled(Exception):
    pass


def hub_download(repo_id: str, progress: Progress, cancel: threading.Event) -> str:
    """snapshot_download into the Hugging Face cache; returns the local folder."""
    from huggingface_hub import snapshot_download
    from tqdm.auto import tqdm

    class _Bytes(tqdm):
        # snapshot_download reports the bytes of all files through this class;
        # raising here is the only way to stop its download threads early.
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs["disable"] = True  # no console output; we count ourselves
            super().__init__(*args, **kwargs)
            self.done = 0

        def update(self, n=1):
            if cancel.is_set():
                raise DownloadCancelled("download cancelled")
            self.done += n or 0
            if self.unit == "B":
                progress(int(self.done), int(self.total or 0))

    return snapshot_download(repo_id, tqdm_class=_Bytes)


class _DownloadThread(QThread):
    progressed = Signal(int, int)
    succeeded = Signal(str)
    failed = Signal(str)

    def __init__(self, repo_id: str, download, cancel: threading.Event):
        super().__init__()
        self._repo_id, self._download, self._cancel = repo_id, download, cancel

    def run(self) -> None:
        try:
            folder = self._download(self._repo_id, self.progressed.emit, self._cancel)
        except DownloadCancelled:
            self.failed.emit("Download cancelled; files already fetched are kept for next time.")
        except Exception as e:  # noqa: BLE001 - network, disk, unknown repo: all shown to the user
            from engine.config import engine_for_hub_id
            from engine.loading import gated_advice, is_gated_error

            if is_gated_error(e):
                self.failed.emit(gated_advice(self._repo_id, engine_for_hub_id(self._repo_id)))
            else:
                self.failed.emit(f"Download of {self._repo_id} failed: {e}")
        else:
            self.succeeded.emit(str(folder))


_RUNNING: set[QThread] = set()


class DownloadDialog(QDialog):
    """Progress of one snapshot download; Cancel stops it."""

    downloaded = Signal(str)  # the local folder

    def __init__(self, repo_id: str, parent: QWidget | None = None, download=hub_download):
        super().__init__(parent)
        self.setWindowTitle("Downloading model")
        self._cancel = threading.Event()
        self.label = QLabel(f"Downloading {repo_id} from Hugging Face…")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.buttons)
        self._thread = _DownloadThread(repo_id, download, self._cancel)
        self._thread.progressed.connect(self._on_progress)
        self._thread.succeeded.connect(self._on_done)
        self._thread.failed.connect(self._on_failed)
        # A download stalled on the network may take a while to notice the cancel:
        # the thread outlives this dialog rather than the GUI waiting for it.
        _RUNNING.add(self._thread)
        self._thread.finished.connect(lambda t=self._thread: _RUNNING.discard(t))
        self._thread.start()

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * done / total))
            self.bar.setFormat(f"{done / 1e6:.0f} of {total / 1e6:.0f} MB")

    def _on_done(self, folder: str) -> None:
        self.downloaded.emit(folder)
        self.accept()

    def _on_failed(self, message: str) -> None:
        self.label.setText(message)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)

    def reject(self) -> None:
        self._cancel.set()
        super().reject()

    def done(self, result: int) -> None:
        self._cancel.set()  # the thread stops at its next chunk, on its own time
        super().done(result)


class ModelMissingDialog(QDialog):
    """Shown when the model is not on this computer; never blocks the rest of the app.

    Worded for someone at the window: what is missing, the two ways to get it, and
    that drawing by hand goes on meanwhile. The engine's own message (which names
    files and command lines) is under Details. Offline, choosing a folder is the
    default button, not a download that cannot work.
    """

    modelChosen = Signal(str)  # a folder or model id to use from now on

    def __init__(self, message: str, model: str, parent: QWidget | None = None, download=hub_download,
                 online: bool = True, *, default: str | None = None,
                 headline: str = "Proposals need the segmentation model.",
                 uses: str = "PnP Annotator proposes shapes with"):
        """*model*: the configured model id or folder ("" for *default*, else the main model's default);
        *online*: the hub is reachable; *headline* / *uses*: the wording for another model (the
        interactive model of the AI polygon uses the same dialog)."""
        super().__init__(parent)
        self.setWindowTitle("Model needed")
        self._model, self._download = model.strip(), download
        self._default = default
        model = self._model or default or default_model()
        lines = [f"<b>{_escape(headline)}</b><br><br>{_escape(uses)} "
                 f"<i>{_escape(model)}</i>, which is not on this computer yet.<br><br>",
                 gated_steps(self._repo_id()),
                 "Download it, or choose a folder that already holds it. "
                 "Drawing and reviewing by hand keep working in the meantime; what you asked for "
                 "runs as soon as the model is there."]
        if not online:
            lines.append("<br><br>This computer cannot reach Hugging Face right now: choose a folder "
                         "(copied from a machine that has the model), or download later.")
        text = QLabel("".join(lines))
        text.setWordWrap(True)
        text.setOpenExternalLinks(True)
        # The engine's message may be long (paths, command lines): it scrolls inside a box of
        # bounded height, and the dialog grows to take it in, never clipping the text above.
        self.details = QPlainTextEdit(message)
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(DETAILS_MAX_HEIGHT)
        self.details.hide()
        self.details_button = details_button = QPushButton("Details")
        details_button.setCheckable(True)
        details_button.setAutoDefault(False)
        details_button.toggled.connect(self._show_details)
        self.download_button = QPushButton(f"Download {self._repo_id()}")
        self.folder_button = QPushButton("Choose folder…")
        close = QPushButton("Close")
        for button in (self.download_button, self.folder_button, close):
            button.setAutoDefault(False)
        # Offline, or a gated model before its licence is accepted and the user logged in, a download
        # cannot work: choosing a folder is the default then.
        (self.download_button if online and not is_gated(self._repo_id()) else self.folder_button).setDefault(True)
        self.download_button.clicked.connect(self._download_model)
        self.folder_button.clicked.connect(self._choose_folder)
        close.clicked.connect(self.reject)
        buttons = QDialogButtonBox()
        buttons.addButton(self.download_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.folder_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(details_button, QDialogButtonBox.ButtonRole.HelpRole)
        buttons.addButton(close, QDialogButtonBox.ButtonRole.RejectRole)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.details)
        layout.addWidget(buttons)
        self.setMinimumWidth(480)
        self.download_dialog: DownloadDialog | None = None

    def _show_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.layout().activate()
        self.resize(self.width(), max(self.height(), self.sizeHint().height()) if shown else self.sizeHint().height())

    def _repo_id(self) -> str:
        # A missing local folder cannot be downloaded: offer the default model instead.
        model = self._model
        fallback = self._default or default_model()
        return model if model and "/" in model and not model.startswith(("/", ".", "~")) else fallback

    def _download_model(self) -> None:
        self.download_dialog = DownloadDialog(self._repo_id(), self, self._download)
        self.download_dialog.downloaded.connect(self._chosen)
        self.download_dialog.open()

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with the model and tokenizer")
        if folder:
            self._chosen(folder)

    def _chosen(self, model: str) -> None:
        self.modelChosen.emit(model)
        self.accept()


def is_gated(repo_id: str) -> bool:
    """The hub asks for an accepted licence and a login before this checkpoint downloads (SAM 3)."""
    from engine.config import engine_for_hub_id

    info = engine_for_hub_id(repo_id)
    return bool(info and info.gated)


def gated_steps(repo_id: str) -> str:
    """What to do before Download works for a gated checkpoint (HTML), else ""."""
    if not is_gated(repo_id):
        return ""
    return (f"<b>{_escape(repo_id)} is gated</b> on Hugging Face: 1. open "
            f"<a href='https://huggingface.co/{repo_id}'>huggingface.co/{repo_id}</a> while logged in and "
            f"accept its licence; 2. on this computer run <code>hf auth login</code> with a token of that "
            f"account; 3. then press Download.<br><br>")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")


def install_problem_box(message: str, parent: QWidget | None = None) -> QMessageBox:
    """The engine's BrokenInstallError for a person: the models cannot run in this Python
    environment (not a missing model: nothing to download). Non-modal; drawing goes on."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Installation problem",
                      "The models cannot run: torch and torchvision in this installation do not work together. "
                      "Drawing and reviewing by hand keep working.", QMessageBox.StandardButton.Close, parent)
    box.setInformativeText(message)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setModal(False)
    return box
