"""No weights, download, settings, engine errors, and the shortcut table."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog, QMessageBox
from window_fixtures import (  # noqa: F401
    images_dir, key, make_window, open_folder, private_settings, propose, wait_idle,
)

from annotator.gui.dialogs import DownloadDialog, ModelMissingDialog, SettingsDialog
from annotator.core.project import Project
from annotator.gui.settings import AppSettings

pytestmark = pytest.mark.gui


def test_missing_weights_dialog_then_choose_local_folder(qtbot, make_window, images_dir, tmp_path,
                                                         tiny_model_dir, monkeypatch):
    window = make_window(model=str(tmp_path / "no-such-model"))
    open_folder(qtbot, window, images_dir)
    window.prompt.classes.setText("sky")
    key(qtbot, window, "Ctrl+Return")
    qtbot.waitUntil(lambda: window.findChild(ModelMissingDialog) is not None, timeout=30000)
    dialog = window.findChild(ModelMissingDialog)
    assert dialog.isVisible()
    assert "no-such-model" in dialog.findChildren(type(window.engine_state))[0].text()
    wait_idle(qtbot, window)
    assert window.document().shapes() == []

    window.activateWindow()  # the dialog is not modal: the rest of the app keeps working
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    key(qtbot, window, "D")
    assert window.current == "chelsea.png"

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tiny_model_dir))
    dialog.folder_button.click()
    assert not dialog.isVisible()
    assert window.project.settings.model == str(tiny_model_dir)
    assert Project.open(images_dir).settings.model == str(tiny_model_dir), "remembered in project.json"
    propose(qtbot, window, "sky")
    assert window.document().proposal_ids()


def fake_download(calls):
    def download(repo_id, progress, cancel):
        calls.append(repo_id)
        progress(50, 200)
        progress(200, 200)
        return "/models/blip"
    return download


def test_download_offers_the_default_model_and_reports_the_folder(qtbot, private_settings):
    calls, chosen = [], []
    dialog = ModelMissingDialog("Model 'Salesforce/blip-itm-large-flickr' is not in the cache", "",
                                download=fake_download(calls))
    qtbot.addWidget(dialog)
    dialog.modelChosen.connect(chosen.append)
    dialog.show()
    dialog.download_button.click()
    qtbot.waitUntil(lambda: chosen == ["/models/blip"], timeout=5000)
    assert calls == ["Salesforce/blip-itm-large-flickr"]
    assert not dialog.isVisible()


def test_download_cancel_stops_the_thread(qtbot):
    started, stopped = threading.Event(), threading.Event()

    def slow(repo_id, progress, cancel):
        started.set()
        while not cancel.wait(0.01):
            progress(1, 0)
        stopped.set()
        from annotator.gui.dialogs.model import DownloadCancelled
        raise DownloadCancelled()

    dialog = DownloadDialog("org/model", download=slow)
    qtbot.addWidget(dialog)
    dialog.show()
    assert started.wait(5)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert stopped.wait(5)
    assert not dialog.isVisible()


def test_download_failure_is_shown_plainly(qtbot):
    def offline(repo_id, progress, cancel):
        raise OSError("no network: HF_HUB_OFFLINE is set")

    dialog = DownloadDialog("org/model", download=offline)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: "failed" in dialog.label.text(), timeout=5000)
    assert "no network" in dialog.label.text()
    assert dialog.buttons.button(QDialogButtonBox.StandardButton.Close) is not None


def test_settings_dialog_saves_and_reconfigures_the_engine(qtbot, make_window, images_dir, tiny_model_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.on_settings()
    dialog = window.findChild(SettingsDialog)
    dialog.background.setCurrentText("always")
    dialog.presence.setValue(0.2)
    dialog.tolerance.setValue(3.0)
    dialog.accept()
    assert window.project.settings.background == "always"
    assert window.client.settings.presence_threshold == pytest.approx(0.2)
    assert window.client.settings.model == str(tiny_model_dir)
    stored = Project.open(images_dir).settings  # the project's, which `label` reads too
    assert (stored.background, stored.presence_threshold) == ("always", pytest.approx(0.2))
    assert stored.simplify_tolerance == pytest.approx(3.0) and stored.model == str(tiny_model_dir)
    assert window.heatmap.values()[1] == pytest.approx(3.0)


def test_make_default_turns_the_sliders_into_the_projects_threshold(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.heatmap.set_values(0.4, 2.0)  # the sliders act on the image on screen (issue 13)...
    assert Project.open(images_dir).settings.threshold is None
    window.heatmap.make_default.click()  # ...until they are made the project's defaults
    assert Project.open(images_dir).settings.threshold == pytest.approx(0.4)
    assert Project.open(images_dir).settings.simplify_tolerance == pytest.approx(2.0)
    assert window.heatmap_view.defaults()[0] == pytest.approx(0.4)


def test_user_settings_live_in_the_private_folder_and_hold_no_model_settings(private_settings):
    AppSettings(last_path="/data/photos").save()
    files = list(private_settings.rglob("*.ini"))
    text = files[0].read_text()
    assert files and "last_path=/data/photos" in text and "device" not in text
    # a project's model is in its project.json; the user's settings hold only the model last
    # chosen, which a folder opened for the first time starts with (issue 20)
    keys = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line}
    assert not keys & {"model", "threshold", "simplify_tolerance", "background"}


def test_out_of_memory_is_reported_and_nothing_is_lost(qtbot, make_window, images_dir):
    from engine.errors import DeviceOutOfMemoryError

    class Exhausted:
        config = SimpleNamespace(threshold=0.15, background="auto")

        def segment(self, image, classes, progress=None, cancel=None):
            raise DeviceOutOfMemoryError("cuda:0 ran out of memory; try device 'cpu' or a smaller image")

    window = make_window(factory=lambda settings: Exhausted())
    open_folder(qtbot, window, images_dir)
    square = np.array([[10, 10], [60, 10], [60, 60], [10, 60]], float)
    from annotator.core.shapes import Shape

    window.document().add_shape(Shape(label="cup", exterior=square))
    propose(qtbot, window, "sky")
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=5000)
    box = window.findChild(QMessageBox)
    assert "ran out of memory" in box.text() and "unchanged" in box.text()
    assert "out of memory" in window.statusBar().currentMessage()
    assert [s.label for s in window.document().shapes()] == ["cup"]


def test_shortcuts_are_unique_and_documented():
    from PySide6.QtGui import QKeySequence

    from annotator.gui.actions import SHORTCUTS, shortcuts_markdown

    keys = [QKeySequence(k).toString() for c in SHORTCUTS for k in c.shortcuts]
    assert len(keys) == len(set(keys)), "two commands share a shortcut"
    table = shortcuts_markdown()
    for required in ("`Ctrl+Z`", "`Ctrl+Shift+Z` / `Ctrl+Y`", "`A`", "`D`", "`Ctrl+Return`", "`Shift+Y`"):
        assert required in table


def test_real_hub_download_fails_plainly_when_offline(qtbot, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # conftest sets it too: tests never reach a hub
    dialog = DownloadDialog("pnp-annotator-tests/not-a-model")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: "failed" in dialog.label.text(), timeout=20000)
    assert "pnp-annotator-tests/not-a-model" in dialog.label.text()


def test_broken_torchvision_opens_the_installation_problem_box(qtbot, make_window, images_dir, monkeypatch):
    import torchvision

    import engine.loading

    def nms(*args, **kwargs):
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(torchvision.ops, "nms", nms)
    monkeypatch.setattr(engine.loading, "_STACK_OK", False)
    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.prompt.classes.setText("sky")
    key(qtbot, window, "Ctrl+Return")
    qtbot.waitUntil(lambda: window.model_setup._problem is not None, timeout=30000)
    box = window.model_setup._problem
    assert box.isVisible() and not box.isModal()
    assert "torch and torchvision" in box.text()
    assert "pip install --force-reinstall" in box.informativeText()
    assert "Traceback" not in box.informativeText()
    assert window.findChild(ModelMissingDialog) is None, "not a missing model: nothing to download"
    wait_idle(qtbot, window)
    assert window.document().shapes() == []
