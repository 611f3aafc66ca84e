"""Render resources/icons/pnp-annotator.svg to the PNG the app and the .desktop file use.

    .venv/bin/python packaging/render_icon.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def render(size: int = 256) -> Path:
    renderer = QSvgRenderer(str(ICONS / "pnp-annotator.svg"))
    if not renderer.isValid():
        raise SystemExit("pnp-annotator.svg could not be parsed")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    out = ICONS / "pnp-annotator.png"
    if not image.save(str(out)):
        raise SystemExit(f"could not write {out}")
    return out


if __name__ == "__main__":
    app = QGuiApplication(sys.argv[:1])
    print(render())
