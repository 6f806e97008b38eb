"""The straightforward chunk pipeline the optimized :class:`~flowc_denoiser.stream.StreamDenoiser`
must match sample for sample.

It is the denoiser as first written: int16 between every step, fresh arrays on every
call, one ``engine.process`` call per frame. The tests compare the optimized path with it
on real speech, and ``bench/denoiser_breakdown.py`` measures it as the baseline in the
same run. Not used by the stage itself.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from flowc.runtime.frames import PCM
from flowc_denoiser.engines import DenoiserEngine
from flowc_denoiser.polyphase import Floats, lowpass
from flowc_denoiser.stream import LEVEL_DEFAULT, calibrate, dry_gain


class ReferenceResampler:
    """Integer-ratio polyphase resampling, int16 in and out, new arrays per chunk."""

    def __init__(self, in_rate: int, out_rate: int, *, half_taps: int = 16,
                 beta: float = 8.0) -> None:
        self.up = max(out_rate // in_rate, 1)
        self.down = max(in_rate // out_rate, 1)
        ratio = max(self.up, self.down)
        h = lowpass(ratio, half_taps, beta)
        if self.up > 1:
            taps = 2 * half_taps + 1
            padded = np.zeros(taps * ratio)
            padded[: len(h)] = h * ratio
            self._bank: Floats = padded.reshape(taps, ratio)[::-1].copy()
            self._history = np.zeros(taps - 1)
        else:
            self._kernel: Floats = h
            self._history = np.zeros(len(h) - 1)
            self._start = 0

    def process(self, pcm: PCM) -> PCM:
        if self.up == 1 and self.down == 1:
            return pcm
        buffer = np.concatenate((self._history, pcm.astype(np.float64)))
        if self.up > 1:
            windows = sliding_window_view(buffer, len(self._bank))
            out = (windows @ self._bank).reshape(-1)
        else:
            windows = sliding_window_view(buffer, len(self._kernel))
            picked = windows[self._start :: self.down]
            out = picked @ self._kernel
            self._start = self._start + len(picked) * self.down - len(windows)
        self._history = buffer[len(buffer) - len(self._history) :]
        result: PCM = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
        return result


class ReferenceDenoiser:
    """One track's denoiser, written plainly: :meth:`process` returns ``len(pcm)``
    samples, as :class:`~flowc_denoiser.stream.StreamDenoiser` does."""

    def __init__(self, engine: DenoiserEngine, rate: int, level: int = LEVEL_DEFAULT) -> None:
        self.engine = engine
        self.rate = rate
        self.dry = dry_gain(level)
        self._up = ReferenceResampler(rate, engine.rate)
        self._down = ReferenceResampler(engine.rate, rate)
        self._pending = np.zeros(0, np.int16)
        self._dry_line = np.zeros(engine.delay, np.float32)
        self._queue: PCM | None = None

    def process(self, pcm: PCM) -> PCM:
        if self._queue is None:
            priming, _ = calibrate(self.rate, self.engine.rate, self.engine.frame_size, len(pcm))
            self._queue = np.zeros(priming, np.int16)
        pending = np.concatenate((self._pending, self._up.process(pcm)))
        size = self.engine.frame_size
        usable = len(pending) - len(pending) % size
        self._pending = pending[usable:]
        if usable:
            cleaned = self._mix(pending[:usable])
            self._queue = np.concatenate((self._queue, self._down.process(cleaned)))
        short = len(pcm) - len(self._queue)
        if short > 0:
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
        self.engine.close()
