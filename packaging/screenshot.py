"""Produce resources/screenshot.png: the main window with proposals on a sample image.

Uses the tiny random-weight model (built on the fly, no download), so anyone can
rerun it; the regions are therefore arbitrary, but every part of the window is
real. Works offscreen (the default here) or under a display.

    make screenshot                    # or: .venv/bin/python packaging/screenshot.py [OUT]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402

IMAGE = "astronaut.png"
CLASSES = "sky, person, flag"
SIZE = (1280, 800)


def wait(app: QApplication, done, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for the engine")
        app.processEvents()
        time.sleep(0.01)


def main(out: Path) -> Path:
    from annotator.core.project import ProjectSettings
    from annotator.gui.main_window import MainWindow
    from annotator.gui.settings import AppSettings, set_application_names, use_settings_folder
    from engine.testing import build_random_model

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        use_settings_folder(tmp / "qsettings")  # never the user's settings
        set_application_names()
        model = build_random_model(tmp / "tiny-model", size="tiny")
        images = tmp / "samples"
        shutil.copytree(ROOT / "resources" / "samples", images)

        # The model is a project setting now: the sample folder starts on the tiny model.
        window = MainWindow(AppSettings(), project_defaults=ProjectSettings(model=str(model), device="cpu"))
        window.resize(*SIZE)
        window.show()
        window.open_path(images / IMAGE)
        window.prompt.classes.setText(CLASSES)
        window.on_propose()
        wait(app, lambda: not window.client.busy())
        doc = window.document()
        if not doc.proposal_ids():
            raise SystemExit("the tiny model proposed nothing; nothing to show")
        # Show the review state: one proposal accepted, the rest still dashed, one selected.
        biggest = sorted(doc.shapes(), key=lambda s: s.area, reverse=True)
        doc.accept([biggest[0].id])
        window.canvas.select([biggest[-1].id] if len(biggest) > 1 else [biggest[0].id])
        window.heatmap.show_overlay.setChecked(True)
        window.statusBar().showMessage(f"{len(doc.shapes())} proposal(s) for {IMAGE}")
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            raise SystemExit(f"could not write {out}")
        window.close()
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "resources" / "screenshot.png"
    print(main(target))
