"""SAM 3 in the window: proposals as instances or regions, the model menu, the gated no-weights dialog."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QFileDialog, QLabel
from window_fixtures import (  # noqa: F401
    images_dir, key, make_window, open_folder, private_settings, propose, wait_idle,
)

from annotator.gui.dialogs import ModelMissingDialog, SettingsDialog
from annotator.gui.settings import AppSettings

pytestmark = pytest.mark.gui


def test_propose_with_sam3_instances_then_regions(qtbot, make_window, images_dir, tiny_sam3_dir):
    from annotator.core.proposals import shapes_from_instances, shapes_from_label_map
    from engine.sam3.postprocess import label_map_from_probabilities

    window = make_window(model=str(tiny_sam3_dir))
    open_folder(qtbot, window, images_dir)
    assert window.prompt.proposals_mode() == "auto"
    propose(qtbot, window, "cat, sky")
    result = window.router.result(window.current)
    assert result.engine == "sam3" and result.instances
    doc = window.document()
    proposals = [doc.shape(i) for i in doc.proposal_ids()]
    expected = shapes_from_instances(result.instances, result.classes, result.image_size,
                                     tolerance=window.project.settings.simplify_tolerance,
                                     min_area_fraction=window.project.settings.min_area_fraction)
    assert proposals and len(proposals) == len(expected)
    assert sorted(s.score for s in proposals) == sorted(s.score for s in expected)  # instance scores
    assert {s.label for s in proposals} <= {"cat", "sky"}

    # Regions instead: stored in the project, the result re-shaped without a model call.
    calls = []
    real = window.client._worker._segmenter.model.forward
    window.client._worker._segmenter.model.forward = lambda *a, **k: calls.append(1) or real(*a, **k)
    window.prompt.proposals.setCurrentIndex(window.prompt.proposals.findData("regions"))
    wait_idle(qtbot, window)
    assert window.project.settings.proposals == "regions"
    stored = json.loads((window.project.state_dir / "project.json").read_text())
    assert stored["settings"]["proposals"] == "regions"
    threshold = window.heatmap.values()[0]
    label_map = label_map_from_probabilities(result.heatmaps, result.image_size, threshold)
    regions = shapes_from_label_map(label_map, result.classes, result.heatmaps,
                                    tolerance=window.project.settings.simplify_tolerance,
                                    min_area_fraction=window.project.settings.min_area_fraction)
    qtbot.waitUntil(lambda: len(doc.proposal_ids()) == len(regions), timeout=10000)
    assert calls == []


def test_model_menu_lists_both_engines_and_chosen_folders(qtbot, make_window, tiny_model_dir, tiny_sam3_dir,
                                                          monkeypatch):
    window = make_window()
    entries = window.model_menu.entries()
    models = [m for _, m, _ in entries]
    assert models[:2] == ["Salesforce/blip-itm-large-flickr", "facebook/sam3"]
    assert str(tiny_model_dir) in models and [m for _, m, c in entries if c] == [str(tiny_model_dir)]
    assert any("SAM 3" in text for text, _, _ in entries)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tiny_sam3_dir))
    browse = window.model_menu.actions()[-1]
    assert "Folder" in browse.text()
    browse.trigger()
    assert window.client.settings.model == str(tiny_sam3_dir)
    window.model_menu.refresh()
    models = [m for _, m, _ in window.model_menu.entries()]
    assert str(tiny_sam3_dir) in models and str(tiny_model_dir) in models  # both folders kept
    assert AppSettings.load().weights_folders.splitlines()[0] == str(tiny_sam3_dir)

    sam3 = next(a for a in window.model_menu.actions() if a.data() == "facebook/sam3")
    sam3.trigger()
    assert window.client.settings.model == "facebook/sam3"
    window.model_menu.refresh()
    assert [m for _, m, c in window.model_menu.entries() if c] == ["facebook/sam3"]


def test_settings_dialog_offers_both_engines(qtbot, make_window, images_dir):
    window = make_window()
    window.on_settings()
    dialog = window.findChild(SettingsDialog)
    items = [dialog.model.itemText(i) for i in range(dialog.model.count())]
    assert items[:2] == ["Salesforce/blip-itm-large-flickr", "facebook/sam3"]
    dialog.model.setCurrentText("facebook/sam3")
    assert "gated" in dialog.engine_note.text()
    dialog.accept()
    assert window.client.settings.model == "facebook/sam3"


def test_no_weights_dialog_for_sam3_explains_the_gate(qtbot, private_settings):
    dialog = ModelMissingDialog("Cannot find the model 'facebook/sam3'", "facebook/sam3")
    qtbot.addWidget(dialog)
    text = " ".join(label.text() for label in dialog.findChildren(QLabel))
    assert "gated" in text and "hf auth login" in text and "accept its licence" in text
    assert "huggingface.co/facebook/sam3" in text
    assert dialog.folder_button.isDefault() and not dialog.download_button.isDefault()
    assert dialog.download_button.text() == "Download facebook/sam3"

    blip = ModelMissingDialog("not in the cache", "")
    qtbot.addWidget(blip)
    assert "gated" not in " ".join(label.text() for label in blip.findChildren(QLabel))
    assert blip.download_button.isDefault()


def test_window_threshold_defaults_to_each_engines_own(tiny_model_dir, tiny_sam3_dir):
    """An unset project threshold starts the sliders at the engine's default: SAM 3's semantic
    threshold (0.5), PnP-OVSS's heatmap threshold (0.15)."""
    from annotator.core.project import ProjectSettings
    from annotator.gui.engine_worker import EngineSettings

    assert EngineSettings.from_project(ProjectSettings(model=str(tiny_sam3_dir))).default_threshold == 0.5
    assert EngineSettings.from_project(ProjectSettings(model="facebook/sam3")).default_threshold == 0.5
    assert EngineSettings.from_project(ProjectSettings(model=str(tiny_model_dir))).default_threshold == 0.15
    own = ProjectSettings(model=str(tiny_sam3_dir), threshold=0.3).proposal_settings()
    assert own.resolved(0.5).threshold == 0.3 and ProjectSettings().proposal_settings().resolved(0.5).threshold == 0.5
