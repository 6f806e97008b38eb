"""Plugin cost and the agent's voice-to-voice latency.

Part 1, CPU seconds per audio second: every installed plugin processor (and each of its
engines) is driven through ``Processor.run`` with the nine fixture sentences
(tests/fixtures/speech, 1 s of silence after each) as 20 ms μ-law 8 kHz ``AudioIn``
frames at ``--speed`` x real time; ``process_time`` (all threads) over the audio's
duration, after a warm-up pass. The baseline, measured in the same run, is a pass-through
processor through the same driver. TTS engines: CPU seconds per second of speech they
synthesize (a typical agent reply, sentence by sentence).

Part 2, the agent through the real server (``flowc serve`` in its own process on
127.0.0.1) and the simulator's Plivo stream client in real time, with the rule brain:

* voice-to-voice: the caller speaks a fixture sentence; from the end of its speech (the
  last loud 10 ms frame, not the padding) to the first ``playAudio`` of the reply, for
  the ``transcriber`` (pocketsphinx) + ``agent`` pipeline at μ-law 8 kHz and L16 16 kHz;
* baseline: a key press to the first ``playAudio`` (no end-of-speech wait, no ASR);
* barge-in: the caller talks over a long reply; speech onset → ``clearAudio`` at the
  client, and the agent's own VAD decision → ``clearAudio`` / reply stopped (its logs).

    .venv/bin/python bench/plugins.py [--turns N] [--speed X] [--skip-cpu] [--skip-latency]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np

from flowc.model import stream_path
from flowc.plugins import PluginHost, load_plugins
from flowc.runtime.codec import pcm_to_ulaw, resample, ulaw_to_pcm
from flowc.runtime.frames import PCM, AudioIn, Frame
from flowc.runtime.processor import Processor, StreamContext

SPEECH = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech"
RATE = 8000
REPLY = ("Sure, I can help you with that. Your appointment is confirmed for Tuesday at "
         "three o'clock. Is there anything else I can do for you?")


def fixtures() -> list[tuple[str, PCM]]:
    out = []
    for line in (SPEECH / "references.txt").read_text().splitlines():
        name, text = line.split("\t")
        with wave.open(str(SPEECH / f"{name}.wav")) as w:
            out.append((text, np.frombuffer(w.readframes(w.getnframes()), np.int16)))
    return out


def phone_audio() -> PCM:
    """The nine sentences, 1 s of silence after each, 8 kHz through a μ-law round trip."""
    parts: list[PCM] = []
    for _, pcm in fixtures():
        parts += [resample(pcm, 16000, RATE), np.zeros(RATE, np.int16)]
    return ulaw_to_pcm(pcm_to_ulaw(np.concatenate(parts)))


def context(**overrides: Any) -> StreamContext:
    fields: dict[str, Any] = {
        "flow": "bench", "flow_version": "1", "stream_key": "s", "call_id": "bench-call",
        "stream_id": "bench-stream", "account_id": "MABENCH",
        "content_type": "audio/x-mulaw;rate=8000", "encoding": "audio/x-mulaw",
        "sample_rate": RATE, "tracks": ("inbound",), "bidirectional": True,
    }
    fields.update(overrides)
    return StreamContext(**fields)


# -- part 1: CPU per audio second --------------------------------------------------------


async def drive(processor: Processor, audio: PCM, speed: float) -> None:
    """Feed ``audio`` as 20 ms frames at ``speed`` x real time; drain what it emits."""
    send, receive = anyio.create_memory_object_stream[Frame](256)

    async def emit(frame: Frame) -> None:
        pass

    step = RATE // 50
    await processor.start()
    async with anyio.create_task_group() as tg:
        tg.start_soon(processor.run, receive, emit)
        t0 = time.monotonic()
        async with send:
            for n, i in enumerate(range(0, len(audio) - step + 1, step)):
                await send.send(AudioIn(audio[i : i + step], RATE, "inbound", 20 * n, n + 1,
                                        n + 1))
                delay = t0 + (n + 1) * 0.02 / speed - time.monotonic()
                await anyio.sleep(max(0.0, delay))
    await processor.close()


def cpu_per_audio_second(make: Any, audio: PCM, speed: float) -> float:
    """``process_time`` per audio second of a fresh processor, after a warm-up pass."""
    anyio.run(drive, make(), audio[: RATE * 4], speed)  # warm-up: models, pools, caches
    start = time.process_time()
    anyio.run(drive, make(), audio, speed)
    return (time.process_time() - start) / (len(audio) / RATE)


def processor_cases(host: PluginHost, directory: Path) -> dict[str, Any]:
    """Name → factory of a fresh processor, for what is installed."""
    ctx = context()
    specs = host.processors
    cases: dict[str, Any] = {"baseline (pass-through)": lambda: Processor({}, ctx)}
    if "recorder" in specs:
        cases["recorder"] = lambda: specs["recorder"].factory(
            {"directory": str(directory)}, context(bidirectional=False))
    if "denoiser" in specs:
        for engine in ("rnnoise", "speex"):
            cases[f"denoiser {engine}"] = (lambda e=engine: specs["denoiser"].factory(
                {"engine": e}, ctx))
    if "transcriber" in specs:
        for engine in ("pocketsphinx", "whisper"):
            cases[f"transcriber {engine}"] = (lambda e=engine: specs["transcriber"].factory(
                {"engine": e, "tracks": ["inbound"]}, ctx))
    if "agent" in specs:
        cases["agent (VAD, no turns)"] = lambda: specs["agent"].factory({"greeting": ""}, ctx)
    return cases


def tts_cost(host: PluginHost) -> dict[str, tuple[float, float]]:
    """Engine → (CPU s per audio s, first-sentence wall ms), warm."""
    out = {}
    sentences = re.split(r"(?<=[.?!])\s+", REPLY)
    for name, spec in sorted(host.engines_of("tts").items()):
        try:
            engine = spec.factory()
        except Exception as exc:  # not installed
            print(f"  tts {name}: unavailable ({exc})")
            continue
        engine.synthesize("Warm up.")
        firsts = []
        for _ in range(5):
            first = time.perf_counter()
            engine.synthesize(sentences[0])
            firsts.append(1000 * (time.perf_counter() - first))
        first_ms = statistics.median(firsts)
        start, seconds = time.process_time(), 0.0
        for _ in range(5):
            for sentence in sentences:
                pcm, rate = engine.synthesize(sentence)
                seconds += len(pcm) / rate
        out[name] = ((time.process_time() - start) / seconds, first_ms)
    return out


def part_cpu(host: PluginHost, speed: float) -> None:
    audio = phone_audio()
    print(f"\n## CPU seconds per audio second (8 kHz μ-law, {len(audio) / RATE:.0f} s of "
          f"audio at {speed:g}x real time, transcribers at 2x, warm)\n")
    print("| processor | CPU s / audio s | net of baseline | real-time streams per core |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        baseline = None
        for name, make in processor_cases(host, Path(directory)).items():
            # transcribers fall behind (and drop copies) much above real time on 2 cores
            pace = min(speed, 2.0) if name.startswith("transcriber") else speed
            try:
                cost = cpu_per_audio_second(make, audio, pace)
            except Exception as exc:
                print(f"| {name} | unavailable: {type(exc).__name__}: {exc} | | |")
                continue
            baseline = cost if baseline is None else baseline
            net = cost - baseline
            print(f"| {name} | {cost:.4f} | {net:+.4f} | {1 / max(cost, 1e-9):.0f} |")
    print("\n| TTS engine | CPU s / audio s | first sentence, median wall ms |")
    print("|---|---|---|")
    for name, (cost, first_ms) in tts_cost(host).items():
        print(f"| {name} | {cost:.4f} | {first_ms:.1f} |")


# -- part 2: the agent through the server -----------------------------------------------

RULES = {
    "intents": [
        {"name": "status", "keywords": ["order", "status", "package"],
         "reply": "Your order is on its way."},
        {"name": "story", "dtmf": "2", "reply":
         "Let me tell you about our delivery process in some detail. Every parcel is "
         "scanned twice a day by the courier. Our team reviews the scans each morning. "
         "Then we call every customer whose parcel is late."},
        {"name": "key", "dtmf": "1", "reply": "You pressed one."},
    ],
    "fallback": "I see. Tell me more.",
}


def flow_yaml(name: str, content_type: str, transcriber: bool, partial: bool = False) -> str:
    settings = json.dumps({"greeting": "Hello.", "rules": RULES, "reply_on_partial": partial})
    steps = "          - transcriber: {tracks: [inbound]}\n" if transcriber else ""
    return f"""
