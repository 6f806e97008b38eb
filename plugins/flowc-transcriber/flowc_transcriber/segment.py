"""Cut a continuous track into utterances with Silero VAD, keeping a pre-roll.

The VAD decides that speech started about 100 ms after it did, so the segmenter keeps
recent audio and opens each utterance ``preroll_ms`` before the detected start: the
first phoneme is not lost. Audio inside an utterance is handed on as it arrives (so a
streaming decoder can produce partials); the utterance closes when the VAD has heard
``end_silence_ms`` of silence, or is split after ``max_utterance_ms`` of speech.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowc.runtime.frames import PCM
from flowc.runtime.vad import SpeechDetector


@dataclass(frozen=True, slots=True)
class UtteranceStart:
    """An utterance opens at ``at_ms`` (pre-roll included)."""

    at_ms: int


@dataclass(frozen=True, slots=True)
class UtteranceAudio:
    """Audio that belongs to the open utterance, in order, without gaps."""

    pcm: PCM


@dataclass(frozen=True, slots=True)
class UtteranceEnd:
    """The open utterance closes; its speech ended at ``at_ms``.

    ``forced`` is true when it was split for length or cut by the end of the track.
    """

    at_ms: int
    forced: bool = False


SegmentEvent = UtteranceStart | UtteranceAudio | UtteranceEnd


class UtteranceSegmenter:
    """Turns PCM16 chunks (8 or 16 kHz) into utterance start / audio / end events."""

    def __init__(
        self,
        rate: int,
        *,
        threshold: float = 0.5,
        end_silence_ms: float = 500,
        preroll_ms: float = 300,
        tail_ms: float = 150,
        max_utterance_ms: float = 20000,
    ) -> None:
        self.rate = rate
        self._detector = SpeechDetector(rate, threshold=threshold, end_silence_ms=end_silence_ms)
        self._preroll = self._samples(preroll_ms)
        self._tail = self._samples(tail_ms)
        self._max = self._samples(max_utterance_ms)
        self._keep = self._preroll + self._samples(1000)
        self._buf = np.zeros(0, np.int16)
        self._buf_start = 0
        self._fed = 0
        self._cursor = 0
        self._utt_start = 0
        self._last_end = 0
        self.in_utterance = False

    def _samples(self, ms: float) -> int:
        return round(ms * self.rate / 1000.0)

    def _ms(self, samples: int) -> int:
        return round(samples * 1000.0 / self.rate)

    def _audio(self, until: int) -> list[SegmentEvent]:
        if until <= self._cursor:
            return []
        pcm = self._buf[self._cursor - self._buf_start : until - self._buf_start]
        self._cursor = until
        return [UtteranceAudio(pcm.copy())]

    def _open(self, at: int) -> list[SegmentEvent]:
        self.in_utterance = True
        self._utt_start = self._cursor = at
        return [UtteranceStart(self._ms(at))]

    def _close(self, until: int, speech_end: int, *, forced: bool) -> list[SegmentEvent]:
        """Close the utterance with its audio up to ``until``, speech up to ``speech_end``."""
        events = self._audio(until)
        self.in_utterance = False
        self._last_end = self._cursor
        return [*events, UtteranceEnd(self._ms(speech_end), forced=forced)]

    def feed(self, pcm: PCM) -> list[SegmentEvent]:
        """Feed a chunk; return the events it completes, in order."""
        self._buf = np.concatenate([self._buf, pcm.astype(np.int16, copy=False)])
        self._fed += len(pcm)
        events: list[SegmentEvent] = []
        for vad in self._detector.feed(pcm):
            position = self._samples(vad.at_ms)
            if vad.kind == "start" and not self.in_utterance:
                start = max(position - self._preroll, self._last_end, self._buf_start)
                events += self._open(start)
            elif vad.kind == "end" and self.in_utterance:
                # The utterance's audio runs to where the VAD decided (trailing silence
                # included), a point that does not depend on how the input was chunked.
                decided = min(self._samples(vad.decided_ms), self._fed)
                speech_end = min(position + self._tail, decided)
                events += self._close(max(decided, self._cursor), speech_end, forced=False)
        while self.in_utterance and self._fed - self._utt_start >= self._max:
            split = self._utt_start + self._max
            events += self._close(max(split, self._cursor), split, forced=True)
            events += self._open(self._cursor)
        if self.in_utterance:
            events += self._audio(self._fed)
        self._trim()
        return events

    def finish(self) -> list[SegmentEvent]:
        """End of the track: close an open utterance."""
        if not self.in_utterance:
            return []
        return self._close(self._fed, self._fed, forced=True)

    def _trim(self) -> None:
        keep_from = self._cursor if self.in_utterance else self._fed - self._keep
        drop = keep_from - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop

    @property
    def clock_ms(self) -> int:
        """Milliseconds of audio fed so far."""
        return self._ms(self._fed)
