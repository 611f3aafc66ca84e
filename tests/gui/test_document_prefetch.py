"""The shown image's neighbours have their annotation files parsed off the GUI thread, and a
parse made ahead never hides a write that came after it (DocumentStore.prefetch)."""

from __future__ import annotations

import threading

import pytest
from window_fixtures import images_dir, key, make_window, open_folder, private_settings  # noqa: F401

from annotator.core.annotations import ImageAnnotations
from annotator.core.project import Project
from annotator.core.shapes import Shape

pytestmark = pytest.mark.gui

FIRST, SECOND = "astronaut.png", "chelsea.png"
SQUARE = [[1, 1], [30, 1], [30, 30], [1, 30]]


@pytest.fixture
def window(qtbot, make_window, images_dir, monkeypatch):
    Project.open(images_dir).save(ImageAnnotations(SECOND, 451, 300, [Shape("cat", SQUARE)]))
    loads, real = [], Project.load
    monkeypatch.setattr(Project, "load", lambda self, rel: (loads.append((rel, threading.current_thread())),
                                                            real(self, rel))[1])
    window = make_window()
    open_folder(qtbot, window, images_dir)
    qtbot.waitUntil(lambda: any(rel == SECOND for rel, _ in loads), timeout=5000)
    window.loads = loads
    return window


def test_the_next_image_opens_without_parsing_on_the_gui_thread(qtbot, window):
    key(qtbot, window, "D")
    assert window.current == SECOND and [s.label for s in window.document().shapes()] == ["cat"]
    assert all(t is not threading.main_thread() for rel, t in window.loads if rel == SECOND)


def test_a_write_after_the_parse_ahead_is_what_opens(qtbot, window):
    window.project.save(ImageAnnotations(SECOND, 451, 300, [Shape("dog", SQUARE), Shape("dog", SQUARE)]))
    key(qtbot, window, "D")
    assert [s.label for s in window.document().shapes()] == ["dog", "dog"]
