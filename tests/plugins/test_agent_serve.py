"""The agent end to end: a flow compiled from YAML, served by uvicorn on 127.0.0.1, called
by the simulator's Plivo stream client (which plays audio out in real time and answers
checkpoints only once the audio before them has played)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from flowc_agent import plugin as agent_plugin

from flowc.compile import compile_text
from flowc.plugins import load_plugins
from flowc.runtime.app import create_app
from flowc.runtime.settings import ServeSettings
from flowc.simulator.stream_client import PlivoStreamClient, StreamSpec

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"

SETTINGS = {
    "greeting": "Welcome to Acme.",
    "transcript_wait_ms": 3000,
    "rules": {
        "intents": [
            {"name": "sales", "dtmf": "1", "reply": "Sales is open today."},
            {"name": "story", "dtmf": "2", "reply":
             "Let me tell you about our delivery process in some detail. Every parcel is "
             "scanned twice a day by the courier. Our team reviews the scans each morning. "
             "Then we call every customer whose parcel is late."},
            {"name": "hours", "keywords": ["hours", "open"], "reply": "We open at nine."},
            {"name": "bye", "dtmf": "9", "reply": "Goodbye.",
             # pocketsphinx's streaming words for s09 vary with the audio before it
             # ("thank you ... to buy", "they can earn much for your help the bike")
             "keywords": ["goodbye", "thank you", "your help"],
             "action": "end"},
        ],
    },
}


def flow_yaml(content_type: str, transcriber: bool = False) -> str:
    before = "          - transcriber: {tracks: [inbound]}\n" if transcriber else ""
    return f"""
