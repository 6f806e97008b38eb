"""Streaming resampling that gives the same samples however the audio is batched.

soxr dithers integer output (``dtype="int16"``: ±2 LSB of random noise, different on
every run), and pocketsphinx's streaming search is sensitive enough for that to change
words. A transcriber lane batches whatever audio queued while its engine was busy, so the
same call could be transcribed differently depending on load. Resampling in float32 and
rounding here has no dither: the output depends only on the input samples.
"""

from __future__ import annotations

import numpy as np
import soxr

from flowc.runtime.codec import to_float, to_pcm
from flowc.runtime.frames import PCM


class Resampler:
    """soxr ``ResampleStream`` (HQ, ``vr=True``: steady output) in float32, PCM16 in/out."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self._stream = (None if in_rate == out_rate else soxr.ResampleStream(
            in_rate, out_rate, 1, dtype="float32", quality="HQ", vr=True))

    def process(self, pcm: PCM) -> PCM:
        """Resample one chunk of any length."""
        if self._stream is None:
            return pcm
        return to_pcm(self._stream.resample_chunk(to_float(pcm)))

    def flush(self) -> PCM:
        """What the resampler still holds (end of the track)."""
        if self._stream is None:
            return np.zeros(0, np.int16)
        return to_pcm(self._stream.resample_chunk(np.zeros(0, np.float32), last=True))
