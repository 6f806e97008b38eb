"""The recording at another rate than the stream's, on the same exact timeline.

Each channel's timeline (chunks at their start sample, silence between) is one signal
at the stream's rate; it is resampled as a whole, so sample ``p`` of the stream lands at
``p * out_rate / in_rate`` in the file on every channel, and gaps keep their length.
soxr's stream without variable-rate mode gives output identical to resampling the whole
signal at once, whatever the chunking (it releases audio in bursts; a file does not
mind). A long gap is not pushed through the filter: the segment before it is finished
with some silence, and a new one starts a little before the next chunk, at a point where
both rates meet on a whole sample; what lies between is left silent in the file.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import soxr

from flowc.runtime.codec import to_float, to_pcm
from flowc.runtime.frames import PCM

Item = tuple[int, int, PCM]
"""``(channel, start_frame, samples)``, as :class:`~flowc_recorder.wavfile.DurableWav`
writes them."""

MAX_FED_GAP_S = 1.0
"""Longer gaps end the segment instead of being resampled as silence."""
MARGIN_S = 0.25
"""Silence around a segment: well past the filter's reach (about 0.1 s at HQ)."""


class ChannelResampler:
    """One channel's timeline, from ``in_rate`` to ``out_rate``. Chunks must come in
    timeline order (a chunk that overlaps what was fed loses the overlapping part)."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        common = math.gcd(in_rate, out_rate)
        self._in_step = in_rate // common
        """Input positions that are a multiple of this fall on a whole output sample."""
        self._out_step = out_rate // common
        self._max_gap = round(MAX_FED_GAP_S * in_rate)
        self._margin = round(MARGIN_S * in_rate)
        self._stream: soxr.ResampleStream | None = None
        self._in = 0
        """End of the input fed (stream samples)."""
        self._out = 0
        """Where the next output sample goes (file frames)."""

    def out_position(self, position: int) -> int:
        """File frame of stream sample ``position`` (rounded up between samples)."""
        return -(-position * self.out_rate // self.in_rate)

    def feed(self, start: int, pcm: PCM) -> list[tuple[int, PCM]]:
        """``(file frame, samples)`` pieces ready for the file after one chunk."""
        if start < self._in:
            pcm, start = pcm[self._in - start :], self._in
        if not len(pcm):
            return []
        out: list[tuple[int, PCM]] = []
        if self._stream is None or start - self._in > self._max_gap:
            out += self._end_segment(self._margin)
            begin = max(self._align_down(start - self._margin), self._in)
            self._stream = soxr.ResampleStream(self.in_rate, self.out_rate, 1,
                                               dtype="float32", quality="HQ", vr=False)
            self._in, self._out = begin, self.out_position(begin)
        signal = np.zeros(start - self._in + len(pcm), np.float32)
        signal[start - self._in :] = to_float(pcm)
        self._in = start + len(pcm)
        self._emit(out, self._stream.resample_chunk(signal))
        return out

    def finish(self) -> list[tuple[int, PCM]]:
        """What the filter still holds, up to the end of the last chunk."""
        return self._end_segment(0)

    def _end_segment(self, margin: int) -> list[tuple[int, PCM]]:
        if self._stream is None:
            return []
        end = self._align_up(self._in + margin) if margin else self._in
        tail = self._stream.resample_chunk(np.zeros(end - self._in, np.float32), last=True)
        self._stream, self._in = None, end
        # soxr ends a stream on exactly the whole-signal length; make sure of it
        wanted = self.out_position(end) - self._out
        tail = tail[:wanted] if len(tail) >= wanted else np.concatenate(
            [tail, np.zeros(wanted - len(tail), np.float32)])
        out: list[tuple[int, PCM]] = []
        self._emit(out, tail)
        return out

    def _emit(self, out: list[tuple[int, PCM]], samples: npt.NDArray[np.float32]) -> None:
        if len(samples):
            out.append((self._out, to_pcm(samples)))
            self._out += len(samples)

    def _align_down(self, position: int) -> int:
        return max(0, position // self._in_step * self._in_step)

    def _align_up(self, position: int) -> int:
        return -(-position // self._in_step) * self._in_step


class TimelineResampler:
    """Every channel of a recording through its own :class:`ChannelResampler`."""

    def __init__(self, in_rate: int, out_rate: int, channels: int) -> None:
        self.channels = [ChannelResampler(in_rate, out_rate) for _ in range(channels)]

    def feed(self, items: list[Item]) -> list[Item]:
        """Items at the stream's rate in, items at the file's rate out."""
        return [(channel, start, pcm) for channel, first, chunk in items
                for start, pcm in self.channels[channel].feed(first, chunk)]

    def finish(self) -> list[Item]:
        """The rest of every channel."""
        return [(channel, start, pcm) for channel, line in enumerate(self.channels)
                for start, pcm in line.finish()]
