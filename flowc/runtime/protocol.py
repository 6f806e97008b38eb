"""The Plivo audio-stream wire protocol (plivo.md §3): parse inbound JSON, build outbound.

Pure functions, no I/O. :func:`parse` turns one WebSocket text message into an event
value or raises :class:`ProtocolError`; the ``*_message`` builders return the JSON text of
each server → Plivo message. Where Plivo's own sources disagree both forms are accepted
(``playedStream``/``played``; numbers as JSON numbers or strings; ``extra_headers`` split
on ``,`` or ``;``).
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "MAX_SEQUENCE",
    "Cleared",
    "DtmfEvent",
    "Media",
    "Played",
    "ProtocolError",
    "Start",
    "Stop",
    "Unknown",
    "checkpoint_message",
    "clear_audio_message",
    "parse",
    "parse_extra_headers",
    "play_audio_message",
    "send_dtmf_message",
]


class ProtocolError(ValueError):
    """A message that does not follow the protocol (logged and dropped)."""


@dataclass(slots=True)
class Start:
    sequence: int | None
    call_id: str
    stream_id: str
    account_id: str
    tracks: tuple[str, ...]
    encoding: str | None
    sample_rate: int | None
    extra_headers: dict[str, str]


@dataclass(slots=True)
class Media:
    sequence: int | None
    track: str
    timestamp_ms: int
    chunk: int
    payload: bytes


@dataclass(slots=True)
class DtmfEvent:
    sequence: int | None
    digit: str
    track: str
    timestamp_ms: int


@dataclass(slots=True)
class Played:
    sequence: int | None
    name: str


@dataclass(slots=True)
class Cleared:
    sequence: int | None


@dataclass(slots=True)
class Stop:
    sequence: int | None
    reason: str


@dataclass(slots=True)
class Unknown:
    sequence: int | None
    event: str


Event = Start | Media | DtmfEvent | Played | Cleared | Stop | Unknown

MAX_SEQUENCE = 2**53 - 1
"""Largest ``sequenceNumber`` accepted (JSON's safe integers); beyond it is malformed."""

_TRACKS = ("inbound", "outbound")
_DTMF_DIGITS = frozenset("0123456789*#ABCDabcd")
_HEADER_SPLIT = re.compile(r"[;,]")


def _int(value: Any, what: str, *, default: int | None = None) -> int:
    """An int sent as a JSON number or a decimal string."""
    if type(value) is int:
        return value
    if type(value) is str and value.isdigit():
        return int(value)
    if value is None and default is not None:
        return default
    if isinstance(value, bool):
        raise ProtocolError(f"{what} must be a number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ProtocolError(f"{what} must be a number, got {value!r}")


def _str(value: Any, what: str, *, default: str | None = None) -> str:
    if type(value) is str:
        return value
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a string, got {value!r}")
    return value


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be an object, got {type(value).__name__}")
    return value


def parse_extra_headers(value: Any) -> dict[str, str]:
    """``"a=1;b=2"`` or ``"a=1,b=2"`` (or an object) as a dict; bad items are skipped."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if not isinstance(value, str):
        raise ProtocolError(f"extra_headers must be a string, got {value!r}")
    headers: dict[str, str] = {}
    for item in _HEADER_SPLIT.split(value):
        key, _, val = item.partition("=")
        if key.strip():
            headers[key.strip()] = val.strip()
    return headers


def parse(raw: str | bytes) -> Event:
    """One inbound text message as an event. Raises :class:`ProtocolError` when malformed."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if type(message) is not dict:
        raise ProtocolError(f"message must be an object, got {type(message).__name__}")
    event = message.get("event")
    seq_value = message.get("sequenceNumber")
    sequence = seq_value if type(seq_value) is int or seq_value is None else _int(
        seq_value, "sequenceNumber")
    if sequence is not None and not 0 <= sequence <= MAX_SEQUENCE:
        raise ProtocolError(f"sequenceNumber out of range: {sequence}")
    if event == "media":  # the hot path: about 50 a second per track and stream
        media = message.get("media")
        if type(media) is not dict:
            raise ProtocolError("media must be an object")
        track = media.get("track", "inbound")
        if track != "inbound" and track != "outbound":
            raise ProtocolError(f"unknown media.track {track!r}")
        payload = media.get("payload")
        if type(payload) is not str:
            raise ProtocolError(f"media.payload must be a string, got {payload!r}")
        try:
            audio = binascii.a2b_base64(payload, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(f"media.payload is not base64: {exc}") from None
        return Media(
            sequence,
            track,
            _int(media.get("timestamp"), "media.timestamp", default=0),
            _int(media.get("chunk"), "media.chunk", default=0),
            audio,
        )
    if not isinstance(event, str):
        raise ProtocolError(f"missing or non-string 'event': {event!r}")
    if event == "start":
        start = _object(message.get("start"), "start")
        tracks_value = start.get("tracks", ["inbound"])
        if not isinstance(tracks_value, list) or not all(t in _TRACKS for t in tracks_value):
            raise ProtocolError(f"start.tracks must list inbound/outbound, got {tracks_value!r}")
        fmt = start.get("mediaFormat") or {}
        fmt = _object(fmt, "start.mediaFormat")
        encoding = fmt.get("encoding")
        if encoding is not None:
            encoding = _str(encoding, "mediaFormat.encoding").split(";", 1)[0].strip()
        rate = fmt.get("sampleRate")
        return Start(
            sequence,
            _str(start.get("callId"), "start.callId", default=""),
            _str(start.get("streamId", message.get("streamId")), "start.streamId", default=""),
            _str(start.get("accountId"), "start.accountId", default=""),
            tuple(tracks_value) or ("inbound",),
            encoding,
            None if rate is None else _int(rate, "mediaFormat.sampleRate"),
            parse_extra_headers(message.get("extra_headers", start.get("extra_headers"))),
        )
    if event == "dtmf":
        dtmf = _object(message.get("dtmf"), "dtmf")
        digit = _str(dtmf.get("digit"), "dtmf.digit")
        if len(digit) != 1 or digit not in _DTMF_DIGITS:
            raise ProtocolError(f"bad dtmf.digit {digit!r}")
        track = _str(dtmf.get("track"), "dtmf.track", default="inbound")
        if track not in _TRACKS:
            raise ProtocolError(f"unknown dtmf.track {track!r}")
        return DtmfEvent(sequence, digit, track,
                         _int(dtmf.get("timestamp"), "dtmf.timestamp", default=0))
    if event in ("playedStream", "played"):
        return Played(sequence, _str(message.get("name"), "name", default=""))
    if event == "clearedAudio":
        return Cleared(sequence)
    if event == "stop":
        stop = message.get("stop")
        reason = message.get("reason")
        if isinstance(stop, dict):
            reason = stop.get("reason", reason)
        return Stop(sequence, reason if isinstance(reason, str) else "stop event")
    return Unknown(sequence, event)


# ----------------------------------------------------------------------------- outbound


def play_audio_message(content_type: str, sample_rate: int, audio: bytes) -> str:
    """``playAudio`` with ``audio`` (already encoded in ``content_type``) as base64."""
    payload = binascii.b2a_base64(audio, newline=False).decode("ascii")
    return orjson.dumps(
        {"event": "playAudio",
         "media": {"contentType": content_type, "sampleRate": sample_rate, "payload": payload}}
    ).decode()


def checkpoint_message(stream_id: str, name: str) -> str:
    """``checkpoint``: Plivo answers ``playedStream`` once the audio before it has played."""
    return orjson.dumps({"event": "checkpoint", "streamId": stream_id, "name": name}).decode()


def clear_audio_message(stream_id: str) -> str:
    """``clearAudio``: drop everything Plivo has queued for playback."""
    return orjson.dumps({"event": "clearAudio", "streamId": stream_id}).decode()


def send_dtmf_message(digits: str) -> str:
    """``sendDTMF``: play DTMF digits into the call."""
    return orjson.dumps({"event": "sendDTMF", "dtmf": digits}).decode()
