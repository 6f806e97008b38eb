"""The writer on its own: chunking, resampling, marker order, clearAudio, send failures."""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import numpy as np
import pytest

from flowc.runtime import codec
from flowc.runtime.frames import (
    AudioIn,
    AudioOut,
    AudioSent,
    Checkpoint,
    ClearAudio,
    EndStream,
    SendDtmf,
)
from flowc.runtime.writer import Writer

from .livekit import eventually

pytestmark = pytest.mark.anyio


class Socket:
    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.fail_after = fail_after

    async def send(self, text: str) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise ConnectionError("peer gone")
        self.sent.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def writer_for(sock: Socket, encoding: str = "audio/x-l16", rate: int = 8000,
               **kwargs: Any) -> Writer:
    return Writer(sock.send, sock.close, stream_id="s", encoding=encoding, sample_rate=rate,
                  **kwargs)


def tone(n: int) -> np.ndarray:
    return (6000 * np.sin(np.arange(n) / 5)).astype(np.int16)


async def test_audio_is_resampled_chunked_and_markers_keep_their_place() -> None:
    sock = Socket()
    sent: list[AudioSent] = []
    writer = writer_for(sock, on_sent=sent.append)
    writer.put_nowait(AudioIn(tone(160), 8000, "inbound", 0, 1, 1))  # inbound: ignored
    writer.put_nowait(AudioOut(tone(3300), 16000))                   # 206 ms at 16 kHz
    writer.put_nowait(Checkpoint("a"))
    writer.put_nowait(SendDtmf("9"))
    writer.put_nowait(EndStream("done"))
    with anyio.fail_after(10):
        await writer.run()
    events = [m["event"] for m in sock.sent]
    audio = [m for m in sock.sent if m["event"] == "playAudio"]
    assert events == ["playAudio"] * len(audio) + ["checkpoint", "sendDTMF"]
    sizes = [len(base64.b64decode(m["media"]["payload"])) // 2 for m in audio]
    assert all(size == 160 for size in sizes[:-1]) and 0 < sizes[-1] <= 160
    assert abs(sum(sizes) - 1650) <= 16                               # resampled to 8 kHz
    assert sock.closed == (1000, "done")
    assert [len(s.pcm) for s in sent] == sizes and all(s.rate == 8000 for s in sent)
    first = codec.decode(base64.b64decode(audio[0]["media"]["payload"]), "audio/x-l16")
    assert np.array_equal(first, sent[0].pcm)


async def test_clear_audio_drops_what_is_queued_and_goes_out_first() -> None:
    sock = Socket()
    writer = writer_for(sock, encoding="audio/x-mulaw")
    writer.put_nowait(AudioOut(tone(8000 * 5), 8000))  # 5 s: only the lead goes out at once
    writer.put_nowait(Checkpoint("behind-the-audio"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        await eventually(lambda: sock.sent)
        writer.put_nowait(ClearAudio())
        writer.put_nowait(SendDtmf("1"))
        await eventually(lambda: sock.sent[-1]["event"] == "sendDTMF")
        tg.cancel_scope.cancel()
    events = [m["event"] for m in sock.sent]
    assert events[-2:] == ["clearAudio", "sendDTMF"]
    assert set(events[:-2]) == {"playAudio"} and len(events) < 100
    assert writer.statistics()["chunks_cleared"] > 100
    assert sock.sent[0]["media"]["contentType"] == "audio/x-mulaw"


async def test_a_failed_send_drops_later_messages_without_raising() -> None:
    sock = Socket(fail_after=2)
    writer = writer_for(sock)
    for digit in "1234":
        writer.put_nowait(SendDtmf(digit))
    writer.put_nowait(EndStream())
    with anyio.fail_after(10):
        await writer.run()
    assert [m["dtmf"] for m in sock.sent] == ["1", "2"]
    assert writer.closed and writer.statistics()["messages_dropped"] == 2
    assert sock.closed is None  # the socket was already gone
