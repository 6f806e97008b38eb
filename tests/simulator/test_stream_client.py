"""The simulator's Plivo stream client against a small real websockets server.

The server records every message and handshake header, so these tests prove the client
sends exactly the shapes of plivo.md §3.2 and honours checkpoint/clearAudio semantics.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve

from flowc.runtime import codec
from flowc.runtime.signature import verify_websocket
from flowc.simulator.stream_client import (
    HandshakeRejected,
    PlivoStreamClient,
    StreamSpec,
    mix_segments,
)

pytestmark = pytest.mark.anyio

Behaviour = Callable[["Recorder", ServerConnection], Awaitable[None]]


class Recorder:
    """What the server saw: handshake headers, messages with arrival times."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.path = ""
        self.messages: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.arrived = asyncio.Event()

    def of(self, event: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["event"] == event]

    async def wait_for(self, event: str, count: int = 1, within: float = 5.0) -> dict[str, Any]:
        async def poll() -> dict[str, Any]:
            while len(self.of(event)) < count:
                self.arrived.clear()
                await self.arrived.wait()
            return self.of(event)[count - 1]

        return await asyncio.wait_for(poll(), within)


@asynccontextmanager
async def plivo_app(behaviour: Behaviour | None = None) -> AsyncIterator[tuple[str, Recorder]]:
    """A websockets server on 127.0.0.1 that records and runs ``behaviour`` per connection."""
    recorder = Recorder()

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        recorder.headers = dict(ws.request.headers)
        recorder.path = ws.request.path

        async def read() -> None:
            async for raw in ws:
                recorder.messages.append(json.loads(raw))
                recorder.times.append(time.monotonic())
                recorder.arrived.set()

        reader = asyncio.create_task(read())
        if behaviour is not None:
            await behaviour(recorder, ws)
        await reader

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/flows/demo/streams/agent", recorder


def tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)


def play_audio(pcm: np.ndarray, encoding: str, rate: int) -> str:
    payload = base64.b64encode(codec.encode(pcm, encoding)).decode()
    return json.dumps({"event": "playAudio",
                       "media": {"contentType": encoding, "sampleRate": rate, "payload": payload}})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ------------------------------------------------------------------ shapes (plivo.md §3.2)


async def test_start_media_dtmf_have_plivo_shapes() -> None:
    spec = StreamSpec("", content_type="audio/x-mulaw;rate=8000", audio_track="inbound",
                      extra_headers="userId=12345,tenant=acme")
    async with plivo_app() as (url, rec):
        spec = StreamSpec(url, spec.content_type, extra_headers=spec.extra_headers)
        async with PlivoStreamClient(spec, call_id="c-1", stream_id="s-1",
                                     account_id="MA123", fast=True) as client:
            await client.speak(tone(0.1, 8000), 8000)
            await client.send_dtmf("5")
            await rec.wait_for("dtmf")
        await asyncio.sleep(0.05)

    start = rec.messages[0]
    assert start == {
        "event": "start",
        "sequenceNumber": 1,
        "start": {
            "callId": "c-1",
            "streamId": "s-1",
            "accountId": "MA123",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        },
        "extra_headers": "userId=12345,tenant=acme",
    }
    media = rec.of("media")
    assert len(media) >= 5
    first = media[0]
    assert set(first) == {"event", "sequenceNumber", "streamId", "media", "extra_headers"}
    assert set(first["media"]) == {"track", "timestamp", "chunk", "payload"}
    assert first["streamId"] == "s-1" and first["media"]["track"] == "inbound"
    assert isinstance(first["media"]["timestamp"], str) and first["media"]["timestamp"].isdigit()
    assert isinstance(first["sequenceNumber"], int) and isinstance(first["media"]["chunk"], int)
    assert [m["media"]["chunk"] for m in media] == list(range(1, len(media) + 1))
    stamps = [int(m["media"]["timestamp"]) for m in media]
    assert all(b - a == 20 for a, b in itertools.pairwise(stamps))
    # 20 ms of μ-law at 8 kHz = 160 bytes per frame; the tone comes first, exactly.
    payloads = [base64.b64decode(m["media"]["payload"]) for m in media]
    assert {len(p) for p in payloads} == {160}
    sent = codec.ulaw_to_pcm(b"".join(payloads[:5]))
    assert np.array_equal(sent, codec.ulaw_to_pcm(codec.pcm_to_ulaw(tone(0.1, 8000))))
    dtmf = rec.of("dtmf")[0]
    assert set(dtmf) == {"event", "sequenceNumber", "streamId", "dtmf", "extra_headers"}
    assert dtmf["dtmf"]["digit"] == "5" and dtmf["dtmf"]["track"] == "inbound"
    assert isinstance(dtmf["dtmf"]["timestamp"], str)
    sequence = [m["sequenceNumber"] for m in rec.messages]
    assert sequence == list(range(1, len(sequence) + 1))


