"""How tests run real servers: uvicorn on a free 127.0.0.1 port in a thread
(:func:`serve_in_thread`), or ``flowc serve`` as its own process (:func:`flowc_serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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


_LISTENING = re.compile(rb"listening on http://\S+?:(\d+)")


@contextlib.contextmanager
def flowc_serve(args: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None,
                cwd: Path | None = None, within: float = 60.0,
                preexec_fn: Callable[[], None] | None = None,
                ) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``python -m flowc serve ARGS --port 0`` as its own process: the kernel picks a free
    port and the server says which (``listening on ...``), so no other process can take it
    in between. Yields the process and its port once it accepts connections; output goes
    to ``log``; ``preexec_fn`` runs in the child before ``exec`` (e.g. resource limits);
    ended with SIGTERM (then SIGKILL after 20 s) if still running."""
    environ = dict(os.environ if env is None else env)
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "flowc", "serve", *args,
                                    "--port", "0"], stdout=sink, stderr=sink, env=environ,
                                   cwd=cwd, preexec_fn=preexec_fn)
    try:
        deadline = time.monotonic() + within
        port = 0
        while True:
            if not port and (found := _LISTENING.search(log.read_bytes())):
                port = int(found.group(1))
            if port:  # with --workers the port is bound before a worker listens on it
                with contextlib.suppress(OSError), socket.create_connection(
                        ("127.0.0.1", port), timeout=0.5):
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"flowc serve did not start: {log.read_text()[-3000:]}")
            time.sleep(0.05)
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def eventually(check: Callable[[], Any], *, within: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy (a bounded wait, not a timing test)."""
    with anyio.fail_after(within):
        while True:
            value = check()
            if value:
                return value
            await anyio.sleep(0.01)
