"""What a simulated call produced: options in, per-turn and per-stream results out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from flowc.simulator.caller import Turn
from flowc.simulator.stream_client import PlivoStreamClient, StreamSpec


@dataclass
class CallOptions:
    """How to place the call and how patient the caller is."""

    answer_url: str
    from_number: str = "14155550100"
    to_number: str = "14155550123"
    call_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    auth_token: str | None = None
    fast: bool = False
    answer_method: str = "POST"
    max_documents: int = 25
    """Bound on answer + action + redirect fetches (loops in a flow end here)."""
    greeting_wait: float = 3.0
    """Seconds the caller waits for a bidirectional stream to speak first."""
    quiet: float = 1.2
    """Seconds without agent audio that end its reply."""
    reply_timeout: float = 20.0
    """Seconds the caller waits for a reply before moving on."""
    max_call: float = 900.0
    """Hard bound on the call's length in seconds."""
    http_timeout: float = 15.0
    observer_drain: float = 8.0
    """Seconds to wait after hang-up for the in-process server to close its streams."""


@dataclass
class TurnResult:
    """What happened in one caller turn."""

    index: int
    turn: Turn
    stream: str | None = None
    started: float | None = None
    ended: float | None = None
    barge_in: bool = False
    reply_at: float | None = None
    reply_seconds: float = 0.0
    reply_expected: bool = False
    """The turn was spoken into a bidirectional stream (a reply can be measured)."""
    speech_input: bool = False
    """The turn's text was posted as ``Speech`` to a GetInput (no stream)."""
    transcripts: list[str] = field(default_factory=list)
    """The server's transcripts of the caller's speech (observer hook)."""
    agent_text: list[str] = field(default_factory=list)
    """What the agent said, as the server exposes it (observer hook), if it does."""
    agent_heard: list[str] = field(default_factory=list)
    """What the caller heard, transcribed after the call (:mod:`flowc.simulator.listen`)."""

    @property
    def latency_ms(self) -> float | None:
        """End of caller speech to the first agent audio, in ms."""
        if self.reply_at is None or self.ended is None:
            return None
        return (self.reply_at - self.ended) * 1000


@dataclass
class StreamRun:
    """One ``<Stream>`` as the simulator ran it."""

    index: int
    spec: StreamSpec
    keep_call_alive: bool
    client: PlivoStreamClient | None = None
    status_url: str | None = None
    status_method: str = "POST"
    ended_by: str | None = None
    error: str | None = None


@dataclass
class DocumentFetch:
    """One XML document fetched (answer, action, redirect)."""

    url: str
    method: str
    status: int
    elapsed_ms: float
    elements: list[str]
    params: dict[str, str]
