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
