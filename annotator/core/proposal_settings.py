"""``ProposalSettings``: the one record of how an engine's output becomes proposals.

Threshold, background, simplification tolerance, minimum area, proposals mode and
sharpen, with a threshold per class beside the default for the rest. Every model run
carries one (``PipelineOptions.settings``, the window's jobs) and gets the same one
back with its result, so the shapes, their undo step and their heatmap file all say
what they were made with. The defaults are written here and nowhere else; an engine's
own default threshold comes from the engine registry (``engine.config``).

This module imports nothing of the project: ``core.project`` stores the record's fields
in project.json, the engines never see it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

PROPOSAL_MODES = ("auto", "regions", "instances")
BACKGROUND_MODES = ("auto", "always", "never")
DEFAULT_TOLERANCE = 1.5
"""Polygon simplification tolerance in pixels."""
DEFAULT_MIN_AREA_FRACTION = 0.0005
"""Regions smaller than this fraction of the image are dropped (0.05 %)."""


@dataclass(frozen=True)
class ProposalSettings:
    """How a label map (or an engine's instances) becomes proposals; immutable, picklable."""

    threshold: float | None = None
    """Heatmap threshold of every class without its own; None: the engine's default."""
    class_thresholds: Mapping[str, float] = field(default_factory=dict)
    """Threshold of single classes (normalised class name -> [0, 1]), over ``threshold``."""
    background: str = "auto"
    """Background channel: "auto" (fewer than 3 classes), "always" or "never"."""
    tolerance: float = DEFAULT_TOLERANCE
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION
    proposals: str = "auto"
    """"regions", "instances" or "auto" (instances for engines that detect them)."""
    refine: bool = False
    """Sharpen the label map with the interactive model before it becomes shapes."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_thresholds", dict(self.class_thresholds))
        check(self.to_dict())

    def threshold_for(self, name: str, engine_default: float) -> float:
        """The threshold class *name* is cut at (its own, else the default, else the engine's)."""
        own = self.class_thresholds.get(name)
        if own is not None:
            return own
        return engine_default if self.threshold is None else self.threshold

    def resolved(self, engine_default: float) -> ProposalSettings:
        """The same settings with the engine's default written in where ``threshold`` is None
        (what a heatmap file and the sliders show)."""
        return self if self.threshold is not None else replace(self, threshold=float(engine_default))

    def but(self, **changes) -> ProposalSettings:
        """A copy with *changes* (e.g. a slider's threshold and tolerance)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "class_thresholds": dict(self.class_thresholds),
                "background": self.background, "tolerance": self.tolerance,
                "min_area_fraction": self.min_area_fraction, "proposals": self.proposals, "refine": self.refine}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProposalSettings:
        """Known keys checked (ValueError naming the field); missing keys take the defaults."""
        values = {k: v for k, v in d.items() if k in _FIELDS}
        return cls(**check(values))


_FIELDS = ("threshold", "class_thresholds", "background", "tolerance", "min_area_fraction", "proposals", "refine")


def check(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """*values* (any of the record's fields) checked and normalised; ValueError names the
    field (``prefix`` + name) and what it accepts."""
    out = dict(values)
    for name, value in values.items():
        where = f"{prefix}{name}"
        if name == "threshold":
            out[name] = _probability(where, value, optional=True)
        elif name == "class_thresholds":
            if not isinstance(value, Mapping):
                raise ValueError(f"{where}: expected an object of class name -> threshold, got {value!r}")
            out[name] = {}
            for key, v in value.items():
                if not isinstance(key, str) or not key.strip():
                    raise ValueError(f"{where}: class names must be non-empty strings, got {key!r}")
                out[name][key] = _probability(f"{where}.{key}", v, optional=False)
        elif name in ("tolerance", "min_area_fraction"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
                    or math.isinf(value):
                raise ValueError(f"{where}: expected a number >= 0, got {value!r}")
            if name == "min_area_fraction" and value >= 1:
                raise ValueError(f"{where}: expected a fraction below 1, got {value!r}")
            out[name] = float(value)
        elif name == "refine":
            if not isinstance(value, bool):
                raise ValueError(f"{where}: expected true or false, got {value!r}")
        elif name in ("background", "proposals"):
            choices = BACKGROUND_MODES if name == "background" else PROPOSAL_MODES
            if value not in choices:
                raise ValueError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
    return out


def _probability(where: str, value: Any, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        expected = "null or a number in [0, 1]" if optional else "a number in [0, 1]"
        raise ValueError(f"{where}: expected {expected}, got {value!r}")
    return float(value)