@pytest.mark.parametrize(
    ("content_type", "frame_bytes", "rate"),
    [("audio/x-l16;rate=8000", 320, 8000), ("audio/x-l16;rate=16000", 640, 16000)],
)
async def test_l16_frames_are_little_endian_at_stream_rate(
    content_type: str, frame_bytes: int, rate: int
) -> None:
    async with plivo_app() as (url, rec):
        spec = StreamSpec(url, content_type=content_type, audio_track="both")
        async with PlivoStreamClient(spec, fast=True) as client:
            await client.speak(tone(0.2, 22050), 22050)  # resampled to the stream rate
            await rec.wait_for("media", 8)
    start = rec.messages[0]["start"]
    assert start["tracks"] == ["inbound", "outbound"]
    assert start["mediaFormat"] == {"encoding": "audio/x-l16", "sampleRate": rate}
    assert "extra_headers" not in rec.messages[0]
    media = rec.of("media")
    assert {len(base64.b64decode(m["media"]["payload"])) for m in media} == {frame_bytes}
    inbound = [m for m in media if m["media"]["track"] == "inbound"]
    outbound = [m for m in media if m["media"]["track"] == "outbound"]
    assert [m["media"]["chunk"] for m in outbound] == list(range(1, len(outbound) + 1))
    first = codec.l16_to_pcm(base64.b64decode(inbound[1]["media"]["payload"]))
    assert np.abs(first).max() > 4000  # the tone, decoded little-endian
    silent = codec.l16_to_pcm(base64.b64decode(outbound[0]["media"]["payload"]))
    assert not silent.any()


async def test_handshake_is_signed_when_a_token_is_set() -> None:
    async with plivo_app() as (url, rec), PlivoStreamClient(StreamSpec(url), auth_token="sekrit"):
        await rec.wait_for("start")
    nonce = rec.headers["x-plivo-signature-v3-nonce"]
    signature = rec.headers["x-plivo-signature-v3"]
    assert nonce.isdigit()
    assert verify_websocket(url, nonce, "sekrit", signature) == "http" + url[2:]
    assert verify_websocket(url, nonce, "other", signature) is None


async def test_unsigned_without_token() -> None:
    async with plivo_app() as (url, rec), PlivoStreamClient(StreamSpec(url)):
        await rec.wait_for("start")
    assert not any(k.startswith("x-plivo") for k in rec.headers)
    assert rec.path == "/flows/demo/streams/agent"


async def test_refused_handshake_is_reported() -> None:
    async def refuse(connection: ServerConnection, request: Any) -> Any:
        return connection.respond(403, "no\n")

    async with serve(lambda ws: asyncio.sleep(0), "127.0.0.1", 0, process_request=refuse) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        client = PlivoStreamClient(StreamSpec(f"ws://127.0.0.1:{port}/x"))
        with pytest.raises(HandshakeRejected) as info:
            await client.connect()
    assert info.value.status == 403


# ------------------------------------------------------------------ playback semantics


async def test_checkpoint_answered_after_its_audio_played() -> None:
    sent_at: dict[str, float] = {}

    async def bot(rec: Recorder, ws: ServerConnection) -> None:
        await rec.wait_for("start")
        await ws.send(play_audio(tone(0.3, 16000), codec.L16, 16000))
        await ws.send(json.dumps({"event": "checkpoint", "streamId": "s", "name": "first"}))
        sent_at["first"] = time.monotonic()
        await ws.send(play_audio(tone(0.2, 16000), codec.L16, 16000))
        await ws.send(json.dumps({"event": "checkpoint", "streamId": "s", "name": "second"}))
        sent_at["second"] = time.monotonic()

    async with plivo_app(bot) as (url, rec):
        spec = StreamSpec(url, "audio/x-l16;rate=16000", bidirectional=True)
        async with PlivoStreamClient(spec, stream_id="s-9") as client:
            await rec.wait_for("playedStream", 2)
            heard, rate = client.heard_pcm()
    played = rec.of("playedStream")
    assert [p["name"] for p in played] == ["first", "second"]
    assert set(played[0]) == {"event", "sequenceNumber", "streamId", "name"}
    assert played[0]["streamId"] == "s-9"
    # Not before the audio queued ahead of each checkpoint could have played.
    index = {m["name"]: i for i, m in enumerate(rec.messages) if m["event"] == "playedStream"}
    assert rec.times[index["first"]] - sent_at["first"] >= 0.3 - 0.02
    assert rec.times[index["second"]] - sent_at["first"] >= 0.5 - 0.02
    assert client.statistics()["play_audio_received"] == 2
    assert abs(client.statistics()["heard_seconds"] - 0.5) < 1e-6
    assert rate == 16000 and np.abs(heard).max() > 4000
    assert not client.protocol_errors


