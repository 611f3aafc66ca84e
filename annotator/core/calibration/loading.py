"""Loading the engines and the interactive model a calibration compares, from a project's settings.

Every engine that can be loaded takes part: the project's own model first (its engine is
"current"), then the other engine's model when it is given or found locally. An engine
that cannot load is a note, not an error, as long as one can.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from annotator.core.calibration.candidates import DEFAULT_GRIDS, CalibrationEngine

INSTANCE_FLOOR = min(DEFAULT_GRIDS["sam3"])
"""SAM 3 is loaded keeping instances down to the lowest threshold of its grid."""


@dataclass
class LoadedEngines:
    engines: list[CalibrationEngine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sharpener: object = None
    interactive: object = None

    def close(self) -> None:
        for e in self.engines:
            close = getattr(e.segmenter, "close", None)
            if close is not None:
                close()


def engine_of(model: str) -> str:
    """The engine name of a model id or folder (reads its config only); ModelNotFoundError."""
    from engine.loading import resolve_model_source

    return resolve_model_source(model).engine.name


def load_engines(settings, models: dict[str, str] | None = None, *, sharpen: bool = True,
                 only: tuple[str, ...] = ()) -> LoadedEngines:
    """The engines to calibrate: *models* (engine -> model id/folder) win over the project's
    model and the engines' defaults; *only* limits the engines; *sharpen* loads the
    interactive model (``settings.interactive_model``) for the sharpened candidates."""
    from engine import SAM3_MODEL, DEFAULT_MODEL, ModelNotFoundError, Segmenter, SegmenterConfig
    from engine.sam3.config import Sam3SegmenterConfig

    out = LoadedEngines()
    wanted: dict[str, str] = {}
    project_model = settings.model or DEFAULT_MODEL
    try:
        wanted[engine_of(project_model)] = project_model
    except ModelNotFoundError as exc:
        out.notes.append(f"the project's model is not available: {exc}")
    for name, default in (("pnp-ovss", DEFAULT_MODEL), ("sam3", SAM3_MODEL)):
        wanted.setdefault(name, default)
    wanted.update(models or {})
    for name, model in wanted.items():
        if only and name not in only:
            continue
        try:
            if engine_of(model) != name:
                out.notes.append(f"{model!r} is not a {name} model; {name} not calibrated")
                continue
            if name == "sam3":
                config = Sam3SegmenterConfig(instance_threshold=INSTANCE_FLOOR,
                                             presence_threshold=settings.presence_threshold)
            else:
                config = SegmenterConfig(background=settings.background,
                                         presence_threshold=settings.presence_threshold)
            seg = Segmenter.load(model=model, device=settings.device or "auto", config=config)
        except ModelNotFoundError as exc:
            out.notes.append(f"{name} not calibrated: {str(exc).splitlines()[0]}")
            continue
        except (ValueError, RuntimeError) as exc:
            out.notes.append(f"{name} not calibrated: cannot load {model!r}: {exc}")
            continue
        recorded = "" if model == (DEFAULT_MODEL if name == "pnp-ovss" else SAM3_MODEL) else model
        out.engines.append(CalibrationEngine(seg, recorded))
    if sharpen and out.engines:
        _load_sharpener(settings, out)
    return out


def _load_sharpener(settings, out: LoadedEngines) -> None:
    from engine import ModelNotFoundError
    from engine.interactive import DEFAULT_INTERACTIVE_MODEL, InteractiveSegmenter

    from annotator.core.refine import interactive_predict

    model = settings.interactive_model or DEFAULT_INTERACTIVE_MODEL
    try:
        seg = InteractiveSegmenter.load(model, device=settings.device or "auto")
    except (ModelNotFoundError, ValueError, RuntimeError) as exc:
        out.notes.append(f"sharpening not calibrated: the interactive model {model!r} cannot load: "
                         f"{str(exc).splitlines()[0]}")
        return

    def sharpener(rel, rgb):
        key = f"calibrate:{rel}"
        return interactive_predict(seg, key, rgb), lambda: seg.forget(key)

    sharpener.key = f"{model}|{settings.device or 'auto'}"  # cached grid scores are valid for this model
    out.sharpener, out.interactive = sharpener, seg
