"""The engine a project's settings describe, loaded the way every labelling run loads it."""

from __future__ import annotations

from annotator.core.project import ProjectSettings


def load_segmenter(settings: ProjectSettings, **config):
    """The engine a project's settings describe (model, device, presence threshold; the
    project's threshold and background as the engine's defaults, so a run with them
    post-processes once); *config*: further SegmenterConfig fields. Each run's
    ``ProposalSettings`` still decides (``postprocess_overrides``). Raises the engine's
    ModelNotFoundError / ValueError / RuntimeError."""
    from engine import DEFAULT_MODEL, Segmenter, SegmenterConfig

    if settings.threshold is not None:
        config.setdefault("threshold", settings.threshold)
    config.setdefault("background", settings.background)
    config.setdefault("presence_threshold", settings.presence_threshold)
    segmenter = Segmenter.load(model=settings.model or DEFAULT_MODEL, device=settings.device or "auto",
                               config=SegmenterConfig(**config))
    if getattr(settings, "routes", None):  # calibrated routes: each class on its engine (core.routed_segmenter)
        from annotator.core.routing import routes_of

        return load_routed(settings, segmenter, routes_of(settings))
    return segmenter


def load_routed(settings, base, routes: dict):
    """A ``RoutedSegmenter`` over *base* (the project's engine, loaded) and every other engine the
    routes need (each route's model, else the engine's default). ModelNotFoundError names the
    class whose route cannot load and what to do."""
    from engine import ModelNotFoundError, Segmenter
    from engine.config import engine_info
    from engine.sam3.config import Sam3SegmenterConfig

    from annotator.core.proposals import resolve_proposals
    from annotator.core.routed_segmenter import RoutedSegmenter

    segmenters = {base.engine: base}
    for name, route in sorted(routes.items()):
        if route.engine in segmenters:
            continue
        model = route.model or engine_info(route.engine).default_model
        if route.engine == "sam3":
            floor = min([r.threshold for r in routes.values() if r.engine == "sam3" and r.mode == "instances"]
                        + [0.5])
            config = Sam3SegmenterConfig(instance_threshold=floor, presence_threshold=settings.presence_threshold)
        else:
            from engine import SegmenterConfig

            config = SegmenterConfig(background=settings.background, presence_threshold=settings.presence_threshold)
        try:
            segmenters[route.engine] = Segmenter.load(model=model, device=settings.device or "auto", config=config)
        except ModelNotFoundError as exc:
            raise ModelNotFoundError(f"the calibrated route of {name!r} needs {route.engine} ({model}): {exc} "
                                     "-- or forget the routes in Settings / calibrate again") from exc
    try:
        mode = resolve_proposals(settings.proposals, base.engine)
    except ValueError:
        mode = "regions"
    return RoutedSegmenter(segmenters, routes, base.engine, mode, default_sharpen=bool(settings.refine))
