"""Fixtures for tests of the application shell: private QSettings, a copied image folder,
a main window on the tiny random model. Test modules import what they use."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QApplication

from annotator.gui.settings import AppSettings, set_application_names, use_settings_folder


@pytest.fixture
def private_settings(tmp_path):
    """QSettings of this test live under tmp_path: the user's are never read or written."""
    use_settings_folder(tmp_path / "qsettings")
    set_application_names()
    return tmp_path / "qsettings"


@pytest.fixture
def images_dir(tmp_path, samples_dir) -> Path:
    folder = tmp_path / "images"
    shutil.copytree(samples_dir, folder)
    return folder


@pytest.fixture
def make_window(qtbot, private_settings, tiny_model_dir):
    """make_window(model=None, factory=None) -> a shown MainWindow (closed after the test)."""
    from annotator.gui.engine_worker import load_segmenter
    from annotator.gui.main_window import MainWindow

    windows = []

    def make(model: str | None = None, factory=load_segmenter):
        from annotator.core.project import ProjectSettings

        # Folders without a project.json start on the tiny model, on the CPU.
        defaults = ProjectSettings(model=str(model or tiny_model_dir), device="cpu")
        window = MainWindow(AppSettings(), segmenter_factory=factory, project_defaults=defaults)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()  # shortcuts only reach the active window
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


def wait_idle(qtbot, window, timeout=60000) -> None:
    qtbot.waitUntil(lambda: not window.client.busy(), timeout=timeout)


class Heartbeat:
    """A 10 ms QTimer on the GUI thread recording the largest gap between its ticks."""

    def __init__(self):
        self.gaps: list[int] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.timeout.connect(lambda: self.gaps.append(self._clock.restart()))

    def __enter__(self):
        self._clock.start()
        self._timer.start(10)
        return self

    def __exit__(self, *exc):
        self._timer.stop()

    @property
    def worst(self) -> int:
        return max(self.gaps[1:], default=0)


def key(qtbot, window, sequence: str) -> None:
    """Press a shortcut the way a user does: through the window's QActions' key handling."""
    from PySide6.QtGui import QKeySequence

    combo = QKeySequence(sequence)[0]
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, combo.key(), combo.keyboardModifiers())


def propose(qtbot, window, classes="sky, person") -> None:
    window.prompt.classes.setText(classes)
    key(qtbot, window, "Ctrl+Return")
    wait_idle(qtbot, window)


def open_folder(qtbot, window, path, timeout=10000) -> bool:
    """``window.open_path(path)``, then wait until the folder is listed (the window lists it
    off the GUI thread) and, when it has images, one is shown."""
    opened = window.open_path(path)
    if opened:
        qtbot.waitUntil(lambda: not window.listing(), timeout=timeout)
    return opened
