"""Loading the BLIP ITM model and tokenizer from a hub id or a local folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from .errors import ModelNotFoundError

log = logging.getLogger(__name__)

VISION_LN_EPS = 1e-6  # LAVIS's ViT; HF's BlipVisionConfig defaults to 1e-5


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


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def how_to_get(model: str) -> str:
    """The instructions every missing-model message ends with."""
    return (
        f"To get the weights (about 1.8 GB), run once with network access:\n"
        f"    hf download {model}\n"
        f"(or: huggingface-cli download {model}; or the Download button in the app).\n"
        f"Or copy the model folder (config.json, model.safetensors, vocab.txt, tokenizer files) "
        f"to this machine and pass its path as the model (--model /path/to/folder)."
    )


def load_model_and_tokenizer(model: str | os.PathLike):
    """Return (BlipForImageTextRetrieval in eval mode, tokenizer); raise ModelNotFoundError."""
    from transformers import AutoTokenizer, BlipForImageTextRetrieval

    name = os.fspath(model)
    path = Path(name).expanduser()
    is_folder = path.exists() or not _looks_like_hub_id(name)
    if is_folder:
        if not path.is_dir():
            raise ModelNotFoundError(f"Model folder '{path}' does not exist.\n" + how_to_get("Salesforce/blip-itm-large-flickr"))
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"Model folder '{path}' has no config.json: it is not a saved Hugging Face model.\n"
                + how_to_get("Salesforce/blip-itm-large-flickr")
            )
        sources = [dict(pretrained_model_name_or_path=str(path))]
    else:
        # The local cache first (fast, no network); the hub only when allowed.
        sources = [dict(pretrained_model_name_or_path=name, local_files_only=True)]
        if not _offline() and _hub_reachable():
            sources.append(dict(pretrained_model_name_or_path=name))

    last_error: Exception | None = None
    for kwargs in sources:
        try:
            tokenizer = AutoTokenizer.from_pretrained(**kwargs)
            net = BlipForImageTextRetrieval.from_pretrained(**kwargs)
            break
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, ImportError) as exc:
            last_error = exc
    else:
        where = f"folder '{path}'" if is_folder else f"'{name}'"
        offline = ""
        if not is_folder and _offline():
            offline = " (HF_HUB_OFFLINE is set, so only the local cache was searched)"
        elif not is_folder and len(sources) == 1:
            offline = " (the Hugging Face hub cannot be reached from here, so only the local cache was searched)"
        raise ModelNotFoundError(
            f"Cannot load the BLIP image-text-matching model {where}{offline}: "
            f"{type(last_error).__name__}: {str(last_error).splitlines()[0] if str(last_error) else ''}\n"
            + how_to_get(name if not is_folder else "Salesforce/blip-itm-large-flickr")
        ) from last_error

    if type(net.config).__name__ != "BlipConfig":
        raise ModelNotFoundError(f"'{name}' is a {type(net.config).__name__} model, not BLIP image-text matching")
    return prepare_model(net), tokenizer


def prepare_model(net):
    """Eval mode, frozen weights (the graph runs through the image tokens), LAVIS's ViT eps."""
    net.eval()
    net.requires_grad_(False)
    set_vision_layernorm_eps(net, VISION_LN_EPS)
    return net


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check, so that a machine without network fails in seconds
    instead of sitting through huggingface_hub's retries with back-off."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _looks_like_hub_id(name: str) -> bool:
    """'owner/name' or 'name' (a path that does not exist is read as a hub id only then)."""
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(parts) and not name.startswith((".", "/", "~")) and "\\" not in name


def set_vision_layernorm_eps(net, eps: float) -> int:
    """Use LAVIS's LayerNorm eps in the ViT for the closest numerics (spec 11)."""
    count = 0
    for module in net.vision_model.modules():
        if isinstance(module, torch.nn.LayerNorm) and module.eps != eps:
            module.eps = eps
            count += 1
    net.config.vision_config.layer_norm_eps = eps
    if count:
        log.info("vision LayerNorm eps set to %g on %d modules", eps, count)
    return count
