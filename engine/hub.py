"""Is the Hugging Face Hub usable from here? Torch-free, so the window can ask at start-up."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse


def offline() -> bool:
    """HF_HUB_OFFLINE is set: only the local cache may be searched."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check, so that a machine without network fails in seconds
    instead of sitting through huggingface_hub's retries with back-off."""
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False
