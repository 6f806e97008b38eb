"""A client that vanishes (issue 6, item 4): TCP reset, no close frame, at every stage.

Stated behaviour: the stream ends with reason ``socket closed``, every frame the server
received before the fault reached the pipeline (counted), every processor is closed, the
stream's admission slot and its event-loop tasks are released, and the other streams go on.
"""

from __future__ import annotations

from collections.abc import Iterator

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
def live() -> Iterator[kit.Live]:
    settings = ServeSettings(close_timeout=3, idle_timeout=0, start_timeout=0)
    with kit.live_server([kit.recorder_flow()], settings) as server:
        yield server


async def _idle_baseline(live: kit.Live) -> int:
    count: int = await kit.eventually(lambda: not live.runtime.sessions and live.task_count())
    return count


async def _all_released(live: kit.Live, baseline: int) -> None:
    await kit.eventually(lambda: not live.runtime.sessions)
    await kit.eventually(lambda: limits.gate_for(live.runtime).active == 0)
    await kit.eventually(lambda: live.task_count() <= baseline)


def _media(sid: str, index: int) -> tuple[bytes, str]:
    payload = kit.pcm_payload(index)
    return payload, orjson.dumps(kit.media_message(sid, payload, index + 2)).decode()


async def test_reset_mid_stream_keeps_every_received_frame_and_frees_everything(
    live: kit.Live,
) -> None:
    baseline = await _idle_baseline(live)
    sent: list[bytes] = []
    neighbour_sent: list[bytes] = []
    async with websockets.connect(live.stream_url()) as neighbour:
        await neighbour.send(orjson.dumps(kit.start_message("neighbour")).decode())
        client = await kit.RawClient.connect(live.port, PATH)
        await client.send_json(kit.start_message("reset"))
        for i in range(50):
            payload, text = _media("reset", i)
            sent.append(payload)
            await client.send_text(text)
        await kit.eventually(lambda: len(kit.seen("reset").frames) == 50)
        await client.reset()
        for i in range(20):  # the neighbour goes on after the reset
            payload, text = _media("neighbour", 1000 + i)
            neighbour_sent.append(payload)
            await neighbour.send(text)
    record = await kit.eventually(lambda: kit.seen("reset").statistics and kit.seen("reset"))
    assert record.frames == sent
    assert record.closed
    assert record.statistics is not None and record.statistics["reason"] == "socket closed"
    other = await kit.eventually(lambda: kit.seen("neighbour").statistics
                                 and kit.seen("neighbour"))
    assert other.frames == neighbour_sent
    await _all_released(live, baseline)


async def test_reset_with_unread_frames_and_half_a_frame(live: kit.Live) -> None:
    baseline = await _idle_baseline(live)
    client = await kit.RawClient.connect(live.port, PATH)
    await client.send_json(kit.start_message("torn"))
    sent = []
    for i in range(30):
        payload, text = _media("torn", i)
        sent.append(payload)
        await client.send_text(text)
    _, text = _media("torn", 30)
    frame = kit.RawClient.frame(text.encode())
    await client.send_raw(frame[: len(frame) // 2])  # the rest never comes
    await client.reset()
    record = await kit.eventually(lambda: kit.seen("torn").statistics and kit.seen("torn"))
    # What arrived before the reset reached the pipeline in order and intact; the torn
    # frame did not.
    assert record.frames == sent[: len(record.frames)]
    assert record.closed
    await _all_released(live, baseline)


@pytest.mark.parametrize("moment", ["mid-handshake", "after handshake", "after start",
                                    "mid-fragmented message"])
async def test_reset_at_any_moment_frees_everything(live: kit.Live, moment: str) -> None:
    baseline = await _idle_baseline(live)
    streams_before = live.runtime.metrics.streams_total
    sid = f"early-{moment}"
    if moment == "mid-handshake":
        stream = await anyio.connect_tcp("127.0.0.1", live.port)
        await stream.send(f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs".encode())
        await kit.RawClient(stream).reset()
    else:
        client = await kit.RawClient.connect(live.port, PATH)
        if moment != "after handshake":
            await client.send_json(kit.start_message(sid))
            await kit.eventually(lambda: kit.seen(sid).started)
        if moment == "mid-fragmented message":
            _, text = _media(sid, 1)
            await client.send_raw(kit.RawClient.frame(text[:50].encode(), 0x1, fin=False))
        await client.reset()
    await _all_released(live, baseline)
    if moment in ("after start", "mid-fragmented message"):
        record = await kit.eventually(lambda: kit.seen(sid).statistics and kit.seen(sid))
        assert record.closed and record.frames == []
    else:
        assert live.runtime.metrics.streams_total - streams_before <= 1