flow: agent-e2e
version: "1"
documents:
  answer:
    - Stream:
        name: agent
        bidirectional: true
        keepCallAlive: true
        audioTrack: inbound
        contentType: {content_type}
        pipeline:
{before}          - agent: {json.dumps(SETTINGS)}
"""


def speech(name: str) -> np.ndarray:
    with wave.open(str(SPEECH / name)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16)


@pytest.fixture(scope="module")
def urls(serve_app: Callable[[Any], AbstractContextManager[int]]) -> Iterator[dict[str, str]]:
    plugins: list[Any] = [agent_plugin]
    with contextlib.suppress(ImportError):
        from flowc_transcriber import plugin as transcriber_plugin

        plugins.append(transcriber_plugin)
    host = load_plugins(plugins, entry_points_enabled=False)
    flows: list[Any] = []
    paths: dict[str, str] = {}
    cases = [("audio/x-mulaw;rate=8000", False), ("audio/x-l16;rate=16000", False)]
    if "transcriber" in host.processors:
        cases.append(("audio/x-l16;rate=16000", True))
    for content_type, transcriber in cases:
        source = flow_yaml(content_type, transcriber).replace("agent-e2e", f"agent{len(flows)}")
        result = compile_text(source, filename="agent.yaml", host=host)
        assert result.flow is not None, result.diagnostics
        flows.append(result.flow)
        paths["transcribed" if transcriber else content_type] = result.flow.streams["agent"].path
    app = create_app(flows, host=host, settings=ServeSettings())
    with serve_app(app) as port:
        yield {ct: f"ws://127.0.0.1:{port}{path}" for ct, path in paths.items()}


@pytest.mark.parametrize("content_type", ["audio/x-mulaw;rate=8000", "audio/x-l16;rate=16000"])
def test_greeting_keys_and_end_through_the_server(urls: dict[str, str], content_type: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="flowc.agent")

    async def call() -> PlivoStreamClient:
        spec = StreamSpec(urls[content_type], content_type=content_type, bidirectional=True)
        client = PlivoStreamClient(spec, fast=True)
        async with client:
            assert await client.wait_audio(1, within=15)  # the greeting
            assert await client.wait_idle(quiet=0.4, within=15)
            await client.send_dtmf("1")
            assert await client.wait_audio(len(client.audio_arrivals) + 1, within=10)
            assert await client.wait_idle(quiet=0.4, within=15)
            await client.send_dtmf("9")
            assert await client.wait_closed(within=15)
        return client

    client = asyncio.run(call())
    played = [name for _, name in client.checkpoints_played]
    assert [n.split("-", 1)[1] for n in played] == ["t0-s1", "t1-s1", "t2-s1"]
    assert client.protocol_errors == []
    assert client.closed_at is not None
    assert client.checkpoints_played[-1][0] <= client.closed_at  # the goodbye was heard
    heard, rate = client.heard_pcm()
    assert rate == client.spec.sample_rate and np.abs(heard).max() > 3000
    assert sum(s.duration for s in client.heard) > 2.0
    assert any("voice-to-voice" in r.getMessage() and "dtmf" in r.getMessage()
               for r in caplog.records)
    base = urls[content_type].split("/flows/")[0].replace("ws://", "http://")
    flow = urls[content_type].split("/flows/")[1].split("/")[0]
    exposition = httpx.get(f"{base}/metrics").text
    count = f'flowc_agent_voice_to_voice_seconds_count{{flow="{flow}"}}'
    assert any(line.startswith(count) and float(line.split()[-1]) >= 2
               for line in exposition.splitlines()), exposition[-2000:]


def test_barge_in_through_the_server(urls: dict[str, str]) -> None:
    content_type = "audio/x-mulaw;rate=8000"

    async def call() -> PlivoStreamClient:
        spec = StreamSpec(urls[content_type], content_type=content_type, bidirectional=True)
        client = PlivoStreamClient(spec, fast=True)
        async with client:
            assert await client.wait_audio(1, within=15)  # the greeting
            assert await client.wait_idle(quiet=0.4, within=15)
            await client.send_dtmf("2")
            deadline = time.monotonic() + 15
            while len(client.checkpoints_played) < 2:  # greeting + first story sentence
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            assert client.playing
            await client.speak(speech("s06.wav"), 16000)  # the caller talks over it
            assert await client.wait_idle(quiet=1.0, within=15)
        return client

    client = asyncio.run(call())
    assert len(client.clears) == 1
    clear_at, dropped = client.clears[0]
    assert dropped > 0  # Plivo's buffer held some (the server keeps the rest: 120 ms lead)
    assert all(t < clear_at for t, _ in client.audio_arrivals)  # nothing after the clear
    played = [name.split("-", 1)[1] for _, name in client.checkpoints_played]
    assert played[:2] == ["t0-s1", "t1-s1"] and "t1-s3" not in played
    [utterance] = client.utterances
    assert utterance.barge_in


def test_spoken_turns_with_the_transcriber_through_the_server(
        urls: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    if "transcribed" not in urls:
        pytest.skip("the transcriber plugin is not installed")
    caplog.set_level(logging.DEBUG, logger="flowc.agent")
    content_type = "audio/x-l16;rate=16000"

    async def call() -> PlivoStreamClient:
        spec = StreamSpec(urls["transcribed"], content_type=content_type, bidirectional=True)
        client = PlivoStreamClient(spec)  # real time, as a phone sends it
        async with client:
            assert await client.wait_audio(1, within=15)
            assert await client.wait_idle(quiet=0.4, within=15)
            before = len(client.audio_arrivals)
            await client.speak(speech("s06.wav"), 16000)  # "... opening hours on saturday"
            assert await client.wait_audio(before + 1, within=10)
            assert await client.wait_idle(quiet=0.4, within=15)
            await client.speak(speech("s09.wav"), 16000)  # "... for your help goodbye"
            assert await client.wait_closed(within=15)
        return client

    client = asyncio.run(call())
    played = [name.split("-", 1)[1] for _, name in client.checkpoints_played]
    assert played == ["t0-s1", "t1-s1", "t2-s1"]
    turns = [r.getMessage() for r in caplog.records if "voice-to-voice" in r.getMessage()]
    # normally "(speech, ...)"; on a loaded machine the final may come after
    # transcript_wait_ms and start the turn itself: "(transcript, ...)"
    assert "intent hours)" in turns[0] and "intent bye)" in turns[1]
