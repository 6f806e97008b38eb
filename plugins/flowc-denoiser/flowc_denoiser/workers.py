"""The plugin's worker threads: heavy engines (RNNoise) denoise here, off the event loop.

One pool per process, a thread per CPU, started on first use (again in a forked child).
A call is one queue put and, from the worker, one ``call_soon_threadsafe``: about half
the CPU of ``anyio.to_thread.run_sync``, which also passes two scheduler checkpoints, a
capacity limiter and a copied context per call (``bench/denoiser_breakdown.py``; that is
50-100 µs per 20 ms chunk). Outside asyncio it falls back to ``anyio.to_thread``.

The wait is shielded from cancellation like ``to_thread.run_sync``'s: a cancelled stream
still waits for its chunk, so the engine is never closed while a worker is inside it.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

A = TypeVar("A")
R = TypeVar("R")
_Job = tuple[Callable[[Any], Any], Any, asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled by a native asyncio cancel: nobody waits any more
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _serve(jobs: queue.SimpleQueue[_Job]) -> None:
    while True:
        fn, arg, loop, future = jobs.get()
        try:
            value, ok = fn(arg), True
        except BaseException as exc:  # handed to the waiting task, raised there
            value, ok = exc, False
        try:
            loop.call_soon_threadsafe(_settle, future, ok, value)
        except RuntimeError:  # the loop is closed
            pass
        del fn, arg, loop, future, value


class Workers:
    """``await workers.run(fn, arg)`` calls ``fn(arg)`` in one of ``count`` threads."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._pid = -1
        self._lock = threading.Lock()
        self._limiter: anyio.CapacityLimiter | None = None

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._jobs = queue.SimpleQueue()  # a forked child: the parent's threads are gone
            for i in range(self.count):
                threading.Thread(target=_serve, args=(self._jobs,), daemon=True,
                                 name=f"flowc-denoiser-{i}").start()
            self._pid = os.getpid()

    async def run(self, fn: Callable[[A], R], arg: A) -> R:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio)
            if self._limiter is None:
                self._limiter = anyio.CapacityLimiter(self.count)
            return await anyio.to_thread.run_sync(fn, arg, limiter=self._limiter)
        if self._pid != os.getpid():
            self._start()
        future: asyncio.Future[R] = loop.create_future()
        self._jobs.put((fn, arg, loop, future))
        with anyio.CancelScope(shield=True):
            result = await future
        return result


_workers: Workers | None = None


def workers() -> Workers:
    """The process's pool (a thread per CPU)."""
    global _workers
    if _workers is None:
        _workers = Workers(os.cpu_count() or 1)
    return _workers
