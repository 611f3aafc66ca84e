"""Calibration's choices as routes in the project's settings (``ProjectSettings.routes``)."""

from __future__ import annotations

from annotator.core.calibration.run import Calibration
from annotator.core.project import Project
from annotator.core.routing import Route


def chosen_routes(calibration: Calibration) -> dict[str, Route]:
    """class -> Route for every class calibration could choose for (others: none)."""
    out = {}
    for choice in calibration.choices:
        if choice.chosen is None:
            continue
        c = choice.chosen
        model = calibration.engines.get(c.engine, {}).get("model", "")
        score = choice.held_out.iou if choice.held_out is not None else None
        out[choice.label] = Route(c.engine, model, c.mode, float(c.threshold), bool(c.sharpen), score)
    return out


def apply_routes(project: Project, calibration: Calibration) -> dict[str, Route]:
    """Store the chosen routes in project.json (classes without a choice keep any route
    they had); returns the routes written."""
    routes = chosen_routes(calibration)
    stored = dict(getattr(project.settings, "routes", None) or {})
    stored.update({label: route.to_dict() for label, route in routes.items()})
    project.settings.routes = stored
    project.save_settings()
    return routes