async def test_clear_audio_drops_queue_and_pending_checkpoints() -> None:
    async def bot(rec: Recorder, ws: ServerConnection) -> None:
        await rec.wait_for("start")
        await ws.send(play_audio(tone(2.0, 8000), codec.MULAW, 8000))
        await ws.send(json.dumps({"event": "checkpoint", "streamId": "s", "name": "long"}))
        await asyncio.sleep(0.2)
        await ws.send(json.dumps({"event": "clearAudio", "streamId": "s"}))
        await rec.wait_for("clearedAudio")
        await ws.send(play_audio(tone(0.1, 8000), codec.MULAW, 8000))
        await ws.send(json.dumps({"event": "checkpoint", "streamId": "s", "name": "after"}))

    async with plivo_app(bot) as (url, rec):
        spec = StreamSpec(url, bidirectional=True)
        async with PlivoStreamClient(spec) as client:
            await rec.wait_for("playedStream")
            await asyncio.sleep(0.05)
    cleared = rec.of("clearedAudio")
    assert len(cleared) == 1 and set(cleared[0]) == {"event", "sequenceNumber", "streamId"}
    assert [p["name"] for p in rec.of("playedStream")] == ["after"]
    (_when, dropped), = client.clears
    assert 1.5 < dropped < 2.0  # most of the 2 s reply never played
    heard = client.statistics()["heard_seconds"]
    assert 0.2 < heard < 0.6  # what played before the clear, plus the 0.1 s after


async def test_send_dtmf_and_bad_messages_are_recorded_not_fatal() -> None:
    async def bot(rec: Recorder, ws: ServerConnection) -> None:
        await rec.wait_for("start")
        await ws.send(json.dumps({"event": "sendDTMF", "dtmf": "12#"}))
        await ws.send("not json")
        await ws.send(json.dumps({"event": "mystery"}))
        await ws.send(play_audio(tone(0.04, 16000), codec.L16, 16000))  # wrong codec
        await ws.send(json.dumps({"event": "checkpoint", "name": "done"}))

    async with (
        plivo_app(bot) as (url, rec),
        PlivoStreamClient(StreamSpec(url, bidirectional=True)) as client,
    ):
        await rec.wait_for("playedStream")
    assert [d for _, d in client.dtmf_received] == ["12#"]
    errors = " | ".join(client.protocol_errors)
    assert "not JSON" in errors and "mystery" in errors and "contentType" in errors


async def test_server_close_ends_the_stream() -> None:
    async def bot(rec: Recorder, ws: ServerConnection) -> None:
        await rec.wait_for("start")
        await ws.close(1000, "agent hung up")

    async with plivo_app(bot) as (url, _rec):
        client = PlivoStreamClient(StreamSpec(url))
        await client.connect()
        assert await client.wait_closed(within=5)
    assert client.close_code == 1000 and client.close_reason == "agent hung up"


async def test_barge_in_marks_utterance_and_mix_lays_out_timeline() -> None:
    async def bot(rec: Recorder, ws: ServerConnection) -> None:
        await rec.wait_for("start")
        await ws.send(play_audio(tone(1.0, 8000), codec.MULAW, 8000))

    async with (
        plivo_app(bot) as (url, _rec),
        PlivoStreamClient(StreamSpec(url, bidirectional=True), fast=True) as client,
    ):
        assert await client.wait_audio(within=5)
        utterance = await client.speak(tone(0.1, 8000), 8000)
    assert utterance.barge_in and utterance.ended is not None
    mixed = mix_segments(client.sent, 8000, client.opened_at or 0.0)
    assert len(mixed) >= 800 and np.abs(mixed).max() > 4000


async def test_one_way_stream_ignores_server_messages() -> None:
    async def bot(rec: Recorder, ws: ServerConnection) -> None:
        await rec.wait_for("start")
        await ws.send(play_audio(tone(0.2, 8000), codec.MULAW, 8000))
        await ws.send(json.dumps({"event": "checkpoint", "name": "x"}))
        await ws.send(json.dumps({"event": "clearAudio"}))
        await ws.close()

    async with plivo_app(bot) as (url, rec):
        client = PlivoStreamClient(StreamSpec(url))  # bidirectional defaults to false
        await client.connect()
        assert await client.wait_closed(within=5)
    assert client.heard == [] and client.audio_arrivals == []
    assert rec.of("playedStream") == [] and rec.of("clearedAudio") == []
    assert len(client.protocol_errors) == 3
    assert all("not bidirectional" in e for e in client.protocol_errors)
