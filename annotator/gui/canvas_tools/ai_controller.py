"""Wires the AI polygon tool to the main window: its action, the engine's interactive
lane, the missing-model dialog and the project's interactive model setting.

The window creates one ``AiPolygonController`` and calls ``attach`` for every canvas it
makes (one per project); ``toggle`` is the menu / toolbar / shortcut command.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QToolBar

from annotator.gui.canvas_tools.ai_polygon import AiPolygonTool

TOLERANCE = 1.0  # px: the preview outline's simplification (the mask itself is exact)


class AiPolygonController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.tool: AiPolygonTool | None = None
        self._dialog = None
        self.action = window.actions["ai_polygon"]
        self.action.setCheckable(True)
        self.toolbar = QToolBar("Tools", window)
        self.toolbar.setObjectName("tools")
        self.toolbar.addAction(window.actions["draw_polygon"])
        self.toolbar.addAction(self.action)
        window.addToolBar(self.toolbar)
        client = window.client
        client.clickReady.connect(self._on_result)
        client.interactiveFailed.connect(self._on_failed)
        client.interactiveMissing.connect(self.show_model_missing)
        self.attach(window.canvas)

    def attach(self, canvas) -> None:
        """A new canvas (a new project): the tool follows it, inactive."""
        self.tool = AiPolygonTool(canvas, decoder=self._decode, embedder=self._embed)
        self.tool.finished.connect(lambda: self.action.setChecked(False))
        self.action.setChecked(False)

    def toggle(self) -> None:
        if self.tool.active:
            self.tool.deactivate()
            return
        self.window.canvas.setFocus()
        self.action.setChecked(self.tool.activate())

    # --- engine -------------------------------------------------------------------------------
    def _source(self, image: str):
        """(cache key, pixels) of *image* if it is the one shown, else None."""
        w = self.window
        if w.project is None or image != w.current or w.pixels is None:
            return None
        w.client.set_interactive_model(w.project.settings.interactive_model)
        return str(w.project.image_path(image)), w.pixels

    def _embed(self, image: str) -> None:
        source = self._source(image)
        if source is not None:
            self.window.client.embed(image, *source)

    def _decode(self, image: str, points, labels, box):
        source = self._source(image)
        if source is None:
            return None
        return self.window.client.click(image, *source, points, labels, box, tolerance=TOLERANCE)

    def _on_result(self, result) -> None:
        if self.tool is not None:
            self.tool.show_result(result)

    def _on_failed(self, job_id: int, image: str, kind: str, message: str) -> None:
        if self.tool is not None and kind != "no model":
            self.tool.show_failure(job_id, image, message)

    # --- missing model ------------------------------------------------------------------------
    def show_model_missing(self, message: str) -> None:
        from annotator.gui import dialogs
        from engine.interactive import DEFAULT_INTERACTIVE_MODEL

        w = self.window
        if self._dialog is not None or w.project is None:
            return
        self._dialog = dialogs.ModelMissingDialog(
            message, w.settings, w, model=w.project.settings.interactive_model,
            default=DEFAULT_INTERACTIVE_MODEL, what="interactive segmentation model (AI polygon)")
        self._dialog.modelChosen.connect(self._use_model)
        self._dialog.finished.connect(lambda _: setattr(self, "_dialog", None))
        self._dialog.setModal(False)  # the rest of the app keeps working meanwhile
        self._dialog.show()

    def _use_model(self, model: str) -> None:
        w = self.window
        if w.project is None:
            return
        w.project.settings.interactive_model = model
        w.project.save_settings()
        w.client.set_interactive_model(model)
        w.statusBar().showMessage(f"Interactive model set to {model}", 8000)
