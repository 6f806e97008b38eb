"""Run an engine in a worker process, for engines whose C code holds the GIL.

pocketsphinx's ``process_raw`` and ``end_utt`` keep the GIL while they decode (measured:
an ``end_utt`` stalled every other thread of the process for 85-600 ms), so decoding in
a worker *thread* would still freeze the server's event loop and every call on it. A
:class:`ProcessEngine` forwards ``feed``/``finish``/``close`` over a pipe to an engine
living in a child process; the calling thread waits on the pipe with the GIL released.

Worker processes are pooled: when a track ends its worker goes back to the pool with its
imports done and its decoder pool warm, so the next track starts in milliseconds. A worker
is a fresh interpreter (``python -m flowc_transcriber.isolate``, no fork of a threaded
server, no re-import of the caller's ``__main__``) talking over two pipes; it exits when
the server's end of the pipe closes, so it never outlives the server.
"""

from __future__ import annotations

import atexit
import importlib
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from flowc.runtime.frames import PCM
from flowc_transcriber.engine import EngineError, EngineResult

CALL_TIMEOUT = 120.0
"""Seconds a worker may take for one call before it is killed (a hung engine)."""
CLOSE_TIMEOUT = 5.0


def _serve(requests: Connection, conn: Connection) -> None:
    """The worker's loop: one engine at a time, one request at a time."""
    engine: Any = None
    while True:
        try:
            op, args = requests.recv()
        except (EOFError, OSError):
            return
        try:
            result: Any = None
            if op == "open":
                target, settings, rate = args
                module, _, name = target.partition(":")
                engine = getattr(importlib.import_module(module), name)(settings, rate)
            elif op == "feed":
                result = [_tuple(r) for r in engine.feed(np.frombuffer(args, np.int16))]
            elif op == "finish":
                result = [_tuple(r) for r in engine.finish()]
            elif op == "close":
                if engine is not None:
                    engine.close()
                engine = None
            conn.send(("ok", result))
        except Exception as exc:
            conn.send(("error", (f"{type(exc).__name__}: {exc}", isinstance(exc, EngineError))))


def _tuple(result: EngineResult) -> tuple[str, bool, int, int]:
    return (result.text, result.final, result.start_ms, result.end_ms)


def main() -> None:
    """Entry point of a worker: ``python -m flowc_transcriber.isolate <read fd> <write fd>``."""
    requests = Connection(int(sys.argv[1]), writable=False)
    answers = Connection(int(sys.argv[2]), readable=False)
    _serve(requests, answers)


class Worker:
    """One child process and the parent's ends of its two pipes."""

    def __init__(self) -> None:
        child_in, self._requests_fd = os.pipe()
        self._answers_fd, child_out = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flowc_transcriber.isolate", str(child_in),
                 str(child_out)], pass_fds=(child_in, child_out), stdin=subprocess.DEVNULL)
        finally:
            os.close(child_in)
            os.close(child_out)
        self.requests = Connection(self._requests_fd, readable=False)
        self.conn = Connection(self._answers_fd, writable=False)

    def call(self, op: str, args: Any = None, *, timeout: float = CALL_TIMEOUT) -> Any:
        """Send one request and wait for its answer (blocking, GIL released)."""
        try:
            self.requests.send((op, args))
            if not self.conn.poll(timeout):
                self.kill()
                raise EngineError(f"transcriber worker did not answer {op!r} in {timeout} s")
            status, value = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:
            self.kill()
            raise EngineError(f"transcriber worker process died ({exc!r})") from exc
        if status == "error":
            message, engine_error = value
            raise (EngineError if engine_error else RuntimeError)(message)
        return value

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and not self.conn.closed

    def kill(self) -> None:
        """End the process now."""
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        for conn in (self.requests, self.conn):
            if not conn.closed:
                conn.close()


class WorkerPool:
    """Idle worker processes (thread-safe)."""

    def __init__(self, max_idle: int = 4) -> None:
        self.max_idle = max_idle
        self._idle: list[Worker] = []
        self._lock = threading.Lock()
        self.started = 0

    def acquire(self) -> Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
            self.started += 1
        return Worker()

    def release(self, worker: Worker) -> None:
        with self._lock:
            if worker.alive and len(self._idle) < self.max_idle:
                self._idle.append(worker)
                return
        worker.kill()

    def close(self) -> None:
        """End every idle worker (workers in use end when their engine closes)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


POOL = WorkerPool()
atexit.register(POOL.close)


class ProcessEngine:
    """An engine made by ``target`` (``"module:factory"``) in a pooled worker process."""

    def __init__(self, target: str, settings: Mapping[str, Any], rate: int, *,
                 pool: WorkerPool = POOL) -> None:
        self._pool = pool
        worker = pool.acquire()
        try:
            worker.call("open", (target, dict(settings), rate))
        except BaseException:
            # The child answered with an error (bad settings): it can serve another
            # track. A dead or hung one was killed by call() and is not pooled.
            pool.release(worker)
            raise
        self._worker: Worker | None = worker

    def _call(self, op: str, args: Any = None) -> list[EngineResult]:
        if self._worker is None:
            raise EngineError("engine closed")
        return [EngineResult(*r) for r in self._worker.call(op, args)]

    def feed(self, pcm: PCM) -> list[EngineResult]:
        return self._call("feed", pcm.astype(np.int16, copy=False).tobytes())

    def finish(self) -> list[EngineResult]:
        return self._call("finish")

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        try:
            worker.call("close", timeout=CLOSE_TIMEOUT)
        except (EngineError, RuntimeError):
            worker.kill()
            return
        self._pool.release(worker)


if __name__ == "__main__":
    main()
