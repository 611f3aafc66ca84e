"""Errors the engine raises; each message says what happened and what to do."""

from __future__ import annotations


class EngineError(RuntimeError):
    """Base class of the engine's own errors."""


class ModelNotFoundError(EngineError):
    """The model weights or tokenizer could not be found or read."""


class BrokenInstallError(EngineError):
    """torch / torchvision in this Python environment cannot run the models (e.g. a torchvision
    built for another torch); the message says how to install a matching pair."""


class Cancelled(EngineError):
    """A job was cancelled through its cancel token (checked between passes)."""


class DeviceOutOfMemoryError(EngineError):
    """The device ran out of memory; the message says what to try."""
