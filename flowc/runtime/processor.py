"""The processor contract: what a plugin's factory returns for one stream.

A pipeline is the flow's ``pipeline:`` list in order. Each *stage* runs in its own
anyio task; stages are joined by bounded memory channels with anyio's object-stream
interface (:mod:`flowc.runtime.channel`), and every frame a stage does not consume
must be passed on with ``await emit(frame)``. The head of the pipeline receives what
Plivo sends (:class:`AudioIn`, :class:`Dtmf`, :class:`Played`, :class:`Cleared`); what
reaches the end goes to the writer (``AudioOut`` becomes ``playAudio``; ``Checkpoint``,
``ClearAudio``, ``SendDtmf``, ``EndStream`` become their Plivo messages; the rest is dropped).

A *tap* (``ProcessorSpec.kind == "tap"``) is not in the live path: frames are passed
on at once and copied to the tap through a bounded buffer; when the tap falls behind,
copies are dropped and counted, live audio never waits. Taps also receive
:class:`AudioSent` for every chunk the writer sends, so a recorder hears both sides.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from anyio.abc import ObjectReceiveStream

from flowc.runtime.frames import Frame

T = TypeVar("T")

Emit = Callable[[Frame], Awaitable[None]]


@dataclass
class StreamContext:
    """What a processor knows about its stream, and the services it may use."""

    flow: str
    flow_version: str
    stream_key: str
    call_id: str
    stream_id: str
    account_id: str
    content_type: str
    encoding: str
    sample_rate: int
    tracks: tuple[str, ...]
    bidirectional: bool
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    """Call parameters known from the answer request (``From``, ``To``...), if any."""
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("flowc.stream"))
    run_sync: Callable[..., Awaitable[Any]] | None = None
    """``await ctx.run_sync(fn, *args)`` runs CPU-heavy work off the event loop,
    bounded by the server's limiter."""
    notify: Callable[[str, Mapping[str, Any]], None] | None = None
    """``ctx.notify(hook_name, kwargs)`` calls an observer hook of every plugin."""
    metrics: Any = None
    """Server metrics registry (see ``flowc.runtime.metrics``), when serving."""
    engines: Callable[[str], Mapping[str, Any]] | None = None
    """``ctx.engines(kind)``: the engines plugins registered under ``kind`` (through
    ``register_engines``), by name, as :class:`flowc.plugins.EngineSpec` values; the
    server passes ``PluginHost.engines_of``. ``None`` outside a server."""

    def describe(self) -> dict[str, Any]:
        """The mapping handed to observer hooks as ``stream``."""
        return {
            "flow": self.flow,
            "flow_version": self.flow_version,
            "stream_key": self.stream_key,
            "call_id": self.call_id,
            "stream_id": self.stream_id,
            "account_id": self.account_id,
            "tracks": list(self.tracks),
            "content_type": self.content_type,
            "sample_rate": self.sample_rate,
            "extra_headers": dict(self.extra_headers),
            "params": dict(self.params),
        }


class Processor:
    """Base class for pipeline processors. Override :meth:`process` (simple stages)
    or :meth:`run` (stages with their own timing, such as an agent that speaks first).
    """

    def __init__(self, settings: Mapping[str, Any], context: StreamContext) -> None:
        self.settings = settings
        self.context = context

    async def start(self) -> None:
        """Called once before the first frame: load models, open files."""

    async def process(self, frame: Frame, emit: Emit) -> None:
        """Handle one frame. The default passes it on unchanged."""
        await emit(frame)

    async def run(self, inbox: ObjectReceiveStream[Frame], emit: Emit) -> None:
        """Consume frames until upstream ends. The default calls :meth:`process`."""
        async with inbox:
            async for frame in inbox:
                await self.process(frame, emit)

    async def close(self) -> None:
        """Called once when the stream ends, however it ends: flush and finalize.

        Must not raise for a stream that ended abruptly; keep it short (drain has a
        deadline)."""
