"""One flow from a model run to shapes, with one record of its settings (issue 18), on the real window.

Each defect of the two former flows is reproduced here as a user meets it: Settings on a
SAM 3 project, switching engines after a Propose, a relaunch after switching, Instances
kept for an engine that makes none, and the CLI and the window writing different files.
"""

from __future__ import annotations

import json
import shutil

import pytest
from PySide6.QtWidgets import QMessageBox
from window_fixtures import (  # noqa: F401
    images_dir, make_window, open_folder, private_settings, propose, wait_idle,
)

from annotator import cli
from annotator.core import heatcache
from annotator.core.project import Project
from annotator.gui.dialogs import SettingsDialog

pytestmark = pytest.mark.gui


def _settings_dialog(window) -> SettingsDialog:
    window.on_settings()
    return window.findChild(SettingsDialog)


def _move_sliders(qtbot, window, threshold: float, tolerance: float) -> None:
    """As a user drags them: the dock's debounced paramsChanged fires once."""
    dock = window.heatmap
    dock.set_values(threshold, tolerance)
    dock.paramsChanged.emit(*dock.values())
    wait_idle(qtbot, window)


def _proposals(window) -> list:
    doc = window.document()
    return [doc.shape(i) for i in doc.proposal_ids()]


def test_a_slider_value_goes_out_with_its_job_and_comes_back_with_the_shapes_and_undo(qtbot, make_window,
                                                                                      images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    propose(qtbot, window, "cat, sky")
    doc = window.document()
    proposed = doc.params
    assert proposed is not None and proposed.threshold == pytest.approx(0.15)  # PnP-OVSS's own
    sent = []
    real = window.client.postprocess
    window.client.postprocess = lambda image, result, settings: sent.append(settings) or real(image, result, settings)

    _move_sliders(qtbot, window, 0.4, 3.0)
    assert [(s.threshold, s.tolerance) for s in sent] == [(pytest.approx(0.4), pytest.approx(3.0))]
    assert doc.params == sent[0], "the landed proposals carry the record their job went out with"
    saved = heatcache.load_result(window.project, window.current)
    assert (saved.threshold, saved.tolerance) == (pytest.approx(0.4), pytest.approx(3.0))

    doc.undo_stack.undo()
    assert doc.params == proposed and window.heatmap.values() == (pytest.approx(0.15), pytest.approx(1.5))
    doc.undo_stack.redo()
    assert doc.params == sent[0] and window.heatmap.values() == (pytest.approx(0.4), pytest.approx(3.0))


@pytest.mark.parametrize("engine", ["blip", "sam3"])
def test_window_propose_writes_the_file_pnp_annotator_label_writes(engine, qtbot, make_window, tmp_path,
                                                                   samples_dir, tiny_model_dir, tiny_sam3_dir,
                                                                   comparable):
    model = str(tiny_model_dir if engine == "blip" else tiny_sam3_dir)
    cli_root, gui_root = tmp_path / "cli", tmp_path / "gui"
    for root in (cli_root, gui_root):
        root.mkdir()
        shutil.copy(samples_dir / "chelsea.png", root / "chelsea.png")
    assert cli.main(["label", str(cli_root), "--classes", "cat, sky, road", "--model", model, "--device", "cpu",
                     "--batch-size", "1"]) == 0

    window = make_window(model=model)
    open_folder(qtbot, window, gui_root)
    propose(qtbot, window, "cat, sky, road")
    window.store.flush()
    cli_project, gui_project = Project.open(cli_root), Project.open(gui_root)
    assert comparable(gui_project, "chelsea.png") == comparable(cli_project, "chelsea.png")
    assert comparable(gui_project, "chelsea.png")["model_run"]["requested"] == ["cat", "sky", "road"]
    # both keep the heatmaps the sliders need (PnP-OVSS), or neither (SAM 3: not re-drawable from them)
    cli_heat, gui_heat = (heatcache.heat_path(p, "chelsea.png") for p in (cli_project, gui_project))
    assert cli_heat.is_file() == gui_heat.is_file() == (engine == "blip")
    if engine == "blip":
        assert cli_heat.read_bytes() == gui_heat.read_bytes()


def test_settings_ok_on_a_sam3_project_keeps_the_engines_own_threshold(qtbot, make_window, images_dir,
                                                                       tiny_model_dir, tiny_sam3_dir):
    window = make_window(model=str(tiny_sam3_dir))
    open_folder(qtbot, window, images_dir)
    dialog = _settings_dialog(window)
    assert dialog.own_threshold.isChecked() and dialog.threshold.value() == pytest.approx(0.5)
    dialog.accept()  # OK without a change
    assert window.project.settings.threshold is None
    stored = json.loads((window.project.state_dir / "project.json").read_text())["settings"]
    assert stored["threshold"] is None
    assert window.heatmap_view.defaults()[0] == pytest.approx(0.5)

    # PnP-OVSS: its own default, then one the user sets for it
    dialog = _settings_dialog(window)
    dialog.model.setCurrentText(str(tiny_model_dir))
    assert dialog.own_threshold.isChecked() and dialog.threshold.value() == pytest.approx(0.15)
    dialog.own_threshold.setChecked(False)
    dialog.threshold.setValue(0.3)
    dialog.accept()
    assert window.project.settings.threshold == pytest.approx(0.3)
    assert window.heatmap_view.defaults()[0] == pytest.approx(0.3)

    # back to SAM 3: its own default again, not PnP-OVSS's 0.3 ...
    dialog = _settings_dialog(window)
    dialog.model.setCurrentText(str(tiny_sam3_dir))
    assert dialog.own_threshold.isChecked() and dialog.threshold.value() == pytest.approx(0.5)
    dialog.accept()
    assert window.project.settings.threshold is None
    assert window.heatmap_view.defaults()[0] == pytest.approx(0.5)
    # ... and the Model menu back to PnP-OVSS brings the user's 0.3 back
    window.model_setup.use_model(str(tiny_model_dir))
    assert window.project.settings.threshold == pytest.approx(0.3)
    assert Project.open(images_dir).settings.threshold == pytest.approx(0.3)


def test_sam3_propose_then_pnp_ovss_then_shapes_or_slider_is_no_engine_error(qtbot, make_window, images_dir,
                                                                              tiny_model_dir, tiny_sam3_dir):
    window = make_window(model=str(tiny_sam3_dir))
    open_folder(qtbot, window, images_dir)
    propose(qtbot, window, "cat, sky")
    before = [(s.label, s.exterior.tolist()) for s in _proposals(window)]
    assert before
    failures = []
    window.client.failed.connect(lambda *a: failures.append(a))
    window.model_setup.use_model(str(tiny_model_dir))
    window.prompt.proposals.setCurrentIndex(window.prompt.proposals.findData("regions"))
    wait_idle(qtbot, window)
    _move_sliders(qtbot, window, 0.3, 1.5)
    assert failures == [] and window.findChild(QMessageBox) is None
    assert [(s.label, s.exterior.tolist()) for s in _proposals(window)] == before
    assert not window.heatmap.threshold.isEnabled(), "no result of this engine to re-draw: the sliders say so"


def test_relaunch_after_switching_engines_never_redraws_from_a_stale_heatmap(qtbot, make_window, images_dir,
                                                                             tiny_model_dir, tiny_sam3_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    image = window.current
    propose(qtbot, window, "cat, sky")
    assert heatcache.heat_path(window.project, image).is_file()
    window.model_setup.use_model(str(tiny_sam3_dir))
    propose(qtbot, window, "cat, sky")
    sam3 = [(s.label, s.score) for s in _proposals(window)]
    assert sam3
    assert not heatcache.heat_path(window.project, image).is_file(), "the PnP-OVSS heatmaps are not SAM 3's"
    window.close()

    again = make_window(model=str(tiny_sam3_dir))  # relaunch: the project says SAM 3
    open_folder(qtbot, again, images_dir)
    qtbot.waitUntil(lambda: again.current == image and again.document() is not None, timeout=10000)
    _move_sliders(qtbot, again, 0.2, 1.5)
    assert [(s.label, s.score) for s in _proposals(again)] == sam3
    assert len(Project.open(images_dir).load(image).shapes) == len(sam3)


def test_a_heatmap_file_of_other_classes_is_not_used(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    image = window.current
    propose(qtbot, window, "cat, sky")
    path = heatcache.heat_path(window.project, image)
    saved = heatcache.load_result(window.project, image)
    stale = heatcache.SavedResult(["road"], saved.heatmaps[:1], saved.image_size, saved.work_size,
                                  saved.threshold, saved.tolerance, saved.background)
    heatcache.save_result(window.project, image, stale)
    window.close()
    again = make_window()
    open_folder(qtbot, again, images_dir)
    qtbot.waitUntil(lambda: again.current == image and again.document() is not None, timeout=10000)
    assert path.is_file() and again.router.result(image) is None


def test_instances_are_not_kept_for_an_engine_that_makes_none(qtbot, make_window, images_dir, tiny_model_dir,
                                                               tiny_sam3_dir):
    window = make_window(model=str(tiny_sam3_dir))
    open_folder(qtbot, window, images_dir)
    combo = window.prompt.proposals
    combo.setCurrentIndex(combo.findData("instances"))
    assert window.project.settings.proposals == "instances"
    window.model_setup.use_model(str(tiny_model_dir))
    assert window.project.settings.proposals == "auto" and window.prompt.proposals_mode() == "auto"
    assert not combo.model().item(combo.findData("instances")).isEnabled()
    assert Project.open(images_dir).settings.proposals == "auto"
    failures = []
    window.client.failed.connect(lambda *a: failures.append(a))
    propose(qtbot, window, "cat, sky")
    assert failures == [] and _proposals(window)
    window.model_setup.use_model(str(tiny_sam3_dir))
    assert combo.model().item(combo.findData("instances")).isEnabled()
