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
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from flowc.runtime.codec import StreamResampler
from flowc.runtime.frames import PCM
from flowc_denoiser.engines import DenoiserEngine
from flowc_denoiser.polyphase import Floats, IntegerResampler, round_pcm

Floats32 = npt.NDArray[np.float32]
_EMPTY: Floats32 = np.zeros(0, np.float32)

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

    def resample(self, x: npt.NDArray[np.number], /) -> Floats: ...


class _SoxrResampler:
    """The runtime's soxr stream resampler (any ratio) with :meth:`resample` on top."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self._inner = StreamResampler(in_rate, out_rate)

    def process(self, pcm: PCM) -> PCM:
        return self._inner.process(pcm)

    def resample(self, x: npt.NDArray[np.number], /) -> Floats:
        return self._inner.process(np.asarray(x).astype(np.int16)).astype(np.float64)


def resampler(in_rate: int, out_rate: int) -> Resampler:
    """Polyphase FIR for integer ratios (exact, linear phase), soxr for the rest."""
    if in_rate % out_rate == 0 or out_rate % in_rate == 0:
        return IntegerResampler(in_rate, out_rate, half_taps=16)
    return _SoxrResampler(in_rate, out_rate)


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
    """One track's denoiser: :meth:`process` returns exactly as many samples as given.

    Between the resamplers the audio stays in floating point holding int16 values (each
    step rounds where an int16 pipeline would, so the output is the same sample for
    sample, see :mod:`flowc_denoiser.reference`), in buffers kept per block size: the
    engine's input is the tail of the dry delay line, so it is written once per block.
    """

    def __init__(self, engine: DenoiserEngine, rate: int, level: int = LEVEL_DEFAULT) -> None:
        self.engine = engine
        self.rate = rate
        self.dry = dry_gain(level)
        self._gains = (np.float32(1.0 - self.dry), np.float32(self.dry))
        self._up = resampler(rate, engine.rate)
        self._down = resampler(engine.rate, rate)
        self._process_into: Callable[[Floats32, Floats32], None] | None = getattr(
            engine, "process_into", None)
        self._pending: npt.NDArray[np.floating] = _EMPTY
        # the dry delay line (engine.delay samples) followed by the current block; between
        # calls the line's history is at the start
        self._line: Floats32 = np.zeros(engine.delay, np.float32)
        self._wet: Floats32 = _EMPTY
        self._scaled: Floats32 = _EMPTY
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
        queue = self._queue
        if queue is None:
            self.priming, self.resampling_delay = calibrate(
                self.rate, self.engine.rate, self.engine.frame_size, len(pcm))
            queue = np.zeros(self.priming, np.int16)
        upsampled: npt.NDArray[np.floating] = self._up.resample(pcm)
        if len(self._pending):
            upsampled = np.concatenate((self._pending, upsampled))
        usable = len(upsampled) - len(upsampled) % self.engine.frame_size
        # a copy: the resampler reuses its buffer
        self._pending = upsampled[usable:].astype(np.float32) if usable < len(upsampled) \
            else _EMPTY
        if usable:
            cleaned = self._down.resample(self._mix(upsampled[:usable]))
            queue = np.concatenate((queue, cleaned.astype(np.int16)))
        short = len(pcm) - len(queue)
        if short > 0:
            self.underrun += short
            queue = np.concatenate((np.zeros(short, np.int16), queue))
        out, self._queue = queue[: len(pcm)], queue[len(pcm) :]
        return out

    def _mix(self, block: npt.NDArray[np.floating]) -> Floats32:
        """Engine output mixed with the dry signal delayed to match it, rounded to int16
        values; the result is a buffer reused by the next call."""
        size, delay = len(block), self.engine.delay
        line = self._line
        if len(line) != delay + size:  # a new block size: carry the dry history over
            line = np.zeros(delay + size, np.float32)
            line[:delay] = self._line[:delay]
            self._line = line
            self._wet = np.empty(size, np.float32)
            self._scaled = np.empty(size, np.float32)
        line[delay:] = block
        wet = self._wet
        if self._process_into is not None:
            self._process_into(line[delay:], wet)
            round_pcm(wet)
        else:
            step = self.engine.frame_size
            for i in range(0, size, step):
                frame = line[delay + i : delay + i + step].astype(np.int16)
                wet[i : i + step] = self.engine.process(frame)
        if self.dry > 0.0:
            wet_gain, dry_gain = self._gains
            np.multiply(wet, wet_gain, out=wet)
            np.add(wet, np.multiply(line[:size], dry_gain, out=self._scaled), out=wet)
            round_pcm(wet)
        line[:delay] = line[size:]
        return wet

    def close(self) -> None:
        """Release the engine."""
        self.engine.close()
