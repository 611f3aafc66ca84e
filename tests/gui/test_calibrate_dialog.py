"""Review > Calibrate…: background job with progress, report shown, Apply stores routes; Settings shows them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))

from calibration_fakes import FakeConfig, ObjectEngine, StuffEngine  # noqa: E402
from test_calibration import add_images  # noqa: E402

from annotator.core.calibration import CalibrationEngine  # noqa: E402
from annotator.core.calibration.loading import LoadedEngines  # noqa: E402
from annotator.core.project import Project  # noqa: E402
from annotator.gui.dialogs.calibrate import CalibrateDialog  # noqa: E402
from annotator.gui.dialogs.settings import SettingsDialog  # noqa: E402

pytestmark = pytest.mark.gui


def fake_loader(settings, sharpen):
    return LoadedEngines([CalibrationEngine(StuffEngine(FakeConfig(threshold=0.15)), "fake-pnp"),
                          CalibrationEngine(ObjectEngine(FakeConfig(threshold=0.5)), "fake-sam3")],
                         notes=["sharpening not calibrated: test"])


def test_calibrate_dialog_runs_shows_the_report_and_applies(qtbot, tmp_path):
    project = Project.open(tmp_path)
    project.settings.classes = "sky, car"
    add_images(project, range(8))
    dialog = CalibrateDialog(project, load=fake_loader, reviewed=8)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.run_button.click()
    qtbot.waitUntil(lambda: not dialog.running() and dialog.calibration is not None, timeout=60000)
    text = dialog.report.text()
    assert "sky: PnP-OVSS (BLIP) regions @ 0.25" in text and "car: SAM 3 regions" in text
    assert not dialog.figure.pixmap().isNull()
    assert dialog.apply_button.isEnabled()
    with qtbot.waitSignal(dialog.applied) as applied:
        dialog.apply_button.click()
    assert set(applied.args[0]) == {"sky", "car"}
    assert Project.open(tmp_path).settings.routes["car"]["engine"] == "sam3"

    settings_dialog = SettingsDialog(project.settings)
    qtbot.addWidget(settings_dialog)
    assert "car: SAM 3 regions @ 0.6" in settings_dialog.routes.text()
    settings_dialog.clear_routes.setChecked(True)
    settings_dialog.accept()
    assert project.settings.routes == {}


def test_cancel_stops_the_calibration(qtbot, tmp_path):
    project = Project.open(tmp_path)
    project.settings.classes = "sky, car"
    add_images(project, range(8))
    dialog = CalibrateDialog(project, load=fake_loader)
    qtbot.addWidget(dialog)
    dialog.run_button.click()
    dialog.reject()  # while running: cancels instead of closing
    qtbot.waitUntil(lambda: not dialog.running(), timeout=60000)
    assert "Cancelled" in dialog.report.text() and dialog.calibration is None
    assert project.settings.routes == {}
