"""What one client may cost the server: the limits ``flowc serve`` enforces.

Every number comes from :class:`flowc.runtime.settings.ServeSettings`:

* ``max_message_bytes``: the largest WebSocket message (uvicorn's ``ws_max_size``, see
  :func:`uvicorn_options`); a bigger one closes that stream with 1009. Plivo's largest
  frame (20 ms of L16 at 16 kHz, base64 in JSON) is about 1.2 KB.
* ``max_streams`` and ``handshake_rate``/``handshake_burst``: :class:`StreamGate` refuses a
  handshake over the cap or the rate before it is accepted (close 1013: no session, no
  pipeline, no plugin code runs). Per process.
* ``start_timeout``: a socket that sends no ``start`` in time is closed.
* ``idle_timeout``: a stream with no inbound message for that long is ended (Plivo sends
  media every 20 ms for as long as the call lasts, so silence means the peer is gone).
* the flow's ``streamTimeout``: enforced server-side too, after ``stream_timeout_grace``
  more seconds (Plivo normally stops the stream itself).
* ``max_body_bytes``: the largest callback body (:func:`read_body`; 413 beyond it), read
  before the signature can be checked, so it bounds what an unsigned request costs.

:func:`watch` is the per-stream watchdog for the last three time limits. It samples the
session's existing counters a few times per limit period instead of touching the
per-frame path, so an active stream pays nothing per frame.
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import Request

if TYPE_CHECKING:
    from flowc.model import StreamRoute
    from flowc.runtime.settings import ServeSettings
    from flowc.runtime.state import Runtime

__all__ = [
    "StreamGate",
    "gate_for",
    "read_body",
    "uvicorn_options",
    "watch",
]

log = logging.getLogger("flowc.limits")

CLOSE_TRY_AGAIN_LATER = 1013


def uvicorn_options(settings: ServeSettings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that enforce the transport-level limits."""
    return {"ws_max_size": settings.max_message_bytes}


# ------------------------------------------------------------------- stream admission


class StreamGate:
    """Admission for stream handshakes: a concurrency cap and a token-bucket rate.

    ``admit()`` returns ``None`` when the stream may proceed (call ``release()`` once it
    ends) or the reason it is refused. Runs on the event loop only; no lock needed.
    """

    def __init__(self, max_streams: int, rate: float, burst: int) -> None:
        self.max_streams = max_streams
        self.rate = rate
        self.burst = max(1, burst)
        self.active = 0
        self.refused_capacity = 0
        self.refused_rate = 0
        self._tokens = float(self.burst)
        self._stamp = time.monotonic()

    def admit(self) -> str | None:
        if self.rate > 0:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens < 1:
                self.refused_rate += 1
                return f"handshake rate over {self.rate:g}/s"
        if self.max_streams > 0 and self.active >= self.max_streams:
            self.refused_capacity += 1
            return f"{self.active} streams active (max_streams {self.max_streams})"
        if self.rate > 0:
            self._tokens -= 1
        self.active += 1
        return None

    def release(self) -> None:
        self.active = max(0, self.active - 1)


_GATES: weakref.WeakKeyDictionary[Runtime, StreamGate] = weakref.WeakKeyDictionary()


def gate_for(runtime: Runtime) -> StreamGate:
    """The gate of one app (created from its settings on first use)."""
    gate = _GATES.get(runtime)
    if gate is None:
        s = runtime.settings
        gate = _GATES[runtime] = StreamGate(s.max_streams, s.handshake_rate, s.handshake_burst)
    return gate


# ------------------------------------------------------------------------- callbacks


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or HTTP 413 once it exceeds ``limit`` bytes (nothing more is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# -------------------------------------------------------------------------- watchdog


class Watched(Protocol):
    """What :func:`watch` needs of a :class:`flowc.runtime.session.Session`."""

    route: StreamRoute
    reason: str

    async def stop_reading(self, reason: str) -> None:
        """End the stream's input, recording ``reason``."""
        ...


# Session counters that move whenever an inbound message is handled. Read with getattr so a
# renamed counter makes the watchdog blind to it, never crashes the stream.
_ACTIVITY = ("frames_in", "malformed", "dtmf_count", "unknown_events", "out_of_order",
             "_last_seq")


def _activity(session: Watched) -> tuple[object, ...]:
    return tuple(getattr(session, name, None) for name in _ACTIVITY)


async def watch(session: Watched, settings: ServeSettings) -> None:
    """End ``session``'s input (:meth:`Watched.stop_reading`) when it has been
    idle for ``idle_timeout`` s or has outlived its flow's ``streamTimeout`` + grace.

    Start it once the ``start`` event has been handled; it returns when it ends a stream
    and is cancelled with the session otherwise.
    """
    idle = settings.idle_timeout
    if all(value is None for value in _activity(session)):
        log.error("idle_timeout not enforced: the session exposes none of %s", _ACTIVITY)
        idle = 0.0
    lifetime = 0.0
    if session.route.stream_timeout > 0:
        lifetime = session.route.stream_timeout + settings.stream_timeout_grace
    periods = [p for p in (idle, lifetime) if p > 0]
    if not periods:
        return
    tick = max(0.02, min(5.0, *(p / 4 for p in periods)))
    started = last_change = time.monotonic()
    last = _activity(session)
    while True:
        await anyio.sleep(tick)
        now = time.monotonic()
        current = _activity(session)
        if current != last:
            last, last_change = current, now
        elif idle > 0 and now - last_change >= idle:
            await session.stop_reading(
                f"idle timeout: no inbound message handled for {idle:g} s")
            return
        if lifetime > 0 and now - started >= lifetime:
            await session.stop_reading(f"streamTimeout: {session.route.stream_timeout} s")
            return
