"""Every call this package makes into annotator.core and engine, in one place.

The backend runs the same stages as ``pnp-annotator label`` (core/pipeline.py):
model -> post-process -> proposals; only the source of the images (Label Studio
tasks) and the sink (Label Studio results instead of annotation files) differ. When the
pipeline's stage functions move or are renamed, only this module changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from annotator.core.project import ProjectSettings


def load_segmenter(settings: ProjectSettings):
    """The project's engine (model, device, threshold, background, presence threshold)."""
    from annotator.core.pipeline import load_segmenter as load

    return load(settings)


def load_interactive(settings: ProjectSettings):
    """The click-to-segment model the window uses (``settings.interactive_model``, SAM 2.1 by default)."""
    from engine.interactive import DEFAULT_INTERACTIVE_MODEL, InteractiveSegmenter

    return InteractiveSegmenter.load(settings.interactive_model or DEFAULT_INTERACTIVE_MODEL,
                                     device=settings.device or "auto")


def interactive_model_name(settings: ProjectSettings) -> str:
    from engine.interactive import DEFAULT_INTERACTIVE_MODEL

    return settings.interactive_model or DEFAULT_INTERACTIVE_MODEL


def model_name(settings: ProjectSettings) -> str:
    from engine import DEFAULT_MODEL

    return settings.model or DEFAULT_MODEL


def pipeline_options(settings: ProjectSettings, classes: Sequence[str], batch_size: int):
    """The pipeline's options for one request (proposals mode, tolerance, minimum area...)."""
    from annotator.core.pipeline import PipelineOptions

    return PipelineOptions.from_settings(settings, classes, batch_size=batch_size, model=model_name(settings))


def segment(segmenter, rgbs: Sequence, class_lists: Sequence[Sequence[str]], options, cancel=None,
            progress: Callable[[str, int, int], None] | None = None) -> list:
    """One finished ``SegmentationResult`` (label map made with the options) or failure reason (str)
    per image: the pipeline's ``infer_batch`` then ``postprocess_result``. Raises the
    pipeline's ClassListError when the engine refuses the class lists themselves."""
    from annotator.core.pipeline import infer_batch, postprocess_result

    outcomes = infer_batch(segmenter, rgbs, [list(c) for c in class_lists], cancel, progress=progress)
    return [o if isinstance(o, str) else postprocess_result(segmenter, o, options) for o in outcomes]


def class_list_error() -> type[Exception]:
    from annotator.core.pipeline import ClassListError

    return ClassListError


def shapes_of(result, options) -> list:
    """The pipeline's proposals of one result (regions or instances, simplified, specks dropped)."""
    from annotator.core.pipeline import result_to_shapes

    return result_to_shapes(result, options)


def proposal_mode(settings: ProjectSettings, engine: str) -> str:
    """"regions" or "instances" for this engine (ValueError for instances from PnP-OVSS)."""
    from annotator.core.proposals import resolve_proposals

    return resolve_proposals(settings.proposals, engine)


def mask_shape(label: str, mask, tolerance: float):
    """A shape whose parts are the mask's regions (the click answer as polygons), or None."""
    from annotator.core.shapes import Shape

    return Shape.from_mask(label, mask, tolerance=tolerance, source="model", accepted=False)


def normalize(names: Sequence[str]) -> list[str]:
    """Class prompts as the engines normalise them (whitespace, case-insensitive duplicates)."""
    from engine.prompts import normalize_classes

    return normalize_classes(list(names))
