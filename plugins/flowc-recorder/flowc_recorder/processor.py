"""The ``recorder`` tap: the call as heard, one durable WAV and a JSON sidecar per stream.

Channels: the caller (``inbound``) left, what the caller hears right: Plivo's
``outbound`` track when the stream carries it, otherwise the chunks flowc sent
(:class:`AudioSent`). The stream's task only places chunks on the timeline (at the
stream's rate); a worker thread resamples to the file's rate if it differs, encodes and
does the file I/O (:mod:`flowc_recorder.writer`), so live audio never waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream

from flowc.runtime.codec import StreamResampler
from flowc.runtime.frames import PCM, AudioIn, AudioSent, Frame
from flowc.runtime.processor import Emit, Processor, StreamContext
from flowc_recorder.naming import recording_path
from flowc_recorder.sidecar import write_sidecar
from flowc_recorder.timeline import StreamClock, TrackTimeline
from flowc_recorder.wavfile import FORMATS, DurableWav
from flowc_recorder.writer import RecordingWriter

FINISH_TIMEOUT_S = 5.0


def channel_layout(tracks: str, context: StreamContext) -> tuple[str, ...]:
    """The track recorded on each channel for the ``tracks`` setting."""
    if tracks == "both":
        return ("inbound", "outbound")
    if tracks in ("inbound", "outbound"):
        return (tracks,)
    has_in = "inbound" in context.tracks
    has_out = "outbound" in context.tracks or context.bidirectional
    if has_in and has_out:
        return ("inbound", "outbound")
    return ("outbound",) if has_out else ("inbound",)


class RecorderProcessor(Processor):
    """Records one stream. A disk problem is logged and the call goes on unrecorded."""

    def __init__(self, settings: Mapping[str, Any], context: StreamContext) -> None:
        super().__init__(settings, context)
        self.timeline_rate = context.sample_rate
        """Rate of the timeline: chunks are placed in stream samples."""
        self.rate = int(settings.get("sample_rate") or context.sample_rate)
        """The file's rate."""
        self.format = FORMATS[str(settings.get("format", "pcm16"))]
        self.layout = channel_layout(str(settings["tracks"]), context)
        self.outbound_source = "outbound" if "outbound" in context.tracks else "sent"
        self.clock = StreamClock(self.timeline_rate)
        self.timelines = {track: TrackTimeline(self.timeline_rate) for track in self.layout}
        self.writer: RecordingWriter | None = None
        self.path: Path | None = None
        self.error: str | None = None
        self.sent_frames = 0
        self._resamplers: dict[str, StreamResampler] = {}
        self._started = datetime.now(UTC)
        self._ended: datetime | None = None

    @property
    def sidecar_path(self) -> Path | None:
        return None if self.path is None else self.path.with_suffix(".json")

    async def start(self) -> None:
        self._started = datetime.now(UTC)
        try:
            self.path = recording_path(Path(str(self.settings["directory"])),
                                       str(self.settings["filename"]), self._names())
            wav = await anyio.to_thread.run_sync(self._open, self.path)
        except (OSError, ValueError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.context.logger.error(
                "recorder: cannot record stream %s of call %s to %s: %s (the call goes on "
                "unrecorded)", self.context.stream_id, self.context.call_id,
                self.path or self.settings["directory"], exc)
            return
        # a queue item is one 20 ms chunk of one track
        queue_size = max(1, int(float(self.settings["buffer"]) * 50 * len(self.layout)))
        self.writer = RecordingWriter(wav, queue_size=queue_size,
                                      fsync_interval=float(self.settings["fsync"]),
                                      logger=self.context.logger,
                                      stream_rate=self.timeline_rate)

    def _open(self, path: Path) -> DurableWav:
        path.parent.mkdir(parents=True, exist_ok=True)
        wav = DurableWav(path, self.rate, len(self.layout), self.format)
        if self.settings["sidecar"]:
            try:
                write_sidecar(path.with_suffix(".json"), self.describe())
            except OSError:
                wav.close()
                raise
        return wav

    async def run(self, inbox: ObjectReceiveStream[Frame], emit: Emit) -> None:
        """A tap: consume copies, emit nothing."""
        async with inbox:
            async for frame in inbox:
                self.take(frame)

    def take(self, frame: Frame) -> None:
        """Place one frame on the timeline and queue it for the disk (never blocks)."""
        if self.writer is None:
            return
        if isinstance(frame, AudioIn):
            track = frame.track
            if track not in self.timelines or (
                    track == "outbound" and self.outbound_source != "outbound"):
                return
            pcm = self._at_rate(track, frame.pcm, frame.rate)
            position = self.clock.from_timestamp(frame.timestamp_ms)
            start = self.timelines[track].place(len(pcm), position, frame.chunk)
        elif isinstance(frame, AudioSent):
            track = "outbound"
            if track not in self.timelines or self.outbound_source != "sent":
                return
            self.sent_frames += 1
            pcm = self._at_rate("sent", frame.pcm, frame.rate)
            # a chunk plays when it is sent, or right after the previous one if that is
            # still playing (Plivo queues played audio): what the caller hears
            position = self.clock.from_stream_ms(frame.stream_ms)
            start = self.timelines[track].place(len(pcm), position)
        else:
            return
        if start is not None and len(pcm):
            self.writer.submit(self.layout.index(track), start, pcm)

    def _at_rate(self, key: str, pcm: PCM, rate: int) -> PCM:
        if rate == self.timeline_rate:
            return pcm
        resampler = self._resamplers.get(key)
        if resampler is None or resampler.in_rate != rate:
            resampler = self._resamplers[key] = StreamResampler(rate, self.timeline_rate)
        return resampler.process(pcm)

    async def close(self) -> None:
        if self._ended is not None:
            return
        self._ended = datetime.now(UTC)
        if self.writer is None:
            return
        # not abandoned on cancellation: the file is finalized before close() returns
        await anyio.to_thread.run_sync(self._finish)

    def _finish(self) -> None:
        assert self.writer is not None and self.path is not None
        if not self.writer.finish(FINISH_TIMEOUT_S):
            self.context.logger.error("recorder: %s did not finish writing in %.0f s",
                                      self.path, FINISH_TIMEOUT_S)
        if self.settings["sidecar"]:
            try:
                write_sidecar(self.path.with_suffix(".json"), self.describe())
            except OSError as exc:
                self.context.logger.error("recorder: cannot write %s: %s",
                                          self.path.with_suffix(".json"), exc)
        stats = self.describe()
        self.context.logger.info(
            "recorder: %s %.1f s, %d gaps, %d drops", self.path, stats["duration_s"],
            sum(g["count"] for g in stats["gaps"].values()), stats["drops"]["total"])

    def _names(self) -> dict[str, str]:
        ctx = self.context
        return {
            "flow": ctx.flow, "version": ctx.flow_version, "call_id": ctx.call_id,
            "stream_id": ctx.stream_id, "stream_key": ctx.stream_key,
            "account_id": ctx.account_id, "date": self._started.strftime("%Y-%m-%d"),
            "time": self._started.strftime("%H%M%S"), "from": ctx.params.get("From", ""),
            "to": ctx.params.get("To", ""),
        }

    def describe(self) -> dict[str, Any]:
        """The sidecar's content as of now."""
        ctx = self.context
        writer = self.writer
        frames_written = writer.wav.frames if writer is not None else 0
        duplicates = sum(t.stats.duplicates for t in self.timelines.values())
        return {
            "flow": ctx.flow,
            "flow_version": ctx.flow_version,
            "call_id": ctx.call_id,
            "stream_id": ctx.stream_id,
            "stream_key": ctx.stream_key,
            "account_id": ctx.account_id,
            "from": ctx.params.get("From"),
            "to": ctx.params.get("To"),
            "extra_headers": dict(ctx.extra_headers),
            "file": self.path.name if self.path is not None else None,
            "content_type": ctx.content_type,
            "format": self.format.name,
            "sample_rate": self.rate,
            "channels": list(self.layout),
            "outbound_source": self.outbound_source if "outbound" in self.layout else None,
            "started_at": self._started.isoformat(timespec="milliseconds"),
            "ended_at": None if self._ended is None else self._ended.isoformat(
                timespec="milliseconds"),
            "complete": self._ended is not None,
            "duration_s": round(frames_written / self.rate, 3),
            "samples": frames_written,
            "frames": {track: t.stats.frames for track, t in self.timelines.items()},
            "gaps": {track: {"count": t.stats.gaps,
                             "ms": round(t.stats.gap_samples * 1000 / self.timeline_rate, 1)}
                     for track, t in self.timelines.items()},
            "drops": {
                "queue": writer.queue_drops if writer is not None else 0,
                "disk": writer.error_drops if writer is not None else 0,
                "duplicates": duplicates,
                "total": (writer.drops if writer is not None else 0) + duplicates,
            },
            "error": (writer.error if writer is not None else None) or self.error,
        }
