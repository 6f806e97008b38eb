"""Chunk-in, chunk-out noise suppression with a constant latency.

Each chunk of stream audio is resampled to the engine's rate (a linear-phase polyphase
filter for integer ratios, see :mod:`flowc_denoiser.polyphase`; soxr otherwise), cut into
engine frames, denoised, mixed with the equally delayed dry signal (the ``level``
setting), resampled back and queued. The output queue starts primed with silence, sized
so it never runs dry for the stream's chunk size: every chunk in gives a chunk of the
same length out, delayed by :attr:`StreamDenoiser.latency` samples, always the same.
"""

from __future__ import annotations

import functools
from typing import Protocol

import numpy as np
import numpy.typing as npt

from flowc.runtime.codec import StreamResampler
from flowc.runtime.frames import PCM
from flowc_denoiser.engines import DenoiserEngine
from flowc_denoiser.polyphase import IntegerResampler

LEVEL_MIN = 60
LEVEL_MAX = 100
LEVEL_DEFAULT = 85


def attenuation_limit_db(level: int) -> float:
    """Plivo's ``noiseCancellationLevel`` scale (60-100) as the most the denoiser may
    attenuate: 10 dB at 60, +0.75 dB per step, 28.75 dB at 85, 40 dB at 100."""
    if not LEVEL_MIN <= level <= LEVEL_MAX:
        raise ValueError(f"level must be between {LEVEL_MIN} and {LEVEL_MAX}, got {level}")
    return 10.0 + 0.75 * (level - LEVEL_MIN)


def dry_gain(level: int) -> float:
    """Share of the unprocessed signal mixed into the output for ``level``."""
    return float(10.0 ** (-attenuation_limit_db(level) / 20.0))


class Resampler(Protocol):
    def process(self, pcm: PCM) -> PCM: ...


def resampler(in_rate: int, out_rate: int) -> Resampler:
    """Polyphase FIR for integer ratios (exact, linear phase), soxr for the rest."""
    if in_rate % out_rate == 0 or out_rate % in_rate == 0:
        return IntegerResampler(in_rate, out_rate, half_taps=16)
    return StreamResampler(in_rate, out_rate)


@functools.lru_cache(maxsize=64)
def calibrate(rate: int, engine_rate: int, frame_size: int, chunk: int) -> tuple[int, int]:
    """``(priming, delay)`` for ``chunk``-sized input: the silence to queue up front so the
    output never runs dry, and the resampling round trip's delay, both in stream samples.

    Runs a test signal through fresh resamplers and the engine framing (output counts do
    not depend on the audio) and finds the largest shortfall and the cross-correlation
    peak.
    """
    up, down = resampler(rate, engine_rate), resampler(engine_rate, rate)
    count = max(50, 2 * rate // max(chunk, 1))
    signal = np.random.default_rng(0).integers(-8000, 8000, chunk * count).astype(np.int16)
    pending = np.zeros(0, np.int16)
    outputs: list[PCM] = []
    produced = shortfall = 0
    for k in range(count):
        pending = np.concatenate((pending, up.process(signal[k * chunk : (k + 1) * chunk])))
        usable = len(pending) - len(pending) % frame_size
        if usable:
            outputs.append(down.process(pending[:usable]))
            produced += len(outputs[-1])
            pending = pending[usable:]
        shortfall = max(shortfall, (k + 1) * chunk - produced)
    out = np.concatenate(outputs).astype(np.float64)
    size = len(out) + len(signal)
    corr = np.fft.irfft(np.fft.rfft(out, size) * np.conj(np.fft.rfft(signal, size)), size)
    delay = int(np.argmax(corr[: rate // 5]))
    return shortfall, delay


class StreamDenoiser:
    """One track's denoiser: :meth:`process` returns exactly as many samples as given."""

    def __init__(self, engine: DenoiserEngine, rate: int, level: int = LEVEL_DEFAULT) -> None:
        self.engine = engine
        self.rate = rate
        self.dry = dry_gain(level)
        self._up = resampler(rate, engine.rate)
        self._down = resampler(engine.rate, rate)
        self._pending = np.zeros(0, np.int16)
        self._dry_line = np.zeros(engine.delay, np.float32)
        self._queue: PCM | None = None
        self.priming = 0
        """Samples of silence queued at the start (stream rate)."""
        self.resampling_delay = 0
        """Delay of the resampling round trip (stream rate)."""
        self.underrun = 0
        """Samples of silence inserted later because the output ran dry (irregular chunks)."""

    @property
    def latency(self) -> int:
        """Total delay from input to output, in samples at the stream's rate."""
        engine_delay = round(self.engine.delay * self.rate / self.engine.rate)
        return self.priming + self.resampling_delay + self.underrun + engine_delay

    def process(self, pcm: PCM) -> PCM:
        """Denoise one chunk; the result has ``len(pcm)`` samples."""
        if self._queue is None:
            self.priming, self.resampling_delay = calibrate(
                self.rate, self.engine.rate, self.engine.frame_size, len(pcm))
            self._queue = np.zeros(self.priming, np.int16)
        pending = np.concatenate((self._pending, self._up.process(pcm)))
        size = self.engine.frame_size
        usable = len(pending) - len(pending) % size
        self._pending = pending[usable:]
        if usable:
            cleaned = self._mix(pending[:usable])
            self._queue = np.concatenate((self._queue, self._down.process(cleaned)))
        short = len(pcm) - len(self._queue)
        if short > 0:
            self.underrun += short
            self._queue = np.concatenate((np.zeros(short, np.int16), self._queue))
        out, self._queue = self._queue[: len(pcm)], self._queue[len(pcm) :]
        return out

    def _mix(self, frames: PCM) -> PCM:
        size = self.engine.frame_size
        wet = np.concatenate(
            [self.engine.process(frames[i : i + size]) for i in range(0, len(frames), size)]
        )
        if self.dry <= 0.0:
            return wet
        line = np.concatenate((self._dry_line, frames.astype(np.float32)))
        dry: npt.NDArray[np.float32] = line[: len(frames)]
        self._dry_line = line[len(frames) :]
        mixed = (1.0 - self.dry) * wet.astype(np.float32) + self.dry * dry
        out: PCM = np.clip(np.rint(mixed), -32768, 32767).astype(np.int16)
        return out

    def close(self) -> None:
        """Release the engine."""
        self.engine.close()
