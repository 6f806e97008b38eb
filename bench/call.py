"""How accurate is ``flowc call``? Pacing of media frames and the latency-measurement floor.

Run: ``.venv/bin/python bench/call.py [--seconds 10] [--turns 10] [--agent]``

1. **Pacing.** The simulator's stream client sends 20 ms ``media`` frames in real time to a
   recording websockets server; the baseline in the same run is a bare ``websockets`` loop
   sending the same pre-encoded frames on an absolute schedule. Reported: inter-arrival
   p50/p99/max and drift after N seconds, client CPU per frame.
2. **Latency floor.** A bot that answers the instant it sees the first silent frame after
   speech: the voice-to-voice latency the simulator reports for it is its own measurement
   floor (frame granularity + loopback).
3. ``--agent``: voice-to-voice latency of ``examples/flows/voice-agent.yaml`` (real server,
   real transcriber and agent), one call with ``--turns`` turns.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from flowc.runtime import codec
from flowc.simulator.stream_client import PlivoStreamClient, StreamSpec

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def recording_server(
    handler: Callable[[ServerConnection, list[float]], Awaitable[None]] | None = None,
) -> tuple[Any, str, list[float]]:
    arrivals: list[float] = []

    async def handle(ws: ServerConnection) -> None:
        if handler is not None:
            await handler(ws, arrivals)
            return
        async for raw in ws:
            if '"media"' in str(raw)[:30]:
                arrivals.append(time.monotonic())

    server = await serve(handle, "127.0.0.1", 0, compression=None)
    port = next(iter(server.sockets)).getsockname()[1]
    return server, f"ws://127.0.0.1:{port}/bench", arrivals


def gaps_ms(arrivals: list[float]) -> list[float]:
    return [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]


def describe(name: str, arrivals: list[float], cpu: float) -> None:
    gaps = gaps_ms(arrivals)
    drift = (arrivals[-1] - arrivals[0]) * 1000 - 20 * (len(arrivals) - 1)
    print(f"  {name:<22} frames {len(arrivals):5d}  gap p50 {pct(gaps, .5):5.1f} ms  "
          f"p99 {pct(gaps, .99):5.1f} ms  max {max(gaps):5.1f} ms  drift {drift:+6.1f} ms  "
          f"CPU/frame {cpu / len(arrivals) * 1e6:6.1f} µs")


async def pacing(seconds: float) -> None:
    print(f"pacing: {seconds:g} s of 20 ms μ-law frames to a local websockets server")
    server, url, arrivals = await recording_server()
    cpu0 = time.process_time()
    async with PlivoStreamClient(StreamSpec(url)):
        await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu0
    await asyncio.sleep(0.1)
    describe("flowc stream client", arrivals[1:], cpu)
    server.close()

    server, url, arrivals = await recording_server()
    payload = base64.b64encode(codec.pcm_to_ulaw(np.zeros(160, np.int16))).decode()
    frames = int(seconds / 0.02)
    messages = [json.dumps({"event": "media", "sequenceNumber": i + 2, "streamId": "s",
                            "media": {"track": "inbound", "timestamp": str(i * 20),
                                      "chunk": i + 1, "payload": payload}})
                for i in range(frames)]
    cpu0 = time.process_time()
    async with connect(url, compression=None) as ws:
        start = time.monotonic()
        for index, message in enumerate(messages):
            await ws.send(message)
            await asyncio.sleep(max(0.0, start + (index + 1) * 0.02 - time.monotonic()))
    cpu = time.process_time() - cpu0
    await asyncio.sleep(0.1)
    describe("baseline (bare loop)", arrivals, cpu)
    server.close()


async def latency_floor(turns: int) -> None:
    print(f"latency floor: a bot that answers on the first silent frame after speech, "
          f"{turns} turns")

    async def bot(ws: ServerConnection, _arrivals: list[float]) -> None:
        speaking = False
        reply = base64.b64encode(codec.pcm_to_ulaw(np.full(800, 3000, np.int16))).decode()
        async for raw in ws:
            message = json.loads(raw)
            if message["event"] != "media":
                continue
            pcm = codec.ulaw_to_pcm(base64.b64decode(message["media"]["payload"]))
            loud = int(np.abs(pcm.astype(np.int32)).max()) > 500
            if loud:
                speaking = True
            elif speaking:
                speaking = False
                await ws.send(json.dumps({"event": "playAudio", "media": {
                    "contentType": "audio/x-mulaw", "sampleRate": 8000, "payload": reply}}))

    server, url, _ = await recording_server(bot)
    tone = (np.sin(np.arange(4000) * 2 * np.pi * 300 / 8000) * 8000).astype(np.int16)
    latencies: list[float] = []
    async with PlivoStreamClient(StreamSpec(url, bidirectional=True)) as client:
        for _ in range(turns):
            utterance = await client.speak(tone, 8000)
            before = len(client.audio_arrivals)
            await client.wait_audio(before + 1, within=5)
            assert utterance.ended is not None
            latencies.append((client.audio_arrivals[before][0] - utterance.ended) * 1000)
            await client.wait_idle(0.2)
    print(f"  reported latency       p50 {statistics.median(latencies):5.1f} ms  "
          f"max {max(latencies):5.1f} ms  (the bot answers with 0 ms of its own delay; "
          "one 20 ms frame of silence must arrive first)")
    server.close()


def agent(turns: int) -> None:
    import subprocess
    import sys
    import tempfile

    print(f"voice agent: examples/flows/voice-agent.yaml, {turns} turns, real time")
    says = ["Hello, what are your opening hours?", "Can I book an appointment?",
            "Thank you, that is all."]
    args = [sys.executable, "-m", "flowc", "call", str(ROOT / "examples/flows/voice-agent.yaml"),
            "--json", "--no-listen"]
    for index in range(turns):
        args += ["--say", says[index % len(says)]]
    with tempfile.TemporaryDirectory() as scratch:
        out = subprocess.run(args, cwd=scratch, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    latencies = [t["latency_ms"] for t in report["turns"] if t["latency_ms"] is not None]
    print(f"  voice-to-voice         per turn {latencies} ms; "
          f"median {statistics.median(latencies):.0f} ms" if latencies else "  no replies")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--agent", action="store_true")
    args = parser.parse_args()
    asyncio.run(pacing(args.seconds))
    asyncio.run(latency_floor(args.turns))
    if args.agent:
        agent(min(args.turns, 5))


if __name__ == "__main__":
    main()
