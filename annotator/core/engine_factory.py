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
        from annotator.core.routed_segmenter import load_routed
        from annotator.core.routing import routes_of

        return load_routed(settings, segmenter, routes_of(settings))
    return segmenter
