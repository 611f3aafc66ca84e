"""The heatmap dock and the canvas together: the overlay, the shape look under it, and the sliders.

The overlay is drawn in a colour map at its own opacity, above the image; while it
shows, shape fills step aside (outlines stay), and "Hide shapes" hides them. The
sliders belong to the image on screen: they show the values its proposals were made
with (``AnnotationDocument.params``, restored by undo), re-draw only that image, and
new proposals start from the project's defaults ("Make default" sets them).
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QObject

from annotator.gui.heatmap_overlay import LOOKS, render_heatmap

OVERLAY_MAX_SIDE = 512  # the canvas stretches the overlay; a heatmap has no finer detail


class HeatmapView(QObject):
    def __init__(self, window):
        super().__init__(window)
        self._w = window
        self._shown = False  # an overlay is on the canvas
        dock = window.heatmap
        dock.overlayChanged.connect(self.update_overlay)
        dock.hideShapesChanged.connect(lambda _: self.apply_shape_style())
        dock.paramsChanged.connect(self._on_params)
        dock.defaultsRequested.connect(self._make_default)
        window.view.changed.connect(self.apply_shape_style)

    def restore_look(self) -> None:
        """The overlay's colour map, opacity and visibility as the user last left them (QSettings),
        kept from now on as they change."""
        w, dock = self._w, self._w.heatmap
        settings = w.settings
        if settings.heatmap_look in LOOKS:
            dock.look.setCurrentText(settings.heatmap_look)
        dock.opacity.setValue(max(0, min(100, settings.heatmap_opacity)))
        dock.show_overlay.setChecked(bool(settings.show_heatmap))
        dock.overlayChanged.connect(self._remember_look)

    def _remember_look(self) -> None:
        w, dock = self._w, self._w.heatmap
        look, opacity, shown = dock.look.currentText(), dock.opacity.value(), int(dock.show_overlay.isChecked())
        settings = w.settings
        if (settings.heatmap_look, settings.heatmap_opacity, settings.show_heatmap) != (look, opacity, shown):
            settings.heatmap_look, settings.heatmap_opacity, settings.show_heatmap = look, opacity, shown
            w._settings_saver.start()  # written once the user pauses (and on close)

    def defaults(self) -> tuple[float, float]:
        """(threshold, tolerance) new proposals start from: the project's settings (the engine
        registry's default threshold when the project has none)."""
        settings = self.new_settings()
        return settings.threshold, settings.tolerance

    def new_settings(self):
        """The ``ProposalSettings`` a Propose runs with: the project's, its threshold written in."""
        w = self._w
        return w.engine_settings().proposal_settings().resolved(w.client.settings.default_threshold)

    def slider_settings(self):
        """The project's ``ProposalSettings`` with this image's slider values."""
        threshold, tolerance = self._w.heatmap.values()
        return self._w.engine_settings().proposal_settings().but(threshold=threshold, tolerance=tolerance)

    def result_changed(self, image: str) -> None:
        """The kept result of *image* changed: the dock's classes (none disables the sliders)."""
        w = self._w
        if image != w.current:
            return
        result = w.router.result(image)
        if result is not None:
            w.heatmap.set_classes(list(result.classes))
            return
        # a kept heatmap file is read once the pixels are decoded (a relaunch): say so meanwhile
        w.heatmap.set_classes([], pending=w.pixels is None and self._has_heatmap_file(image))

    def _has_heatmap_file(self, image: str) -> bool:
        from annotator.core.heatcache import heat_path

        try:
            return heat_path(self._w.project, image).is_file()
        except (OSError, ValueError, AttributeError):
            return False

    def update_overlay(self) -> None:
        w = self._w
        result = w.router.result(w.current) if w.current else None
        name = w.heatmap.current_class()
        self._shown = bool(w.heatmap.show_overlay.isChecked() and result is not None and name in result.classes)
        self.apply_shape_style()
        if not self._shown:
            w.canvas.set_overlay(None)
            return
        h, wd = result.image_size
        scale = min(1.0, OVERLAY_MAX_SIDE / max(h, wd))
        size = (max(1, round(h * scale)), max(1, round(wd * scale)))
        color = w.project.labels.color(name) if w.project else (255, 0, 0)
        look, opacity = w.heatmap.look_and_opacity()
        w.canvas.set_overlay(render_heatmap(result.heatmaps[result.classes.index(name)], size, color, look, opacity))

    def apply_shape_style(self) -> None:
        """The canvas's shape look: the View options, less the fills while a heatmap is shown."""
        w = self._w
        style = w.view.style()
        w.canvas.set_shape_style(dataclasses.replace(
            style, fill=0.0 if self._shown else style.fill,
            all_hidden=style.all_hidden or w.heatmap.hide_shapes.isChecked()))

    def show_params(self, doc) -> None:
        """The sliders show the values the image's proposals were made with (or the defaults)."""
        params = doc.params if doc is not None else None
        threshold, tolerance = self.defaults()
        if params is not None:
            threshold = threshold if params.threshold is None else params.threshold
            tolerance = params.tolerance
        if self._w.heatmap.values() != (threshold, tolerance):
            self._w.heatmap.set_values(threshold, tolerance)

    def _on_params(self, threshold: float, tolerance: float) -> None:
        """Sliders moved: re-draw the current image's proposals only (no model call)."""
        w = self._w
        result = w.router.result(w.current) if w.current else None
        if result is not None:
            settings = w.engine_settings().proposal_settings().but(threshold=threshold, tolerance=tolerance)
            w.client.postprocess(w.current, result, settings)  # the settings come back with the shapes

    def _make_default(self, threshold: float, tolerance: float) -> None:
        w = self._w
        settings = w.engine_settings()
        settings.threshold, settings.simplify_tolerance = threshold, tolerance
        if w.project is not None:
            w.project.save_settings()  # no reload: the threshold rides on each job
        w.statusBar().showMessage(f"New proposals start from threshold {threshold:.2f}, "
                                  f"simplification {tolerance:.1f} px", 5000)
