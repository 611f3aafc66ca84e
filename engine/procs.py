"""Helper processes that end with the process that started them, however it ends.

A pool's workers (and a fork server) wait on pipes that they themselves hold open, so when
their parent is killed (kill -9, out of memory, a closed terminal) nothing wakes them and
they stay alive for good, holding their memory. ``die_with_parent()``, called first thing in
a helper process (a pool's initializer), ends it when its parent goes:

- on Linux, with ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` when asked (``signal=True``): the
  kernel kills it the moment the parent *thread* that forked it ends, so only for a parent
  whose forking thread lives as long as the parent (a fork server's main thread);
- everywhere, a daemon thread that checks ``os.getppid()`` twice a second and exits the
  process (``os._exit``) once the parent has changed (it was re-parented: the parent died).

Imports nothing of the project; used by ``annotator.core.postpool`` and the engines' pools.
"""

from __future__ import annotations

import os
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.5
EXIT_CODE = 70  # what a helper exits with when its parent is gone (not seen by anyone: the parent is gone)

_watching_in = 0  # pid of the process whose watching thread runs (a forked child has none)


def die_with_parent(parent_pid: int | None = None, *, signal: bool = False) -> None:
    """End this process when its parent (*parent_pid*, default the current one) ends. Safe to
    call more than once. *signal*: also ask Linux for a parent-death SIGKILL (see module doc)."""
    global _watching_in
    parent = os.getppid() if parent_pid is None else parent_pid
    if signal and sys.platform.startswith("linux"):
        _set_pdeathsig()
    if os.getppid() != parent:  # the parent died before we got here
        os._exit(EXIT_CODE)
    if _watching_in == os.getpid():
        return
    _watching_in = os.getpid()
    threading.Thread(target=_watch, args=(parent,), name="die-with-parent", daemon=True).start()


def _watch(parent: int) -> None:
    while True:
        time.sleep(WATCH_INTERVAL_S)
        if os.getppid() != parent:
            os._exit(EXIT_CODE)


def _set_pdeathsig() -> None:
    import ctypes
    import signal as _signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(_signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no prctl here: the watching thread does it
