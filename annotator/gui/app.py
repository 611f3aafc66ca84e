"""``run_app``: the entry point `pnp-annotator [PATH]` calls."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from annotator.gui.settings import set_application_names


def run_app(path: str | None = None) -> int:
    """Open the main window on PATH (an image or a folder; else the last one) and run."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    set_application_names()
    from annotator.gui.main_window import ICON, MainWindow

    if ICON.exists():
        app.setWindowIcon(QIcon(str(ICON)))
    window = MainWindow()
    window.show()
    if path:
        window.open_path(path)
    elif window.settings.last_path and Path(window.settings.last_path).exists():
        window.open_path(window.settings.last_path)
    return app.exec()
