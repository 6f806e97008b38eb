"""Kit for the hardening tests: an in-process recording plugin, a live server whose event
loop the test can inspect, a raw-socket WebSocket client that can misbehave (TCP reset,
partial frames, binary and invalid UTF-8 frames), and ``flowc serve`` as a subprocess."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import socket
import struct
import subprocess
import sys
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import orjson
from starlette.applications import Starlette

import flowc
from flowc.model import CompiledFlow
from flowc.plugins import PluginHost, ProcessorSpec, load_plugins
from flowc.runtime import limits
from flowc.runtime.app import create_app
from flowc.runtime.frames import AudioIn, Frame
from flowc.runtime.processor import Emit, Processor, StreamContext
from flowc.runtime.settings import ServeSettings
from flowc.runtime.state import Runtime
from tests import servers
from tests.runtime.livekit import make_flow
from tests.servers import eventually as eventually  # re-exported for the tests
from tests.servers import serve_in_thread

# ---------------------------------------------------------------- recording plugin


@dataclass
class Seen:
    """What the ``hrecorder`` stage saw of one stream."""

    frames: list[bytes] = field(default_factory=list)
    started: bool = False
    input_ended: bool = False
    """Its input ended (end of stream reached it), as opposed to its task being cancelled."""
    closed: bool = False
    statistics: dict[str, Any] | None = None


SEEN: dict[str, Seen] = {}
PROCESSORS: list[weakref.ref[Processor]] = []


def seen(stream_id: str) -> Seen:
    return SEEN.setdefault(stream_id, Seen())


class Recorder(Processor):
    """A pass-through stage that keeps the PCM bytes of every inbound frame it gets."""

    def __init__(self, settings: Mapping[str, Any], context: StreamContext) -> None:
        super().__init__(settings, context)
        self.record = seen(context.stream_id)
        PROCESSORS.append(weakref.ref(self))

    async def start(self) -> None:
        self.record.started = True

    async def run(self, inbox: anyio.abc.ObjectReceiveStream[Frame], emit: Emit) -> None:
        await super().run(inbox, emit)
        self.record.input_ended = True

    async def process(self, frame: Frame, emit: Emit) -> None:
        if isinstance(frame, AudioIn):
            self.record.frames.append(frame.pcm.tobytes())
        await emit(frame)

    async def close(self) -> None:
        self.record.closed = True


class Faulty(Processor):
    """Misbehaves on purpose (setting ``mode``): ``hang`` never returns from the frame
    numbered ``after``; ``slow`` spends ``delay_ms`` on every frame; ``hang_close`` never
    returns from ``close()``. Frames it does handle are passed on."""

    def __init__(self, settings: Mapping[str, Any], context: StreamContext) -> None:
        super().__init__(settings, context)
        self.mode = str(settings.get("mode", ""))
        self.after = int(settings.get("after", 0))
        self.delay = float(settings.get("delay_ms", 0)) / 1000
        self.frames = 0
        PROCESSORS.append(weakref.ref(self))

    async def process(self, frame: Frame, emit: Emit) -> None:
        self.frames += 1
        if self.mode == "hang" and self.frames > self.after:
            await anyio.sleep_forever()
        if self.mode == "slow":
            await anyio.sleep(self.delay)
        await emit(frame)

    async def close(self) -> None:
        if self.mode == "hang_close":
            await anyio.sleep_forever()


_FAULTY_SCHEMA = {
    "type": "object",
    "properties": {"mode": {"type": "string"}, "after": {"type": "integer"},
                   "delay_ms": {"type": "number"}},
    "additionalProperties": False,
}


@flowc.hookimpl
def register_processors(register: Callable[[ProcessorSpec], None]) -> None:
    register(ProcessorSpec(name="hrecorder", factory=Recorder,
                           description="hardening tests: record inbound frames"))
    register(ProcessorSpec(name="hfaulty", factory=Faulty, settings_schema=_FAULTY_SCHEMA,
                           description="hardening tests: a stage that misbehaves"))
    register(ProcessorSpec(name="hfaultytap", factory=Faulty, settings_schema=_FAULTY_SCHEMA,
                           description="hardening tests: a tap that misbehaves", kind="tap"))


@flowc.hookimpl
def stream_stopped(stream: Mapping[str, Any], statistics: Mapping[str, Any]) -> None:
    seen(str(stream["stream_id"])).statistics = dict(statistics)


def plugin_host() -> PluginHost:
    return load_plugins([sys.modules[__name__]], entry_points_enabled=False)


def recorder_flow(name: str = "h", *, stream_timeout: int | None = None,
                  before: Sequence[tuple[str, Mapping[str, Any]]] = ()) -> CompiledFlow:
    """A flow whose stream (L16 8 kHz, inbound only) runs ``before`` then ``hrecorder``."""
    flow = make_flow(name, pipeline=(*before, ("hrecorder", {})),
                     content_type="audio/x-l16;rate=8000", bidirectional=False)
    if stream_timeout is None:
        return flow
    route = dataclasses.replace(flow.streams["agent"], stream_timeout=stream_timeout)
    return dataclasses.replace(flow, streams={"agent": route})


# --------------------------------------------------------------------- live server


@dataclass
class Live:
    """A running server and the event loop it runs on."""

    app: Starlette
    port: int
    loop: asyncio.AbstractEventLoop

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.flowc
        return runtime

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stream_url(self, flow: str = "h") -> str:
        return f"{self.ws}/flows/{flow}/streams/agent"

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop and return its result."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def task_count(self) -> int:
        """Tasks alive on the server's loop (this probe excluded)."""
        count: int = self.call(lambda: len(asyncio.all_tasks()) - 1)
        return count


