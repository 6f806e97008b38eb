"""Streaming integer-ratio resampling with a linear-phase FIR (8/16 kHz <-> 48 kHz).

Why not soxr here: ``ResampleStream(vr=True)`` streams smoothly but its filter is not
linear-phase (group delay grows from ~2 to ~40 samples toward 4 kHz at 8 kHz), so a
round trip 8 kHz -> 48 kHz -> 8 kHz alone scores 12.7 dB SI-SDR, and it adds ~57 ms of
delay; without ``vr`` it is transparent but buffers 140-300 ms. A windowed-sinc
polyphase filter gives an exact, constant delay of ``half_taps`` input-rate samples per
direction (3 ms at 8 kHz), sample-exact chunk sizes and > 45 dB round-trip SI-SDR.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from flowc.runtime.frames import PCM

Floats = npt.NDArray[np.float64]


def lowpass(ratio: int, half_taps: int, beta: float) -> Floats:
    """Kaiser-windowed sinc at the high rate, cut off at the low rate's Nyquist
    frequency, ``2 * half_taps * ratio + 1`` taps, unity DC gain."""
    length = 2 * half_taps * ratio + 1
    n = np.arange(length) - (length - 1) / 2
    h: Floats = np.sinc(n / ratio) * np.kaiser(length, beta)
    normalized: Floats = h / h.sum()
    return normalized


class IntegerResampler:
    """Resample by an integer factor up or down, chunk by chunk.

    Every chunk gives exactly ``len(chunk) * out_rate / in_rate`` samples (for down-
    sampling, chunks whose length is a multiple of the factor); the output lags the input
    by :attr:`delay` output-rate samples.
    """

    def __init__(self, in_rate: int, out_rate: int, *, half_taps: int = 24,
                 beta: float = 8.0) -> None:
        if out_rate % in_rate and in_rate % out_rate:
            raise ValueError(f"{in_rate} -> {out_rate} Hz is not an integer ratio")
        self.in_rate, self.out_rate = in_rate, out_rate
        self.up = max(out_rate // in_rate, 1)
        self.down = max(in_rate // out_rate, 1)
        ratio = max(self.up, self.down)
        h = lowpass(ratio, half_taps, beta)
        if self.up > 1:
            taps = 2 * half_taps + 1
            padded = np.zeros(taps * ratio)
            padded[: len(h)] = h * ratio
            # column p holds phase p's taps, newest input last
            self._bank: Floats = padded.reshape(taps, ratio)[::-1].copy()
            self._history = np.zeros(taps - 1)
            self.delay = half_taps * ratio
        else:
            self._kernel: Floats = h
            self._history = np.zeros(len(h) - 1)
            self._start = 0
            self.delay = half_taps
        if self.up == 1 and self.down == 1:
            self.delay = 0

    def process(self, pcm: PCM) -> PCM:
        """Resample one chunk of int16 samples."""
        if self.up == 1 and self.down == 1:
            return pcm
        buffer = np.concatenate((self._history, pcm.astype(np.float64)))
        if self.up > 1:
            windows = sliding_window_view(buffer, len(self._bank))
            out = (windows @ self._bank).reshape(-1)
            self._history = buffer[len(buffer) - len(self._history) :]
        else:
            windows = sliding_window_view(buffer, len(self._kernel))
            picked = windows[self._start :: self.down]
            out = picked @ self._kernel
            self._start = self._start + len(picked) * self.down - len(windows)
            self._history = buffer[len(buffer) - len(self._history) :]
        result: PCM = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
        return result
