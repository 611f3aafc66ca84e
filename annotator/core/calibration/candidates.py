"""What calibration compares: candidates, and the narrow adapter to an engine.

A ``Candidate`` is one way to make proposals for a class: an engine, its proposal mode
("regions" of the label map or "instances"), with or without sharpening, at one
threshold. Thresholds only change post-processing, so one model run per engine and
image serves every threshold of that engine.

``CalibrationEngine`` is the only place that talks to an engine: ``run`` (the model)
and ``label_map`` (post-processing at a threshold). It takes anything that honours the
engine contract (``engine.Segmenter``: ``engine``, ``config``, ``segment_batch``,
``postprocess``), so the one-settings-record / engine-registry work can re-point it
without touching the rest of calibration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np



def _engine_title(name: str) -> str:
    """The registry's title of an engine (its name when it is not registered)."""
    from engine.config import engine_info

    try:
        return engine_info(name).title
    except (KeyError, ValueError):
        return name


def _makes_instances(name: str) -> bool:
    from engine.config import engine_info

    try:
        return bool(engine_info(name).instances)
    except (KeyError, ValueError):
        return False


# Threshold grids on each engine's own scale: PnP-OVSS thresholds min-max normalised
# GradCAM maps (default 0.15), SAM 3 semantic probabilities and instance scores (0.5).
DEFAULT_GRIDS: dict[str, tuple[float, ...]] = {
    "pnp-ovss": tuple(round(0.05 * k, 2) for k in range(1, 11)),        # 0.05 .. 0.50
    "sam3": tuple(round(0.2 + 0.05 * k, 2) for k in range(13)),         # 0.20 .. 0.80
}
FALLBACK_GRID = tuple(round(0.1 * k, 1) for k in range(1, 10))


@dataclass(frozen=True)
class Candidate:
    engine: str
    """Engine name ("pnp-ovss", "sam3")."""
    mode: str
    """"regions" or "instances"."""
    sharpen: bool
    threshold: float

    @property
    def family(self) -> tuple[str, str, bool]:
        """The candidate without its threshold: one curve of the report."""
        return self.engine, self.mode, self.sharpen

    def title(self, with_threshold: bool = True) -> str:
        text = f"{_engine_title(self.engine)} {self.mode}"
        if self.sharpen:
            text += " + sharpen"
        return f"{text} @ {self.threshold:g}" if with_threshold else text

    def to_dict(self) -> dict:
        return {"engine": self.engine, "mode": self.mode, "sharpen": self.sharpen, "threshold": self.threshold}


def family_title(family: tuple[str, str, bool]) -> str:
    return Candidate(*family, 0.0).title(with_threshold=False)


class CalibrationEngine:
    """One engine as calibration uses it (see the module docstring).

    *segmenter*: an ``engine.Segmenter`` (or a duck-typed one); *model*: the model id or
    folder it was loaded from ("" = the engine's default), recorded in routes and in the
    cache key; *thresholds*: the grid (default ``DEFAULT_GRIDS``).
    """

    def __init__(self, segmenter, model: str = "", thresholds=None, batch_size: int = 4) -> None:
        self.segmenter = segmenter
        self.name = str(segmenter.engine)
        self.model = model
        self.batch_size = max(1, int(batch_size))
        grid = DEFAULT_GRIDS.get(self.name, FALLBACK_GRID) if thresholds is None else thresholds
        self.thresholds = tuple(sorted({round(float(t), 4) for t in grid}))
        if not self.thresholds or not all(0.0 <= t <= 1.0 for t in self.thresholds):
            raise ValueError(f"thresholds of {self.name}: expected numbers in [0, 1], got {grid!r}")
        self.modes = ("regions", "instances") if _makes_instances(self.name) else ("regions",)
        self.model_runs = 0
        """Images this engine's model ran on (the cache's misses)."""

    @property
    def default_threshold(self) -> float:
        return float(getattr(self.segmenter, "default_threshold", None)
                     or getattr(self.segmenter.config, "threshold", 0.5))

    @property
    def instance_floor(self) -> float:
        """Instances below this score are not in the engine's results (its own cut)."""
        return float(getattr(self.segmenter.config, "instance_threshold", 0.0) or 0.0)

    @property
    def key(self) -> str:
        """What the model's output depends on: the engine, the model and its config
        (thresholds and background excepted: post-processing). A cache entry is valid
        only for the same key."""
        config = getattr(self.segmenter, "config", None)
        if dataclasses.is_dataclass(config):
            values = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("threshold", "background")}
            config_text = json.dumps(values, sort_keys=True, default=repr)
        else:
            config_text = repr(config)
        text = f"{self.name}|{type(self.segmenter).__name__}|{self.model}|{config_text}"
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]

    def run(self, rgbs: list[np.ndarray], classes: list[str], cancel=None) -> list:
        """The model on *rgbs* (one ``SegmentationResult`` each); counted in ``model_runs``."""
        kwargs = {"cancel": cancel} if cancel is not None else {}
        results = list(self.segmenter.segment_batch(list(rgbs), list(classes), batch_size=self.batch_size,
                                                    **kwargs))
        self.model_runs += len(rgbs)
        return results

    def label_map(self, result, threshold: float) -> np.ndarray:
        """Post-processing only: the result's label map at *threshold*."""
        return np.asarray(self.segmenter.postprocess(result, threshold=threshold))

    def candidates(self, sharpen: bool, extra_thresholds=()) -> list[Candidate]:
        """Every candidate of this engine: modes x (sharpen) x thresholds (+ *extra_thresholds*)."""
        grid = sorted(set(self.thresholds) | {round(float(t), 4) for t in extra_thresholds})
        out = []
        for mode in self.modes:
            for sharp in ((False, True) if sharpen and mode == "regions" else (False,)):
                ts = [t for t in grid if mode != "instances" or t >= self.instance_floor]
                out.extend(Candidate(self.name, mode, sharp, t) for t in ts)
        return out
