"""Wires the exemplar tool to the main window: its action in the Tools toolbar, the engine's
interactive lane (``EngineClient.exemplars``), the threshold slider and the "SAM 3 needed" dialog.

The window creates one ``ExemplarController`` and calls ``attach`` for every canvas it makes;
``toggle`` is the menu / toolbar / shortcut command.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from annotator.gui.canvas_tools.exemplar import ExemplarTool
from annotator.gui.canvas_tools.interactive_model import show_missing_dialog, use_interactive_model


class ExemplarController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.tool: ExemplarTool | None = None
        self._jobs: set[int] = set()
        self._dialog = None
        self.action = window.actions["exemplars"]
        self.action.setCheckable(True)
        window.ai.toolbar.addAction(self.action)
        window.client.exemplarsFound.connect(self._on_result)
        window.client.interactiveFailed.connect(self._on_failed)
        window.heatmap.paramsChanged.connect(self._on_params)
        self.attach(window.canvas)

    def attach(self, canvas) -> None:
        """A new canvas (a new project): the tool follows it, inactive."""
        self._jobs.clear()
        self.tool = ExemplarTool(canvas, decoder=self._decode)
        self.tool.finished.connect(lambda: self.action.setChecked(False))
        self.action.setChecked(False)

    def toggle(self) -> None:
        if self.tool.active:
            self.tool.deactivate()
            return
        self.window.canvas.setFocus()
        self.action.setChecked(self.tool.activate())

    def _decode(self, image: str, boxes, labels, text, label):
        w = self.window
        doc = w.document()
        if w.project is None or image != w.current or w.pixels is None or doc is None:
            return None
        w.client.set_interactive_model(w.project.settings.interactive_model)
        threshold, tolerance = w.heatmap.values()  # this image's sliders
        job = w.client.exemplars(image, str(w.project.image_path(image)), w.pixels, boxes, labels, text=text,
                                 label=label, threshold=threshold, existing=doc.shapes(), tolerance=tolerance,
                                 min_area_fraction=w.project.settings.min_area_fraction)
        self._jobs.add(job)
        w.statusBar().showMessage(f"Looking for objects like the {len(boxes)} exemplar box(es)…", 5000)
        return job

    def _on_result(self, result) -> None:
        self._jobs.discard(result.job_id)
        if self.tool is not None:
            self.tool.show_result(result)

    def _on_failed(self, job_id: int, image: str, kind: str, message: str) -> None:
        if job_id not in self._jobs:
            return
        self._jobs.discard(job_id)
        if kind == "no model":
            self.show_model_missing(message)
        if self.tool is not None:
            self.tool.show_failure(job_id, image, message)

    def _on_params(self, threshold: float, tolerance: float) -> None:
        if self.tool is not None and self.tool.active:
            self.tool.refresh()

    # --- missing model ------------------------------------------------------------------------
    def show_model_missing(self, message: str) -> None:
        from engine.config import SAM3_MODEL

        show_missing_dialog(self, message, "", default=SAM3_MODEL, headline="Exemplar boxes need SAM 3.",
                            uses="They find every object like your boxes with")

    def _use_model(self, model: str) -> None:
        """SAM 3 weights become the interactive model (the AI polygon then runs the SAM 3 tracker)."""
        if use_interactive_model(self.window, model, ": exemplar boxes use its SAM 3") and self.tool is not None:
            self.tool.refresh()
