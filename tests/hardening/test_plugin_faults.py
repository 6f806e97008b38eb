"""Plugins that hang or are slow (issue 6, item 4), on a live server.

Stated behaviour: a stage that hangs stalls only its own stream, which the server ends once
its reader has been stalled for ``idle_timeout``, closing every processor; a ``close()``
that hangs is cut after ``close_timeout`` without keeping the other processors from
closing; a slow tap loses copies (counted) while the live path gets every frame. Other
streams never notice, and no task is left behind.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
import websockets

from flowc.runtime.settings import ServeSettings

from . import kit

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def live() -> Iterator[kit.Live]:
    settings = ServeSettings(close_timeout=1, idle_timeout=1, start_timeout=0, tap_buffer=4)
    flows = [
        kit.recorder_flow("h"),
        kit.recorder_flow("hang", before=[("hfaulty", {"mode": "hang", "after": 5})]),
        kit.recorder_flow("hangclose", before=[("hfaulty", {"mode": "hang_close"})]),
        kit.recorder_flow("slowtap",
                          before=[("hfaultytap", {"mode": "slow", "delay_ms": 20})]),
    ]
    with kit.live_server(flows, settings) as server:
        yield server


async def _baseline(live: kit.Live) -> int:
    count: int = await kit.eventually(lambda: not live.runtime.sessions and live.task_count())
    return count


async def _neighbour(live: kit.Live, sid: str, frames: int = 20) -> None:
    sent = []
    async with websockets.connect(live.stream_url("h")) as conn:
        await conn.send(orjson.dumps(kit.start_message(sid)).decode())
        for i in range(frames):
            payload = kit.pcm_payload(i)
            sent.append(payload)
            await conn.send(orjson.dumps(kit.media_message(sid, payload, i + 2)).decode())
    record = await kit.eventually(lambda: kit.seen(sid).statistics and kit.seen(sid))
    assert record.frames == sent


async def test_a_hung_stage_ends_only_its_own_stream(live: kit.Live) -> None:
    baseline = await _baseline(live)
    client = await kit.RawClient.connect(live.port, "/flows/hang/streams/agent")
    await client.send_json(kit.start_message("hung"))
    sent = []
    for i in range(300):  # more than the stage buffers hold: the reader stalls
        payload = kit.pcm_payload(i)
        sent.append(payload)
        await client.send_json(kit.media_message("hung", payload, i + 2))
    await _neighbour(live, "beside-hung")
    assert await client.receive_close() in (1000, 1001)  # the client never left
    await client.aclose()
    record = await kit.eventually(lambda: kit.seen("hung").statistics and kit.seen("hung"))
    assert record.frames == sent[:5]  # what passed the stage before it hung
    assert record.closed
    await kit.eventually(lambda: live.task_count() <= baseline)


async def test_a_hung_close_does_not_keep_other_processors_from_closing(
    live: kit.Live,
) -> None:
    baseline = await _baseline(live)
    async with websockets.connect(live.stream_url("hangclose")) as conn:
        await conn.send(orjson.dumps(kit.start_message("hung-close")).decode())
        payload = kit.pcm_payload(1)
        await conn.send(orjson.dumps(kit.media_message("hung-close", payload, 2)).decode())
        await kit.eventually(lambda: kit.seen("hung-close").frames)
    record = await kit.eventually(lambda: kit.seen("hung-close").statistics
                                  and kit.seen("hung-close"))
    assert record.closed  # the recorder after the hung processor was still closed
    await _neighbour(live, "beside-hung-close")
    await kit.eventually(lambda: live.task_count() <= baseline)


async def test_a_slow_tap_drops_copies_but_not_live_frames(live: kit.Live) -> None:
    baseline = await _baseline(live)
    sent = []
    async with websockets.connect(live.stream_url("slowtap")) as conn:
        await conn.send(orjson.dumps(kit.start_message("slow-tap")).decode())
        for i in range(200):
            payload = kit.pcm_payload(i)
            sent.append(payload)
            await conn.send(orjson.dumps(kit.media_message("slow-tap", payload, i + 2))
                            .decode())
        await kit.eventually(lambda: len(kit.seen("slow-tap").frames) == len(sent))
    record = await kit.eventually(lambda: kit.seen("slow-tap").statistics
                                  and kit.seen("slow-tap"))
    assert record.frames == sent
    assert record.statistics is not None
    assert record.statistics["drops"]["hfaultytap"] > 0
    await kit.eventually(lambda: live.task_count() <= baseline)