flow: {name}
version: "1"
documents:
  answer:
    - Stream:
        name: agent
        bidirectional: true
        keepCallAlive: true
        contentType: {content_type}
        pipeline:
{steps}          - agent: {settings}
"""


@contextlib.contextmanager
def flowc_serve(flow: str, directory: Path) -> Iterator[tuple[str, list[str]]]:
    """``flowc serve`` in its own process on 127.0.0.1 (so the caller's client does not
    share its interpreter); yields the base URL and, once it stopped, its log lines."""
    path = directory / "flow.yaml"
    path.write_text(flow)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log_path = directory / "serve.log"
    lines: list[str] = []
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "flowc", "serve", str(path), "--host", "127.0.0.1",
             "--port", str(port)], stdout=log_file, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"flowc serve did not start:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield f"ws://127.0.0.1:{port}", lines
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    lines += log_path.read_text().splitlines()


def speech_bounds(pcm: PCM, rate: int) -> tuple[float, float]:
    """Seconds from the start of ``pcm`` to its first and past its last loud 10 ms frame."""
    step = rate // 100
    frames = pcm[: len(pcm) // step * step].reshape(-1, step).astype(np.float64)
    level = 10 * np.log10((frames**2).mean(axis=1) + 1e-9)
    active = np.flatnonzero(level > level.max() - 40)
    return active[0] / 100, (active[-1] + 1) / 100


class AgentLog:
    """The agent's own figures, parsed from the server's log lines."""

    def __init__(self, lines: list[str]) -> None:
        self.v2v: list[float] = []
        self.clear: list[float] = []
        self.stop: list[float] = []
        for message in lines:
            if found := re.search(r"voice-to-voice ([\d.]+) ms", message):
                if "(speech" in message:
                    self.v2v.append(float(found.group(1)))
            elif found := re.search(r"clearAudio ([\d.]+) ms after", message):
                self.clear.append(float(found.group(1)))
            elif found := re.search(r"reply stopped ([\d.]+) ms after", message):
                self.stop.append(float(found.group(1)))


async def spoken_turns(url: str, content_type: str, turns: int) -> list[float]:
    from flowc.simulator.stream_client import PlivoStreamClient, StreamSpec

    spec = StreamSpec(url, content_type=content_type, bidirectional=True)
    sentences = fixtures()
    latencies: list[float] = []
    async with PlivoStreamClient(spec) as client:
        await client.wait_audio(1, within=15)
        await client.wait_idle(quiet=0.5, within=15)
        for n in range(turns):
            _, pcm = sentences[n % len(sentences)]
            before = len(client.audio_arrivals)
            utterance = await client.speak(pcm, 16000)
            if not await client.wait_audio(before + 1, within=6):
                print(f"  turn {n + 1}: no reply")
                continue
            assert utterance.ended is not None
            _, end = speech_bounds(pcm, 16000)
            speech_end = utterance.ended - (len(pcm) / 16000 - end)
            first = client.audio_arrivals[before][0]
            if first < speech_end:  # a late reply to the previous turn: not this turn's
                print(f"  turn {n + 1}: a reply arrived before the speech ended (skipped)")
            else:
                latencies.append(1000 * (first - speech_end))
            await client.wait_idle(quiet=1.0, within=20)
    return latencies


async def key_turns(url: str, turns: int) -> tuple[list[float], list[float]]:
    """Key press → first playAudio of the reply; and stream open → greeting, per call."""
    from flowc.simulator.stream_client import PlivoStreamClient, StreamSpec

    spec = StreamSpec(url, content_type="audio/x-mulaw;rate=8000", bidirectional=True)
    latencies: list[float] = []
    greetings: list[float] = []
    for _ in range(3):
        async with PlivoStreamClient(spec) as client:
            await client.wait_audio(1, within=15)
            assert client.opened_at is not None
            greetings.append(1000 * (client.audio_arrivals[0][0] - client.opened_at))
    async with PlivoStreamClient(spec) as client:
        await client.wait_audio(1, within=15)
        await client.wait_idle(quiet=0.3, within=15)
        for _ in range(turns):
            before = len(client.audio_arrivals)
            pressed = client.clock()
            await client.send_dtmf("1")
            await client.wait_audio(before + 1, within=5)
            latencies.append(1000 * (client.audio_arrivals[before][0] - pressed))
            await client.wait_idle(quiet=0.3, within=15)
    return latencies, greetings


async def barge_ins(url: str, count: int) -> list[float]:
    from flowc.simulator.stream_client import PlivoStreamClient, StreamSpec

    spec = StreamSpec(url, content_type="audio/x-mulaw;rate=8000", bidirectional=True)
    onset_to_clear: list[float] = []
    _, pcm = fixtures()[5]
    start, _ = speech_bounds(pcm, 16000)
    async with PlivoStreamClient(spec) as client:
        await client.wait_audio(1, within=15)
        await client.wait_idle(quiet=0.3, within=15)
        for _ in range(count):
            before = len(client.audio_arrivals)
            await client.send_dtmf("2")
            await client.wait_audio(before + 1, within=5)
            await asyncio.sleep(1.0)
            clears = len(client.clears)
            utterance = client.say(pcm, 16000)
            deadline = time.monotonic() + 5
            while len(client.clears) == clears and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.005)  # the client has no event for clearAudio
            if len(client.clears) > clears and utterance.started is not None:
                onset_to_clear.append(1000 * (client.clears[-1][0] - utterance.started - start))
            await client.wait_idle(quiet=1.0, within=20)
    return onset_to_clear


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"median {statistics.median(values):.0f} ms, p95 {p95:.0f} ms, "
            f"min {ordered[0]:.0f}, max {ordered[-1]:.0f} (n={len(values)})")


def part_latency(host: PluginHost, turns: int) -> None:
    transcribed = "transcriber" in host.processors
    print("\n## Agent through `flowc serve` (own process; rule brain, espeak, real-time "
          "caller)\n")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with flowc_serve(flow_yaml("keys", "audio/x-mulaw;rate=8000", False), directory) as (
                base, lines):
            url = base + stream_path("keys", "agent")
            keys, greetings = asyncio.run(key_turns(url, turns))
            onsets = asyncio.run(barge_ins(url, max(3, turns // 3)))
        agent = AgentLog(lines)
        print(f"- greeting, stream open → first playAudio: {summary(greetings)}")
        print(f"- baseline, key press → first playAudio: {summary(keys)}")
        print(f"- barge-in, caller speech onset → clearAudio at the client: {summary(onsets)}")
        print(f"  VAD decision → ClearAudio emitted: {summary(agent.clear)}; "
              f"→ reply stopped: {summary(agent.stop)}")
        if not transcribed:
            print("- voice-to-voice: needs the transcriber plugin")
            return
        for partial in (False, True):
            for content_type in ("audio/x-mulaw;rate=8000", "audio/x-l16;rate=16000"):
                flow = flow_yaml("talk", content_type, True, partial)
                with flowc_serve(flow, directory) as (base, lines):
                    v2v = asyncio.run(spoken_turns(base + stream_path("talk", "agent"),
                                                   content_type, turns))
                label = "transcriber+agent" + (", reply_on_partial" if partial else "")
                print(f"- voice-to-voice, {label}, {content_type}: end of speech → first "
                      f"playAudio: {summary(v2v)}")
                print(f"  agent's own view (end of speech → first AudioOut): "
                      f"{summary(AgentLog(lines).v2v)}")
    print("  (end of speech includes the VAD's end_silence_ms = 500 and the transcriber's "
          "own end of utterance; onset includes min_speech_ms = 128)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--speed", type=float, default=8.0)
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    host = load_plugins()
    print("plugins:", ", ".join(sorted(host.processors)))
    one, five, fifteen = os.getloadavg()
    print(f"load average at start (1/5/15 min): {one:.1f} / {five:.1f} / {fifteen:.1f} "
          f"on {os.cpu_count()} cores")
    if not args.skip_cpu:
        part_cpu(host, args.speed)
    if not args.skip_latency:
        part_latency(host, args.turns)


if __name__ == "__main__":
    main()
