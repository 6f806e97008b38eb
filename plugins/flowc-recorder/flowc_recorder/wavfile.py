"""A WAV file (PCM16 or G.711 μ-law) that is valid at every moment.

Samples are written in place (``pwrite``) at their position on the call's timeline, so
tracks can arrive in any order and gaps stay silent. The header's sizes are rewritten
after the samples they cover, so a reader, or what is left after the process is killed,
always sees a playable file.

PCM16 files have the classic 44-byte header, and a hole in the file reads as zeros,
which is silence. μ-law files follow the spec for non-PCM WAV (an 18-byte ``fmt``
chunk and a ``fact`` chunk with the sample count, 58 bytes in all); a zero byte is
a loud μ-law sample, so silence (``0xFF``) is written wherever the file grows past a gap.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from flowc.runtime.codec import pcm_to_ulaw
from flowc.runtime.frames import PCM

FILL_FRAMES = 1 << 18
"""Silence written per ``pwrite`` when a μ-law file grows past a gap."""


@dataclass(frozen=True)
class SampleFormat:
    """How samples are stored: the WAVE format tag, bytes per sample, and silence."""

    name: str
    tag: int
    width: int
    dtype: str
    silence: int

    @property
    def header_size(self) -> int:
        return 44 if self.tag == 1 else 58

    def encode(self, pcm: PCM) -> npt.NDArray[np.generic]:
        """PCM16 samples as stored in the file."""
        if self.tag == 1:
            return pcm.astype(self.dtype, copy=False)
        return np.frombuffer(pcm_to_ulaw(pcm), np.uint8)


PCM16 = SampleFormat("pcm16", tag=1, width=2, dtype="<i2", silence=0)
MULAW = SampleFormat("mulaw", tag=7, width=1, dtype="u1", silence=0xFF)
FORMATS = {f.name: f for f in (PCM16, MULAW)}
HEADER_SIZE = PCM16.header_size


def header(rate: int, channels: int, data_bytes: int, fmt: SampleFormat = PCM16, *,
           riff_pad: int = 0) -> bytes:
    """The RIFF/WAVE header of a file holding ``data_bytes`` of samples.

    ``riff_pad``: the pad byte after odd-sized data, once it is in the file.
    """
    block = channels * fmt.width
    riff_size = fmt.header_size - 8 + data_bytes + riff_pad
    if fmt.tag == 1:
        return struct.pack(
            "<4sI4s4sIHHIIHH4sI", b"RIFF", riff_size, b"WAVE", b"fmt ", 16, 1, channels,
            rate, rate * block, block, 16, b"data", data_bytes)
    return struct.pack(
        "<4sI4s4sIHHIIHHH4sII4sI", b"RIFF", riff_size, b"WAVE", b"fmt ", 18, fmt.tag,
        channels, rate, rate * block, block, 8 * fmt.width, 0, b"fact", 4,
        data_bytes // block, b"data", data_bytes)


class DurableWav:
    """One recording. Not thread-safe: one writer thread owns it."""

    def __init__(self, path: Path, rate: int, channels: int,
                 fmt: SampleFormat | str = PCM16) -> None:
        self.path = path
        self.rate = rate
        self.channels = channels
        self.format = FORMATS[fmt] if isinstance(fmt, str) else fmt
        self.frame_bytes = self.format.width * channels
        self.frames = 0
        """Sample frames in the file (the longest track's end)."""
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self._header_frames = -1
        self._padded = False
        self.write_header()

    @property
    def max_frames(self) -> int:
        """Frames the 32-bit RIFF size can describe (room left for a pad byte)."""
        return (0xFFFFFFFF - (self.format.header_size - 8) - 1) // self.frame_bytes

    def write(self, items: Sequence[tuple[int, int, PCM]]) -> int:
        """Write ``(channel, start_frame, samples)`` items; returns samples not written
        because the file reached the WAV size limit."""
        fd = self._require()
        items = [i for i in items if len(i[2])]
        if not items:
            return 0
        lo = min(start for _, start, _ in items)
        hi = min(max(start + len(pcm) for _, start, pcm in items), self.max_frames)
        lost = sum(max(0, start + len(pcm) - hi) for _, start, pcm in items)
        if hi <= lo:
            return lost
        if self.format.silence and lo > self.frames:
            self._fill(lo)  # the gap before lo must hold silence, not zero bytes
        block = np.full((hi - lo, self.channels), self.format.silence, self.format.dtype)
        overlap = min(hi, self.frames) - lo
        if overlap > 0:  # keep what other tracks (or this one) already wrote there
            raw = os.pread(fd, overlap * self.frame_bytes, self._offset(lo))
            existing = np.frombuffer(raw, self.format.dtype).reshape(-1, self.channels)
            block[: len(existing)] = existing
        for channel, start, pcm in items:
            end = min(start + len(pcm), hi)
            if end > start:
                block[start - lo : end - lo, channel] = self.format.encode(pcm[: end - start])
        self._put(lo, block)
        return lost

    def _fill(self, end: int) -> None:
        """Write silence from the end of the file up to frame ``end``."""
        while self.frames < end:
            count = min(end - self.frames, FILL_FRAMES)
            self._put(self.frames, np.full((count, self.channels), self.format.silence,
                                           self.format.dtype))

    def _put(self, lo: int, block: npt.NDArray[np.generic]) -> None:
        data = memoryview(block.tobytes())
        offset, done = self._offset(lo), 0
        try:
            while done < len(data):  # a short write (disk full, RLIMIT_FSIZE) is retried:
                written = os.pwrite(self._require(), data[done:], offset + done)  # it raises
                if written == 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
                done += written
        finally:  # the header never claims samples that are not in the file
            self.frames = max(self.frames, lo + done // self.frame_bytes)

    def write_header(self) -> None:
        """Make the header describe every sample written so far."""
        if self._header_frames == self.frames:
            return
        data_bytes = self.frames * self.frame_bytes
        os.pwrite(self._require(), header(self.rate, self.channels, data_bytes, self.format,
                                          riff_pad=int(self._padded)), 0)
        self._header_frames = self.frames

    def sync(self) -> None:
        """Flush the file to the disk (``fsync``)."""
        os.fsync(self._require())

    def close(self) -> None:
        """Pad byte after odd-sized data, final header, fsync, close. Safe to call twice."""
        if self._fd is None:
            return
        try:
            data_bytes = self.frames * self.frame_bytes
            if data_bytes % 2:  # RIFF chunks are word-aligned
                os.pwrite(self._fd, b"\0", self._offset(self.frames))
                self._padded = True
                self._header_frames = -1
            self.write_header()
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate

    def _offset(self, frame: int) -> int:
        return self.format.header_size + frame * self.frame_bytes

    def _require(self) -> int:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        return self._fd
