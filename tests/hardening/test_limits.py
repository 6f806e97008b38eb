"""Server-side limits (issue 6, item 5): concurrent streams, handshake rate, a socket that
never starts, an idle (half-open) stream, and the flow's ``streamTimeout``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import anyio
import orjson
import pytest
import websockets

from flowc.runtime import limits
from flowc.runtime.settings import ServeSettings

from . import kit

pytestmark = pytest.mark.anyio

PATH = "/flows/h/streams/agent"


@pytest.fixture(scope="module")
def tight() -> Iterator[kit.Live]:
    settings = ServeSettings(close_timeout=3, max_streams=2, handshake_rate=0,
                             idle_timeout=0.5, start_timeout=0.5, stream_timeout_grace=0)
    flows = [kit.recorder_flow("h"), kit.recorder_flow("t", stream_timeout=1)]
    with kit.live_server(flows, settings) as server:
        yield server


@contextlib.asynccontextmanager
async def started(url: str, sid: str) -> AsyncIterator[websockets.ClientConnection]:
    async with websockets.connect(url) as conn:
        await conn.send(orjson.dumps(kit.start_message(sid)).decode())
        await kit.eventually(lambda: kit.seen(sid).started)
        yield conn


async def test_streams_over_max_streams_are_refused_until_one_ends(tight: kit.Live) -> None:
    refused_before = tight.runtime.metrics.streams_refused
    async with started(tight.stream_url(), "cap-1"), started(tight.stream_url(), "cap-2"):
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(tight.stream_url()):
                pass
        assert tight.runtime.metrics.streams_refused == refused_before + 1
        assert limits.gate_for(tight.runtime).refused_capacity >= 1
    await kit.eventually(lambda: limits.gate_for(tight.runtime).active == 0)
    async with started(tight.stream_url(), "cap-3"):  # a slot is free again
        pass
    assert kit.seen("cap-3").started


async def test_handshakes_over_the_rate_are_refused() -> None:
    settings = ServeSettings(handshake_rate=0.001, handshake_burst=3, idle_timeout=0)
    with kit.live_server([kit.recorder_flow()], settings) as live:
        for _ in range(3):
            async with websockets.connect(live.stream_url()):
                pass
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(live.stream_url()):
                pass
        assert limits.gate_for(live.runtime).refused_rate == 1
        assert live.runtime.metrics.streams_total == 3


async def test_a_socket_that_never_sends_start_is_closed(tight: kit.Live) -> None:
    client = await kit.RawClient.connect(tight.port, PATH)
    assert await client.receive_close() == 1000
    await client.aclose()
    await kit.eventually(lambda: not tight.runtime.sessions)


async def test_the_idle_watchdog_sees_every_session_counter(tight: kit.Live) -> None:
    async with started(tight.stream_url(), "counters"):
        sessions = tight.call(lambda: list(tight.runtime.sessions))
        assert sessions
        assert all(hasattr(sessions[0], name) for name in limits._ACTIVITY)


async def test_an_idle_stream_is_ended_and_keeps_what_it_received(tight: kit.Live) -> None:
    # Half-open: the client stops sending but never closes (as after a lost network path).
    client = await kit.RawClient.connect(tight.port, PATH)
    await client.send_json(kit.start_message("idle"))
    sent = []
    for i in range(3):
        payload = kit.pcm_payload(i)
        sent.append(payload)
        await client.send_json(kit.media_message("idle", payload, i + 2))
    assert await client.receive_close() == 1000
    await client.aclose()
    record = await kit.eventually(lambda: kit.seen("idle").statistics and kit.seen("idle"))
    assert record.statistics is not None
    assert record.statistics["reason"].startswith("idle timeout")
    assert record.frames == sent and record.closed
    assert record.input_ended  # the stage waiting on the socket saw end of stream


async def test_the_flows_stream_timeout_is_enforced_by_the_server(tight: kit.Live) -> None:
    sent = []
    closed_by_server = False
    async with websockets.connect(tight.stream_url("t")) as conn:
        await conn.send(orjson.dumps(kit.start_message("timeout")).decode())
        with anyio.move_on_after(10):  # a bound, far above streamTimeout (1 s)
            for i in range(10_000):  # an active stream, so only streamTimeout can end it
                payload = kit.pcm_payload(i)
                try:
                    await conn.send(orjson.dumps(kit.media_message("timeout", payload, i + 2))
                                    .decode())
                except websockets.ConnectionClosed:
                    closed_by_server = True
                    break
                sent.append(payload)
                await anyio.sleep(0.02)
        assert closed_by_server
        assert conn.close_code == 1000
    record = await kit.eventually(lambda: kit.seen("timeout").statistics
                                  and kit.seen("timeout"))
    assert record.statistics is not None
    assert record.statistics["reason"] == "streamTimeout: 1 s"
    assert record.closed and record.input_ended
    assert record.frames == sent[: len(record.frames)]
