"""The disk side of a recording: a worker thread fed through a bounded queue.

The stream's task only places chunks and hands them over with :meth:`submit`, which
never waits (an append to a deque: no lock, no thread wake-up per chunk): when the disk
falls behind and the queue is full, the chunk is dropped and counted. The thread wakes
every ``write_interval`` seconds (0.2 s), writes everything queued in one batch and
rewrites the WAV header after it, so the file on disk is never more than about one
interval behind the call (well under the second the durability promise allows), and
fsyncs every ``fsync_interval`` seconds. Waking per interval instead of per 20 ms chunk
is what makes a recording cheap: a few system calls five times a second, not 50.
When the file's rate is not the stream's, the thread also resamples
(:mod:`flowc_recorder.resampling`): chunks are queued at the stream's rate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from flowc.runtime.frames import PCM
from flowc_recorder.resampling import Item, TimelineResampler
from flowc_recorder.wavfile import DurableWav

WRITE_INTERVAL = 0.2
"""Seconds between the writer thread's batches (and header rewrites)."""


class RecordingWriter:
    """Owns a :class:`DurableWav` on a daemon thread."""

    def __init__(self, wav: DurableWav, *, queue_size: int, fsync_interval: float,
                 logger: logging.Logger, stream_rate: int | None = None,
                 write_interval: float = WRITE_INTERVAL) -> None:
        """``stream_rate``: the rate of the queued chunks' positions and samples, when it
        is not the file's."""
        self.wav = wav
        self._resampler = (None if stream_rate is None or stream_rate == wav.rate
                           else TimelineResampler(stream_rate, wav.rate, wav.channels))
        self.fsync_interval = fsync_interval
        self.write_interval = write_interval
        self.logger = logger
        self.queue_drops = 0
        """Chunks dropped because the queue was full (counted by the stream's task)."""
        self._failed_writes = 0
        self._refused = 0
        self.lost_samples = 0
        self.error: str | None = None
        self._max_queued = max(queue_size, 1)
        self._queue: deque[Item] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"recorder {wav.path.name}",
                                        daemon=True)
        self._thread.start()

    @property
    def error_drops(self) -> int:
        """Chunks lost to a disk error (in the failed write, or refused after it)."""
        return self._failed_writes + self._refused

    @property
    def drops(self) -> int:
        """Chunks that never reached the file."""
        return self.queue_drops + self.error_drops

    def submit(self, channel: int, start: int, pcm: PCM) -> bool:
        """Queue samples for ``channel`` at frame ``start``; ``False`` if dropped."""
        if self.error is not None:
            self._refused += 1  # the disk failed: nothing more is written
            return False
        if len(self._queue) >= self._max_queued:
            self.queue_drops += 1
            return False
        self._queue.append((channel, start, pcm))
        return True

    def finish(self, timeout: float) -> bool:
        """Write what is queued, finalize the file and stop (blocking; run it in a
        thread). ``False`` if the thread did not finish within ``timeout`` seconds."""
        self._stop.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _work(self) -> None:
        last_sync = time.monotonic()
        stopping = False
        while not stopping:
            stopping = self._stop.wait(self.write_interval)
            batch = self._take_queued()
            if not batch and not stopping:
                continue
            if self.error is not None:
                self._failed_writes += len(batch)
                continue
            chunks = len(batch)
            try:
                if self._resampler is not None:
                    batch = self._resampler.feed(batch)
                    if stopping:
                        batch += self._resampler.finish()
                if batch:
                    self.lost_samples += self.wav.write(batch)
                    self.wav.write_header()
                if self.fsync_interval > 0 and time.monotonic() - last_sync >= self.fsync_interval:
                    self.wav.sync()
                    last_sync = time.monotonic()
            except OSError as exc:
                self._fail(exc, chunks)
        try:
            self.wav.close()
        except OSError as exc:
            self._fail(exc, 0)

    def _take_queued(self) -> list[Item]:
        """Everything queued now, in order (the stream's task may append meanwhile)."""
        batch: list[Item] = []
        popleft = self._queue.popleft
        for _ in range(len(self._queue)):
            batch.append(popleft())
        return batch

    def _fail(self, exc: OSError, lost: int) -> None:
        self._failed_writes += lost
        if self.error is None:
            self.error = f"{type(exc).__name__}: {exc}"
            self.logger.error("recorder: writing %s failed, recording stops (the call goes "
                              "on): %s", self.wav.path, exc)
