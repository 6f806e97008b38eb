"""The recorder through the real server: flows compiled from YAML, uvicorn on 127.0.0.1,
the simulator's Plivo stream client on the other end. The WAV holds the call as heard,
in every format and at every rate the settings ask for."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import wave
from pathlib import Path
from typing import Any

import flowc_recorder.plugin as recorder_plugin
import httpx
import numpy as np
import numpy.typing as npt
import pytest
import soundfile
import soxr
from flowc_testplugin import plugin as testplugin

import flowc
from flowc.compile import compile_text
from flowc.plugins import load_plugins
from flowc.runtime import codec
from flowc.runtime.app import create_app
from flowc.runtime.settings import ServeSettings
from flowc.simulator.stream_client import PlivoStreamClient, StreamSpec

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


def fixture(name: str, rate: int) -> npt.NDArray[np.int16]:
    with wave.open(str(SPEECH / name)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16)
    return codec.resample(pcm, 16000, rate)


def read_wav(path: Path) -> tuple[npt.NDArray[np.int16], int, int]:
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16)
        return data.reshape(-1, w.getnchannels()), w.getnchannels(), w.getframerate()


class Captured(logging.Handler):
    """Log records from every thread (the server runs in one)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Stopped:
    """Observer plugin: the ``stream_stopped`` statistics by stream id."""

    def __init__(self) -> None:
        self.stats: dict[str, dict[str, Any]] = {}

    @flowc.hookimpl
    def stream_stopped(self, stream: Any, statistics: Any) -> None:
        self.stats[stream["stream_id"]] = dict(statistics)


def flow_yaml(name: str, stream: str, pipeline: str) -> str:
    return f"""
flow: {name}
version: "7"
documents:
  answer:
    - Stream:
        name: s
        keepCallAlive: true
{stream}
        pipeline:
{pipeline}
"""


async def call(port: int, flow: str, spec_kwargs: dict[str, Any], stopped: Stopped,
               script: Any) -> PlivoStreamClient:
    """Post the answer request (From/To), run ``script(client)`` on the stream, hang up,
    wait until the server has closed every processor."""
    call_id = f"{flow}-call"
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"http://127.0.0.1:{port}/flows/{flow}/answer", data={
            "CallUUID": call_id, "From": "+14155550100", "To": "+14155550199"})
        assert answer.status_code == 200
    spec = StreamSpec(f"ws://127.0.0.1:{port}/flows/{flow}/streams/s", **spec_kwargs)
    client = PlivoStreamClient(spec, call_id=call_id)
    async with client:
        await script(client)
    deadline = time.monotonic() + 30
    while client.stream_id not in stopped.stats:
        assert time.monotonic() < deadline, "the server did not stop the stream"
        await asyncio.sleep(0.05)
    return client


FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {},
    "mulaw": {"format": "mulaw"},
    "mulaw-8k": {"format": "mulaw", "sample_rate": 8000},
    "48k": {"sample_rate": 48000},
}
"""Recorders of the ``formats`` flow, all on one 16 kHz L16 stream with both tracks."""


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory, serve_app: Any) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("recordings")
    blocker = directory / "blocked"
    blocker.write_text("a file, not a directory")
    stopped = Stopped()
    host = load_plugins([recorder_plugin, testplugin, stopped], entry_points_enabled=False)
    rec = json.dumps({"directory": str(directory), "filename": "{flow}/{call_id}"})
    bad = json.dumps({"directory": str(blocker / "sub")})
    formats = "\n".join(
        "          - recorder: " + json.dumps({"directory": str(directory),
                                              "filename": "{flow}/{call_id}-" + name, **extra})
        for name, extra in FORMATS.items())
    sources = {
        "both": flow_yaml("both", "        audioTrack: both\n"
                          "        contentType: audio/x-mulaw;rate=8000",
                          f"          - recorder: {rec}"),
        "echo": flow_yaml("echo", "        bidirectional: true\n"
                          "        contentType: audio/x-l16;rate=16000",
                          f"          - recorder: {rec}\n          - echo: {{}}"),
        "bad": flow_yaml("bad", "        bidirectional: true\n"
                         "        contentType: audio/x-l16;rate=8000",
                         f"          - recorder: {bad}\n          - echo: {{}}"),
        "formats": flow_yaml("formats", "        audioTrack: both\n"
                             "        contentType: audio/x-l16;rate=16000", formats),
    }
    flows = []
    for name, text in sources.items():
        result = compile_text(text, filename=f"{name}.yaml", host=host)
        assert result.ok and result.flow is not None, result.diagnostics
        flows.append(result.flow)
    app = create_app(flows, host=host, settings=ServeSettings(close_timeout=10))
    caller = fixture("s02.wav", 8000)
    heard = fixture("s06.wav", 8000)

    async def both(client: PlivoStreamClient) -> None:
        client.play_to_caller(heard, 8000)  # the outbound track: what the caller hears
        await client.speak(caller, 8000)
        await client.wait_idle(quiet=0.3)

    async def echo(client: PlivoStreamClient) -> None:
        await client.speak(fixture("s09.wav", 16000), 16000)
        await asyncio.sleep(0.5)  # the echo echoes silence too: never idle

    async def short(client: PlivoStreamClient) -> None:
        await client.speak(caller[:8000], 8000)
        await asyncio.sleep(0.3)

    async def formats(client: PlivoStreamClient) -> None:
        client.play_to_caller(fixture("s06.wav", 16000), 16000)
        await client.speak(fixture("s02.wav", 16000), 16000)
        await client.wait_idle(quiet=0.3)

    async def all_calls(port: int) -> list[PlivoStreamClient]:
        return list(await asyncio.gather(
            call(port, "both", {"audio_track": "both", "extra_headers": "userId=42;team=blue",
                                "content_type": "audio/x-mulaw;rate=8000"}, stopped, both),
            call(port, "echo", {"bidirectional": True,
                                "content_type": "audio/x-l16;rate=16000"}, stopped, echo),
            call(port, "bad", {"bidirectional": True,
                               "content_type": "audio/x-l16;rate=8000"}, stopped, short),
            call(port, "formats", {"audio_track": "both",
                                   "content_type": "audio/x-l16;rate=16000"}, stopped, formats),
        ))

    handler = Captured()
    logging.getLogger().addHandler(handler)
    try:
        with serve_app(app) as port:
            clients = asyncio.run(all_calls(port))
    finally:
        logging.getLogger().removeHandler(handler)
    return {"dir": directory, "clients": dict(zip(sources, clients, strict=True)),
            "stopped": stopped.stats, "logs": [r.getMessage() for r in handler.records],
            "caller": caller, "heard": heard}