@contextlib.contextmanager
def live_server(flows: Sequence[CompiledFlow], settings: ServeSettings) -> Iterator[Live]:
    """``create_app`` on uvicorn + uvloop in a thread, with ``flowc serve``'s limits."""
    app = create_app(flows, host=plugin_host(), settings=settings)
    with serve_in_thread(app, **limits.uvicorn_options(settings)) as running:
        yield Live(app, running.port, running.loop)


# ------------------------------------------------------------------- Plivo messages


def start_message(stream_id: str, *, encoding: str = "audio/x-l16", rate: int = 8000,
                  sequence: int = 1) -> dict[str, Any]:
    return {"event": "start", "sequenceNumber": sequence,
            "start": {"callId": f"call-{stream_id}", "streamId": stream_id,
                      "accountId": "MA123", "tracks": ["inbound"],
                      "mediaFormat": {"encoding": encoding, "sampleRate": rate}},
            "extra_headers": ""}


def media_message(stream_id: str, payload: bytes, sequence: int,
                  chunk: int | None = None) -> dict[str, Any]:
    chunk = sequence - 1 if chunk is None else chunk
    return {"event": "media", "sequenceNumber": sequence, "streamId": stream_id,
            "media": {"track": "inbound", "timestamp": str(1705312200000 + 20 * chunk),
                      "chunk": chunk, "payload": base64.b64encode(payload).decode()}}


def pcm_payload(index: int, samples: int = 160) -> bytes:
    """L16 audio unique to ``index`` (< 9e8): the index in two samples, then a ramp."""
    values = [(index * 7 + k) % 20000 + 1 for k in range(samples)]
    values[0], values[1] = index % 30000, index // 30000
    return struct.pack(f"<{samples}h", *values)


# ----------------------------------------------------------------- raw-socket client


class RawClient:
    """A WebSocket client on a bare TCP socket: it frames messages itself, so it can send
    what a library refuses to (binary, invalid UTF-8, half a frame) and vanish with a reset."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    @classmethod
    async def connect(cls, port: int, path: str,
                      headers: Mapping[str, str] | None = None) -> RawClient:
        stream = await anyio.connect_tcp("127.0.0.1", port)
        client = cls(stream)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        await stream.send(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"{extra}\r\n".encode())
        status = await client._read_head()
        if b" 101 " not in status.split(b"\r\n", 1)[0]:
            await stream.aclose()
            raise ConnectionRefusedError(status.split(b"\r\n", 1)[0].decode())
        return client

    async def _read_head(self) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += await self.stream.receive()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    @staticmethod
    def frame(payload: bytes, opcode: int = 0x1, *, fin: bool = True) -> bytes:
        mask = os.urandom(4)
        n = len(payload)
        first = (0x80 if fin else 0) | opcode
        if n < 126:
            header = bytes((first, 0x80 | n))
        elif n < 65536:
            header = bytes((first, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((first, 0x80 | 127)) + n.to_bytes(8, "big")
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        return header + mask + masked

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send(data)

    async def send_text(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        await self.stream.send(self.frame(data, 0x1))

    async def send_json(self, message: Mapping[str, Any]) -> None:
        await self.send_text(orjson.dumps(message))

    async def send_binary(self, data: bytes) -> None:
        await self.stream.send(self.frame(data, 0x2))

    async def receive_close(self, *, within: float = 10.0) -> int | None:
        """Read until the server's close frame; its status code (None if the socket ended)."""
        with anyio.fail_after(within):
            while True:
                while len(self.buffer) >= 2:
                    length, offset = self.buffer[1] & 0x7F, 2
                    if length == 126:
                        length, offset = int.from_bytes(self.buffer[2:4], "big"), 4
                    elif length == 127:
                        length, offset = int.from_bytes(self.buffer[2:10], "big"), 10
                    if len(self.buffer) < offset + length:
                        break
                    opcode = self.buffer[0] & 0x0F
                    body = self.buffer[offset:offset + length]
                    self.buffer = self.buffer[offset + length:]
                    if opcode == 0x8:
                        return int.from_bytes(body[:2], "big") if len(body) >= 2 else 1005
                try:
                    self.buffer += await self.stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    return None

    async def reset(self) -> None:
        """Vanish: close with SO_LINGER 0, so the peer gets a TCP RST and no close frame."""
        raw = self.stream.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()

    async def aclose(self) -> None:
        await self.stream.aclose()


# ------------------------------------------------------------- flowc serve process


FLOW_YAML = """\
flow: guarded
documents:
  answer:
    - Speak: Hello.
    - Stream:
        name: agent
        contentType: audio/x-l16;rate=8000
        pipeline:
          - counter: {}
"""


@dataclass
class ServeProcess:
    """``flowc serve`` running as its own process on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@contextlib.contextmanager
def serve_flow(flow: Path, *args: str, env: Mapping[str, str] | None = None,
               ) -> Iterator[ServeProcess]:
    """``flowc serve FLOW`` with ``args`` on a port the kernel picks
    (:func:`tests.servers.flowc_serve`); log in ``FLOW.log``."""
    log = flow.with_suffix(".log")
    with servers.flowc_serve([str(flow), "--host", "127.0.0.1", *args], log=log,
                             env=env, within=30) as (process, port):
        yield ServeProcess(process, port, log)


@contextlib.contextmanager
def flowc_serve(directory: Path, *args: str) -> Iterator[ServeProcess]:
    """Start ``flowc serve`` on :data:`FLOW_YAML` with ``args`` (see :func:`serve_flow`)."""
    flow = directory / "guarded.yaml"
    flow.write_text(FLOW_YAML)
    with serve_flow(flow, *args) as server:
        yield server
