"""Fixtures for tests of the application shell: private QSettings, a copied image folder,
a main window on the tiny random model. Test modules import what they use."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
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


class GuiTurns:
    """Whether engine work runs off the GUI thread while the GUI's event loop keeps turning,
    without timing anything (the milliseconds are in benchmarks/gui_heartbeat.py).

    A 5 ms QTimer on the GUI thread counts turns of its event loop. ``wrap(obj)`` returns a
    stand-in for an engine object whose calls (``segment``, ``postprocess``, ...) record the
    thread they ran on and, before returning, wait until the GUI loop has turned at least once
    since the call began. Work that ran on the GUI thread, or held it, would wait forever: after
    *timeout* seconds that call is recorded in ``stalled`` instead. However busy the machine,
    the loop turns while the work waits, so the check does not depend on load.
    """

    CALLS = ("segment", "segment_batch", "postprocess", "postprocess_async", "predict", "set_image")

    def __init__(self, timeout: float = 120.0):
        self.ticks = 0
        self.threads: list[str] = []  # thread of each wrapped call
        self.names: list[str] = []  # the wrapped calls made, in order
        self.stalled: list[str] = []
        self.timeout = timeout
        self._timer = QTimer()
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        self.ticks += 1

    def __enter__(self):
        self._timer.start(5)
        return self

    def __exit__(self, *exc):
        self._timer.stop()

    def wrap(self, target):
        return _Witnessed(target, self)

    def on_gui_thread(self) -> bool:
        return threading.current_thread() is threading.main_thread()

    def call(self, name: str, function, *args, **kwargs):
        self.threads.append(threading.current_thread().name)
        self.names.append(name)
        start = self.ticks
        try:
            return function(*args, **kwargs)
        finally:
            deadline = time.monotonic() + self.timeout
            while self.ticks <= start:
                if time.monotonic() > deadline or self.on_gui_thread():
                    self.stalled.append(name)
                    break
                time.sleep(0.001)


class _Witnessed:
    def __init__(self, target, witness: GuiTurns):
        self.__dict__.update(_target=target, _witness=witness)

    def __getattr__(self, name):
        value = getattr(self._target, name)
        if name in GuiTurns.CALLS and callable(value):
            return lambda *args, **kwargs: self._witness.call(name, value, *args, **kwargs)
        return value

    def __setattr__(self, name, value):
        setattr(self._target, name, value)


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
