"""Images decoded off the GUI thread, with the neighbours of the shown one decoded ahead.

    loader = ImageLoader(keep=6)
    loader.loaded.connect(on_loaded)        # (key, pixels | None, error message)
    pixels = loader.cached(key)             # RGB uint8 [H, W, 3] or None
    loader.request(key, path)               # decode in the background (no-op if cached or queued)

*key* is whatever identifies an image to the caller (e.g. (project root, relative
path)); the cache is a bounded LRU of decoded images.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Hashable

import numpy as np
from PySide6.QtCore import QObject, Signal


class ImageLoader(QObject):
    loaded = Signal(object, object, str)  # key, pixels or None, error message ("" when decoded)

    def __init__(self, keep: int = 6, parent: QObject | None = None):
        super().__init__(parent)
        self._keep = max(1, keep)
        self._cache: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._pending: set[Hashable] = set()
        self._lock = threading.Lock()
        # Two threads: the image asked for is not stuck behind a neighbour's decode.
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="pnp-annotator-decode")

    def warm_up(self) -> None:
        """Start both decode threads now, not on the first requests (a thread start costs
        milliseconds of the GUI thread on a busy machine)."""
        barrier = threading.Barrier(2)
        for _ in range(2):  # the first waits for the second, so the pool must start two threads
            self._pool.submit(barrier.wait, 2.0)

    def cached(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            pixels = self._cache.get(key)
            if pixels is not None:
                self._cache.move_to_end(key)
            return pixels

    def request(self, key: Hashable, path: str | Path) -> None:
        with self._lock:
            if key in self._cache or key in self._pending:
                return
            self._pending.add(key)
        self._pool.submit(self._decode, key, Path(path))

    def forget(self) -> None:
        """Drop every decoded image (another project is opened)."""
        with self._lock:
            self._cache.clear()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _decode(self, key: Hashable, path: Path) -> None:
        from engine.images import load_rgb

        pixels, error = None, ""
        try:
            pixels = load_rgb(path)
        except Exception as exc:  # noqa: BLE001 - shown in place of the image
            error = str(exc) or type(exc).__name__
        with self._lock:
            self._pending.discard(key)
            if pixels is not None:
                self._cache[key] = pixels
                while len(self._cache) > self._keep:
                    self._cache.popitem(last=False)
        self.loaded.emit(key, pixels, error)
