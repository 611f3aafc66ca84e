"""The engine registry: one row per engine, read by everything that needs to know the engines
(no torch import here).

A row (``EngineInfo``) says how to recognise the engine's checkpoints, how to load it
(``loader``: its ``Segmenter`` subclass, imported on first use), its default threshold,
whether it makes instances and whether it serves clicks (the interactive tools). Loading
(``Segmenter.load``, ``engine.loading``), the window's model menu and settings dialog, the
proposals step and the interactive loader all read the registry, so a new engine is one
``register_engine`` call.

``DEFAULT_MODEL`` is the default engine's checkpoint (PnP-OVSS on BLIP).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "Salesforce/blip-itm-large-flickr"
SAM3_MODEL = "facebook/sam3"
SAM2_MODEL = "facebook/sam2.1-hiera-tiny"


@dataclass(frozen=True)
class EngineInfo:
    name: str
    """Value of ``Segmenter.engine`` (e.g. "pnp-ovss", "sam3")."""
    title: str
    """Human-readable name for menus."""
    default_model: str
    """Hub id of the default checkpoint."""
    config_class: str
    """transformers config class name in the checkpoint's config.json ("": the engine reads
    config.json itself; its dict is the config)."""
    model_types: tuple[str, ...]
    """config.json "model_type" values of this engine's checkpoints."""
    gated: bool
    """The hub asks users to accept a licence (and log in) before downloading."""
    size: str
    """Download size, for dialogs."""
    licence: str
    loader: Any = ""
    """Its ``Segmenter`` subclass, or "module:Class" imported on first use; "" for a model
    that only serves clicks."""
    default_threshold: float | None = None
    """The threshold its ``postprocess`` uses when given none (labelling engines)."""
    instances: bool = False
    """Its results carry instances (``proposals`` "auto" gives one shape per object)."""
    interactive: tuple[str, str] | None = None
    """Serves clicks: the transformers (model class, processor class) of the interactive tools."""

    @property
    def labels(self) -> bool:
        """A labelling engine (Propose, ``label``), not only a click model."""
        return bool(self.loader)


_REGISTRY: dict[str, EngineInfo] = {}


def register_engine(info: EngineInfo) -> EngineInfo:
    """Add (or replace) the row of ``info.name``; returns it."""
    if info.labels and info.default_threshold is None:
        raise ValueError(f"engine {info.name!r} labels images, so it needs a default threshold")
    _REGISTRY[info.name] = info
    return info


def unregister_engine(name: str) -> None:
    """Remove a row added at run time (tests)."""
    _REGISTRY.pop(name, None)


for _row in (
    EngineInfo("pnp-ovss", "PnP-OVSS (BLIP)", DEFAULT_MODEL, "BlipConfig", ("blip",), False,
               "about 1.8 GB", "BSD-3-Clause", loader="engine.pnp_ovss.segmenter:PnpOvssSegmenter",
               default_threshold=0.15),
    EngineInfo("sam3", "SAM 3", SAM3_MODEL, "Sam3Config", ("sam3",), True,
               "about 3.4 GB", "SAM License (gated)", loader="engine.sam3.segmenter:Sam3Segmenter",
               default_threshold=0.5, instances=True),
    EngineInfo("sam2", "SAM 2.1", SAM2_MODEL, "Sam2Config", ("sam2", "sam2_video"), False,
               "about 160 MB", "Apache-2.0", interactive=("Sam2Model", "Sam2Processor")),
    EngineInfo("sam3-tracker", "SAM 3 tracker", SAM3_MODEL, "Sam3VideoConfig",
               ("sam3_video", "sam3_tracker", "sam3_tracker_video"), True, "about 3.4 GB", "SAM License (gated)",
               interactive=("Sam3TrackerModel", "Sam3TrackerProcessor")),
):
    register_engine(_row)

ENGINES: tuple[EngineInfo, ...] = tuple(e for e in _REGISTRY.values() if e.labels)
"""The built-in labelling engines (``engines()`` also lists those registered later)."""


def engines() -> tuple[EngineInfo, ...]:
    """Every labelling engine, in registration order."""
    return tuple(e for e in _REGISTRY.values() if e.labels)


def interactive_engines() -> tuple[EngineInfo, ...]:
    """Every engine that serves clicks."""
    return tuple(e for e in _REGISTRY.values() if e.interactive)


def engine_info(name: str) -> EngineInfo:
    """The row called *name*; ValueError naming the choices otherwise."""
    info = _REGISTRY.get(name)
    if info is None:
        raise ValueError(f"unknown engine {name!r}; expected one of {', '.join(e.name for e in engines())}")
    return info


def engine_for_model_type(model_type: str, interactive: bool = False) -> EngineInfo | None:
    """The labelling engine (or, with *interactive*, the click model) whose checkpoints have
    this config.json "model_type", if any."""
    for info in (interactive_engines() if interactive else engines()):
        if model_type in info.model_types:
            return info
    return None


def engine_for_hub_id(model: str) -> EngineInfo | None:
    """The labelling engine of a known default checkpoint (e.g. 'facebook/sam3'), else None."""
    for info in engines():
        if info.default_model.casefold() == str(model).strip().casefold():
            return info
    return None


def engine_for_model(model: str) -> EngineInfo:
    """The labelling engine *model* (hub id or folder) runs, from a known hub id or the folder's
    config.json: no model load and no network. The default engine when it cannot tell."""
    info = engine_for_hub_id(model or DEFAULT_MODEL)
    config = Path(str(model)).expanduser() / "config.json"
    if info is None and model and config.is_file():
        try:
            info = engine_for_model_type(str(json.loads(config.read_text(encoding="utf-8")).get("model_type", "")))
        except (OSError, ValueError, AttributeError):
            info = None
    return info or engine_info("pnp-ovss")


def default_threshold(engine: str) -> float:
    """The registry's default threshold of a labelling engine."""
    value = engine_info(engine).default_threshold
    if value is None:
        raise ValueError(f"{engine!r} is not a labelling engine")
    return float(value)


def segmenter_class(name: str):
    """The ``Segmenter`` subclass of engine *name* (imported on first use)."""
    loader = engine_info(name).loader
    if not loader:
        raise ValueError(f"engine {name!r} does not label images")
    if isinstance(loader, str):
        module, _, attr = loader.partition(":")
        return getattr(importlib.import_module(module), attr)
    return loader
