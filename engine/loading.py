"""Where a model comes from, for every engine: a local folder or a hub id, and which engine it is.

``resolve_model_source(model)`` reads only the checkpoint's config (local folder, the local
hub cache, then the hub when it is allowed and reachable) and returns a ``ModelSource``
naming the engine; every failure is a ``ModelNotFoundError`` whose message says what to do
(download, accept a gated licence and log in, or point at a folder). The engines then load
their weights with ``source.kwargs`` and report failures through ``load_failure``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import EngineInfo, engine_for_hub_id, engine_for_model_type, engines
from .errors import BrokenInstallError, ModelNotFoundError
from .hub import hub_reachable, offline  # noqa: F401  (tests patch loading.hub_reachable)

# Errors from_pretrained raises for missing/unreadable files (and the hub's HTTP errors, which are OSErrors).
LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError, RuntimeError, ImportError)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then CPU; an unavailable choice is an error."""
    name = str(device or "auto")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"Unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {name!r} was requested but this PyTorch sees no CUDA GPU; use --device cpu or auto")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"Device {name!r} was requested but Apple MPS is not available; use --device cpu or auto")
    return dev


@dataclass(frozen=True)
class ModelSource:
    """A checkpoint whose config was read: where it is and which engine runs it."""

    name: str
    """The model as the caller gave it (hub id or folder path)."""
    folder: Path | None
    """The local folder, or None for a hub id."""
    engine: EngineInfo
    config: object = field(repr=False)
    """The transformers config (BlipConfig, Sam3Config)."""
    kwargs: dict = field(default_factory=dict)
    """``from_pretrained`` keyword arguments that found the config (same place for the weights)."""


_STACK_OK = False


def check_torch_stack() -> None:
    """Raise BrokenInstallError unless torchvision's operators run on this torch.

    A torchvision built for another torch (or another build of it) imports but lacks its
    operators; transformers' SAM and BLIP classes then fail to import with messages that
    look like a missing model. Checked once per process, before any model loads."""
    global _STACK_OK
    if _STACK_OK:
        return
    try:
        import torchvision

        torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
    except Exception as exc:  # noqa: BLE001 - ImportError, RuntimeError ("operator ... does not exist"), ...
        raise BrokenInstallError(torch_stack_advice(exc)) from exc
    _STACK_OK = True


def torch_stack_advice(exc: BaseException) -> str:
    """What is wrong with torch + torchvision here and the command that fixes it."""
    import sys
    from importlib import metadata

    try:
        vision = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        vision = "(not installed)"
    torch_version = torch.__version__.split("+")[0]
    major, minor, *rest = (torch_version.split(".") + ["0"])[:3]
    matching = f"0.{int(minor) + 15}.{rest[0]}" if major == "2" and minor.isdigit() else "the matching release"
    return (f"torch {torch.__version__} and torchvision {vision} in this Python environment do not work "
            f"together ({type(exc).__name__}: {_first_line(exc)}), so no model can run. Install a matching "
            f"pair (torchvision 0.N+15 goes with torch 2.N, both CPU or both CUDA builds), e.g.\n"
            f"    {sys.executable} -m pip install --force-reinstall torch=={torch_version} "
            f"torchvision=={matching}\n"
            "or, in the project's folder, `make clean` and then `make run` (it installs and checks a pair).")


def how_to_get(model: str, engine: EngineInfo | None = None) -> str:
    """The instructions every missing-model message ends with."""
    engine = engine or engine_for_hub_id(model) or engines()[0]
    folder_hint = (f"Or copy the model folder (config.json, model.safetensors, tokenizer/processor files) "
                   f"to this machine and pass its path as the model (--model /path/to/folder).")
    if engine.gated:
        return (
            f"{engine.title} ('{model}') is gated on the Hugging Face hub: open https://huggingface.co/{model}, "
            f"accept its licence ({engine.licence}) while logged in, then log in on this machine once with\n"
            f"    hf auth login\n"
            f"and download the weights ({engine.size}) with network access:\n"
            f"    hf download {model}\n"
            f"(or the Download button in the app).\n" + folder_hint
        )
    return (
        f"To get the weights ({engine.size}), run once with network access:\n"
        f"    hf download {model}\n"
        f"(or: huggingface-cli download {model}; or the Download button in the app).\n" + folder_hint
    )


def gated_advice(model: str, engine: EngineInfo | None) -> str:
    title = engine.title if engine else "This model"
    return (
        f"{title} ('{model}') is a gated model on the Hugging Face hub and this machine has no access to it: "
        f"accept the licence on https://huggingface.co/{model} (logged in to the hub), then run\n"
        f"    hf auth login\n"
        f"here with a token of that account, and try again (or: hf download {model})."
    )


