"""The engines this package has, with their default checkpoints (no torch import here).

``DEFAULT_MODEL`` is the default engine's checkpoint (PnP-OVSS on BLIP); ``ENGINES`` lists
every engine so that a user interface can offer them without loading anything.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MODEL = "Salesforce/blip-itm-large-flickr"
SAM3_MODEL = "facebook/sam3"


@dataclass(frozen=True)
class EngineInfo:
    name: str
    """Value of ``Segmenter.engine``: "pnp-ovss" or "sam3"."""
    title: str
    """Human-readable name for menus."""
    default_model: str
    """Hub id of the default checkpoint."""
    config_class: str
    """transformers config class name in the checkpoint's config.json."""
    model_types: tuple[str, ...]
    """config.json "model_type" values of this engine's checkpoints."""
    gated: bool
    """The hub asks users to accept a licence (and log in) before downloading."""
    size: str
    """Download size, for dialogs."""
    licence: str


ENGINES: tuple[EngineInfo, ...] = (
    EngineInfo("pnp-ovss", "PnP-OVSS (BLIP)", DEFAULT_MODEL, "BlipConfig", ("blip",), False,
               "about 1.8 GB", "BSD-3-Clause"),
    EngineInfo("sam3", "SAM 3", SAM3_MODEL, "Sam3Config", ("sam3",), True,
               "about 3.4 GB", "SAM License (gated)"),
)


def engine_info(name: str) -> EngineInfo:
    """The entry of ENGINES called *name*; ValueError naming the choices otherwise."""
    for info in ENGINES:
        if info.name == name:
            return info
    raise ValueError(f"unknown engine {name!r}; expected one of {', '.join(e.name for e in ENGINES)}")


def engine_for_model_type(model_type: str) -> EngineInfo | None:
    """The engine whose checkpoints have this config.json "model_type", if any."""
    for info in ENGINES:
        if model_type in info.model_types:
            return info
    return None


def engine_for_hub_id(model: str) -> EngineInfo | None:
    """The engine of a known default checkpoint (e.g. 'facebook/sam3'), else None."""
    for info in ENGINES:
        if info.default_model.casefold() == str(model).strip().casefold():
            return info
    return None
