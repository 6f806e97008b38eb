"""The send side of one stream: outbound frames → paced Plivo messages.

The last stage of the pipeline hands its frames to :meth:`Writer.put_nowait`; one writer
task owns the socket's send side, so messages never interleave. Order and timing:

* ``AudioOut`` is resampled to the stream's rate, cut into 20 ms chunks, encoded in the
  stream's own ``contentType`` and sent as ``playAudio`` no faster than real time plus
  ``lead_ms`` (Plivo's playback buffer stays short, so a barge-in clears little).
* ``Checkpoint``, ``SendDtmf`` and ``EndStream`` keep their place after the audio queued
  before them (each first flushes the resampler and any partial chunk). ``EndStream``
  waits until that audio has had time to play, then closes the socket.
* ``ClearAudio`` acts at once: queued audio and the checkpoints among it are dropped (that
  audio will never play), then ``clearAudio`` is sent ahead of anything else.
* A partial chunk left at the end of a burst is sent when playback would otherwise run dry.

On a stream without ``bidirectional`` (Plivo ignores outbound messages there) outbound frames
are dropped with one warning; ``EndStream`` still closes the socket.

Every chunk sent is reported through ``on_sent`` as :class:`AudioSent` (taps record it).
A failed send marks the socket closed; later messages are dropped and counted, and the
caller keeps receiving, so no inbound frame is lost at hang-up.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import numpy as np

from flowc.runtime import codec, protocol
from flowc.runtime.frames import (
    PCM,
    AudioIn,
    AudioOut,
    AudioSent,
    Checkpoint,
    ClearAudio,
    EndStream,
    Frame,
    SendDtmf,
)

log = logging.getLogger("flowc.writer")

CHUNK_MS = 20

_AUDIO, _CHECKPOINT, _DTMF, _END = range(4)


class Writer:
    """Paces and sends one stream's outbound messages (see the module docstring)."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        *,
        stream_id: str,
        encoding: str,
        sample_rate: int,
        lead_ms: float = 120.0,
        on_sent: Callable[[AudioSent], None] | None = None,
        metrics: Any = None,
        bidirectional: bool = True,
    ) -> None:
        self._send = send
        self._close = close
        self.stream_id = stream_id
        self.encoding = encoding
        self.rate = sample_rate
        self._chunk_samples = sample_rate * CHUNK_MS // 1000
        self._chunk_s = CHUNK_MS / 1000
        self._lead_s = lead_ms / 1000
        self.on_sent = on_sent
        self._metrics = metrics
        self._queue: deque[tuple[int, Any]] = deque()
        self._control: deque[str] = deque()
        self._pending: PCM = np.zeros(0, np.int16)
        self._resamplers: dict[int, codec.StreamResampler] = {}
        self._wake = anyio.Event()
        self._play_end = 0.0
        self._t0 = time.monotonic()
        self.closed = False
        self.ended = False
        self.sent_audio = 0
        self.sent_messages = 0
        self.dropped_messages = 0
        self.cleared_chunks = 0
        self.bidirectional = bidirectional
        self.ignored_frames = 0

    # ------------------------------------------------------------------ producer side

    def put_nowait(self, frame: Frame) -> None:
        """Accept one frame from the end of the pipeline; frames not outbound are ignored."""
        if type(frame) is AudioIn:  # the common case: inbound audio that reached the end
            return
        if not self.bidirectional and not isinstance(frame, EndStream):
            self._ignore(frame)
            return
        if isinstance(frame, AudioOut):
            self._add_audio(frame)
        elif isinstance(frame, Checkpoint):
            self._flush_audio()
            self._queue.append((_CHECKPOINT, frame.name))
        elif isinstance(frame, ClearAudio):
            self._clear()
        elif isinstance(frame, SendDtmf):
            self._flush_audio()
            self._queue.append((_DTMF, frame.digits))
        elif isinstance(frame, EndStream):
            self._flush_audio()
            self._queue.append((_END, frame.reason))
        else:
            return
        self._wake.set()

    def _ignore(self, frame: Frame) -> None:
        """Plivo ignores outbound messages on a one-way stream: drop them here (and do not
        tell taps that audio was heard)."""
        if not isinstance(frame, (AudioOut, Checkpoint, ClearAudio, SendDtmf)):
            return
        self.ignored_frames += 1
        if self.ignored_frames == 1:
            log.warning("stream %s is not bidirectional: dropping %s and any later outbound "
                        "frames (set bidirectional: true on the Stream)", self.stream_id,
                        type(frame).__name__)

    def _add_audio(self, frame: AudioOut) -> None:
        pcm = frame.pcm
        if frame.rate != self.rate:
            resampler = self._resamplers.get(frame.rate)
            if resampler is None:
                resampler = self._resamplers[frame.rate] = codec.StreamResampler(
                    frame.rate, self.rate)
            pcm = resampler.process(pcm)
        if not len(pcm):
            return
        buffer = np.concatenate((self._pending, pcm)) if len(self._pending) else pcm
        n = self._chunk_samples
        full = len(buffer) - len(buffer) % n
        for start in range(0, full, n):
            self._queue.append((_AUDIO, buffer[start:start + n]))
        self._pending = buffer[full:]

    def _flush_audio(self) -> None:
        """Push what the resamplers hold and the partial chunk, ahead of a marker."""
        for resampler in self._resamplers.values():
            tail = resampler.flush()
            if len(tail):
                self._add_audio(AudioOut(tail, self.rate))
        self._resamplers.clear()
        if len(self._pending):
            self._queue.append((_AUDIO, self._pending))
            self._pending = np.zeros(0, np.int16)

    def _clear(self) -> None:
        kept: deque[tuple[int, Any]] = deque()
        for item in self._queue:
            if item[0] in (_AUDIO, _CHECKPOINT):
                self.cleared_chunks += item[0] == _AUDIO
            else:
                kept.append(item)
        self._queue = kept
        self._pending = np.zeros(0, np.int16)
        for resampler in self._resamplers.values():
            resampler.clear()
        self._play_end = time.monotonic()
        self._control.append(protocol.clear_audio_message(self.stream_id))

    # ------------------------------------------------------------------- sender side

    async def _wait(self, delay: float | None) -> None:
        if not self._wake.is_set():
            with anyio.move_on_after(delay if delay is not None else float("inf")):
                await self._wake.wait()
        self._wake = anyio.Event()

    async def _emit(self, message: str) -> bool:
        if self.closed:
            self.dropped_messages += 1
            return False
        try:
            await self._send(message)
        except Exception as exc:  # socket gone: keep the reader receiving
            self.closed = True
            self.dropped_messages += 1
            log.debug("stream %s: send failed (%s); dropping outbound messages",
                      self.stream_id, exc)
            return False
        self.sent_messages += 1
        return True

    async def run(self) -> None:
        """Send until an ``EndStream`` closes the socket (or the task is cancelled)."""
        while True:
            if self._control:
                await self._emit(self._control.popleft())
                continue
            now = time.monotonic()
            if self._queue:
                kind, value = self._queue[0]
                if kind == _AUDIO:
                    ahead = self._play_end - now
                    if ahead > self._lead_s:
                        await self._wait(ahead - self._lead_s)
                        continue
                    self._queue.popleft()
                    await self._send_chunk(value, now)
                elif kind == _CHECKPOINT:
                    self._queue.popleft()
                    await self._emit(protocol.checkpoint_message(self.stream_id, value))
                elif kind == _DTMF:
                    self._queue.popleft()
                    await self._emit(protocol.send_dtmf_message(value))
                else:
                    if self._play_end > now:
                        await self._wait(self._play_end - now)
                        continue
                    self._queue.popleft()
                    await self._end(value)
                    return
                continue
            if len(self._pending):
                starve_in = self._play_end - now - self._chunk_s
                if starve_in <= 0:
                    chunk, self._pending = self._pending, np.zeros(0, np.int16)
                    await self._send_chunk(chunk, now)
                    continue
                await self._wait(starve_in)
                continue
            await self._wait(None)

    async def _send_chunk(self, pcm: PCM, now: float) -> None:
        message = protocol.play_audio_message(
            self.encoding, self.rate, codec.encode(pcm, self.encoding))
        if not await self._emit(message):
            return
        self.sent_audio += 1
        if self._metrics is not None:
            self._metrics.frames_out += 1
        self._play_end = max(self._play_end, now) + len(pcm) / self.rate
        if self.on_sent is not None:
            self.on_sent(AudioSent(pcm, self.rate, (now - self._t0) * 1000.0))

    async def _end(self, reason: str) -> None:
        self.ended = True
        log.info("stream %s: ending (%s)", self.stream_id, reason)
        if self.closed:
            return
        self.closed = True
        try:
            await self._close(1000, reason[:120])
        except Exception as exc:
            log.debug("stream %s: close failed: %s", self.stream_id, exc)

    def statistics(self) -> dict[str, int]:
        """Counters for ``stream_stopped``."""
        return {
            "audio_sent": self.sent_audio,
            "messages_sent": self.sent_messages,
            "messages_dropped": self.dropped_messages,
            "chunks_cleared": self.cleared_chunks,
            "outbound_ignored": self.ignored_frames,
            "queued": len(self._queue),
        }
