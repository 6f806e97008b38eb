"""Where each chunk of a track goes in the recording, so the file is the call as heard.

Plivo stamps every media chunk with ``timestamp`` (milliseconds: Unix epoch, or since the
stream started; both forms are seen) and a per-track ``chunk`` counter. A missing chunk
number or a jump in time leaves a gap that the recording fills with silence; a chunk
that repeats a number already written is dropped; small timing jitter is absorbed by
writing chunks back to back.
"""

from __future__ import annotations

from dataclasses import dataclass

EPOCH_MS = 100_000_000_000
"""Timestamps at or above this (March 1973 as Unix ms) are epoch time, below it are
stream-relative."""


class StreamClock:
    """Turns Plivo timestamps and flowc's stream clock into sample positions.

    Stream-relative timestamps count from the stream's start, as flowc's own clock does
    (``AudioSent.stream_ms``). Epoch timestamps are anchored on the first one seen, taken
    as the start (Plivo sends media right after ``start``; the few milliseconds between
    them are the recording's alignment error between Plivo's tracks and flowc's audio).
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.epoch_origin_ms: int | None = None

    def from_timestamp(self, timestamp_ms: int) -> int | None:
        """Sample position of a Plivo timestamp, or ``None`` when it carries no time."""
        if timestamp_ms <= 0:
            return None
        if timestamp_ms >= EPOCH_MS:
            if self.epoch_origin_ms is None:
                self.epoch_origin_ms = timestamp_ms
            timestamp_ms -= self.epoch_origin_ms
            if timestamp_ms < 0:
                return None
        return timestamp_ms * self.rate // 1000

    def from_stream_ms(self, stream_ms: float) -> int:
        """Sample position of a time on flowc's stream clock."""
        return max(0, round(stream_ms * self.rate / 1000))


@dataclass
class TrackStats:
    """What happened on one track."""

    frames: int = 0
    samples: int = 0
    gaps: int = 0
    gap_samples: int = 0
    duplicates: int = 0


class TrackTimeline:
    """Places one track's chunks back to back, leaving silence where audio is missing."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.cursor = 0
        """End of the last chunk placed (samples)."""
        self.last_chunk: int | None = None
        self.stats = TrackStats()

    def place(self, samples: int, position: int | None, chunk: int = 0, *,
              slack: int | None = None) -> int | None:
        """Start sample for a chunk of ``samples``; ``None`` to drop it (a repeat).

        ``position`` is where its timestamp puts it (``None``: unknown); ``chunk`` is
        Plivo's counter (``0``: none). Missing counter values leave room for that many
        chunks of this size; a timestamp further ahead than that leaves more (by at least
        ``slack`` samples; default half a chunk without counters, three chunks or 60 ms
        with them).
        """
        expected = self.cursor
        counted = chunk > 0 and self.last_chunk is not None
        if counted:
            assert self.last_chunk is not None
            step = chunk - self.last_chunk
            if step <= 0:
                self.stats.duplicates += 1
                return None
            expected += (step - 1) * samples
        if slack is None:
            slack = max(3 * samples, self.rate * 60 // 1000) if counted else max(samples // 2, 1)
        start = expected
        if position is not None and position - expected > slack:
            start = position
        if start > self.cursor:
            self.stats.gaps += 1
            self.stats.gap_samples += start - self.cursor
        if chunk > 0:
            self.last_chunk = chunk
        self.cursor = start + samples
        self.stats.frames += 1
        self.stats.samples += samples
        return start
