"""The caller's speech detector for one stream, from a per-process pool.

Loading a Silero model costs 0.1-0.2 s of CPU, so detectors are reused across streams
(reset between them) and a missing one is loaded in a worker thread while the greeting
plays; audio that arrives meanwhile is kept and detected once the model is ready. Event
times are milliseconds of this stream's inbound audio.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np

from flowc.runtime.codec import StreamResampler
from flowc.runtime.frames import PCM
from flowc.runtime.vad import SpeechDetector, VadEvent

_Key = tuple[int, float, float, float]
_POOL: dict[_Key, list[SpeechDetector]] = {}
_POOL_MAX = 64


class CallerSpeech:
    """Speech starts and ends of the caller (``vad`` settings: threshold, min_speech_ms,
    end_silence_ms)."""

    def __init__(self, vad: Mapping[str, Any]) -> None:
        self._vad = vad
        self._detector: SpeechDetector | None = None
        self._key: _Key | None = None
        self._origin = 0.0
        self._rate = 0
        self._resampler: StreamResampler | None = None
        self._backlog: list[PCM] = []
        self.loading = False

    def _key_for(self, rate: int) -> _Key:
        vad = self._vad
        return (rate, float(vad["threshold"]), float(vad["min_speech_ms"]),
                float(vad["end_silence_ms"]))

    def take(self, rate: int) -> bool:
        """Use a pooled detector for ``rate`` if there is one (True if ready)."""
        self._use_rate(rate)
        assert self._key is not None
        pooled = _POOL.get(self._key)
        if pooled:
            self._attach(pooled.pop())
            return True
        return False

    async def load(self, run_sync: Callable[..., Awaitable[Any]]) -> None:
        """Load a detector in a worker thread (after :meth:`take` found none)."""
        if self._detector is not None or self._key is None:
            return
        self.loading = True
        try:
            detector = await run_sync(self._new, self._key)
        finally:
            self.loading = False
        self._attach(detector)

    def feed(self, pcm: PCM, rate: int) -> list[VadEvent]:
        """Feed inbound audio; the speech starts and ends it completes."""
        if rate != self._rate:
            self.release()
            self._use_rate(rate)
            assert self._key is not None
            self._attach(self._new(self._key))  # an unexpected rate: load here, once
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        if self._detector is None:
            self._backlog.append(pcm)
            return []
        if self._backlog:
            pcm = np.concatenate([*self._backlog, pcm])
            self._backlog = []
        return [VadEvent(e.kind, e.at_ms - self._origin, e.decided_ms - self._origin)
                for e in self._detector.feed(pcm)]

    def release(self) -> None:
        """Give the detector back to the pool (reset)."""
        detector, self._detector = self._detector, None
        if detector is not None and self._key is not None:
            detector.reset()
            pool = _POOL.setdefault(self._key, [])
            if len(pool) < _POOL_MAX:
                pool.append(detector)

    def _use_rate(self, rate: int) -> None:
        self._rate = rate
        self._resampler = None if rate in (8000, 16000) else StreamResampler(rate, 16000)
        self._key = self._key_for(rate if rate in (8000, 16000) else 16000)

    def _attach(self, detector: SpeechDetector) -> None:
        self._detector = detector
        self._origin = detector.clock_ms

    @staticmethod
    def _new(key: _Key) -> SpeechDetector:
        rate, threshold, min_speech_ms, end_silence_ms = key
        return SpeechDetector(rate, threshold=threshold, min_speech_ms=min_speech_ms,
                              end_silence_ms=end_silence_ms)