def is_gated_error(exc: BaseException | None) -> bool:
    """True if the hub refused the download because the repository is gated (any link of the chain)."""
    try:
        from huggingface_hub.errors import GatedRepoError
    except ImportError:  # pragma: no cover - huggingface_hub always ships it
        GatedRepoError = ()  # noqa: N806
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if (GatedRepoError and isinstance(exc, GatedRepoError)) or "gated repo" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def resolve_model_source(model: str | os.PathLike) -> ModelSource:
    """Find the checkpoint's config and its engine; ModelNotFoundError (with advice) otherwise."""
    name = os.fspath(model)
    path = Path(name).expanduser()
    if path.exists() or not looks_like_hub_id(name):
        return _folder_source(name, path)
    return _hub_source(name)


def _folder_source(name: str, path: Path) -> ModelSource:
    if not path.is_dir():
        raise ModelNotFoundError(f"Model folder '{path}' does not exist.\n" + how_to_get(engines()[0].default_model))
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelNotFoundError(
            f"Model folder '{path}' has no config.json: it is not a saved Hugging Face model.\n"
            + how_to_get(engines()[0].default_model)
        )
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
        model_type = raw.get("model_type", "")
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelNotFoundError(f"Cannot read '{config_file}': {exc}") from exc
    engine = _engine_or_error(f"folder '{path}'", model_type)
    kwargs = dict(pretrained_model_name_or_path=str(path))
    if not engine.config_class:  # an engine without a transformers config reads config.json itself
        return ModelSource(name, path, engine, raw, kwargs)
    return ModelSource(name, path, engine, _read_config(f"folder '{path}'", engine, kwargs), kwargs)


def _hub_source(name: str) -> ModelSource:
    # The local cache first (fast, no network); the hub only when allowed.
    attempts = [dict(pretrained_model_name_or_path=name, local_files_only=True)]
    if not offline() and hub_reachable():
        attempts.append(dict(pretrained_model_name_or_path=name))
    guess = engine_for_hub_id(name)
    last: Exception | None = None
    for kwargs in attempts:
        try:
            config = _auto_config(kwargs)
        except LOAD_ERRORS as exc:
            if is_gated_error(exc):
                raise ModelNotFoundError(gated_advice(name, guess)) from exc
            last = exc
            continue
        engine = _engine_or_error(f"'{name}'", getattr(config, "model_type", ""))
        _check_config_class(f"'{name}'", engine, config)
        return ModelSource(name, None, engine, config, kwargs)
    why = " (HF_HUB_OFFLINE is set, so only the local cache was searched)" if offline() else (
        " (the Hugging Face hub cannot be reached from here, so only the local cache was searched)"
        if len(attempts) == 1 else "")
    raise ModelNotFoundError(
        f"Cannot find the model '{name}'{why}: {_first_line(last)}\n" + how_to_get(name, guess)
    ) from last


def _auto_config(kwargs: dict):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(**kwargs)


def _read_config(where: str, engine: EngineInfo, kwargs: dict):
    try:
        config = _auto_config(kwargs)
    except LOAD_ERRORS as exc:
        raise ModelNotFoundError(
            f"Cannot read the {engine.title} config of {where}: {_first_line(exc)}\n" + how_to_get(engine.default_model, engine)
        ) from exc
    _check_config_class(where, engine, config)
    return config


def _engine_or_error(where: str, model_type: str) -> EngineInfo:
    engine = engine_for_model_type(model_type)
    if engine is None:
        known = "; ".join(f"{e.config_class} ({e.title}, e.g. {e.default_model})" for e in engines())
        raise ModelNotFoundError(
            f"The model {where} is a '{model_type or 'unknown'}' model, which this tool cannot run. "
            f"Use a checkpoint whose config is one of: {known}."
        )
    return engine


def _check_config_class(where: str, engine: EngineInfo, config) -> None:
    found = type(config).__name__
    if found != engine.config_class:
        raise ModelNotFoundError(
            f"The model {where} has a {found}, not the {engine.config_class} of {engine.title}."
        )


def load_failure(source: ModelSource, what: str, exc: BaseException) -> ModelNotFoundError:
    """The error for weights/tokenizer files that cannot be loaded from a resolved source."""
    if is_gated_error(exc):
        return ModelNotFoundError(gated_advice(source.name, source.engine))
    where = f"folder '{source.folder}'" if source.folder else f"'{source.name}'"
    hint = source.engine.default_model if source.folder else source.name
    return ModelNotFoundError(
        f"Cannot load the {source.engine.title} {what} from {where}: {type(exc).__name__}: {_first_line(exc)}\n"
        + how_to_get(hint, source.engine)
    )


def load_from_source(source: ModelSource, what: str, loader):
    """``loader(**source.kwargs)`` (a ``from_pretrained``), its failure turned into the
    ModelNotFoundError of :func:`load_failure` that says what to do."""
    try:
        return loader(**source.kwargs)
    except LOAD_ERRORS as exc:
        raise load_failure(source, what, exc) from exc


def _first_line(exc: BaseException | None) -> str:
    text = str(exc) if exc is not None else ""
    return text.splitlines()[0] if text else type(exc).__name__


def looks_like_hub_id(name: str) -> bool:
    """'owner/name' or 'name' (a path that does not exist is read as a hub id only then)."""
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(parts) and not name.startswith((".", "/", "~")) and "\\" not in name