def test_both_tracks_record_stereo_on_plivo_timestamps(calls: Any) -> None:
    client: PlivoStreamClient = calls["clients"]["both"]
    data, channels, rate = read_wav(calls["dir"] / "both" / "both-call.wav")
    assert (channels, rate) == (2, 8000)
    # the client sends both tracks in 20 ms frames with the same timestamps until it hangs
    # up: the file has every frame the server got (all but the last one or two the client
    # sent as it hung up), on the same timeline, nothing missing or shifted
    meta = json.loads((calls["dir"] / "both" / "both-call.json").read_text())
    frames = meta["frames"]["inbound"]
    assert client.statistics()["media_sent"] // 2 - 2 <= frames
    assert len(data) == frames * 160
    caller, _ = client.caller_pcm()
    start = round((client.sent[0].start - (client.opened_at or 0)) * 8000)
    expected_left = np.zeros(len(data), np.int16)
    expected_left[: len(caller)] = caller[: len(data)]
    assert start >= 0 and np.array_equal(data[:, 0], codec.ulaw_to_pcm(
        codec.pcm_to_ulaw(expected_left)))
    heard = calls["heard"]
    expected_right = np.zeros(len(data), np.int16)
    expected_right[: len(heard)] = heard[: len(data)]
    assert np.array_equal(data[:, 1], codec.ulaw_to_pcm(codec.pcm_to_ulaw(expected_right)))
    assert meta["channels"] == ["inbound", "outbound"]
    assert meta["frames"] == {"inbound": frames, "outbound": frames}
    assert meta["gaps"] == {"inbound": {"count": 0, "ms": 0.0},
                            "outbound": {"count": 0, "ms": 0.0}}
    assert meta["drops"]["total"] == 0 and meta["complete"] is True
    assert (meta["from"], meta["to"]) == ("+14155550100", "+14155550199")
    assert meta["extra_headers"] == {"userId": "42", "team": "blue"}
    assert (meta["flow"], meta["flow_version"], meta["call_id"]) == ("both", "7", "both-call")
    assert meta["stream_id"] == client.stream_id
    assert meta["duration_s"] == len(data) / 8000


def test_audio_flowc_played_is_recorded_as_heard(calls: Any) -> None:
    client: PlivoStreamClient = calls["clients"]["echo"]
    data, channels, rate = read_wav(calls["dir"] / "echo" / "echo-call.wav")
    assert (channels, rate) == (2, 16000)
    left, right = data[:, 0].astype(np.float64), data[:, 1].astype(np.float64)
    caller, _ = client.caller_pcm()
    heard, _ = client.heard_pcm()
    # left: the caller exactly (L16, on Plivo's timestamps); right: the echo the caller
    # heard (on flowc's clock), a few milliseconds after the caller said it
    assert np.array_equal(data[: len(caller), 0], caller[: len(data)]), client.statistics()
    # the echo: all of the caller's audio, after the caller said it (how long after
    # depends on the machine's load)
    meta = json.loads((calls["dir"] / "echo" / "echo-call.json").read_text())
    assert right @ right == pytest.approx(left @ left, rel=0.05)
    assert np.flatnonzero(right)[0] >= np.flatnonzero(left)[0]
    # what the caller heard, on 100 ms envelopes: a chunk may go out late on a loaded
    # machine, and the rest of the reply is heard (and recorded) that much later; the
    # client's own playout adds a few ms of jitter
    block = rate // 10
    similarity, lag = _correlation(envelope(right, block),
                                   envelope(heard.astype(np.float64), block))
    assert similarity > 0.9 and abs(lag) <= 1, (similarity, lag, meta)
    assert meta["outbound_source"] == "sent" and meta["drops"]["total"] == 0


