"""The test plugin's processors (imported when a stream needs one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

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
from flowc_testplugin.plugin import _journal

TONE_RATE = 24_000


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
