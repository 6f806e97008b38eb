"""Stream-protocol fuzzing against a live server (issue 6, item 3).

Thousands of malformed messages of every kind go down one stream while a clean stream
runs next to it. The server must stay up, the fuzzed stream must go on (every valid frame
sent between the junk reaches the pipeline, and no junk turns into audio that looks
valid), the clean stream must be untouched, and once both end the sessions, processors
and event-loop tasks must be gone.
"""

from __future__ import annotations

import base64
import gc
import random
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import orjson
import pytest
import websockets

from flowc.runtime.settings import ServeSettings

from . import kit

pytestmark = pytest.mark.anyio

JUNK_SAMPLE = b"\xee\xee"  # every media payload in the corpus is made of these bytes
VALID_FRAMES = 150
JUNK_PER_FRAME = 20  # 3,000 junk messages after start, plus the ones before it


@pytest.fixture(scope="module")
def live() -> Iterator[kit.Live]:
    settings = ServeSettings(close_timeout=3, idle_timeout=0, start_timeout=0)
    with kit.live_server([kit.recorder_flow()], settings) as server:
        yield server


def _text(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _media(**overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "event": "media", "sequenceNumber": 5, "streamId": "fuzz",
        "media": {"track": "inbound", "timestamp": "1705312200000", "chunk": 4,
                  "payload": _b64(JUNK_SAMPLE * 160)},
    }
    media = message["media"]
    for key, value in overrides.items():
        target = media if key in ("track", "timestamp", "chunk", "payload") else message
        if value is _DROP:
            target.pop(key, None)
        else:
            target[key] = value
    return message


_DROP = object()
_ODD_VALUES: list[Any] = [None, True, False, 0, -1, 1.5, 2**63, -(2**63), "", "x", "12",
                          " 7 ", [], [1], {}, {"a": 1}, "\u0000", "\u202e", "9" * 40]


def _not_json(rng: random.Random) -> str | bytes:
    return rng.choice([
        "", " ", "{", "}", "{not json", '{"event": "media"', "[" * 5000 + "]" * 4999,
        "NaN", '{"event": NaN}', "null", "true", "123", '"media"', "[1, 2]",
        '{"event": "media",}', "\u00ff\u00fe", "{'event': 'media'}",
        "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(1, 64))),
    ])


def _wrong_types(rng: random.Random) -> dict[str, Any]:
    key = rng.choice(["event", "sequenceNumber", "media", "payload", "track", "timestamp",
                      "chunk", "streamId"])
    value = rng.choice(_ODD_VALUES)
    if key == "event" and isinstance(value, str):
        value = 42  # a string event would be a (valid) unknown event
    if key == "payload" and isinstance(value, str):
        value = {"b64": value}
    return _media(**{key: value})


def _missing_fields(rng: random.Random) -> dict[str, Any]:
    return rng.choice([
        _media(event=_DROP), _media(media=_DROP), _media(payload=_DROP),
        {"event": "dtmf", "sequenceNumber": 6}, {"event": "dtmf", "dtmf": {}},
        {"event": "dtmf", "dtmf": {"digit": rng.choice(["", "55", "X", "\u0661", None])}},
        {"event": "start"}, {"event": "start", "start": []}, {},
    ])


def _bad_base64(rng: random.Random) -> dict[str, Any]:
    good = _b64(JUNK_SAMPLE * 160)
    return _media(payload=rng.choice([
        "***", "a", "ab=", "abc", good[:-1], good + "=", good.replace("7", "-"),
        good[:40] + "\n" + good[40:], good[:40] + " " + good[40:], "=" * 8, "7u7u\u00e9",
    ]))


def _odd_pcm(rng: random.Random) -> dict[str, Any]:
    size = rng.choice([0, 1, 3, 159, 161, 319, 321, 1001])
    return _media(payload=_b64((JUNK_SAMPLE * 600)[:size]))


def _sequence_chaos(rng: random.Random) -> dict[str, Any]:
    return _media(sequenceNumber=rng.choice([0, -5, 1, 2, 2**53, 10**15, "77"]),
                  chunk=rng.choice([0, -1, 10**12, 3]))


def _huge_under_limit(rng: random.Random) -> str | dict[str, Any]:
    choices: list[str | dict[str, Any]] = [
        _media(payload=_b64(JUNK_SAMPLE * 20_000)),          # 40 KB of audio in one frame
        orjson.dumps({"event": "x" * 50_000}).decode(),      # a 50 KB unknown event name
        orjson.dumps({"event": "media", "junk": ["y" * 100] * 500}).decode(),
        _media(streamId="s" * 40_000),
    ]
    return rng.choice(choices)


def _unknown_events(rng: random.Random) -> dict[str, Any]:
    return {"event": rng.choice(["", "MEDIA", "Media", "playAudio", "checkpoint",
                                 "clearAudio", "sendDTMF", "muteStream", "error",
                                 "playFailed", "\u0000", "media "]),
            "sequenceNumber": rng.randrange(1, 100)}


def _second_start(rng: random.Random) -> dict[str, Any]:
    # A second start (another codec, another stream id) must not reconfigure the stream.
    return kit.start_message("intruder", encoding="audio/x-mulaw", rate=8000)


def _binary(rng: random.Random) -> bytes:
    body = orjson.dumps(_media()) if rng.random() < 0.5 else rng.randbytes(rng.randrange(0, 300))
    return bytes(body)


KINDS: dict[str, Callable[[random.Random], Any]] = {
    "not JSON": _not_json,
    "wrong types": _wrong_types,
    "missing fields": _missing_fields,
    "bad base64": _bad_base64,
    "odd-length PCM": _odd_pcm,
    "sequence chaos": _sequence_chaos,
    "huge frames under the limit": _huge_under_limit,
    "unknown events": _unknown_events,
    "second start": _second_start,
    "binary frames": _binary,
}


def junk(rng: random.Random, exclude: str = "") -> tuple[str, str | bytes]:
    """One malformed message: its kind and the frame content (bytes = binary frame)."""
    kind = rng.choice([k for k in KINDS if k != exclude])
    message = KINDS[kind](rng)
    if isinstance(message, dict):
        message = orjson.dumps(message).decode()
    return kind, message


async def _clean_stream(live: kit.Live, stream_id: str, frames: int) -> list[bytes]:
    sent = []
    async with websockets.connect(live.stream_url()) as conn:
        await conn.send(_text(kit.start_message(stream_id)))
        for i in range(frames):
            payload = kit.pcm_payload(10_000 + i)
            sent.append(payload)
            await conn.send(_text(kit.media_message(stream_id, payload, i + 2)))
            if i % 10 == 0:
                await anyio.sleep(0.005)  # interleave with the fuzzed stream
    return sent


async def test_thousands_of_malformed_messages_leave_the_server_and_other_streams_intact(
    live: kit.Live,
) -> None:
    rng = random.Random(20261128)
    baseline_tasks = await kit.eventually(lambda: not live.runtime.sessions and live.task_count())
    malformed_before = live.runtime.metrics.malformed_messages
    kinds: Counter[str] = Counter()
    valid: list[bytes] = []
    session_refs: list[weakref.ref[Any]] = []
    early = kit.pcm_payload(555_555)  # media before start: dropped

    async def fuzzed() -> None:
        async with websockets.connect(live.stream_url(), max_size=None) as conn:
            for _ in range(200):  # junk before start (a start among it would be the start)
                kind, message = junk(rng, exclude="second start")
                kinds[kind] += 1
                await conn.send(message)
            await conn.send(_text(kit.media_message("fuzz", early, 2)))
            await conn.send(orjson.dumps(kit.start_message("fuzz")).decode())
            await kit.eventually(lambda: live.runtime.sessions)
            session_refs.extend(weakref.ref(s) for s in live.call(lambda: list(
                live.runtime.sessions)))
            seq = 2
            for i in range(VALID_FRAMES):
                payload = kit.pcm_payload(i + 1)
                message = orjson.dumps(kit.media_message("fuzz", payload, seq)).decode()
                repeats = 2 if i % 10 == 3 else 1  # duplicated sequence numbers
                for _ in range(repeats):
                    valid.append(payload)
                    await conn.send(message)
                seq += 1
                if i % 10 == 7:  # reordered: the next frame's sequence number goes first
                    later = kit.pcm_payload(100_000 + i)
                    await conn.send(_text(kit.media_message("fuzz", later, seq + 1)))
                    earlier = kit.pcm_payload(200_000 + i)
                    await conn.send(_text(kit.media_message("fuzz", earlier, seq)))
                    valid.extend([later, earlier])
                    seq += 2
                for _ in range(JUNK_PER_FRAME):
                    kind, junk_message = junk(rng)
                    kinds[kind] += 1
                    await conn.send(junk_message)
                if i % 20 == 0:
                    await anyio.sleep(0.001)

    clean: list[bytes] = []

    async def clean_stream() -> None:
        clean.extend(await _clean_stream(live, "clean", 300))

    async with anyio.create_task_group() as tg:
        tg.start_soon(fuzzed)
        tg.start_soon(clean_stream)

    fuzz = await kit.eventually(lambda: kit.seen("fuzz").statistics and kit.seen("fuzz"))
    other = await kit.eventually(lambda: kit.seen("clean").statistics and kit.seen("clean"))

    assert sum(kinds.values()) >= 3000 and set(kinds) == set(KINDS)
    # The fuzzed stream went on: every valid frame arrived, as often as it was sent...
    got = Counter(fuzz.frames)
    for payload, count in Counter(valid).items():
        assert got[payload] == count, valid.index(payload)
    # ...and whatever else arrived is junk audio, never a corrupted copy of a valid frame.
    extra = [f for f in fuzz.frames if f not in set(valid)]
    assert all(set(f[i:i + 2] for i in range(0, len(f), 2)) <= {JUNK_SAMPLE} for f in extra)
    assert early not in got
    assert fuzz.closed
    assert fuzz.statistics is not None and fuzz.statistics["reason"] == "socket closed"
    certainly_malformed = kinds["not JSON"] + kinds["binary frames"] + kinds["bad base64"]
    assert fuzz.statistics["malformed"] >= certainly_malformed
    assert live.runtime.metrics.malformed_messages - malformed_before >= certainly_malformed
    # The clean stream was untouched: every frame, in order, nothing malformed.
    assert other.frames == clean
    assert other.statistics is not None and other.statistics["malformed"] == 0
    # Nothing leaks: sessions, processors and tasks are gone once the streams end.
    await kit.eventually(lambda: not live.runtime.sessions)
    await kit.eventually(lambda: live.task_count() <= baseline_tasks)
    gc.collect()
    assert session_refs and all(ref() is None for ref in session_refs)
    assert all(ref() is None for ref in kit.PROCESSORS)


async def test_the_server_still_serves_new_streams_after_fuzzing(live: kit.Live) -> None:
    sent = await _clean_stream(live, "after", 20)
    record = await kit.eventually(lambda: kit.seen("after").statistics and kit.seen("after"))
    assert record.frames == sent


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_each_kind_alone_never_ends_the_stream(live: kit.Live, kind: str) -> None:
    rng = random.Random(kind)
    sid = f"kind-{kind}"
    async with websockets.connect(live.stream_url(), max_size=None) as conn:
        await conn.send(orjson.dumps(kit.start_message(sid)).decode())
        for _ in range(100):
            message = KINDS[kind](rng)
            await conn.send(orjson.dumps(message).decode() if isinstance(message, dict)
                            else message)
        last = kit.pcm_payload(7)
        await conn.send(orjson.dumps(kit.media_message(sid, last, 500)).decode())
        await kit.eventually(lambda: last in kit.seen(sid).frames)
    record = await kit.eventually(lambda: kit.seen(sid).statistics and kit.seen(sid))
    assert record.statistics is not None and record.statistics["reason"] == "socket closed"
    assert record.closed


@pytest.mark.parametrize("size", [65_537, 1_000_000])
async def test_a_message_over_the_size_limit_closes_only_that_stream(
    live: kit.Live, size: int,
) -> None:
    sid = f"huge-{size}"
    clean_sent: list[bytes] = []
    async with websockets.connect(live.stream_url()) as good:
        await good.send(orjson.dumps(kit.start_message(f"{sid}-neighbour")).decode())
        client = await kit.RawClient.connect(live.port, "/flows/h/streams/agent")
        await client.send_json(kit.start_message(sid))
        await client.send_text(b'{"event": "media", "x": "' + b"z" * size + b'"}')
        assert await client.receive_close() == 1009
        await client.aclose()
        for i in range(5):
            payload = kit.pcm_payload(300 + i)
            clean_sent.append(payload)
            await good.send(_text(kit.media_message(f"{sid}-neighbour", payload, i + 2)))
    record = await kit.eventually(lambda: kit.seen(f"{sid}-neighbour").statistics
                                  and kit.seen(f"{sid}-neighbour"))
    assert record.frames == clean_sent
    await kit.eventually(lambda: not live.runtime.sessions)
    assert kit.seen(sid).frames == []


async def test_invalid_utf8_text_frame_closes_only_that_stream(live: kit.Live) -> None:
    client = await kit.RawClient.connect(live.port, "/flows/h/streams/agent")
    await client.send_json(kit.start_message("utf8"))
    await client.send_text(b'{"event": "\xff\xfe"}')
    assert await client.receive_close() == 1007
    await client.aclose()
    await kit.eventually(lambda: not live.runtime.sessions)
    assert kit.seen("utf8").frames == []
    sent = await _clean_stream(live, "after-utf8", 5)
    record = await kit.eventually(lambda: kit.seen("after-utf8").statistics
                                  and kit.seen("after-utf8"))
    assert record.frames == sent
