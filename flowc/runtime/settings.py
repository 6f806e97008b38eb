"""Server settings for ``flowc serve`` and :func:`flowc.runtime.app.create_app`.

One frozen value, serialisable to JSON so ``--workers N`` can hand it to worker processes
through an environment variable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

FailurePolicy = Literal["bypass", "end", "auto"]


@dataclass(frozen=True)
class ServeSettings:
    """How the app serves flows. Defaults suit production; tests shorten timeouts."""

    public_url: str | None = None
    """Base URL Plivo reaches this server at (``https://voice.example.com``); rendered into
    the XML and used to check signatures. ``None``: the request's own scheme and host."""
    auth_token: str | None = None
    """Plivo auth token: every HTTP callback and stream handshake must be signed with it."""
    trust_forwarded: bool = False
    """Honour ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` (only behind a proxy you run)."""
    verify_websocket: bool = True
    """With a token, check the handshake's ``X-Plivo-Signature-V3`` (plivo.md §4.3)."""
    drain_timeout: float = 30.0
    """Seconds active streams may run after SIGTERM before they are cut."""
    close_timeout: float = 10.0
    """Seconds a stream's processors get to finish and ``close()`` once the stream ends."""
    stage_buffer: int = 64
    """Frames buffered between two stages (about 1.3 s of 20 ms audio)."""
    tap_buffer: int = 256
    """Frames buffered for each tap before copies are dropped."""
    playback_lead_ms: float = 120.0
    """How far ahead of real time outbound audio may be sent (Plivo's buffer stays short)."""
    failure_policy: FailurePolicy = "auto"
    """A processor that raises: ``bypass`` (frames pass around it), ``end`` the stream, or
    ``auto`` (end when it plays audio, else bypass); see :mod:`flowc.runtime.pipeline`."""
    worker_threads: int = 4
    """Threads for ``ctx.run_sync`` (CPU-heavy processor work), shared by all streams."""
    call_params_dir: str | None = None
    """Directory where worker processes share each call's answer parameters (``--workers``
    sets one up); ``None`` keeps them in this process only."""
    # Limits (enforced by flowc/runtime/limits.py; 0 disables a limit).
    max_message_bytes: int = 65536
    """Largest inbound WebSocket message; a bigger one closes the stream (1009)."""
    max_streams: int = 1000
    """Concurrent streams per process; handshakes beyond are refused (1013)."""
    handshake_rate: float = 200.0
    """Stream handshakes per second per process (token bucket), beyond are refused (1013)."""
    handshake_burst: int = 1000
    """Handshakes allowed at once before ``handshake_rate`` applies."""
    start_timeout: float = 10.0
    """Seconds a new stream may take to send ``start`` before it is closed."""
    idle_timeout: float = 30.0
    """Seconds without any inbound message before a stream is ended."""
    stream_timeout_grace: float = 2.0
    """Seconds past the flow's ``streamTimeout`` before the server ends the stream itself."""
    max_body_bytes: int = 65536
    """Largest HTTP callback body (413 beyond), read before its signature is checked."""

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-serialisable mapping (for worker processes)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> ServeSettings:
        """The inverse of :meth:`to_json_dict`; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
