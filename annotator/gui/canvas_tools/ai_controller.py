"""Wires the AI polygon tool to the main window: its action, the engine's interactive
lane, the missing-model dialog and the project's interactive model setting.

The window creates one ``AiPolygonController`` and calls ``attach`` for every canvas it
makes (one per project); ``toggle`` is the menu / toolbar / shortcut command.
"""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QToolBar

from annotator.gui.canvas_tools.ai_polygon import AiPolygonTool
from annotator.gui.canvas_tools.interactive_model import show_missing_dialog, use_interactive_model

TOLERANCE = 1.0  # px: the preview outline's simplification (the mask itself is exact)


def sharpen_summary(applied: int, computed: int, left: dict[str, str], image: str) -> str:
    """"Sharpened 20 proposal(s) of x.png; 2 left as they were: the model found no object there"."""
    reasons = Counter(left.values())
    if computed > applied:  # edited in the window while the model worked: the edit wins
        reasons["changed while sharpening"] += computed - applied
    text = f"Sharpened {applied} proposal(s) of {image}"
    if reasons:
        text += f"; {sum(reasons.values())} left as they were: " + ", ".join(
            reason if n == sum(reasons.values()) else f"{n} {reason}" for reason, n in reasons.most_common())
    return text


class AiPolygonController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.tool: AiPolygonTool | None = None
        self._sharpen_jobs: set[int] = set()  # of the open project
        self._dialog = None
        self.action = window.actions["ai_polygon"]
        self.action.setCheckable(True)
        self.toolbar = QToolBar("Tools", window)
        self.toolbar.setObjectName("tools")
        self.toolbar.addAction(window.actions["draw_polygon"])
        self.toolbar.addAction(self.action)
        window.insertToolBar(window.prompt, self.toolbar)  # left of the prompt bar, which takes the rest
        client = window.client
        client.clickReady.connect(self._on_result)
        client.sharpened.connect(self._on_sharpened)
        client.interactiveFailed.connect(self._on_failed)
        client.interactiveMissing.connect(self.show_model_missing)
        self.attach(window.canvas)

    def attach(self, canvas) -> None:
        """A new canvas (a new project): the tool follows it, inactive."""
        self._sharpen_jobs.clear()  # an old project's answers must not land in this one
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
        return self.window.client.click(image, *source, points, labels, box, tolerance=TOLERANCE,
                                        min_area_fraction=self.window.project.settings.min_area_fraction)

    def _on_result(self, result) -> None:
        if self.tool is not None:
            self.tool.show_result(result)

    def _on_failed(self, job_id: int, image: str, kind: str, message: str) -> None:
        if job_id in self._sharpen_jobs:
            self._sharpen_jobs.discard(job_id)
            if kind != "no model":
                self.window.statusBar().showMessage(f"Sharpen failed for {image}: {message}", 8000)
        elif self.tool is not None and kind != "no model":
            self.tool.show_failure(job_id, image, message)

    # --- sharpen ------------------------------------------------------------------------------
    def sharpen(self) -> None:
        """The selected proposals, or all of the image's, sharpened in the engine thread."""
        w = self.window
        doc = w.document()
        if doc is None:
            return
        proposals = set(doc.proposal_ids())
        ids = [i for i in w.canvas.selected_ids() if i in proposals] or sorted(proposals)
        source = self._source(w.current)
        if not ids or source is None:
            w.statusBar().showMessage("No proposals to sharpen: select some, or Propose first", 5000)
            return
        result = w.router.result(w.current)
        heatmaps, classes = (result.heatmaps, list(result.classes)) if result is not None else (None, [])
        job = w.client.sharpen(w.current, *source, doc.shapes(), ids, heatmaps=heatmaps, classes=classes,
                               tolerance=w.project.settings.simplify_tolerance)
        self._sharpen_jobs.add(job)
        w.statusBar().showMessage(f"Sharpening {len(ids)} proposal(s) of {w.current}…", 5000)

    def _on_sharpened(self, result) -> None:
        w = self.window
        if result.job_id not in self._sharpen_jobs or w.store is None:
            return
        self._sharpen_jobs.discard(result.job_id)
        doc = w.store.document(result.image)  # the image it was computed for, shown or not
        count = doc.replace_shapes(result.replacements, result.before,
                                   f"Sharpen {len(result.replacements)} proposal(s)")
        w.statusBar().showMessage(sharpen_summary(count, len(result.replacements), result.left, result.image), 8000)

    # --- missing model ------------------------------------------------------------------------
    def show_model_missing(self, message: str) -> None:
        from engine.interactive import DEFAULT_INTERACTIVE_MODEL

        project = self.window.project
        show_missing_dialog(self, message, project.settings.interactive_model if project else "",
                            default=DEFAULT_INTERACTIVE_MODEL,
                            headline="The AI polygon and Sharpen need the interactive model.",
                            uses="They outline objects with")

    def _use_model(self, model: str) -> None:
        use_interactive_model(self.window, model)
