"""The window opening a folder whose .pnp-annotator is not a real folder, or an older layout."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QMessageBox
from window_fixtures import images_dir, make_window, open_folder, private_settings  # noqa: F401

from annotator.core.layout import STATE_DIR

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_state_folder_that_is_a_file_or_a_link_is_a_message_not_a_crash(qtbot, make_window, images_dir,
                                                                          tmp_path, kind):
    if kind == "file":
        (images_dir / STATE_DIR).write_text("mine")
    else:
        (tmp_path / "elsewhere").mkdir()
        (images_dir / STATE_DIR).symlink_to(tmp_path / "elsewhere")
    window = make_window()
    assert not window.open_path(images_dir)
    boxes = [w for w in window.findChildren(QMessageBox) if w.isVisible()]
    assert boxes and STATE_DIR in boxes[-1].text() and window.project is None
    if kind == "file":
        assert (images_dir / STATE_DIR).read_text() == "mine"


def test_the_window_reads_a_folder_of_the_older_layout(qtbot, make_window, images_dir):
    state = images_dir / STATE_DIR
    state.mkdir()
    shape = {"id": "a" * 32, "label": "cat", "source": "human", "accepted": True, "score": None,
             "parts": [{"exterior": [[1, 1], [30, 1], [30, 30], [1, 30]], "holes": []}]}
    (state / "chelsea.png.json").write_text(json.dumps({"schema": "pnp-annotator/image", "version": 2,
                                                        "image": "chelsea.png", "width": 451, "height": 300,
                                                        "shapes": [shape]}))
    window = make_window()
    assert open_folder(qtbot, window, images_dir)
    assert window.project.load("chelsea.png").shapes[0].label == "cat"
    assert (state / "images" / "chelsea.png.json").is_file() and not (state / "chelsea.png.json").exists()
