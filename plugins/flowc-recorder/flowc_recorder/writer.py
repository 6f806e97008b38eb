"""The disk side of a recording: a worker thread fed through a bounded queue.

The stream's task only places chunks and hands them over with :meth:`submit`, which
never waits: when the disk falls behind and the queue is full, the chunk is dropped and
counted. The thread writes in batches, rewrites the WAV header after every batch (so it
is never more than one batch behind, well under a second) and fsyncs every
``fsync_interval`` seconds. When the file's rate is not the stream's, the thread also
resamples (:mod:`flowc_recorder.resampling`): chunks are queued at the stream's rate.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from flowc.runtime.frames import PCM
from flowc_recorder.resampling import Item, TimelineResampler
from flowc_recorder.wavfile import DurableWav

_STOP = object()
BATCH = 64


class RecordingWriter:
    """Owns a :class:`DurableWav` on a daemon thread."""

    def __init__(self, wav: DurableWav, *, queue_size: int, fsync_interval: float,
                 logger: logging.Logger, stream_rate: int | None = None) -> None:
        """``stream_rate``: the rate of the queued chunks' positions and samples, when it
        is not the file's."""
        self.wav = wav
        self._resampler = (None if stream_rate is None or stream_rate == wav.rate
                           else TimelineResampler(stream_rate, wav.rate, wav.channels))
        self.fsync_interval = fsync_interval
        self.logger = logger
        self.queue_drops = 0
        """Chunks dropped because the queue was full (counted by the stream's task)."""
        self._failed_writes = 0
        self._refused = 0
        self.lost_samples = 0
        self.error: str | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(queue_size, 1))
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
        try:
            self._queue.put_nowait((channel, start, pcm))
        except queue.Full:
            self.queue_drops += 1
            return False
        return True

    def finish(self, timeout: float) -> bool:
        """Write what is queued, finalize the file and stop (blocking; run it in a
        thread). ``False`` if the thread did not finish within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self._thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=0.05)
                break
            except queue.Full:
                if time.monotonic() > deadline:
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()

    def _work(self) -> None:
        last_sync = time.monotonic()
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                first = None
            batch: list[Item] = []
            item = first
            while item is not None:
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
                if len(batch) >= BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
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

    def _fail(self, exc: OSError, lost: int) -> None:
        self._failed_writes += lost
        if self.error is None:
            self.error = f"{type(exc).__name__}: {exc}"
            self.logger.error("recorder: writing %s failed, recording stops (the call goes "
                              "on): %s", self.wav.path, exc)
