"""The one engine thread: every model call of the process runs here, one at a time.

Two lanes, as in the window's engine worker: interactive jobs (smart-tool clicks) run
before any queued batch job, and also between the model passes of a running batch
(the batch's progress callback calls ``run_interactive``). A job is a function; its
``concurrent.futures.Future`` carries the value or the exception back to the request
thread, which waits with its deadline and cancels what has not started.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future

log = logging.getLogger(__name__)


class EngineThread:
    def __init__(self, name: str = "pnp-annotator-engine") -> None:
        self._cond = threading.Condition()
        self._interactive: deque = deque()
        self._batch: deque = deque()
        self._closed = False
        self._in_interactive = False
        self.runs = {"interactive": 0, "batch": 0}
        """Jobs run so far, per lane."""
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], object], interactive: bool = False) -> Future:
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the engine thread is stopped")
            (self._interactive if interactive else self._batch).append((job, future))
            self._cond.notify()
        return future

    def pending(self) -> tuple[int, int]:
        """(interactive, batch) jobs waiting."""
        with self._cond:
            return len(self._interactive), len(self._batch)

    def run_interactive(self, *_args) -> None:
        """Run the waiting interactive jobs now (engine thread only: a batch's progress hook)."""
        if threading.current_thread() is not self._thread or self._in_interactive:
            return
        self._in_interactive = True
        try:
            while True:
                with self._cond:
                    if not self._interactive:
                        return
                    item = self._interactive.popleft()
                self._run(item, "interactive")
        finally:
            self._in_interactive = False

    def close(self, timeout: float = 10.0) -> None:
        """Stop after the running job; queued jobs are cancelled."""
        with self._cond:
            self._closed = True
            for _, future in [*self._interactive, *self._batch]:
                future.cancel()
            self._interactive.clear()
            self._batch.clear()
            self._cond.notify()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not (self._interactive or self._batch or self._closed):
                    self._cond.wait()
                if self._closed:
                    return
                if self._interactive:
                    item, kind = self._interactive.popleft(), "interactive"
                else:
                    item, kind = self._batch.popleft(), "batch"
            self._run(item, kind)

    def _run(self, item, kind: str) -> None:
        job, future = item
        if not future.set_running_or_notify_cancel():
            return  # its request gave up (deadline) before it started
        self.runs[kind] += 1
        try:
            value = job()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting request, the thread goes on
            future.set_exception(exc)
        else:
            future.set_result(value)
