"""Running the app on uvicorn, with a graceful drain on SIGTERM.

:func:`run` serves an app factory on one port with one or ``workers`` processes (uvicorn's
supervisor; each worker calls the factory, which must be an import string then). The
factory returned by :func:`drainable` makes the first SIGTERM/SIGINT drain instead of
stopping at once: ``/readyz`` fails and new streams are refused, active streams run to
their end for up to ``drain_timeout`` seconds, the rest are cut with every processor
closed, and only then does uvicorn shut down (exit status 0). A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from flowc.runtime.state import Runtime

log = logging.getLogger("flowc.serve")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)



WEBSOCKET_OPTIONS: dict[str, Any] = {
    # websockets' sans-I/O protocol: in bench/streams.py p99 delay fell from ~250-400 ms
    # to ~80-100 ms at saturation against the legacy "websockets" implementation
    "ws": "websockets-sansio",
    # media is base64 audio: per-message deflate costs CPU and saves little
    "ws_per_message_deflate": False,
}
"""uvicorn's WebSocket settings for flowc (tests start their servers with them too)."""


def drainable(factory: Callable[[], Starlette], drain_timeout: float) -> Callable[[], Starlette]:
    """Wrap an app factory so the server process drains on SIGTERM (see the module doc)."""

    def build() -> Starlette:
        app = factory()
        install_drain(app.state.flowc, drain_timeout)
        settle_gc()
        return app

    return build


def settle_gc() -> None:
    """Move everything loaded at start-up out of the collector's sight (``gc.freeze``), so
    full collections during calls only scan what calls allocate (shorter pauses)."""
    gc.collect()
    gc.freeze()


def install_drain(runtime: Runtime, drain_timeout: float) -> None:
    """Route SIGTERM/SIGINT through :meth:`Runtime.drain` before uvicorn's own handler.

    Call it from inside the server's event loop (uvicorn calls app factories there),
    after uvicorn installed its handlers. Does nothing outside the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {int(sig): signal.getsignal(sig) for sig in _SIGNALS}
    tasks: set[asyncio.Task[None]] = set()
    state = {"draining": False}

    def stop(sig: int, frame: FrameType | None) -> None:
        handler: Any = previous[sig]
        server = getattr(handler, "__self__", None)
        if isinstance(server, uvicorn.Server):
            server.should_exit = True  # exit normally, without re-raising the signal
        elif callable(handler):
            handler(sig, frame)

    async def drain_then_stop(sig: int) -> None:
        try:
            await runtime.drain(drain_timeout)
        finally:
            stop(sig, None)

    def on_signal(sig: int, frame: FrameType | None) -> None:
        if state["draining"]:
            handler: Any = previous[sig]
            if callable(handler):
                handler(sig, frame)
            return
        state["draining"] = True
        log.warning("received %s: draining (up to %.0f s)", signal.Signals(sig).name,
                    drain_timeout)

        def start() -> None:
            task = loop.create_task(drain_then_stop(sig))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        loop.call_soon_threadsafe(start)

    for sig in _SIGNALS:
        signal.signal(sig, on_signal)


def run(
    app: str | Callable[[], Starlette],
    *,
    host: str,
    port: int,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = False,
    ws_max_size: int = 65536,
    on_listening: Callable[[int], None] | None = None,
) -> int:
    """Serve ``app`` (a factory, or its import string for ``workers > 1``) until signalled.

    The socket is bound first; ``on_listening`` then gets the port it is bound to (the
    kernel's pick with ``port=0``) before any request is served."""
    config = uvicorn.Config(
        app,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        proxy_headers=False,
        server_header=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        ws_max_size=ws_max_size,  # limits: ServeSettings.max_message_bytes
        **WEBSOCKET_OPTIONS,
    )
    if workers > 1 and not isinstance(app, str):
        raise ValueError("--workers needs the app factory as an import string")
    sock = config.bind_socket()
    if on_listening is not None:
        on_listening(int(sock.getsockname()[1]))
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
        return 0
    uvicorn.Server(config).run(sockets=[sock])
    return 0
