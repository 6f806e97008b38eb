"""Processors and observer hooks that make the server's behaviour visible to tests.

``echo`` (stage): plays inbound caller audio straight back, and obeys keys the caller
presses: 1 checkpoint, 2 clearAudio, 3 sendDTMF "12#", 4 end the stream, 5 a transcript,
6 a tone of ``tone_ms`` at 24 kHz (the writer resamples it), 0 raise. ``counter`` (tap)
counts the frames it sees by type; ``passthrough`` (stage) passes every frame on. Echo and
counter append JSON lines to ``journal`` when set; the hooks append to :data:`EVENTS` and
to ``$FLOWC_TESTPLUGIN_JOURNAL`` when set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

import flowc
from flowc.plugins import ProcessorSpec
from flowc.runtime.frames import (
    AudioIn,
    AudioOut,
    AudioSent,
    Checkpoint,
    ClearAudio,
    Cleared,
    Dtmf,
    EndStream,
    Frame,
    Played,
    SendDtmf,
    Transcript,
)
from flowc.runtime.processor import Emit, Processor, StreamContext

EVENTS: list[tuple[str, dict[str, Any]]] = []
"""Every observer hook call in this process: (hook name, arguments)."""

TONE_RATE = 24_000


def _journal(path: str | None, record: Mapping[str, Any]) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")


class Echo(Processor):
    """Echo the caller; keys drive the outbound control messages (see module doc)."""

    def __init__(self, settings: Mapping[str, Any], context: StreamContext) -> None:
        super().__init__(settings, context)
        self.journal = settings.get("journal")
        self.checkpoints = 0

    def _log(self, event: str, **data: Any) -> None:
        _journal(self.journal, {"event": event, "processor": "echo",
                                "stream_id": self.context.stream_id, **data})

    async def start(self) -> None:
        self._log("start", content_type=self.context.content_type,
                  extra_headers=dict(self.context.extra_headers),
                  params=dict(self.context.params))

    async def process(self, frame: Frame, emit: Emit) -> None:
        if isinstance(frame, AudioIn) and frame.track == "inbound":
            await emit(AudioOut(frame.pcm, frame.rate))
        elif isinstance(frame, Dtmf):
            await self._key(frame.digit, emit)
        elif isinstance(frame, Played):
            self._log("played", name=frame.name)
        elif isinstance(frame, Cleared):
            self._log("cleared")
        await emit(frame)

    async def _key(self, digit: str, emit: Emit) -> None:
        self._log("dtmf", digit=digit)
        if digit == "1":
            self.checkpoints += 1
            await emit(Checkpoint(f"cp-{self.checkpoints}"))
        elif digit == "2":
            await emit(ClearAudio())
        elif digit == "3":
            await emit(SendDtmf("12#"))
        elif digit == "4":
            await emit(EndStream("caller pressed 4"))
        elif digit == "5":
            await emit(Transcript("five", True, "inbound", 0, 20, "testplugin"))
        elif digit == "6":
            ms = int(self.settings.get("tone_ms", 1000))
            t = np.arange(TONE_RATE * ms // 1000) / TONE_RATE
            tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
            for start in range(0, len(tone), TONE_RATE // 100):  # 10 ms pieces
                await emit(AudioOut(tone[start:start + TONE_RATE // 100], TONE_RATE))
        elif digit == "0":
            raise RuntimeError("echo told to fail")

    async def close(self) -> None:
        self._log("close")


class Counter(Processor):
    """A tap: counts frames by type (AudioSent included)."""

    def __init__(self, settings: Mapping[str, Any], context: StreamContext) -> None:
        super().__init__(settings, context)
        self.counts: dict[str, int] = {}
        self.sent_samples = 0

    async def process(self, frame: Frame, emit: Emit) -> None:
        name = type(frame).__name__
        self.counts[name] = self.counts.get(name, 0) + 1
        if isinstance(frame, AudioSent):
            self.sent_samples += len(frame.pcm)

    async def close(self) -> None:
        _journal(self.settings.get("journal"), {
            "event": "close", "processor": "counter", "stream_id": self.context.stream_id,
            "counts": self.counts, "sent_samples": self.sent_samples})


_SCHEMA = {
    "type": "object",
    "properties": {"journal": {"type": "string"}, "tone_ms": {"type": "integer", "default": 1000}},
    "additionalProperties": False,
}


@flowc.hookimpl
def register_processors(register: Callable[[ProcessorSpec], None]) -> None:
    register(ProcessorSpec(name="echo", factory=Echo, settings_schema=_SCHEMA,
                           description="Echo the caller; keys drive control messages.",
                           plays_audio=True))
    register(ProcessorSpec(name="counter", factory=Counter, settings_schema=_SCHEMA,
                           description="Count frames by type.", kind="tap"))
    register(ProcessorSpec(name="passthrough", factory=Processor,
                           description="Pass every frame on unchanged (benchmarks)."))


def _record(hook: str, **data: Any) -> None:
    EVENTS.append((hook, data))
    _journal(os.environ.get("FLOWC_TESTPLUGIN_JOURNAL"), {"event": f"hook:{hook}", **data})


@flowc.hookimpl
def stream_started(stream: Mapping[str, Any]) -> None:
    _record("stream_started", stream=dict(stream))


@flowc.hookimpl
def stream_stopped(stream: Mapping[str, Any], statistics: Mapping[str, Any]) -> None:
    _record("stream_stopped", stream=dict(stream), statistics=dict(statistics))


@flowc.hookimpl
def dtmf(stream: Mapping[str, Any], digit: str, track: str, timestamp_ms: int) -> None:
    _record("dtmf", stream_id=stream["stream_id"], digit=digit, track=track,
            timestamp_ms=timestamp_ms)


@flowc.hookimpl
def transcript(stream: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    _record("transcript", stream_id=stream["stream_id"], result=dict(result))


@flowc.hookimpl
def stream_status(flow: str, params: Mapping[str, str]) -> None:
    _record("stream_status", flow=flow, params=dict(params))
