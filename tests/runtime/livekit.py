"""Test kit for the run wing: hand-built flows, a live uvicorn server on 127.0.0.1 in a
thread, and a WebSocket client that speaks Plivo's stream protocol."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import jinja2
import orjson
import uvicorn
import websockets
from starlette.applications import Starlette

from flowc.model import (
    CompiledFlow,
    Condition,
    Document,
    Element,
    PipelineStep,
    RouteRef,
    StreamRoute,
    Template,
    document_path,
    status_path,
    stream_path,
)
from flowc.runtime.state import Runtime
from tests.servers import eventually as eventually  # re-exported for the tests
from tests.servers import serve_in_thread

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


def template(source: str) -> Template:
    return Template(source, _JINJA.from_string(source).render)


def make_flow(
    name: str = "t",
    *,
    pipeline: Sequence[tuple[str, Mapping[str, Any]]] = (("echo", {}),),
    content_type: str = "audio/x-l16;rate=16000",
    bidirectional: bool = True,
    key: str = "agent",
) -> CompiledFlow:
    """A flow with an ``answer`` document (a Speak, a Stream) and a ``menu`` with ``if:``."""
    spath = stream_path(name, key)
    stream = StreamRoute(key=key, path=spath, document="answer", content_type=content_type,
                         bidirectional=bidirectional, audio_track="inbound",
                         keep_call_alive=True, stream_timeout=86400,
                         pipeline=tuple(PipelineStep(p, dict(s)) for p, s in pipeline))
    answer = Element("Response", children=(
        Element("Speak", text=template("Hello {{ From }} from {{ company }}.")),
        Element("Stream", attributes=(
            ("bidirectional", "true" if bidirectional else "false"),
            ("contentType", content_type),
            ("statusCallbackUrl", RouteRef("document", status_path(name))),
        ), text=RouteRef("stream", spath)),
    ))
    menu = Element("Response", children=(
        Element("Speak", text="You chose sales.",
                condition=Condition('Digits == "1"', lambda c: c.get("Digits") == "1")),
        Element("Speak", text="You chose support.",
                condition=Condition('Digits == "2"', lambda c: c.get("Digits") == "2")),
        Element("Redirect", text=RouteRef("document", document_path(name, "answer"))),
    ))
    return CompiledFlow(
        name=name, version="test", source=f"{name}.yaml",
        documents={
            "answer": Document("answer", document_path(name, "answer"), answer),
            "menu": Document("menu", document_path(name, "menu"), menu),
        },
        streams={key: stream},
        variables={"company": "Acme"},
        status_paths=(status_path(name),),
    )


@dataclass
class Live:
    """A running server."""

    app: Starlette
    port: int
    server: uvicorn.Server

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.flowc
        return runtime


@contextlib.contextmanager
def live_server(app: Starlette) -> Iterator[Live]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in a background thread."""
    with serve_in_thread(app) as running:
        yield Live(app, running.port, running.server)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class PlivoStream:
    """The Plivo side of one stream, over a real ``websockets`` connection."""

    def __init__(self, conn: websockets.ClientConnection, stream_id: str) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.seq = 0
        self.chunks: dict[str, int] = {}

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    async def send(self, message: Mapping[str, Any] | str | bytes) -> None:
        if isinstance(message, Mapping):
            message = orjson.dumps(message).decode()
        await self.conn.send(message)

    async def start(self, *, encoding: str = "audio/x-l16", rate: int = 16000,
                    tracks: Sequence[str] = ("inbound",), call_id: str = "call-1",
                    extra_headers: str | None = "userId=42;team=blue") -> None:
        message: dict[str, Any] = {
            "event": "start", "sequenceNumber": self._next(),
            "start": {"callId": call_id, "streamId": self.stream_id, "accountId": "MA123",
                      "tracks": list(tracks),
                      "mediaFormat": {"encoding": encoding, "sampleRate": rate}},
        }
        if extra_headers is not None:
            message["extra_headers"] = extra_headers
        await self.send(message)

    async def media(self, payload: bytes, *, track: str = "inbound") -> None:
        chunk = self.chunks[track] = self.chunks.get(track, 0) + 1
        await self.send({
            "event": "media", "sequenceNumber": self._next(), "streamId": self.stream_id,
            "media": {"track": track, "timestamp": str(1705312200000 + 20 * chunk),
                      "chunk": chunk, "payload": b64(payload)},
            "extra_headers": "userId=42;team=blue",
        })

    async def dtmf(self, digit: str) -> None:
        await self.send({"event": "dtmf", "sequenceNumber": self._next(),
                         "streamId": self.stream_id,
                         "dtmf": {"track": "inbound", "digit": digit,
                                  "timestamp": "1705312201234"}})

    async def event(self, event: str, **fields: Any) -> None:
        await self.send({"event": event, "sequenceNumber": self._next(),
                         "streamId": self.stream_id, **fields})

    async def receive(self, *, within: float = 5.0) -> dict[str, Any]:
        with anyio.fail_after(within):
            raw = await self.conn.recv()
        message: dict[str, Any] = orjson.loads(raw)
        return message

    async def receive_until(self, event: str, *, within: float = 10.0) -> list[dict[str, Any]]:
        """Messages up to and including the first ``event``."""
        out = []
        with anyio.fail_after(within):
            while True:
                message = await self.receive(within=within)
                out.append(message)
                if message["event"] == event:
                    return out


@contextlib.asynccontextmanager
async def plivo_stream(url: str, stream_id: str = "s-1",
                       headers: Mapping[str, str] | None = None) -> Any:
    async with websockets.connect(url, additional_headers=dict(headers or {})) as conn:
        yield PlivoStream(conn, stream_id)
