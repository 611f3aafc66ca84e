"""Progress and cancel for long core operations (export, import), shared by the CLI's
progress bars and the window's background jobs.

    progress(done: int, total: int)      # any callable; called per image
    progress.stage(text)                 # optional: the next pass's name ("matching images")
    cancel                               # any object with is_set(); checked per image
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]


class JobCancelled(Exception):
    """The operation was cancelled before it wrote anything."""


def stage(progress: Progress | None, text: str) -> None:
    """Tell *progress* which pass starts (only a callable with a ``stage`` method listens)."""
    if progress is not None and callable(getattr(progress, "stage", None)):
        progress.stage(text)


def check(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise JobCancelled("cancelled; nothing was written")


def tqdm_progress(desc: str, unit: str = "img"):
    """(progress callback, close) drawing a tqdm bar on stderr (off when stderr is not a terminal)."""
    import sys

    from tqdm import tqdm

    # No monitor thread: a command with one thread may fork workers safely (coco/parallel.py).
    tqdm.monitor_interval = 0
    bar = tqdm(total=0, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, disable=None)

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh() if done == total else bar.update(0)

    return progress, bar.close
