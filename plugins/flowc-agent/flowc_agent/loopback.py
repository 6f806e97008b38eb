"""An in-process Plivo side for driving a processor without a server (tests, bench).

It feeds the processor's inbox like flowc's reader does: caller audio as 20 ms
``AudioIn`` frames (silence when the caller is quiet), ``Dtmf`` and, standing in for a
transcriber, ``Transcript`` results. What the processor emits is played out like Plivo
does: ``AudioOut`` is queued behind audio still playing and consumed in real time,
``Checkpoint`` is answered with ``Played`` once the audio before it has played,
``ClearAudio`` drops the queue and is answered with ``Cleared``; ``EndStream`` closes the
stream. ``speed`` > 1 runs both clocks faster than real time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
import numpy as np
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream

from flowc.runtime.codec import resample
from flowc.runtime.frames import (
    PCM,
    AudioIn,
    AudioOut,
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
from flowc.runtime.processor import Processor, StreamContext

FRAME_S = 0.02


def stream_context(rate: int = 8000, **overrides: Any) -> StreamContext:
    """A StreamContext for a bidirectional inbound stream at ``rate`` (μ-law at 8 kHz)."""
    content_type = "audio/x-mulaw;rate=8000" if rate == 8000 else f"audio/x-l16;rate={rate}"
    fields: dict[str, Any] = {
        "flow": "loopback", "flow_version": "1", "stream_key": "agent",
        "call_id": "c0ffee00-0000-4000-8000-000000000001",
        "stream_id": "5eed0000-0000-4000-8000-000000000002", "account_id": "MALOOPBACK",
        "content_type": content_type, "encoding": content_type.split(";")[0],
        "sample_rate": rate, "tracks": ("inbound",), "bidirectional": True,
    }
    fields.update(overrides)
    return StreamContext(**fields)


@dataclass
class Event:
    """One thing that happened on the Plivo side, at ``t`` seconds (monotonic)."""

    t: float
    kind: str
    """``audio_out`` (emitted), ``checkpoint``, ``played``, ``clear``, ``end``, ``dtmf``,
    ``playing`` (first sample of an AudioOut started playing)."""
    detail: Any = None


@dataclass
class _Queued:
    pcm: PCM | None = None
    checkpoint: str | None = None
    started: bool = False


@dataclass
class Loopback:
    """Plivo's side of one stream for ``processor`` (an async context manager)."""

    processor: Processor
    rate: int = 8000
    speed: float = 1.0
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._mic: deque[PCM] = deque()
        self._queue: deque[_Queued] = deque()
        self._send: MemoryObjectSendStream[Frame] | None = None
        self._tg: TaskGroup | None = None
        self._chunk = 0
        self._ended = anyio.Event()
        self._changed = anyio.Event()
        self.heard: list[PCM] = []
        self.ended_reason: str | None = None

    async def __aenter__(self) -> Loopback:
        send, receive = anyio.create_memory_object_stream[Frame](64)
        self._send = send
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        await self.processor.start()
        self._tg.start_soon(self._run_processor, receive)
        self._tg.start_soon(self._clock)
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._tg is not None and self._send is not None
        await self._send.aclose()
        with anyio.fail_after(10):
            await self._ended.wait()
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(et, e, tb)
        await self.processor.close()

    # -- the caller's side -------------------------------------------------------------

    async def say(self, pcm: PCM, rate: int, *, text: str | None = None,
                  transcript_delay: float = 0.6, partial: str | None = None) -> float:
        """Speak ``pcm`` (returns when it has been sent; the time its last sample went).

        With ``text``, a final ``Transcript`` follows ``transcript_delay`` seconds (audio
        time) after the speech, as a transcriber would send it; with ``partial``, a partial
        result covering the whole speech is sent as soon as the speech has been sent.
        """
        if rate != self.rate:
            pcm = resample(pcm, rate, self.rate)
        step = int(self.rate * FRAME_S)
        for i in range(0, len(pcm), step):
            self._mic.append(pcm[i : i + step])
        while self._mic:
            await self._wait_change()
        spoken = time.monotonic()
        if partial is not None:
            end_ms = int(1000 * self._chunk * FRAME_S)
            await self.send(Transcript(partial, False, "inbound", 0, end_ms, "loopback"))
        if text is not None:
            assert self._tg is not None
            self._tg.start_soon(self._transcribe, text, transcript_delay)
        return spoken

    async def _transcribe(self, text: str, delay: float) -> None:
        await anyio.sleep(delay / self.speed)
        end_ms = int(1000 * self._chunk * FRAME_S)
        await self.send(Transcript(text, True, "inbound", 0, end_ms, "loopback"))
        self._log("final", text)

    async def press(self, digit: str) -> None:
        await self.send(Dtmf(digit, "inbound", int(1000 * time.monotonic())))

    async def send(self, frame: Frame) -> None:
        if self._send is not None and not self._ended.is_set():
            try:
                await self._send.send(frame)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass

    # -- waiting -----------------------------------------------------------------------

    async def _wait_change(self) -> None:
        await self._changed.wait()

    async def wait_for(self, kind: str, count: int = 1, within: float = 20.0) -> Event:
        """Until ``count`` events of ``kind`` have happened; the last one."""
        with anyio.fail_after(within):
            while True:
                found = [e for e in self.events if e.kind == kind]
                if len(found) >= count:
                    return found[count - 1]
                await self._wait_change()

    async def until(self, predicate: Callable[[], bool], within: float = 20.0) -> None:
        """Until ``predicate()`` holds (checked every 20 ms tick and on every event)."""
        with anyio.fail_after(within):
            while not predicate():
                await self._wait_change()

    async def wait_quiet(self, quiet: float = 0.3, within: float = 30.0) -> None:
        """Until nothing is queued or playing and nothing arrived for ``quiet`` seconds."""
        with anyio.fail_after(within):
            while True:
                before = len(self.events)
                await anyio.sleep(quiet / self.speed)
                if not self._queue and len(self.events) == before:
                    return

    async def wait_ended(self, within: float = 30.0) -> None:
        with anyio.fail_after(within):
            await self._ended.wait()

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    # -- the processor and the clock -----------------------------------------------------

    async def _run_processor(self, receive: Any) -> None:
        try:
            await self.processor.run(receive, self._on_emit)
        finally:
            self._ended.set()
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def _log(self, kind: str, detail: Any = None) -> None:
        self.events.append(Event(time.monotonic(), kind, detail))
        self._notify()

    async def _on_emit(self, frame: Frame) -> None:
        if isinstance(frame, AudioOut):
            pcm = resample(frame.pcm, frame.rate, self.rate)
            self._queue.append(_Queued(pcm=pcm))
            self._log("audio_out", len(pcm) / self.rate)
        elif isinstance(frame, Checkpoint):
            self._queue.append(_Queued(checkpoint=frame.name))
            self._log("checkpoint", frame.name)
        elif isinstance(frame, ClearAudio):
            self._queue.clear()
            self._log("clear")
            assert self._tg is not None  # answered from another task: the inbox may be full
            self._tg.start_soon(self.send, Cleared())
        elif isinstance(frame, SendDtmf):
            self._log("dtmf", frame.digits)
        elif isinstance(frame, Transcript) and frame.engine == "agent":
            self._log("said", frame.text)
        elif isinstance(frame, EndStream):
            self.ended_reason = frame.reason
            self._log("end", frame.reason)
            if self._send is not None:
                await self._send.aclose()

    async def _clock(self) -> None:
        step = int(self.rate * FRAME_S)
        next_tick = time.monotonic()
        while not self._ended.is_set():
            next_tick += FRAME_S / self.speed
            await anyio.sleep(max(0.0, next_tick - time.monotonic()))
            mic = self._mic.popleft() if self._mic else np.zeros(step, np.int16)
            self._chunk += 1
            await self.send(AudioIn(mic, self.rate, "inbound", int(1000 * self._chunk * FRAME_S),
                                    self._chunk, self._chunk))
            await self._play(step)
            self._notify()

    async def _play(self, samples: int) -> None:
        while self._queue:
            head = self._queue[0]
            if head.checkpoint is not None:
                self._queue.popleft()
                await self.send(Played(head.checkpoint))
                self._log("played", head.checkpoint)
                continue
            assert head.pcm is not None
            if samples <= 0:
                return
            if not head.started:
                head.started = True
                self._log("playing")
            take = head.pcm[:samples]
            self.heard.append(take)
            head.pcm = head.pcm[samples:]
            samples -= len(take)
            if len(head.pcm) == 0:
                self._queue.popleft()
