"""A damaged or hostile kept heatmap file (issue 17 row 11) costs the window nothing but the
sliders of that image: no exception on the GUI thread, no memory exhausted."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication
from window_fixtures import images_dir, make_window, open_folder, private_settings  # noqa: F401

from annotator.core import heatcache
from annotator.core.project import Project

pytestmark = pytest.mark.gui

FIRST = "astronaut.png"


def heat_file(image_size, work_size, heatmaps=None) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, heatmaps=np.ones((1, 4, 4), np.float32) if heatmaps is None else heatmaps,
                        classes=np.array(["sky"]), image_size=np.array(image_size), work_size=np.array(work_size),
                        params=np.array([0.2, 1.0]), background=np.array("auto"))
    return buffer.getvalue()


@pytest.mark.parametrize("case", ["zero work size", "work size beyond the image", "float16 underflow"])
def test_the_window_treats_a_bad_heatmap_file_as_none(qtbot, make_window, images_dir, case):
    project = Project.open(images_dir)
    from PIL import Image

    with Image.open(images_dir / FIRST) as img:
        height, width = img.height, img.width
    content = {"zero work size": heat_file((height, width), (0, 48)),
               "work size beyond the image": heat_file((height, width), (height * 1000, width * 1000)),
               "float16 underflow": heat_file((height, width), (height, width),
                                              np.zeros((1, 4, 4), np.float16))}[case]
    path = heatcache.heat_path(project, FIRST)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    window = make_window()
    open_folder(qtbot, window, images_dir)
    qtbot.waitUntil(lambda: window.current == FIRST and window.pixels is not None, timeout=20000)
    for _ in range(5):
        QApplication.processEvents()
    assert window.router.result(FIRST) is None
    assert not window.heatmap.threshold.isEnabled()
