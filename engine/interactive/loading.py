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

from ..config import SAM2_MODEL, SAM3_MODEL, EngineInfo, engine_for_model_type, engine_info, interactive_engines
from ..errors import ModelNotFoundError
from ..loading import LOAD_ERRORS, gated_advice, how_to_get, hub_reachable, is_gated_error, looks_like_hub_id, offline
from ..loading import check_torch_stack

DEFAULT_INTERACTIVE_MODEL = SAM2_MODEL

# The click models are rows of the engine registry (``engine.config``: ``interactive`` names
# their transformers model and processor classes).
SAM2 = engine_info("sam2")
SAM3_TRACKER = engine_info("sam3-tracker")


def interactive_classes() -> dict[str, tuple[EngineInfo, str, str]]:
    """engine name -> (its row, model class, processor class) in transformers."""
    return {info.name: (info, *info.interactive) for info in interactive_engines()}


def _engine_for(model_type: str) -> EngineInfo | None:
    return engine_for_model_type(model_type, interactive=True)


def _guess(name: str) -> EngineInfo:
    """The engine of a known default checkpoint, else SAM 2.1 (for the download advice)."""
    return SAM3_TRACKER if name.strip().casefold() == SAM3_MODEL else SAM2


def how_to_get_interactive(model: str, engine: EngineInfo = SAM2) -> str:
    """The instructions every missing-interactive-model message ends with (the shared wording)."""
    return how_to_get(model, engine)


def load_interactive_model(model: str | os.PathLike = DEFAULT_INTERACTIVE_MODEL):
    """Return (model in eval mode, processor, engine name); raise ModelNotFoundError
    (BrokenInstallError when torch + torchvision cannot run it)."""
    check_torch_stack()
    import transformers

    name = os.fspath(model) or DEFAULT_INTERACTIVE_MODEL
    path = Path(name).expanduser()
    is_folder = path.exists() or not looks_like_hub_id(name)
    guess = SAM2 if is_folder else _guess(name)
    hint = DEFAULT_INTERACTIVE_MODEL if is_folder else name
    if is_folder:
        if not path.is_dir():
            raise ModelNotFoundError(f"Interactive model folder '{path}' does not exist.\n"
                                     + how_to_get_interactive(hint, guess))
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"Interactive model folder '{path}' has no config.json: it is not a saved Hugging Face model.\n"
                + how_to_get_interactive(hint, guess))
        sources = [dict(pretrained_model_name_or_path=str(path))]
    else:
        sources = [dict(pretrained_model_name_or_path=name, local_files_only=True)]
        if not offline() and hub_reachable():
            sources.append(dict(pretrained_model_name_or_path=name))

    last_error: Exception | None = None
    for kwargs in sources:
        try:
            model_type = _model_type(kwargs)
            engine = _engine_for(model_type)
            if engine is None:
                raise _WrongKind(model_type)
            model_cls, processor_cls = engine.interactive
            processor = getattr(transformers, processor_cls).from_pretrained(**kwargs)
            net = getattr(transformers, model_cls).from_pretrained(**kwargs)
            break
        except _WrongKind as exc:
            detector = " (a SAM 3 detector-only checkpoint has no tracker: use the full facebook/sam3)" \
                if exc.args[0] == "sam3" else ""
            raise ModelNotFoundError(
                f"'{name}' is a '{exc.args[0] or 'unknown'}' model, not an interactive segmentation model "
                f"(SAM 2.1 or the SAM 3 tracker){detector}.\n" + how_to_get_interactive(DEFAULT_INTERACTIVE_MODEL)
            ) from None
        except LOAD_ERRORS as exc:
            if is_gated_error(exc):
                raise ModelNotFoundError(gated_advice(name, guess)) from exc
            last_error = exc
    else:
        where = f"folder '{path}'" if is_folder else f"'{name}'"
        why = ""
        if not is_folder and offline():
            why = " (HF_HUB_OFFLINE is set, so only the local cache was searched)"
        elif not is_folder and len(sources) == 1:
            why = " (the Hugging Face hub cannot be reached from here, so only the local cache was searched)"
        first = str(last_error).splitlines()[0] if str(last_error) else ""
        raise ModelNotFoundError(
            f"Cannot load the interactive segmentation model {where}{why}: "
            f"{type(last_error).__name__}: {first}\n" + how_to_get_interactive(hint, guess)) from last_error
    net.eval()
    net.requires_grad_(False)
    return net, processor, engine.name


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
