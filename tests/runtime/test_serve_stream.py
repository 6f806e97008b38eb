"""The stream protocol end to end: a live server, a real WebSocket client speaking Plivo."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flowc_testplugin import plugin as testplugin

from flowc.plugins import load_plugins
from flowc.runtime import codec
from flowc.runtime.app import create_app
from flowc.runtime.settings import ServeSettings

from .livekit import Live, eventually, live_server, make_flow, plivo_stream

pytestmark = pytest.mark.anyio

FORMATS = [("audio/x-mulaw", 8000), ("audio/x-l16", 8000), ("audio/x-l16", 16000)]


def journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def events(hook: str, stream_id: str | None = None) -> list[dict[str, Any]]:
    out = []
    for name, data in testplugin.EVENTS:
        if name != hook:
            continue
        sid = data.get("stream_id") or data.get("stream", {}).get("stream_id")
        if stream_id is None or sid == stream_id:
            out.append(data)
    return out


@pytest.fixture(scope="module")
def host() -> Any:
    return load_plugins([testplugin], entry_points_enabled=False)


@pytest.fixture(scope="module")
def live(host: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    log = tmp_path_factory.mktemp("journal") / "journal.jsonl"
    flows = [make_flow(f"f{i}", content_type=f"{enc};rate={rate}",
                       pipeline=[("counter", {"journal": str(log)}),
                                 ("echo", {"journal": str(log)})])
             for i, (enc, rate) in enumerate(FORMATS)]
    flows.append(make_flow("clear", pipeline=[("echo", {"journal": str(log), "tone_ms": 5000})]))
    flows.append(make_flow("relay", pipeline=[("echo", {}), ("passthrough", {})]))
    flows.append(make_flow("oneway", bidirectional=False,
                           pipeline=[("counter", {"journal": str(log)}), ("echo", {})]))
    app = create_app(flows, host=host, settings=ServeSettings(close_timeout=3))
    with live_server(app) as server:
        server.journal = log  # type: ignore[attr-defined]
        yield server


def samples(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-20000, 20000, n).astype(np.int16)


@pytest.mark.parametrize(("index", "fmt"), list(enumerate(FORMATS)))
async def test_media_is_decoded_and_echoed_in_the_streams_own_format(
        live: Live, index: int, fmt: tuple[str, int]) -> None:
    encoding, rate = fmt
    sid = f"echo-{index}"
    pcm = samples(rate // 50 * 3, index)  # three 20 ms chunks
    wire = codec.encode(pcm, encoding)
    expected = codec.decode(wire, encoding)
    step = len(wire) // 3
    async with plivo_stream(f"{live.ws}/flows/f{index}/streams/agent", sid) as plivo:
        await plivo.start(encoding=encoding, rate=rate)
        for i in range(3):
            await plivo.media(wire[i * step:(i + 1) * step])
        got = [await plivo.receive() for _ in range(3)]
    assert [m["event"] for m in got] == ["playAudio"] * 3
    for message in got:
        assert message["media"]["contentType"] == encoding
        assert message["media"]["sampleRate"] == rate
    payload = b"".join(base64.b64decode(m["media"]["payload"]) for m in got)
    assert np.array_equal(codec.decode(payload, encoding), expected)
    stopped = await eventually(lambda: events("stream_stopped", sid))
    stats = stopped[0]["statistics"]
    assert stats["frames_in"] == 3 and stats["frames_out"] == 3
    assert stats["sequence_gaps"] == 0 and stats["malformed"] == 0
    started = events("stream_started", sid)[0]["stream"]
    assert started["content_type"] == f"{encoding};rate={rate}"
    assert started["extra_headers"] == {"userId": "42", "team": "blue"}
    closes = [r for r in journal(live.journal) if r["event"] == "close"  # type: ignore[attr-defined]
              and r["stream_id"] == sid]
    assert {r["processor"] for r in closes} == {"echo", "counter"}
    counter = next(r for r in closes if r["processor"] == "counter")
    assert counter["counts"]["AudioIn"] == 3 and counter["counts"]["AudioSent"] == 3


def pcm_of(message: dict[str, Any]) -> np.ndarray:
    media = message["media"]
    return codec.decode(base64.b64decode(media["payload"]), media["contentType"])


async def test_checkpoint_follows_the_audio_before_it_and_played_reaches_the_pipeline(
        live: Live) -> None:
    import time

    sid = "checkpoint"
    async with plivo_stream(f"{live.ws}/flows/f2/streams/agent", sid) as plivo:
        await plivo.start()
        await plivo.dtmf("6")  # 1 s tone at 24 kHz
        await plivo.dtmf("1")  # checkpoint cp-1
        received: list[tuple[float, dict[str, Any]]] = []
        while not received or received[-1][1]["event"] != "checkpoint":
            received.append((time.monotonic(), await plivo.receive()))
        await plivo.event("playedStream", name="cp-1")
        await plivo.dtmf("1")  # cp-2, no audio before it
        assert (await plivo.receive())["name"] == "cp-2"
        await plivo.event("played", name="cp-2")  # the older spelling
        await eventually(lambda: [r for r in journal(live.journal)  # type: ignore[attr-defined]
                                  if r["event"] == "played" and r["stream_id"] == sid][1:])
    audio = [m for _, m in received[:-1]]
    assert {m["event"] for m in audio} == {"playAudio"}
    assert received[-1][1] == {"event": "checkpoint", "streamId": sid, "name": "cp-1"}
    sizes = [len(pcm_of(m)) for m in audio]
    assert all(size == 320 for size in sizes[:-1]) and 0 < sizes[-1] <= 320
    assert abs(sum(sizes) - 16000) <= 80  # the whole second, resampled 24 -> 16 kHz
    tone = np.concatenate([pcm_of(m) for m in audio])
    assert np.abs(tone[4000:12000]).max() > 6000  # the tone, not silence
    # Paced: never more than the lead (120 ms) ahead of real time. A lower bound only.
    elapsed = received[-2][0] - received[0][0]
    assert elapsed >= (sum(sizes[:-1]) / 16000) - 0.120 - 0.020 - 0.020
    played = [r["name"] for r in journal(live.journal)  # type: ignore[attr-defined]
              if r["event"] == "played" and r["stream_id"] == sid]
    assert played == ["cp-1", "cp-2"]


async def test_clear_audio_drops_queued_audio_at_once(live: Live) -> None:
    sid = "clear"
    async with plivo_stream(f"{live.ws}/flows/clear/streams/agent", sid) as plivo:
        await plivo.start()
        await plivo.dtmf("6")  # 5 s tone
        first = await plivo.receive()
        assert first["event"] == "playAudio"
        await plivo.dtmf("1")  # a checkpoint behind the tone: dropped with it
        await plivo.dtmf("2")  # clearAudio
        before = await plivo.receive_until("clearAudio")
        await plivo.dtmf("3")  # sendDTMF: the next message, no stray audio in between
        after = await plivo.receive()
        await plivo.event("clearedAudio")
        await eventually(lambda: [r for r in journal(live.journal)  # type: ignore[attr-defined]
                                  if r["event"] == "cleared" and r["stream_id"] == sid])
    assert before[-1] == {"event": "clearAudio", "streamId": sid}
    assert {m["event"] for m in before[:-1]} <= {"playAudio"}
    assert len(before) < 200  # 5 s would be 250 chunks
    assert after == {"event": "sendDTMF", "dtmf": "12#"}
    stats = (await eventually(lambda: events("stream_stopped", sid)))[0]["statistics"]
    assert stats["chunks_cleared"] > 0


async def test_end_stream_closes_the_socket_and_processors(live: Live) -> None:
    import websockets

    sid = "end"
    async with plivo_stream(f"{live.ws}/flows/f1/streams/agent", sid) as plivo:
        await plivo.start(encoding="audio/x-l16", rate=8000)
        await plivo.dtmf("4")
        with pytest.raises(websockets.ConnectionClosedOK) as closed:
            await plivo.receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    stopped = (await eventually(lambda: events("stream_stopped", sid)))[0]
    assert stopped["statistics"]["dtmf"] == 1
    assert [r for r in journal(live.journal)  # type: ignore[attr-defined]
            if r["event"] == "close" and r["stream_id"] == sid and r["processor"] == "echo"]


async def test_dtmf_and_transcript_reach_observer_hooks(live: Live) -> None:
    sid = "hooks"
    async with plivo_stream(f"{live.ws}/flows/f2/streams/agent", sid) as plivo:
        await plivo.start()
        await plivo.dtmf("5")
        await plivo.dtmf("#")
        await eventually(lambda: len(events("dtmf", sid)) == 2 and events("transcript", sid))
    assert [e["digit"] for e in events("dtmf", sid)] == ["5", "#"]
    assert events("dtmf", sid)[0]["timestamp_ms"] == 1705312201234
    result = events("transcript", sid)[0]["result"]
    assert result["text"] == "five" and result["final"] is True
    assert result["engine"] == "testplugin"


async def test_a_transcript_passed_on_by_later_stages_is_reported_once(live: Live) -> None:
    sid = "relayed"
    async with plivo_stream(f"{live.ws}/flows/relay/streams/agent", sid) as plivo:
        await plivo.start()
        await plivo.dtmf("5")
        await eventually(lambda: events("stream_started", sid))
    await eventually(lambda: events("stream_stopped", sid))
    assert [e["result"]["text"] for e in events("transcript", sid)] == ["five"]


async def test_stop_event_ends_the_stream(live: Live) -> None:
    import websockets

    sid = "stop"
    async with plivo_stream(f"{live.ws}/flows/f2/streams/agent", sid) as plivo:
        await plivo.start()
        await plivo.event("stop", stop={"reason": "hangup"})
        with pytest.raises(websockets.ConnectionClosed):
            await plivo.receive()
    stopped = (await eventually(lambda: events("stream_stopped", sid)))[0]
    assert stopped["statistics"]["reason"] == "stop: hangup"


async def test_malformed_and_unknown_messages_are_dropped_and_the_call_goes_on(
        live: Live) -> None:
    sid = "malformed"
    chunk = codec.encode(samples(320, 7), "audio/x-l16")
    async with plivo_stream(f"{live.ws}/flows/f2/streams/agent", sid) as plivo:
        await plivo.media(chunk)                       # media before start
        await plivo.send("{not json")                  # not JSON
        await plivo.start()
        await plivo.send(b"\x00\x01binary")            # binary frame
        await plivo.send("[1, 2]")                     # not an object
        await plivo.send({"sequenceNumber": 3})        # no event
        await plivo.send({"event": "media", "media": {"payload": "***", "track": "inbound"}})
        await plivo.send({"event": "media", "media": {"payload": 5}})
        await plivo.send({"event": "dtmf", "dtmf": {"digit": "55"}})
        await plivo.send({"event": "media", "sequenceNumber": "x", "media": {}})
        await plivo.event("muteStream")                # unknown: ignored, not malformed
        await plivo.event("playFailed", reason="x")
        await plivo.media(chunk)
        reply = await plivo.receive()
    assert reply["event"] == "playAudio"
    assert np.array_equal(pcm_of(reply), codec.decode(chunk, "audio/x-l16"))
    stats = (await eventually(lambda: events("stream_stopped", sid)))[0]["statistics"]
    assert stats["malformed"] == 9
    assert stats["unknown_events"] == 2
    assert stats["frames_in"] == 1


async def test_sequence_and_chunk_gaps_are_counted(live: Live) -> None:
    sid = "gaps"
    chunk = codec.encode(samples(320, 8), "audio/x-l16")
    async with plivo_stream(f"{live.ws}/flows/f2/streams/agent", sid) as plivo:
        await plivo.start()
        await plivo.media(chunk)
        plivo.seq += 2                   # two messages lost
        plivo.chunks["inbound"] += 1     # one chunk lost
        await plivo.media(chunk)
        await plivo.receive()
        await plivo.receive()
    stats = (await eventually(lambda: events("stream_stopped", sid)))[0]["statistics"]
    assert stats["sequence_gaps"] == 2
    assert stats["chunk_gaps"] == {"inbound": 1}
    assert stats["last_chunk"] == {"inbound": 3}
    assert stats["last_timestamp_ms"] == {"inbound": 1705312200000 + 60}


async def test_a_wild_sequence_number_is_malformed_and_gap_detection_goes_on(
        live: Live) -> None:
    sid = "wildseq"
    chunk = codec.encode(samples(320, 8), "audio/x-l16")
    async with plivo_stream(f"{live.ws}/flows/f2/streams/agent", sid) as plivo:
        await plivo.start()
        await plivo.media(chunk)
        resume = plivo.seq
        await plivo.send(json.dumps({"event": "media", "sequenceNumber": 10**40, "media": {
            "track": "inbound", "chunk": 3,
            "payload": base64.b64encode(chunk).decode()}}))  # out of range: dropped
        plivo.seq = resume + 5_000_000    # a jump of millions: dropped
        await plivo.media(chunk)
        plivo.seq = resume + 1            # one message lost
        await plivo.media(chunk)
        await plivo.receive()
        await plivo.receive()
    stats = (await eventually(lambda: events("stream_stopped", sid)))[0]["statistics"]
    assert stats["malformed"] == 2
    assert stats["frames_in"] == 2
    assert stats["sequence_gaps"] == 1
    assert stats["out_of_order"] == 0


async def test_both_tracks_reach_the_pipeline_but_only_the_caller_is_echoed(live: Live) -> None:
    sid = "tracks"
    chunk = codec.encode(samples(160, 9), "audio/x-mulaw")
    async with plivo_stream(f"{live.ws}/flows/f0/streams/agent", sid) as plivo:
        await plivo.start(encoding="audio/x-mulaw", rate=8000, tracks=("inbound", "outbound"),
                          extra_headers="a=1,b=2")
        await plivo.media(chunk, track="outbound")
        await plivo.media(chunk, track="inbound")
        await plivo.dtmf("3")
        first, second = await plivo.receive(), await plivo.receive()
    assert [first["event"], second["event"]] == ["playAudio", "sendDTMF"]
    started = events("stream_started", sid)[0]["stream"]
    assert started["tracks"] == ["inbound", "outbound"]
    assert started["extra_headers"] == {"a": "1", "b": "2"}
    stats = (await eventually(lambda: events("stream_stopped", sid)))[0]["statistics"]
    assert stats["frames_in"] == 2 and stats["last_chunk"] == {"inbound": 1, "outbound": 1}


async def test_abrupt_disconnect_still_closes_every_processor(live: Live) -> None:
    sid = "abrupt"
    chunk = codec.encode(samples(320, 10), "audio/x-l16")
    async with plivo_stream(f"{live.ws}/flows/f2/streams/agent", sid) as plivo:
        await plivo.start()
        for _ in range(5):
            await plivo.media(chunk)
        await plivo.receive()
        plivo.conn.transport.abort()  # no close frame: the TCP connection just drops
    await eventually(lambda: events("stream_stopped", sid))
    closes = {r["processor"]: r for r in journal(live.journal)  # type: ignore[attr-defined]
              if r["event"] == "close" and r["stream_id"] == sid}
    assert set(closes) == {"echo", "counter"}
    assert closes["counter"]["counts"]["AudioIn"] == 5  # nothing lost at hang-up


async def test_end_stream_waits_for_the_audio_queued_before_it(live: Live) -> None:
    import websockets

    sid = "end-after-audio"
    chunks = 0
    async with plivo_stream(f"{live.ws}/flows/f2/streams/agent", sid) as plivo:
        await plivo.start()
        await plivo.dtmf("6")  # 1 s tone
        await plivo.dtmf("3")  # sendDTMF after the tone
        await plivo.dtmf("4")  # then end the stream
        with pytest.raises(websockets.ConnectionClosedOK):
            while True:
                message = await plivo.receive()
                if message["event"] == "playAudio":
                    chunks += 1
                else:
                    assert message == {"event": "sendDTMF", "dtmf": "12#"}
                    assert chunks >= 50
    assert chunks >= 50


async def test_the_stream_follows_its_media_format_when_it_differs_from_the_flow(
        live: Live) -> None:
    sid = "follows"
    chunk = codec.encode(samples(160, 11), "audio/x-mulaw")
    async with plivo_stream(f"{live.ws}/flows/f2/streams/agent", sid) as plivo:  # L16 16k
        await plivo.start(encoding="audio/x-mulaw", rate=8000)
        await plivo.media(chunk)
        reply = await plivo.receive()
    assert reply["media"]["contentType"] == "audio/x-mulaw"
    assert reply["media"]["sampleRate"] == 8000
    assert base64.b64decode(reply["media"]["payload"]) == chunk


async def test_a_one_way_stream_sends_nothing_back_but_can_be_ended(live: Live) -> None:
    import websockets

    sid = "oneway"
    async with plivo_stream(f"{live.ws}/flows/oneway/streams/agent", sid) as plivo:
        await plivo.start()
        await plivo.media(codec.encode(samples(320, 12), "audio/x-l16"))
        await plivo.dtmf("3")
        await plivo.dtmf("4")
        with pytest.raises(websockets.ConnectionClosedOK):
            await plivo.receive()  # the close, with no playAudio or sendDTMF before it
    stats = (await eventually(lambda: events("stream_stopped", sid)))[0]["statistics"]
    assert stats["outbound_ignored"] == 2 and stats["frames_out"] == 0
    counter = next(r for r in journal(live.journal)  # type: ignore[attr-defined]
                   if r["event"] == "close" and r["stream_id"] == sid)
    assert "AudioSent" not in counter["counts"]
