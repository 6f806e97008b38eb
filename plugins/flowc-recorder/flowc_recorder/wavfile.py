"""A PCM16 WAV file that is valid at every moment.

Samples are written in place (``pwrite``) at their position on the call's timeline, so
tracks can arrive in any order and gaps stay silent (a hole in the file reads as zeros).
The header's sizes are rewritten after the samples they cover, so a reader, or what is
left after the process is killed, always sees a playable file.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from flowc.runtime.frames import PCM

HEADER_SIZE = 44
MAX_DATA = 0xFFFFFFFF - 36


def header(rate: int, channels: int, data_bytes: int) -> bytes:
    """The 44-byte RIFF/WAVE header of a PCM16 file holding ``data_bytes``."""
    block = channels * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, channels,
        rate, rate * block, block, 16, b"data", data_bytes)


class DurableWav:
    """One recording. Not thread-safe: one writer thread owns it."""

    def __init__(self, path: Path, rate: int, channels: int) -> None:
        self.path = path
        self.rate = rate
        self.channels = channels
        self.frames = 0
        """Sample frames in the file (the longest track's end)."""
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self._header_frames = -1
        self.write_header()

    @property
    def max_frames(self) -> int:
        return MAX_DATA // (2 * self.channels)

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
        block = np.zeros((hi - lo, self.channels), np.int16)
        overlap = min(hi, self.frames) - lo
        if overlap > 0:  # keep what other tracks (or this one) already wrote there
            raw = os.pread(fd, overlap * 2 * self.channels, self._offset(lo))
            existing = np.frombuffer(raw, "<i2").reshape(-1, self.channels)
            block[: len(existing)] = existing
        for channel, start, pcm in items:
            end = min(start + len(pcm), hi)
            if end > start:
                block[start - lo : end - lo, channel] = pcm[: end - start]
        data = memoryview(block.astype("<i2", copy=False).tobytes())
        offset, done = self._offset(lo), 0
        try:
            while done < len(data):  # a short write (disk full, RLIMIT_FSIZE) is retried:
                written = os.pwrite(fd, data[done:], offset + done)  # the retry raises
                if written == 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
                done += written
        finally:  # the header never claims samples that are not in the file
            self.frames = max(self.frames, lo + done // (2 * self.channels))
        return lost

    def write_header(self) -> None:
        """Make the header describe every sample written so far."""
        if self._header_frames == self.frames:
            return
        data_bytes = self.frames * 2 * self.channels
        os.pwrite(self._require(), header(self.rate, self.channels, data_bytes), 0)
        self._header_frames = self.frames

    def sync(self) -> None:
        """Flush the file to the disk (``fsync``)."""
        os.fsync(self._require())

    def close(self) -> None:
        """Final header, fsync, close. Safe to call twice."""
        if self._fd is None:
            return
        try:
            self.write_header()
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate

    def _offset(self, frame: int) -> int:
        return HEADER_SIZE + frame * 2 * self.channels

    def _require(self) -> int:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        return self._fd
