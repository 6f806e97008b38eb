"""The Plivo side of an audio stream: a WebSocket client that behaves like Plivo's media server.

It connects to a ``<Stream>`` URL with the handshake headers Plivo sends, sends ``start``,
then a ``media`` frame every 20 ms for each track (caller speech when some is queued,
silence otherwise) and ``dtmf`` when asked, exactly in the shapes of plivo.md §3.2. What
the server sends back is played out like a phone would: ``playAudio`` is decoded and queued
behind audio still playing at real-time speed, each ``checkpoint`` is answered with
``playedStream`` once the audio queued before it has played, ``clearAudio`` drops the
queued audio (and the checkpoints behind it) and is answered with ``clearedAudio``;
``sendDTMF`` is recorded.

Everything is timed on one clock (``clock``, seconds; ``time.monotonic`` by default), so
several streams of one call can share a timeline. Use it as an async context manager::

    spec = StreamSpec("ws://127.0.0.1:8000/flows/demo/streams/agent",
                      content_type="audio/x-l16;rate=16000", bidirectional=True)
    async with PlivoStreamClient(spec, fast=True) as stream:
        await stream.speak(pcm, 16000)          # queued, sent as 20 ms media frames
        await stream.wait_idle(quiet=1.0)        # until the agent has finished talking
    audio, rate = stream.heard_pcm()             # what the caller heard
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import numpy as np
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from flowc.model import split_content_type
from flowc.runtime import codec
from flowc.runtime.frames import PCM
from flowc.runtime.signature import signature_v3

__all__ = [
    "CONTENT_TYPES",
    "FRAME_MS",
    "HandshakeRejected",
    "PlivoStreamClient",
    "Segment",
    "StreamEvent",
    "StreamSpec",
    "Utterance",
    "mix_segments",
]

FRAME_MS = 20
"""Duration of one ``media`` frame (Plivo's chunk size, plivo.md §3.2)."""

CONTENT_TYPES = ("audio/x-mulaw;rate=8000", "audio/x-l16;rate=8000", "audio/x-l16;rate=16000")

_BIDIRECTIONAL_ONLY = frozenset({"playAudio", "checkpoint", "clearAudio", "sendDTMF"})
"""Server messages Plivo acts on only when the stream is ``bidirectional="true"``."""

_TRACKS: dict[str, tuple[str, ...]] = {
    "inbound": ("inbound",),
    "outbound": ("outbound",),
    "both": ("inbound", "outbound"),
}


class HandshakeRejected(Exception):
    """The server refused the WebSocket upgrade (``status`` is its HTTP status)."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"stream {url} refused the handshake with HTTP {status}")
        self.url = url
        self.status = status


@dataclass(frozen=True)
class StreamSpec:
    """What Plivo knows about a stream from its ``<Stream>`` element."""

    url: str
    content_type: str = "audio/x-mulaw;rate=8000"
    audio_track: str = "inbound"
    bidirectional: bool = False
    extra_headers: str | None = None
    stream_timeout: float | None = None
    """Seconds after which Plivo stops the stream (``streamTimeout``)."""

    def __post_init__(self) -> None:
        if self.content_type not in CONTENT_TYPES:
            raise ValueError(f"unsupported contentType {self.content_type!r}")
        if self.audio_track not in _TRACKS:
            raise ValueError(f"unsupported audioTrack {self.audio_track!r}")

    @property
    def encoding(self) -> str:
        """``audio/x-mulaw`` or ``audio/x-l16``."""
        return split_content_type(self.content_type)[0]

    @property
    def sample_rate(self) -> int:
        """8000 or 16000."""
        return split_content_type(self.content_type)[1]

    @property
    def tracks(self) -> tuple[str, ...]:
        """``start.tracks``: ``["inbound"]``, ``["outbound"]`` or both."""
        return _TRACKS[self.audio_track]


@dataclass(frozen=True)
class Segment:
    """A stretch of audio on the client clock: ``start`` seconds, PCM16 at ``rate``."""

    start: float
    pcm: PCM
    rate: int

    @property
    def duration(self) -> float:
        """Seconds."""
        return len(self.pcm) / self.rate

    @property
    def end(self) -> float:
        """``start + duration``."""
        return self.start + self.duration


@dataclass(frozen=True)
class StreamEvent:
    """One message on the socket: ``direction`` ``sent`` (by us, as Plivo) or ``received``.

    ``media`` and ``playAudio`` messages are counted, not logged, to keep this short;
    ``message`` is the JSON object as sent or received.
    """

    time: float
    direction: Literal["sent", "received"]
    event: str
    message: Mapping[str, Any]


@dataclass
class Utterance:
    """Caller speech queued with :meth:`PlivoStreamClient.say`; times fill in as it is sent."""

    pcm: PCM
    """At the stream's sample rate."""
    label: str = ""
    started: float | None = None
    """Clock time the first chunk was sent."""
    ended: float | None = None
    """Clock time the last chunk was sent (end of caller speech)."""
    barge_in: bool = False
    """Audio from the server was still playing when it started."""
    begun: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the first chunk is sent."""
    done: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the last chunk is sent (or the stream closed first)."""
    offset: int = 0
    """Samples sent so far."""


@dataclass
class _Pending:
    """A checkpoint waiting for the audio before it to play."""

    due: float
    name: str


class PlivoStreamClient:
    """One Plivo audio stream, client side. See the module docstring.

    ``fast`` sends queued caller speech as fast as the socket takes it (silence between
    utterances is still paced in real time, so the server's end-of-speech timing holds).
    ``clock`` gives seconds; all times in :attr:`events`, :attr:`heard`, :attr:`sent`
    are on it. ``auth_token`` signs the handshake with ``X-Plivo-Signature-V3``.
    ``on_event(event)`` is called for each logged message (for live timelines).
    """

    def __init__(
        self,
        spec: StreamSpec,
        *,
        call_id: str | None = None,
        stream_id: str | None = None,
        account_id: str = "MAFLOWCSIMULATOR0000",
        auth_token: str | None = None,
        fast: bool = False,
        clock: Callable[[], float] = time.monotonic,
        on_event: Callable[[StreamEvent], None] | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        self.spec = spec
        self.call_id = call_id or str(uuid.uuid4())
        self.stream_id = stream_id or str(uuid.uuid4())
        self.account_id = account_id
        self.auth_token = auth_token
        self.fast = fast
        self.clock = clock
        self.on_event = on_event
        self.open_timeout = open_timeout

        self.events: list[StreamEvent] = []
        """Every message but ``media``/``playAudio`` (those are counted and kept as audio)."""
        self.heard: list[Segment] = []
        """Audio the server played to the caller, as it played (cut short by clearAudio)."""
        self.sent: list[Segment] = []
        """Caller speech sent on the inbound track, placed on the media clock (20 ms per
        frame since the stream opened; the wall clock unless ``fast``)."""
        self.utterances: list[Utterance] = []
        self.audio_arrivals: list[tuple[float, float]] = []
        """Each ``playAudio``: (arrival time, seconds of audio)."""
        self.dtmf_received: list[tuple[float, str]] = []
        """``sendDTMF`` digits from the server, with their arrival time."""
        self.checkpoints_played: list[tuple[float, str]] = []
        self.clears: list[tuple[float, float]] = []
        """Each ``clearAudio``: (time, seconds of queued audio it dropped)."""
        self.protocol_errors: list[str] = []
        """Messages Plivo would reject or not understand (playAudio in another codec...)."""
        self.opened_at: float | None = None
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.handshake_headers: dict[str, str] = {}

        self._counts: dict[str, int] = {
            "media_sent": 0, "media_bytes_sent": 0, "dtmf_sent": 0, "play_audio_received": 0,
            "play_audio_bytes_received": 0, "checkpoints_received": 0, "played_sent": 0,
            "clear_audio_received": 0, "send_dtmf_received": 0, "unknown_received": 0,
        }
        self._ws: ClientConnection | None = None
        self._sequence = 0
        self._chunks = dict.fromkeys(spec.tracks, 0)
        self._epoch_ms = 0
        self._media_ms = 0
        self._queue: deque[Utterance] = deque()
        self._outbound: deque[PCM] = deque()
        self._play_end = 0.0
        self._last_audio_at: float | None = None
        self._pending: list[_Pending] = []
        self._wake = asyncio.Event()
        self._audio_event = asyncio.Event()
        self._closed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._send_lock = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> PlivoStreamClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def handshake(self) -> dict[str, str]:
        """The extra HTTP headers of the upgrade request (signature when a token is set)."""
        headers: dict[str, str] = {}
        if self.auth_token:
            nonce = "".join(secrets.choice("0123456789") for _ in range(20))
            url = self.spec.url
            http_url = "http" + url[2:] if url.startswith("ws") else url
            headers["X-Plivo-Signature-V3"] = signature_v3("GET", http_url, nonce, self.auth_token)
            headers["X-Plivo-Signature-V3-Nonce"] = nonce
        return headers

    async def connect(self) -> None:
        """Open the socket, send ``start`` and begin streaming (silence until :meth:`say`).

        Raises :class:`HandshakeRejected` when the server answers the upgrade with an
        HTTP error, ``OSError`` when nothing listens.
        """
        self.handshake_headers = self.handshake()
        try:
            self._ws = await connect(
                self.spec.url,
                additional_headers=self.handshake_headers,
                compression=None,
                open_timeout=self.open_timeout,
                max_size=None,
                user_agent_header=None,
            )
        except InvalidStatus as exc:
            raise HandshakeRejected(self.spec.url, exc.response.status_code) from exc
        self.opened_at = self.clock()
        self._epoch_ms = int(time.time() * 1000)
        self._play_end = self.opened_at
        start: dict[str, Any] = {
            "event": "start",
            "sequenceNumber": self._next_sequence(),
            "start": {
                "callId": self.call_id,
                "streamId": self.stream_id,
                "accountId": self.account_id,
                "tracks": list(self.spec.tracks),
                "mediaFormat": {
                    "encoding": self.spec.encoding,
                    "sampleRate": self.spec.sample_rate,
                },
            },
        }
        if self.spec.extra_headers is not None:
            start["extra_headers"] = self.spec.extra_headers
        await self._send(start, log=True)
        self._tasks = [
            asyncio.create_task(self._receiver(), name="plivo-receiver"),
            asyncio.create_task(self._microphone(), name="plivo-microphone"),
            asyncio.create_task(self._playout(), name="plivo-playout"),
        ]
        if self.spec.stream_timeout is not None:
            self._tasks.append(asyncio.create_task(self._timeout(self.spec.stream_timeout)))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Hang up: close the socket (Plivo sends no JSON ``stop``) and stop all tasks."""
        if self._ws is not None and not self._closed.is_set():
            with contextlib.suppress(ConnectionClosed, OSError):
                await self._ws.close(code, reason)
        await self._finish()

    async def wait_closed(self, within: float | None = None) -> bool:
        """Wait until the server (or :meth:`close`) ends the stream; False after ``within`` s."""
        try:
            await asyncio.wait_for(self._closed.wait(), within)
        except TimeoutError:
            return False
        await self._finish()
        return True

    @property
    def closed(self) -> bool:
        """The socket is closed."""
        return self._closed.is_set()

    # ------------------------------------------------------------------ caller side

    def say(self, pcm: PCM, rate: int, *, label: str = "") -> Utterance:
        """Queue caller speech (any rate; resampled to the stream's) and return at once."""
        audio = codec.resample(np.asarray(pcm, dtype=np.int16), rate, self.spec.sample_rate)
        utterance = Utterance(audio, label)
        self.utterances.append(utterance)
        self._queue.append(utterance)
        return utterance

    async def speak(self, pcm: PCM, rate: int, *, label: str = "") -> Utterance:
        """Queue caller speech and wait until its last frame is sent (or the stream ends)."""
        utterance = self.say(pcm, rate, label=label)
        await self._until(utterance.done.wait())
        return utterance

    async def send_dtmf(self, digit: str) -> None:
        """Send a ``dtmf`` event for one key the caller pressed (``0-9 * # A-D``)."""
        if len(digit) != 1 or digit not in "0123456789*#ABCD":
            raise ValueError(f"not a DTMF digit: {digit!r}")
        message: dict[str, Any] = {
            "event": "dtmf",
            "sequenceNumber": self._next_sequence(),
            "streamId": self.stream_id,
            "dtmf": {
                "track": "inbound",
                "digit": digit,
                "timestamp": str(self._epoch_ms + self._media_ms),
            },
        }
        if self.spec.extra_headers is not None:
            message["extra_headers"] = self.spec.extra_headers
        self._counts["dtmf_sent"] += 1
        await self._send(message, log=True)

    def play_to_caller(self, pcm: PCM, rate: int) -> None:
        """Audio the caller hears from elsewhere in the call (it feeds the ``outbound`` track)."""
        self._outbound.append(codec.resample(pcm, rate, self.spec.sample_rate))

    # ------------------------------------------------------------------ playback state

    @property
    def playing(self) -> bool:
        """Audio from the server is still queued for playback."""
        return self._play_end > self.clock()

    @property
    def speaking(self) -> bool:
        """Caller speech is queued or being sent."""
        return bool(self._queue)

    @property
    def last_audio_at(self) -> float | None:
        """Arrival time of the latest ``playAudio``."""
        return self._last_audio_at

    async def wait_audio(self, count: int = 1, within: float | None = None) -> bool:
        """Wait until ``count`` ``playAudio`` messages have arrived in all; False after
        ``within`` seconds or when the stream closes first."""

        async def arrived() -> None:
            while len(self.audio_arrivals) < count and not self.closed:
                self._audio_event.clear()
                await self._audio_event.wait()

        try:
            await asyncio.wait_for(arrived(), within)
        except TimeoutError:
            return False
        return len(self.audio_arrivals) >= count

    async def wait_idle(
        self, quiet: float = 1.0, within: float | None = None, *, since: float | None = None
    ) -> bool:
        """Wait until the caller has nothing left to say, nothing is playing and no
        ``playAudio`` arrived for ``quiet`` seconds (counted from ``since`` at the
        earliest), or the stream closed. False after ``within`` seconds."""
        deadline = None if within is None else self.clock() + within
        while not self.closed:
            now = self.clock()
            idle_since = max(self._play_end, self._last_audio_at or 0.0,
                             self.opened_at or now, since or 0.0)
            if not self._queue and now - idle_since >= quiet:
                return True
            if deadline is not None and now >= deadline:
                return False
            await self._until(asyncio.sleep(0.02))
        return True

    def heard_pcm(self, origin: float | None = None) -> tuple[PCM, int]:
        """What the caller heard from the server as one PCM signal from ``origin``
        (default: when the stream opened), silence between replies."""
        start = self.opened_at if origin is None else origin
        return mix_segments(self.heard, self.spec.sample_rate, start or 0.0), self.spec.sample_rate

    def caller_pcm(self, origin: float | None = None) -> tuple[PCM, int]:
        """The caller's speech as sent, as one PCM signal from ``origin``."""
        start = self.opened_at if origin is None else origin
        return mix_segments(self.sent, self.spec.sample_rate, start or 0.0), self.spec.sample_rate

    def statistics(self) -> dict[str, Any]:
        """Counters: frames and bytes each way, checkpoints, clears, DTMF, errors."""
        out: dict[str, Any] = dict(self._counts)
        out["heard_seconds"] = round(sum(s.duration for s in self.heard), 3)
        out["sent_speech_seconds"] = round(sum(s.duration for s in self.sent), 3)
        out["cleared_seconds"] = round(sum(d for _, d in self.clears), 3)
        out["protocol_errors"] = len(self.protocol_errors)
        return out

    # ------------------------------------------------------------------ internals

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def _log(self, direction: Literal["sent", "received"], message: Mapping[str, Any]) -> None:
        event = StreamEvent(self.clock(), direction, str(message.get("event", "?")), message)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    async def _send(self, message: Mapping[str, Any], *, log: bool) -> None:
        if self._ws is None or self._closed.is_set():
            return
        data = orjson.dumps(message).decode()
        try:
            async with self._send_lock:
                await self._ws.send(data)
        except ConnectionClosed:
            self._closed.set()
            return
        if log:
            self._log("sent", message)

    async def _until(self, awaitable: Any) -> None:
        """Await ``awaitable`` unless the stream closes first."""
        task = asyncio.ensure_future(awaitable)
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, closed):
                if not pending.done():
                    pending.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pending

    async def _finish(self) -> None:
        self._closed.set()
        if self.closed_at is None:
            self.closed_at = self.clock()
            self._truncate_playback(self.closed_at)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current and not task.done():
                task.cancel()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
        for utterance in self.utterances:
            utterance.begun.set()
            utterance.done.set()

    async def _timeout(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.close(1000, "streamTimeout")

    def _media_message(self, track: str, payload: bytes | str) -> dict[str, Any]:
        self._chunks[track] += 1
        if isinstance(payload, bytes):
            payload = base64.b64encode(payload).decode("ascii")
        message: dict[str, Any] = {
            "event": "media",
            "sequenceNumber": self._next_sequence(),
            "streamId": self.stream_id,
            "media": {
                "track": track,
                "timestamp": str(self._epoch_ms + self._media_ms),
                "chunk": self._chunks[track],
                "payload": payload,
            },
        }
        if self.spec.extra_headers is not None:
            message["extra_headers"] = self.spec.extra_headers
        return message

    def _next_inbound(self, samples: int, now: float) -> tuple[PCM, bool]:
        """The next 20 ms of caller audio (speech if queued, else silence)."""
        while self._queue:
            utterance = self._queue[0]
            if utterance.started is None:
                utterance.started = now
                utterance.barge_in = self._play_end > now
                utterance.begun.set()
            chunk = utterance.pcm[utterance.offset : utterance.offset + samples]
            utterance.offset += len(chunk)
            if utterance.offset >= len(utterance.pcm):
                utterance.ended = now
                self._queue.popleft()
                utterance.done.set()
            if len(chunk) == 0:
                continue
            if len(chunk) < samples:
                chunk = np.concatenate([chunk, np.zeros(samples - len(chunk), np.int16)])
            # On the media clock: in fast mode speech runs ahead of the wall clock.
            at = (self.opened_at or now) + self._media_ms / 1000
            self.sent.append(Segment(at, chunk, self.spec.sample_rate))
            return chunk, True
        return np.zeros(samples, np.int16), False

    def _next_outbound(self, samples: int) -> PCM:
        out = np.zeros(samples, np.int16)
        filled = 0
        while self._outbound and filled < samples:
            head = self._outbound[0]
            take = min(samples - filled, len(head))
            out[filled : filled + take] = head[:take]
            filled += take
            if take == len(head):
                self._outbound.popleft()
            else:
                self._outbound[0] = head[take:]
        return out

    async def _microphone(self) -> None:
        """One ``media`` frame per track every 20 ms (queued speech faster when ``fast``)."""
        samples = self.spec.sample_rate * FRAME_MS // 1000
        step = FRAME_MS / 1000
        quiet = codec.encode(np.zeros(samples, np.int16), self.spec.encoding)
        quiet_b64 = base64.b64encode(quiet).decode("ascii")
        next_due = self.clock()
        while not self._closed.is_set():
            now = self.clock()
            speech = False
            for track in self.spec.tracks:
                if track == "inbound":
                    pcm, speech = self._next_inbound(samples, now)
                    voiced = speech
                else:
                    pcm = self._next_outbound(samples)
                    voiced = bool(pcm.any())
                payload: bytes | str = (
                    codec.encode(pcm, self.spec.encoding) if voiced else quiet_b64)
                self._counts["media_sent"] += 1
                self._counts["media_bytes_sent"] += len(quiet)
                await self._send(self._media_message(track, payload), log=False)
            self._media_ms += FRAME_MS
            if speech and self.fast:
                next_due = self.clock() + step
                await asyncio.sleep(0)
                continue
            next_due += step
            delay = next_due - self.clock()
            if delay < -0.1:  # the loop stalled: resynchronise instead of bursting
                next_due = self.clock()
                delay = 0.0
            await asyncio.sleep(max(delay, 0.0))

    async def _receiver(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                self._handle(raw)
                self._wake.set()
                self._audio_event.set()
        except ConnectionClosed:
            pass
        finally:
            if self._ws.close_code is not None:
                self.close_code = self._ws.close_code
                self.close_reason = self._ws.close_reason or ""
            self._closed.set()
            self._wake.set()
            self._audio_event.set()

    def _handle(self, raw: str | bytes) -> None:
        now = self.clock()
        if isinstance(raw, bytes):
            self.protocol_errors.append("binary frame (Plivo expects JSON text frames)")
            return
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.protocol_errors.append(f"not JSON: {raw[:80]!r}")
            return
        if not isinstance(message, dict):
            self.protocol_errors.append(f"not a JSON object: {raw[:80]!r}")
            return
        event = message.get("event")
        if event in _BIDIRECTIONAL_ONLY and not self.spec.bidirectional:
            self._log("received", {"event": event})
            self.protocol_errors.append(
                f"{event} on a stream that is not bidirectional (Plivo ignores it)")
            return
        if event == "playAudio":
            self._on_play_audio(message, now)
        elif event == "checkpoint":
            self._log("received", message)
            self._counts["checkpoints_received"] += 1
            name = message.get("name")
            if not isinstance(name, str):
                self.protocol_errors.append("checkpoint without a string name")
                return
            self._pending.append(_Pending(max(self._play_end, now), name))
        elif event == "clearAudio":
            self._log("received", message)
            self._counts["clear_audio_received"] += 1
            self._on_clear(now)
        elif event == "sendDTMF":
            self._log("received", message)
            self._counts["send_dtmf_received"] += 1
            digits = message.get("dtmf")
            if not isinstance(digits, str) or not digits or any(
                d not in "0123456789*#ABCD" for d in digits
            ):
                self.protocol_errors.append(f"sendDTMF with invalid dtmf {digits!r}")
                return
            self.dtmf_received.append((now, digits))
        else:
            self._log("received", message)
            self._counts["unknown_received"] += 1
            self.protocol_errors.append(f"unknown event {event!r}")

    def _on_play_audio(self, message: Mapping[str, Any], now: float) -> None:
        media = message.get("media")
        if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
            self.protocol_errors.append("playAudio without media.payload")
            return
        content_type = media.get("contentType")
        rate = media.get("sampleRate")
        if content_type != self.spec.encoding:
            self.protocol_errors.append(
                f"playAudio contentType {content_type!r} differs from the stream's "
                f"{self.spec.encoding!r}")
            if content_type not in (codec.MULAW, codec.L16):
                return
        if not isinstance(rate, int) or isinstance(rate, bool):
            self.protocol_errors.append(f"playAudio sampleRate {rate!r} is not an integer")
            try:
                rate = int(rate)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return
        if rate != self.spec.sample_rate:
            self.protocol_errors.append(
                f"playAudio sampleRate {rate} differs from the stream's {self.spec.sample_rate}")
        try:
            payload = base64.b64decode(media["payload"], validate=True)
        except ValueError:
            self.protocol_errors.append("playAudio payload is not base64")
            return
        pcm = codec.decode(payload, str(content_type))
        pcm = codec.resample(pcm, rate, self.spec.sample_rate)
        self._counts["play_audio_received"] += 1
        self._counts["play_audio_bytes_received"] += len(payload)
        self._last_audio_at = now
        self.audio_arrivals.append((now, len(pcm) / self.spec.sample_rate))
        start = max(self._play_end, now)
        segment = Segment(start, pcm, self.spec.sample_rate)
        self.heard.append(segment)
        self._play_end = segment.end
        if len(self.heard) == 1 or self.heard[-2].end < now:
            self._log("received", {"event": "playAudio", "media": {
                "contentType": content_type, "sampleRate": rate, "bytes": len(payload)}})

    def _truncate_playback(self, now: float) -> float:
        """Cut what has not played by ``now``; return the seconds dropped."""
        dropped = 0.0
        kept: list[Segment] = []
        for segment in self.heard:
            if segment.end <= now:
                kept.append(segment)
                continue
            dropped += segment.end - max(segment.start, now)
            if segment.start < now:
                played = round((now - segment.start) * segment.rate)
                kept.append(Segment(segment.start, segment.pcm[:played], segment.rate))
        self.heard = kept
        self._play_end = min(self._play_end, now)
        return dropped

    def _on_clear(self, now: float) -> None:
        dropped = self._truncate_playback(now)
        self._pending.clear()  # their audio did not play: no playedStream (plivo.md §3.2)
        self.clears.append((now, dropped))
        message = {
            "event": "clearedAudio",
            "sequenceNumber": self._next_sequence(),
            "streamId": self.stream_id,
        }
        task = asyncio.ensure_future(self._send(message, log=True))
        self._tasks.append(task)

    async def _playout(self) -> None:
        """Answer each checkpoint with ``playedStream`` when its audio has played."""
        while not self._closed.is_set():
            now = self.clock()
            due = [p for p in self._pending if p.due <= now]
            for pending in due:
                self._pending.remove(pending)
                self.checkpoints_played.append((now, pending.name))
                self._counts["played_sent"] += 1
                await self._send({
                    "event": "playedStream",
                    "sequenceNumber": self._next_sequence(),
                    "streamId": self.stream_id,
                    "name": pending.name,
                }, log=True)
            self._wake.clear()
            wait = min((p.due for p in self._pending), default=now + 1.0) - self.clock()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)


def mix_segments(segments: list[Segment], rate: int, origin: float) -> PCM:
    """Lay ``segments`` (all at ``rate``) on one timeline starting at ``origin``; overlaps add."""
    if not segments:
        return np.zeros(0, np.int16)
    end = max(s.end for s in segments)
    out = np.zeros(max(0, round((end - origin) * rate) + 1), np.int32)
    for segment in segments:
        at = max(0, round((segment.start - origin) * rate))
        pcm = segment.pcm[: max(0, len(out) - at)]
        out[at : at + len(pcm)] += pcm
    clipped: PCM = np.clip(out, -32768, 32767).astype(np.int16)
    return clipped
