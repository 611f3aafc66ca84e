"""A canvas session long enough to expose per-call leaks in the Qt bindings."""

from __future__ import annotations

import sys

import numpy as np
from PySide6.QtCore import QObject, QPointF, Qt
from PySide6.QtTest import QTest

from annotator.core.annotations import ImageAnnotations
from annotator.core.labels import LabelSet
from annotator.core.shapes import Shape
from annotator.gui.canvas import Canvas
from annotator.gui.document import AnnotationDocument


def test_void_qt_calls_do_not_leak_references_to_none():
    """shiboken6 6.12.0 drops a None reference per void call; on CPython 3.11 that aborts
    the process ("deallocating None") after a few thousand calls. pyproject pins < 6.12;
    this fails if a binding with that bug is installed."""
    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(1000):
        obj.setObjectName("x")
    assert abs(sys.getrefcount(None) - before) < 50


def test_dense_shapes_survive_many_frames_of_painting_and_dragging(qtbot):
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    ring = np.c_[300 + 200 * np.cos(t), 300 + 200 * np.sin(t)]
    shape = Shape(label="sky", exterior=ring, source="model", accepted=False)
    doc = AnnotationDocument(ImageAnnotations("a.png", 600, 600, [shape]))
    canvas = Canvas(LabelSet())
    qtbot.addWidget(canvas)
    canvas.resize(500, 500)
    canvas.show()
    canvas.set_document(doc, np.zeros((600, 600, 3), np.uint8))
    canvas.select([shape.id])
    vp = canvas.viewport()
    start = canvas.mapFromScene(QPointF(*ring[0]))
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for k in range(30):
        QTest.mouseMove(vp, canvas.mapFromScene(QPointF(ring[0][0] - k, ring[0][1] + k)))
        vp.repaint()
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       canvas.mapFromScene(QPointF(ring[0][0] - 29, ring[0][1] + 29)))
    assert doc.undo_stack.count() == 1
    assert doc.shapes()[0].accepted
