"""One way for tests to run a real server: uvicorn on a free 127.0.0.1 port in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn
import uvloop

from flowc.runtime.server import WEBSOCKET_OPTIONS


@dataclass
class Running:
    """A server started by :func:`serve_in_thread`."""

    server: uvicorn.Server
    port: int
    loop: asyncio.AbstractEventLoop


@contextlib.contextmanager
def serve_in_thread(app: Any, **options: Any) -> Iterator[Running]:
    """Serve ``app`` as ``flowc serve`` does (uvloop, flowc's WebSocket settings) until the
    block ends; ``options`` go to ``uvicorn.Config``."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", proxy_headers=False,
                            timeout_graceful_shutdown=2, **{**WEBSOCKET_OPTIONS, **options})
    server = uvicorn.Server(config)
    loop = uvloop.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield Running(server, sock.getsockname()[1], loop)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def eventually(check: Callable[[], Any], *, within: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy (a bounded wait, not a timing test)."""
    with anyio.fail_after(within):
        while True:
            value = check()
            if value:
                return value
            await anyio.sleep(0.01)