def envelope(signal: npt.NDArray[np.float64], size: int = 320) -> npt.NDArray[np.float64]:
    """RMS per block (default 20 ms at 16 kHz)."""
    blocks = signal[: len(signal) // size * size].reshape(-1, size)
    out: npt.NDArray[np.float64] = np.sqrt((blocks**2).mean(axis=1))
    return out


def _correlation(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64],
                 ) -> tuple[float, int]:
    """Peak normalised cross-correlation of ``a`` against ``b`` and its lag (samples)."""
    size = len(a) + len(b)
    corr = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    index = int(np.argmax(np.abs(corr)))
    lag = index if index < len(a) else index - size
    shifted = a[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag), a])
    n = min(len(shifted), len(b))
    x, y = shifted[:n], b[:n]
    return float(x @ y / np.sqrt((x @ x) * (y @ y))), lag


def test_a_recorder_that_cannot_write_leaves_the_call_alone(calls: Any) -> None:
    client: PlivoStreamClient = calls["clients"]["bad"]
    assert client.statistics()["play_audio_received"] > 0  # the echo still played
    assert any("recorder: cannot record stream" in m and "the call goes on" in m
               for m in calls["logs"])
    stats = calls["stopped"][client.stream_id]
    assert stats["errors"] == [] and stats["failed"] == []
    assert not (calls["dir"] / "bad").exists()


def mulaw(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """``pcm`` through G.711 μ-law and back."""
    return codec.ulaw_to_pcm(codec.pcm_to_ulaw(np.ascontiguousarray(pcm))).reshape(pcm.shape)


def assert_resampled(actual: npt.NDArray[np.int16], reference: npt.NDArray[np.int16],
                     rate: int, out_rate: int, *, ulaw: bool) -> None:
    """``actual`` is ``reference`` resampled as one signal (within one LSB), through μ-law
    when ``ulaw``."""
    expected = codec.to_pcm(soxr.resample(codec.to_float(reference), rate, out_rate,
                                          quality="HQ")).astype(np.int32)
    assert len(actual) == len(expected) == len(reference) * out_rate // rate
    near = [np.clip(expected + d, -32768, 32767).astype(np.int16) for d in (-1, 0, 1)]
    if ulaw:
        near = [mulaw(n) for n in near]
    assert np.any([actual == n for n in near], axis=0).all()


def test_formats_and_rates_record_the_same_call(calls: Any) -> None:
    client: PlivoStreamClient = calls["clients"]["formats"]
    folder = calls["dir"] / "formats"
    reference, channels, rate = read_wav(folder / "formats-call-pcm16.wav")
    assert (channels, rate) == (2, 16000)
    caller, _ = client.caller_pcm()
    assert np.array_equal(reference[: len(caller), 0], caller[: len(reference)])
    assert np.count_nonzero(reference[:, 1]) > len(reference) // 2  # what the caller heard
    metas = {name: json.loads((folder / f"formats-call-{name}.json").read_text())
             for name in FORMATS}
    for meta in metas.values():  # every recorder got every frame
        assert meta["frames"] == metas["pcm16"]["frames"] and meta["drops"]["total"] == 0
        assert meta["duration_s"] == len(reference) / 16000 and meta["complete"] is True
    assert [(m["format"], m["sample_rate"]) for m in metas.values()] == [
        ("pcm16", 16000), ("mulaw", 16000), ("mulaw", 8000), ("pcm16", 48000)]
    files = {name: soundfile.read(str(folder / f"formats-call-{name}.wav"), dtype="int16",
                                  always_2d=True) for name in FORMATS}
    # μ-law at the stream's rate: the PCM16 recording, encoded; half the bytes
    ulaw, ulaw_rate = files["mulaw"]
    assert ulaw_rate == 16000 and np.array_equal(ulaw, mulaw(reference))
    size = (folder / "formats-call-mulaw.wav").stat().st_size
    assert size == 58 + reference.size == 58 + (
        (folder / "formats-call-pcm16.wav").stat().st_size - 44) // 2
    assert soundfile.info(str(folder / "formats-call-mulaw.wav")).subtype == "ULAW"
    # other rates: each channel is its whole timeline resampled, so both stay aligned
    for name, out_rate in (("mulaw-8k", 8000), ("48k", 48000)):
        data, file_rate = files[name]
        assert file_rate == out_rate and data.shape[1] == 2
        for channel in (0, 1):
            assert_resampled(data[:, channel], reference[:, channel], 16000, out_rate,
                             ulaw=name.startswith("mulaw"))
        assert metas[name]["samples"] == len(data) == len(reference) * out_rate // 16000
