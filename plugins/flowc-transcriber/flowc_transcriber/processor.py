"""The ``transcriber`` pipeline stage.

Every frame is passed on at once (the live path never waits for recognition); a copy of
each :class:`AudioIn` on a transcribed track goes to that track's *lane*, a task that owns
one engine. A lane creates its engine on the track's first audio, feeds it whatever audio
has queued up meanwhile (so a slow decode catches up in larger batches) and emits each
result as a :class:`Transcript` downstream, where an agent stage can act on it and the
runtime hands it to ``transcript`` observer hooks; results also go to the call's JSONL
file. Engine calls run through ``ctx.run_sync``: never on the event loop.

Times in transcripts (``start_ms``, ``end_ms``) are milliseconds since the stream's first
media frame: the track's first Plivo timestamp relative to it, plus the audio fed since
(resampling shifts them by up to ~30 ms). That holds whether Plivo's timestamps count
from the epoch or from the stream's start.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import numpy as np
from anyio.abc import ObjectReceiveStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from flowc.runtime.frames import AudioIn, Frame, Track, Transcript
from flowc.runtime.processor import Emit, Processor, StreamContext
from flowc_transcriber.engine import KIND, EngineError, EngineFactory, TranscriberEngine
from flowc_transcriber.jsonl import TranscriptLog
from flowc_transcriber.settings import with_defaults

LANE_BUFFER = 3000
"""Frames a lane may queue (60 s of 20 ms audio) before copies are dropped and counted:
a transcript that comes late beats a hole in it."""
MAX_BATCH = 50
"""Most frames fed to an engine in one call (1 s), so results keep flowing."""


@functools.cache
def _installed_engines() -> Mapping[str, Any]:
    from flowc.plugins import load_plugins

    return load_plugins().engines_of(KIND)


def find_engine(name: str, context: StreamContext) -> EngineFactory:
    """The factory of transcriber engine ``name``, from the runtime's plugin host
    (``ctx.engines``) or, outside a server, from the installed plugins."""
    engines = context.engines(KIND) if context.engines is not None else _installed_engines()
    spec = engines.get(name)
    if spec is None:
        known = ", ".join(sorted(engines)) or "none"
        raise EngineError(f"unknown transcriber engine {name!r} (installed: {known})")
    factory: EngineFactory = spec.factory
    return factory


class TranscriberProcessor(Processor):
    """Streaming speech-to-text for the stream's tracks (see the module docstring)."""

    def __init__(self, settings: Mapping[str, Any], context: StreamContext) -> None:
        super().__init__(with_defaults(settings), context)
        self.engine_name = str(self.settings["engine"])
        self._factory = find_engine(self.engine_name, context)
        self.tracks: tuple[Track, ...] = tuple(
            t for t in ("inbound", "outbound")
            if t in self.settings["tracks"] and t in context.tracks)
        directory = self.settings["transcript_dir"]
        self._log = TranscriptLog(directory, context) if directory else None
        self._jsonl_partials = bool(self.settings["jsonl_partials"])
        self.lane_buffer = LANE_BUFFER
        self.finals = 0
        self.partials = 0
        self.dropped = 0
        self.errors = 0
        self._t0: int | None = None

    def statistics(self) -> dict[str, int]:
        """Results emitted, audio copies dropped and engine errors so far."""
        return {"finals": self.finals, "partials": self.partials,
                "dropped_frames": self.dropped, "errors": self.errors}

    async def _run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        run = self.context.run_sync
        if run is not None:
            return await run(fn, *args)
        return await anyio.to_thread.run_sync(fn, *args)

    async def run(self, inbox: ObjectReceiveStream[Frame], emit: Emit) -> None:
        lanes: dict[str, MemoryObjectSendStream[AudioIn]] = {}
        receivers: list[MemoryObjectReceiveStream[AudioIn]] = []
        try:
            async with anyio.create_task_group() as tg, inbox:
                for track in self.tracks:
                    send, recv = anyio.create_memory_object_stream[AudioIn](self.lane_buffer)
                    lanes[track] = send
                    receivers.append(recv)
                    tg.start_soon(self._lane, track, recv, emit)
                try:
                    async for frame in inbox:
                        await emit(frame)
                        if type(frame) is not AudioIn:
                            continue
                        if self._t0 is None:
                            self._t0 = frame.timestamp_ms
                        if frame.track in lanes:
                            self._queue(lanes[frame.track], frame)
                finally:
                    for send in lanes.values():
                        send.close()
        finally:
            for recv in receivers:  # a lane cancelled before it started
                recv.close()

    def _queue(self, lane: MemoryObjectSendStream[AudioIn], frame: AudioIn) -> None:
        try:
            lane.send_nowait(frame)
        except anyio.WouldBlock:
            if self.dropped == 0:
                self.context.logger.warning(
                    "transcriber (%s) falls behind; dropping audio copies", self.engine_name)
            self.dropped += 1
            if self.context.metrics is not None:  # /metrics: flowc_stage_drops_total
                self.context.metrics.stage("transcriber").drops += 1
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # the lane stopped after an engine error (logged there)

    async def _lane(self, track: Track, recv: MemoryObjectReceiveStream[AudioIn],
                    emit: Emit) -> None:
        engine: TranscriberEngine | None = None
        origin = 0
        async with recv:
            try:
                async for frame in recv:
                    batch = _drain(frame, recv)
                    if engine is None:
                        origin = frame.timestamp_ms - (self._t0 or 0)
                        engine = await self._run_sync(
                            self._factory, self.settings, frame.rate)
                    pcm = np.concatenate([f.pcm for f in batch])
                    await self._publish(track, origin, await self._run_sync(engine.feed, pcm),
                                        emit)
                if engine is not None:
                    await self._publish(track, origin, await self._run_sync(engine.finish),
                                        emit)
            except Exception:
                self.errors += 1
                if self.context.metrics is not None:
                    self.context.metrics.plugin_error("transcriber")
                self.context.logger.exception(
                    "transcriber engine %r failed on the %s track; transcription of that "
                    "track stops, audio keeps flowing", self.engine_name, track)
            finally:
                if engine is not None:
                    with anyio.CancelScope(shield=True):
                        await self._run_sync(_close_quietly, engine, self.context)

    async def _publish(self, track: Track, origin: int, results: list[Any],
                       emit: Callable[[Frame], Awaitable[None]]) -> None:
        for result in results:
            transcript = Transcript(
                text=result.text, final=result.final, track=track,
                start_ms=origin + result.start_ms, end_ms=origin + result.end_ms,
                engine=self.engine_name)
            if transcript.final:
                self.finals += 1
            else:
                self.partials += 1
            if self._log is not None and (transcript.final or self._jsonl_partials):
                self._log.write(transcript)
            await emit(transcript)

    async def close(self) -> None:
        if self._log is not None:
            self._log.close()


def _drain(first: AudioIn, recv: MemoryObjectReceiveStream[AudioIn]) -> list[AudioIn]:
    """``first`` and whatever else is queued, up to :data:`MAX_BATCH` frames."""
    batch = [first]
    while len(batch) < MAX_BATCH:
        try:
            batch.append(recv.receive_nowait())
        except (anyio.WouldBlock, anyio.EndOfStream):
            break
    return batch


def _close_quietly(engine: TranscriberEngine, context: StreamContext) -> None:
    try:
        engine.close()
    except Exception:
        context.logger.exception("transcriber engine close() failed")
