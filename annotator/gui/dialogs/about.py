"""Help > About."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from annotator import __version__


def show_about(parent: QWidget) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, "About PnP Annotator",
                      f"<b>PnP Annotator</b> {__version__}<br><br>"
                      "Type class names, get editable polygon proposals from training-free "
                      "open-vocabulary semantic segmentation (PnP-OVSS on BLIP), review them "
                      "and export COCO.<br><br>"
                      "Proposals are drawn dashed until you accept them; the heatmap dock "
                      "shows where the model sees each class.", QMessageBox.StandardButton.Ok, parent)
    box.setWindowIcon(parent.windowIcon())
    box.open()
    return box
