"""Loading the interactive model (SAM 2.1 or the SAM 3 tracker) from a hub id or a folder.

The model class is chosen from the config's ``model_type``, so a folder holding
either checkpoint works; anything else is refused with a message naming it.
Missing weights raise ``ModelNotFoundError`` with the same wording and the same
download instructions as the main model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ModelNotFoundError
from ..loading import _hub_reachable, _looks_like_hub_id, _offline

DEFAULT_INTERACTIVE_MODEL = "facebook/sam2.1-hiera-tiny"

# config model_type -> (engine name, model class, processor class) in transformers
INTERACTIVE_ENGINES = {
    "sam2": ("sam2", "Sam2Model", "Sam2Processor"),
    "sam2_video": ("sam2", "Sam2Model", "Sam2Processor"),
    "sam3_tracker": ("sam3-tracker", "Sam3TrackerModel", "Sam3TrackerProcessor"),
    "sam3_video": ("sam3-tracker", "Sam3TrackerModel", "Sam3TrackerProcessor"),
    "sam3_tracker_video": ("sam3-tracker", "Sam3TrackerModel", "Sam3TrackerProcessor"),
}


def how_to_get_interactive(model: str) -> str:
    """The instructions every missing-interactive-model message ends with."""
    return (
        f"To get the weights (about 160 MB for {DEFAULT_INTERACTIVE_MODEL}), run once with network access:\n"
        f"    hf download {model}\n"
        f"(or: huggingface-cli download {model}; or the Download button in the app).\n"
        f"Or copy the model folder (config.json, model.safetensors, processor_config.json) "
        f"to this machine and choose it as the interactive model (Settings, or --interactive-model /path/to/folder)."
    )


def load_interactive_model(model: str | os.PathLike = DEFAULT_INTERACTIVE_MODEL):
    """Return (model in eval mode, processor, engine name); raise ModelNotFoundError."""
    import transformers

    name = os.fspath(model) or DEFAULT_INTERACTIVE_MODEL
    path = Path(name).expanduser()
    is_folder = path.exists() or not _looks_like_hub_id(name)
    hint = DEFAULT_INTERACTIVE_MODEL if is_folder else name
    if is_folder:
        if not path.is_dir():
            raise ModelNotFoundError(f"Interactive model folder '{path}' does not exist.\n" + how_to_get_interactive(hint))
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"Interactive model folder '{path}' has no config.json: it is not a saved Hugging Face model.\n"
                + how_to_get_interactive(hint))
        sources = [dict(pretrained_model_name_or_path=str(path))]
    else:
        sources = [dict(pretrained_model_name_or_path=name, local_files_only=True)]
        if not _offline() and _hub_reachable():
            sources.append(dict(pretrained_model_name_or_path=name))

    last_error: Exception | None = None
    for kwargs in sources:
        try:
            model_type = _model_type(kwargs)
            if model_type not in INTERACTIVE_ENGINES:
                raise _WrongKind(model_type)
            engine, model_cls, processor_cls = INTERACTIVE_ENGINES[model_type]
            processor = getattr(transformers, processor_cls).from_pretrained(**kwargs)
            net = getattr(transformers, model_cls).from_pretrained(**kwargs)
            break
        except _WrongKind as exc:
            kinds = ", ".join(sorted({v[0] for v in INTERACTIVE_ENGINES.values()}))
            raise ModelNotFoundError(
                f"'{name}' is a '{exc.args[0]}' model, not an interactive segmentation model ({kinds}).\n"
                + how_to_get_interactive(DEFAULT_INTERACTIVE_MODEL)) from None
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, ImportError) as exc:
            last_error = exc
    else:
        where = f"folder '{path}'" if is_folder else f"'{name}'"
        offline = ""
        if not is_folder and _offline():
            offline = " (HF_HUB_OFFLINE is set, so only the local cache was searched)"
        elif not is_folder and len(sources) == 1:
            offline = " (the Hugging Face hub cannot be reached from here, so only the local cache was searched)"
        first = str(last_error).splitlines()[0] if str(last_error) else ""
        raise ModelNotFoundError(
            f"Cannot load the interactive segmentation model {where}{offline}: "
            f"{type(last_error).__name__}: {first}\n" + how_to_get_interactive(hint)) from last_error
    net.eval()
    net.requires_grad_(False)
    return net, processor, engine


class _WrongKind(Exception):
    pass


def _model_type(kwargs: dict) -> str:
    """The config's model_type, read without building the model."""
    source = kwargs["pretrained_model_name_or_path"]
    folder = Path(source)
    if folder.is_dir():
        try:
            return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type", "")
        except (OSError, ValueError) as exc:
            raise OSError(f"cannot read {folder / 'config.json'}: {exc}") from exc
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(**kwargs).model_type
