"""One Plivo audio stream, from the handshake to the last ``close()``.

A session owns one task group: one task per processor and the writer task that owns the
send side. The first stage's task reads the socket itself (:meth:`Session._next_frame`
parses Plivo's events into frames; no hand-over between a reader task and the stage), and
keeps reading until the socket closes (or ``stop`` arrives) even when sends fail or its
processor failed, so taps such as the recorder get every inbound frame. Malformed
messages are logged and dropped; the call goes on.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from starlette.websockets import WebSocket, WebSocketState

from flowc.model import CompiledFlow, StreamRoute
from flowc.runtime import codec, limits, protocol
from flowc.runtime.frames import AudioIn, Cleared, Dtmf, Frame, Played
from flowc.runtime.pipeline import Pipeline, StepPlan
from flowc.runtime.processor import StreamContext
from flowc.runtime.writer import Writer

if TYPE_CHECKING:
    from flowc.runtime.state import Runtime

log = logging.getLogger("flowc.session")

_MAX_LOGGED_MALFORMED = 5
MAX_SEQUENCE_JUMP = 10**6
"""A ``sequenceNumber`` further than this past the last one is malformed (dropped), not a gap:
one such message would otherwise inflate the gap count and blind gap detection for the rest
of the stream (10**6 messages is hours of audio)."""


class Session:
    """Serves one accepted WebSocket for ``route`` of ``flow``."""

    def __init__(self, runtime: Runtime, flow: CompiledFlow, route: StreamRoute,
                 websocket: WebSocket) -> None:
        self.runtime = runtime
        self.flow = flow
        self.route = route
        self.websocket = websocket
        self.scope = anyio.CancelScope()
        self.stream_id = ""
        self.reason = "socket closed"
        self.frames_in = 0
        self.malformed = 0
        self.sequence_gaps = 0
        self.out_of_order = 0
        self.chunk_gaps: dict[str, int] = {}
        self.last_chunk: dict[str, int] = {}
        self.last_timestamp_ms: dict[str, int] = {}
        self.dtmf_count = 0
        self.unknown_events = 0
        self._last_seq: int | None = None
        self._encoding = route.encoding
        self._rate = route.sample_rate
        self._context: StreamContext | None = None
        self._pipeline: Pipeline | None = None
        self._stages: TaskGroup | None = None
        self._reading = True
        self.started = time.monotonic()

    # --------------------------------------------------------------------------- run

    async def run(self) -> None:
        """Serve the stream until it ends; processors are closed however it ends."""
        runtime = self.runtime
        runtime.session_started(self)
        try:
            with self.scope:
                start = None
                # limits: a socket that never sends start is closed after start_timeout
                with anyio.move_on_after(runtime.settings.start_timeout or None) as waiting:
                    start = await self._await_start()
                if waiting.cancelled_caught:
                    self.reason = "no start event"
                    await self._close_socket(1000, self.reason)
                if start is not None:
                    await self._serve(start)
        finally:
            runtime.session_ended(self)

    async def _receive_text(self) -> str | None:
        """The next text message; ``None`` once the peer is gone. Binary is dropped.

        Reads the raw ASGI ``receive`` (Starlette's wrapper only checks states the session
        already guarantees), marking the socket disconnected as Starlette would."""
        receive = self.websocket._receive
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.websocket.client_state = WebSocketState.DISCONNECTED
                return None
            text = message.get("text")
            if text is not None:
                return str(text)
            self._malformed("binary frame")

    async def _await_start(self) -> protocol.Start | None:
        while True:
            text = await self._receive_text()
            if text is None:
                self.reason = "closed before start"
                return None
            try:
                event = protocol.parse(text)
            except protocol.ProtocolError as exc:
                self._malformed(str(exc))
                continue
            if not self._track_sequence(event.sequence):
                continue
            if isinstance(event, protocol.Start):
                return event
            if isinstance(event, protocol.Stop):
                self.reason = "stop before start"
                return None
            if isinstance(event, protocol.Unknown):
                self.unknown_events += 1
                continue
            self._malformed(f"{type(event).__name__.lower()} before start")

    def _context_for(self, start: protocol.Start) -> StreamContext:
        route = self.route
        encoding, rate = route.encoding, route.sample_rate
        if start.encoding in (codec.MULAW, codec.L16):
            encoding = start.encoding
        if start.sample_rate in (8000, 16000):
            rate = start.sample_rate
        if encoding == codec.MULAW:
            rate = 8000
        if (encoding, rate) != (route.encoding, route.sample_rate):
            log.warning("stream %s: mediaFormat %s/%s differs from the flow's contentType %s; "
                        "following the stream", start.stream_id, encoding, rate,
                        route.content_type)
        self._encoding, self._rate = encoding, rate
        runtime = self.runtime
        return StreamContext(
            flow=self.flow.name,
            flow_version=self.flow.version,
            stream_key=route.key,
            call_id=start.call_id,
            stream_id=start.stream_id,
            account_id=start.account_id,
            content_type=f"{encoding};rate={rate}",
            encoding=encoding,
            sample_rate=rate,
            tracks=start.tracks,
            bidirectional=route.bidirectional,
            extra_headers=start.extra_headers,
            params=runtime.call_params(start.call_id),
            run_sync=functools.partial(anyio.to_thread.run_sync, limiter=runtime.limiter),
            notify=runtime.observers.notify,
            metrics=runtime.metrics,
            engines=runtime.host.engines_of,
        )

    def _plans(self) -> list[StepPlan]:
        plans = []
        processors = self.runtime.host.processors
        for step in self.route.pipeline:
            spec = processors.get(step.processor)
            if spec is None:
                log.error("stream %s: processor %r is not installed; skipped",
                          self.stream_id, step.processor)
                self.runtime.metrics.plugin_error("?")
                continue
            settings = dict(step.settings)
            properties = spec.settings_schema.get("properties", {})
            if isinstance(properties, Mapping):
                for key, prop in properties.items():
                    if isinstance(prop, Mapping) and "default" in prop:
                        settings.setdefault(key, prop["default"])
            plans.append(StepPlan(spec, settings))
        return plans

    async def _serve(self, start: protocol.Start) -> None:
        runtime = self.runtime
        settings = runtime.settings
        self.stream_id = start.stream_id
        context = self._context = self._context_for(start)
        writer = Writer(
            self.websocket.send_text, self._close_socket,
            stream_id=start.stream_id, encoding=self._encoding, sample_rate=self._rate,
            lead_ms=settings.playback_lead_ms, metrics=runtime.metrics,
            bidirectional=self.route.bidirectional)
        pipeline = Pipeline(
            self._plans(), context, sink=writer.put_nowait, metrics=runtime.metrics,
            notify=runtime.observers.notify, failure_policy=settings.failure_policy,
            stage_buffer=settings.stage_buffer, tap_buffer=settings.tap_buffer)
        if pipeline.taps:
            writer.on_sent = pipeline.sent
        stream = context.describe()
        log.info("stream %s started: flow %s, stream %s, call %s, %s, tracks %s",
                 start.stream_id, self.flow.name, self.route.key, start.call_id,
                 context.content_type, ",".join(start.tracks))
        runtime.observers.notify("stream_started", {"stream": stream})
        self._pipeline = pipeline
        try:
            async with anyio.create_task_group() as outer:
                outer.start_soon(writer.run, name="writer")
                async with anyio.create_task_group() as stages:
                    self._stages = stages
                    # The first stage's task reads the socket (Pipeline.start): one task
                    # wake-up per message, not one for a reader and one for the stage.
                    pipeline.start(stages, self._next_frame)
                    # limits: the watchdog calls stop_reading on idle_timeout / streamTimeout
                    outer.start_soon(limits.watch, self, settings, name="watchdog")
                outer.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                if self.scope.cancel_called:
                    self.reason = "server draining"
                await pipeline.aclose(settings.close_timeout)
                if not writer.closed:
                    writer.closed = True
                    await self._close_socket(1001 if self.scope.cancel_called else 1000,
                                             self.reason)
                statistics = self.statistics(writer, pipeline)
                log.info("stream %s stopped (%s): %d frames in, %d playAudio out",
                         start.stream_id, self.reason, self.frames_in, writer.sent_audio)
                runtime.observers.notify("stream_stopped",
                                         {"stream": stream, "statistics": statistics})

    async def _close_socket(self, code: int, reason: str) -> None:
        try:
            await self.websocket.close(code, reason)
        except Exception as exc:  # already gone
            log.debug("stream %s: close: %s", self.stream_id, exc)

    # ------------------------------------------------------------------------ reader

    async def stop_reading(self, reason: str) -> None:
        """End the stream's input now (the watchdog's idle or stream timeout): the socket
        closes, end of stream flows down the pipeline, and stages still busy after
        ``close_timeout`` are cancelled."""
        if not self._reading:
            return
        self.reason = reason
        self._input_over()
        if self._pipeline is not None:
            await self._pipeline.end_input()
        await self._close_socket(1000, reason)  # a pull waiting on the socket wakes

    def _input_over(self) -> None:
        self._reading = False
        if self._stages is not None:
            self._stages.cancel_scope.deadline = (
                anyio.current_time() + self.runtime.settings.close_timeout)

    async def _next_frame(self) -> Frame:
        """The next inbound frame for the pipeline; raises :class:`anyio.EndOfStream` once
        the stream has ended (``self.reason`` says why). Runs in the first stage's task."""
        if not self._reading:
            raise anyio.EndOfStream
        receive = self.websocket._receive  # raw ASGI receive: see _receive_text
        while True:
            message = await receive()
            text = message.get("text")
            if text is None:
                if message["type"] == "websocket.disconnect":
                    self.websocket.client_state = WebSocketState.DISCONNECTED
                    return self._end("socket closed")
                self._malformed("binary frame")
                continue
            try:
                event = protocol.parse(text)
            except protocol.ProtocolError as exc:
                self._malformed(str(exc))
                continue
            if event.sequence is not None and not self._track_sequence(event.sequence):
                continue
            if type(event) is protocol.Media:
                try:
                    pcm = codec.decode(event.payload, self._encoding)
                except ValueError as exc:
                    self._malformed(str(exc))
                    continue
                track = event.track
                last = self.last_chunk.get(track)
                if last is not None and event.chunk > last + 1:
                    self.chunk_gaps[track] = self.chunk_gaps.get(track, 0) + event.chunk - last - 1
                self.last_chunk[track] = event.chunk
                self.last_timestamp_ms[track] = event.timestamp_ms
                self.frames_in += 1
                self.runtime.metrics.frames_in += 1
                return AudioIn(pcm, self._rate, track,  # type: ignore[arg-type]
                               event.timestamp_ms, event.chunk, event.sequence or 0)
            if isinstance(event, protocol.DtmfEvent):
                self.dtmf_count += 1
                assert self._context is not None
                self.runtime.observers.notify(
                    "dtmf", {"stream": self._context.describe(), "digit": event.digit,
                             "track": event.track, "timestamp_ms": event.timestamp_ms})
                return Dtmf(event.digit, event.track, event.timestamp_ms)  # type: ignore[arg-type]
            if isinstance(event, protocol.Played):
                return Played(event.name)
            if isinstance(event, protocol.Cleared):
                return Cleared()
            if isinstance(event, protocol.Stop):
                return self._end(f"stop: {event.reason}")
            if isinstance(event, protocol.Start):
                self._malformed("second start event")
                continue
            self.unknown_events += 1
            log.debug("stream %s: ignoring event %r", self.stream_id,
                      getattr(event, "event", "?"))

    def _end(self, reason: str) -> NoReturn:
        if self._reading:
            self.reason = reason
            self._input_over()
        raise anyio.EndOfStream

    def _track_sequence(self, sequence: int | None) -> bool:
        """Count gaps and reorderings; ``False`` (logged as malformed) for a wild jump."""
        if sequence is None:
            return True
        last = self._last_seq
        if last is not None:
            if sequence > last + 1:
                missing = sequence - last - 1
                if missing > MAX_SEQUENCE_JUMP:
                    self._malformed(f"sequenceNumber {sequence} jumps {missing} past {last}")
                    return False
                self.sequence_gaps += missing
                self.runtime.metrics.sequence_gaps += missing
            elif sequence <= last:
                self.out_of_order += 1
                return True
        self._last_seq = sequence
        return True

    def _malformed(self, why: str) -> None:
        self.malformed += 1
        self.runtime.metrics.malformed_messages += 1
        if self.malformed <= _MAX_LOGGED_MALFORMED:
            log.warning("stream %s (%s/%s): malformed message dropped: %s",
                        self.stream_id or "?", self.flow.name, self.route.key, why)

    def statistics(self, writer: Writer, pipeline: Pipeline) -> dict[str, Any]:
        """What ``stream_stopped`` receives."""
        stats: dict[str, Any] = {
            "reason": self.reason,
            "frames_in": self.frames_in,
            "frames_out": writer.sent_audio,
            "sequence_gaps": self.sequence_gaps,
            "out_of_order": self.out_of_order,
            "chunk_gaps": dict(self.chunk_gaps),
            "last_chunk": dict(self.last_chunk),
            "last_timestamp_ms": dict(self.last_timestamp_ms),
            "malformed": self.malformed,
            "dtmf": self.dtmf_count,
            "unknown_events": self.unknown_events,
            "duration_s": round(time.monotonic() - self.started, 3),
        }
        stats.update(writer.statistics())
        stats.update(pipeline.statistics())
        return stats
