"""DocumentStore.prefetch: the neighbours' annotation files parsed off the GUI thread, and a
parse made ahead never hides a write that came after it."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtGui import QUndoGroup

from annotator.core.annotations import ImageAnnotations
from annotator.core.project import Project
from annotator.core.shapes import Shape
from annotator.gui.documents import DocumentStore

pytestmark = pytest.mark.gui

SQUARE = [[1, 1], [30, 1], [30, 30], [1, 30]]


@pytest.fixture
def store(qtbot, tmp_path, samples_dir):
    import shutil

    shutil.copy(samples_dir / "chelsea.png", tmp_path / "cat.png")
    project = Project.open(tmp_path)
    project.save(ImageAnnotations("cat.png", 451, 300, [Shape("cat", SQUARE)]))
    store = DocumentStore(project, QUndoGroup())
    yield store
    store.close()


def _count_loads(store, monkeypatch) -> list:
    calls, real = [], store.project.load
    monkeypatch.setattr(store.project, "load", lambda rel: (calls.append(threading.current_thread()), real(rel))[1])
    return calls


def test_a_prefetched_file_is_parsed_off_the_gui_thread_and_not_again(qtbot, store, monkeypatch):
    calls = _count_loads(store, monkeypatch)
    store.prefetch("cat.png")
    qtbot.waitUntil(lambda: bool(store._ahead), timeout=5000)
    assert len(calls) == 1 and calls[0] is not threading.main_thread()
    doc = store.document("cat.png")
    assert [s.label for s in doc.shapes()] == ["cat"] and len(calls) == 1


def test_a_write_after_the_prefetch_is_what_opens(qtbot, store, monkeypatch):
    store.prefetch("cat.png")
    qtbot.waitUntil(lambda: bool(store._ahead), timeout=5000)
    store.project.save(ImageAnnotations("cat.png", 451, 300, [Shape("dog", SQUARE), Shape("dog", SQUARE)]))
    assert [s.label for s in store.document("cat.png").shapes()] == ["dog", "dog"]
