"""A flowc plugin that lets the simulator watch the in-process server's observer hooks.

When ``flowc call`` starts the server itself, it registers a :class:`ServerObserver`
with the plugin host, so transcripts, DTMF the server saw and stream status callbacks
show on the caller's timeline. Hooks may run on the server's thread; each record is
handed to ``sink`` which must be thread-safe (the simulator posts it to its own loop).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowc import hookimpl


@dataclass(frozen=True)
class Observed:
    """One hook call: ``hook`` name, ``call_id`` when known, plain-data ``data``."""

    hook: str
    call_id: str | None
    data: Mapping[str, Any]
    monotonic: float = field(default_factory=time.monotonic)


class ServerObserver:
    """Records observer hooks (transcripts, DTMF, stream start/stop, status callbacks)."""

    def __init__(self, sink: Callable[[Observed], None] | None = None) -> None:
        self.sink = sink
        self.records: list[Observed] = []
        self._lock = threading.Lock()

    def _record(self, hook: str, call_id: str | None, data: Mapping[str, Any]) -> None:
        item = Observed(hook, call_id, dict(data))
        with self._lock:
            self.records.append(item)
        if self.sink is not None:
            self.sink(item)

    def of(self, hook: str, call_id: str | None = None) -> list[Observed]:
        """Records of one hook (and one call, when given)."""
        with self._lock:
            return [r for r in self.records
                    if r.hook == hook and (call_id is None or r.call_id == call_id)]

    @hookimpl
    def stream_started(self, stream: Mapping[str, Any]) -> None:
        """The server saw a stream's ``start``."""
        self._record("stream_started", stream.get("call_id"), {"stream": dict(stream)})

    @hookimpl
    def stream_stopped(self, stream: Mapping[str, Any], statistics: Mapping[str, Any]) -> None:
        """The server closed a stream."""
        self._record("stream_stopped", stream.get("call_id"),
                     {"stream": dict(stream), "statistics": dict(statistics)})

    @hookimpl
    def transcript(self, stream: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """A transcriber result (``track`` inbound: the caller; outbound: the agent)."""
        self._record("transcript", stream.get("call_id"), dict(result))

    @hookimpl
    def dtmf(self, stream: Mapping[str, Any], digit: str, track: str, timestamp_ms: int) -> None:
        """The server received a ``dtmf`` event."""
        self._record("dtmf", stream.get("call_id"),
                     {"digit": digit, "track": track, "timestamp_ms": timestamp_ms})

    @hookimpl
    def stream_status(self, flow: str, params: Mapping[str, str]) -> None:
        """The server received a stream status callback."""
        self._record("stream_status", params.get("CallUUID"), {"flow": flow, **params})
