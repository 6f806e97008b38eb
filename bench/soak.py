"""Soak: real-time Plivo streams through recorder + transcriber for a bounded time.

```sh
.venv/bin/python bench/soak.py                       # 20 streams, 10 minutes
.venv/bin/python bench/soak.py --streams 10 --minutes 3 --call-seconds 45
```

``flowc serve`` runs on 127.0.0.1 with a flow whose Stream (μ-law 8 kHz, inbound) runs
``recorder`` then ``transcriber`` (pocketsphinx). A separate load process keeps
``--streams`` calls up at all times: each sends Plivo's ``start``, then one ``media`` frame
every 20 ms on an absolute schedule (speech clips from ``tests/fixtures/speech`` with
``--pause`` seconds of silence after each), hangs up after ``--call-seconds`` (staggered)
and is replaced by a new call, so leaks across calls show. Every ``--every`` seconds the
server's RSS, open files, threads, CPU and ``/metrics`` are sampled.

At the end: **frames lost** (sent by the load but missing from the recordings' sidecars,
or from the server's ``flowc_frames_in_total``; must be 0), the transcriber's finals and
dropped copies, a per-minute table, and the growth of RSS and open files from the first
full minute (the warm-up: decoder pool and allocator arenas fill) to the last. Exit status
1 if a frame was lost or open files grew.

Default ``--streams``: half the capacity ``bench/streams.py`` measured when its figures
are in ``bench/README.md`` (none are recorded for this pipeline), else 20.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "tests" / "fixtures" / "speech"
FRAME_MS = 20
SAMPLES = 160  # 20 ms at 8 kHz

FLOW = """\
flow: soak
documents:
  answer:
    - Stream:
        name: soak
        contentType: audio/x-mulaw;rate=8000
        pipeline:
          - recorder: {directory: "RECDIR", filename: "{stream_id}"}
          - transcriber: {transcript_dir: "TRDIR"}
"""


def default_streams() -> int:
    """Half the flowc capacity recorded in bench/README.md, if any, else 20."""
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text() if readme.exists() else ""
    found = re.search(r"flowc[^\n]*highest passing N[^\d]*(\d+)", text)
    return max(1, int(found.group(1)) // 2) if found else 20


# ------------------------------------------------------------------------ the load


def _frames(pause_s: float) -> list[bytes]:
    """μ-law 20 ms payloads of one loop of the fixture speech with pauses."""
    import numpy as np

    from flowc.runtime import codec

    pcm: list[Any] = []
    for path in sorted(SPEECH.glob("*.wav")):
        with wave.open(str(path), "rb") as wav:
            data = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
            pcm.append(codec.resample(data, wav.getframerate(), 8000))
        pcm.append(np.zeros(int(8000 * pause_s), np.int16))
    audio = np.concatenate(pcm)
    audio = audio[: len(audio) // SAMPLES * SAMPLES]
    return [codec.encode(audio[i:i + SAMPLES], "audio/x-mulaw")
            for i in range(0, len(audio), SAMPLES)]


async def _call(url: str, sid: str, seconds: float, frames: list[bytes], offset: int,
                results: list[dict[str, Any]], lateness: list[float]) -> None:
    import orjson
    import websockets

    sent = 0
    async with websockets.connect(url, compression=None, max_queue=None) as conn:
        await conn.send(orjson.dumps({
            "event": "start", "sequenceNumber": 1,
            "start": {"callId": f"call-{sid}", "streamId": sid, "accountId": "MAsoak",
                      "tracks": ["inbound"],
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000}},
            "extra_headers": ""}).decode())
        count = int(seconds * 1000 / FRAME_MS)
        t0 = time.monotonic()
        base_ms = int(time.time() * 1000)
        for n in range(count):
            due = t0 + n * FRAME_MS / 1000
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lateness.append(-delay)
            payload = frames[(offset + n) % len(frames)]
            await conn.send(orjson.dumps({
                "event": "media", "sequenceNumber": n + 2, "streamId": sid,
                "media": {"track": "inbound", "timestamp": str(base_ms + n * FRAME_MS),
                          "chunk": n + 1, "payload": base64.b64encode(payload).decode()},
            }).decode())
            sent += 1
        await conn.send(orjson.dumps({"event": "stop", "sequenceNumber": count + 2,
                                      "streamId": sid}).decode())
    results.append({"stream_id": sid, "sent": sent, "started": base_ms / 1000})


async def _load(url: str, streams: int, minutes: float, call_seconds: float,
                pause: float) -> dict[str, Any]:
    frames = _frames(pause)
    rng = random.Random(7)
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    lateness: list[float] = []
    end = time.monotonic() + minutes * 60
    serial = 0

    async def lane(lane_no: int) -> None:
        nonlocal serial
        # stagger the first calls so hang-ups spread over the call length
        first = call_seconds * (lane_no + 1) / streams
        seconds = first
        while time.monotonic() + 1 < end:
            seconds = min(seconds, end - time.monotonic())
            serial += 1
            sid = f"soak-{lane_no}-{serial}"
            try:
                await _call(url, sid, seconds, frames, rng.randrange(len(frames)),
                            results, lateness)
            except Exception as exc:  # a failed call is a finding, not a crash
                failures.append(f"{sid}: {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)
            seconds = call_seconds

    await asyncio.gather(*(lane(i) for i in range(streams)))
    lateness.sort()
    return {
        "calls": results, "failures": failures,
        "late_frames": len(lateness),
        "lateness_p99_ms": lateness[int(len(lateness) * 0.99)] * 1000 if lateness else 0.0,
    }


def load_main(args: argparse.Namespace) -> int:
    import uvloop

    result = uvloop.run(_load(args.url, args.streams, args.minutes, args.call_seconds,
                              args.pause))
    Path(args.out).write_text(json.dumps(result))
    return 0


# ---------------------------------------------------------------------- the server


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    threads: int
    cpu_s: float
    frames_in: int
    active: int
    drops: dict[str, int] = field(default_factory=dict)
    procs: dict[int, tuple[float, float]] = field(default_factory=dict)
    """Per process (the server and each child): CPU s (user + system) and RSS MB."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _metrics(port: int) -> dict[str, float]:
    import httpx

    values: dict[str, float] = {}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = values.get(name, 0.0) + float(value)
    return values


def _sample(pid: int, port: int, t0: float) -> Sample:
    import psutil

    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)
    metrics = _metrics(port)
    drops = {m.group(1): int(v) for k, v in metrics.items()
             if (m := re.match(r'flowc_stage_drops_total\{processor="([^"]+)"\}', k))}
    rss = fds = threads = 0
    cpu = 0.0
    per_process: dict[int, tuple[float, float]] = {}
    for proc in procs:
        try:
            memory = proc.memory_info().rss
            rss += memory
            fds += proc.num_fds()
            threads += proc.num_threads()
            times = proc.cpu_times()
            cpu += times.user + times.system
        except psutil.NoSuchProcess:
            continue
        per_process[proc.pid] = (times.user + times.system, memory / 2**20)
    return Sample(time.monotonic() - t0, rss / 2**20, fds, threads, cpu,
                  int(metrics.get("flowc_frames_in_total", 0)),
                  int(metrics.get("flowc_active_streams", 0)), drops, per_process)


def _wait_ready(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"flowc serve exited:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("flowc serve did not start")


def _minute_rows(samples: list[Sample], minutes: int) -> list[dict[str, Any]]:
    rows = []
    previous: Sample | None = None
    for minute in range(minutes):
        window = [s for s in samples if minute * 60 <= s.t < (minute + 1) * 60]
        if not window:
            continue
        last = window[-1]
        base = previous or window[0]
        span = max(1e-9, last.t - base.t)
        rows.append({
            "minute": minute + 1,
            "frames_in": last.frames_in - (previous.frames_in if previous else 0),
            "active": round(statistics.mean(s.active for s in window), 1),
            "rss_mb": (min(s.rss_mb for s in window), max(s.rss_mb for s in window)),
            "fds": (min(s.fds for s in window), max(s.fds for s in window)),
            "threads": max(s.threads for s in window),
            "cpu_pct": 100 * (last.cpu_s - base.cpu_s) / span,
            "drops": sum(last.drops.values()),
        })
        previous = last
    return rows


def _recorded(recordings: Path, sid: str) -> int | None:
    path = recordings / f"{sid}.json"
    if not path.exists():
        return None
    meta = json.loads(path.read_text())
    if not meta.get("complete"):
        return None
    return int(sum(meta["frames"].values()))


def _finals(transcripts: Path) -> tuple[int, int]:
    files = finals = 0
    for path in transcripts.glob("*.jsonl"):
        files += 1
        finals += sum(1 for line in path.read_text().splitlines()
                      if line and json.loads(line).get("final"))
    return files, finals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=None,
                        help="concurrent calls (default: half the measured capacity, else 20)")
    parser.add_argument("--minutes", type=float, default=10.0, help="load duration (10)")
    parser.add_argument("--call-seconds", type=float, default=60.0,
                        help="length of each call before it hangs up and is replaced (60)")
    parser.add_argument("--pause", type=float, default=4.0,
                        help="seconds of silence after each speech clip (4)")
    parser.add_argument("--every", type=float, default=5.0, help="sampling interval (5 s)")
    parser.add_argument("--keep", action="store_true", help="keep recordings and logs")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.streams is None:
        args.streams = default_streams()
    if args.load:
        return load_main(args)

    work = Path(tempfile.mkdtemp(prefix="flowc-soak-"))
    recordings, transcripts = work / "recordings", work / "transcripts"
    flow = work / "soak.yaml"
    flow.write_text(FLOW.replace("RECDIR", str(recordings)).replace("TRDIR", str(transcripts)))
    port = _free_port()
    log = work / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "PLIVO_AUTH_TOKEN"}
    flowc = [sys.executable, "-m", "flowc"]
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [*flowc, "serve", str(flow), "--host", "127.0.0.1", "--port", str(port),
             "--max-streams", "0", "--handshake-rate", "0"],
            stdout=sink, stderr=sink, env=env, cwd=work)
    try:
        _wait_ready(port, server, log)
        print(f"soak: {args.streams} streams x {args.minutes:g} min, calls of "
              f"{args.call_seconds:g} s, recorder + transcriber (pocketsphinx), "
              f"{os.cpu_count()} cores; work dir {work}", flush=True)
        out = work / "load.json"
        t0 = time.monotonic()
        load = subprocess.Popen(
            [sys.executable, __file__, "--load", "--url",
             f"ws://127.0.0.1:{port}/flows/soak/streams/soak", "--out", str(out),
             "--streams", str(args.streams), "--minutes", str(args.minutes),
             "--call-seconds", str(args.call_seconds), "--pause", str(args.pause)], env=env)
        samples = [_sample(server.pid, port, t0)]
        while load.poll() is None:
            time.sleep(args.every)
            if load.poll() is None:  # the table covers the load only, not the tail
                samples.append(_sample(server.pid, port, t0))
        if load.returncode != 0:
            raise SystemExit(f"load process failed ({load.returncode})")
        result = json.loads(out.read_text())
        calls: list[dict[str, Any]] = result["calls"]
        deadline = time.monotonic() + 60
        missing = [c for c in calls if _recorded(recordings, c["stream_id"]) is None]
        while missing and time.monotonic() < deadline:
            time.sleep(0.5)
            missing = [c for c in calls if _recorded(recordings, c["stream_id"]) is None]
        final = _sample(server.pid, port, t0)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    sent = sum(c["sent"] for c in calls)
    lost_recorded = sum(max(0, c["sent"] - (_recorded(recordings, c["stream_id"]) or 0))
                        for c in calls)
    lost_server = sent - final.frames_in
    files, finals = _finals(transcripts)
    rows = _minute_rows(samples, int(args.minutes + 1))
    per_stream = [s.rss_mb / s.active for s in samples if s.active]

    print(f"\n{'min':>3} {'frames in':>10} {'streams':>7} {'RSS MB':>13} {'open files':>10} "
          f"{'threads':>7} {'srv CPU':>7} {'drops':>6}")
    for r in rows:
        print(f"{r['minute']:>3} {r['frames_in']:>10} {r['active']:>7} "
              f"{r['rss_mb'][0]:>6.0f}-{r['rss_mb'][1]:<6.0f} "
              f"{r['fds'][0]:>4}-{r['fds'][1]:<5} {r['threads']:>7} {r['cpu_pct']:>6.0f}% "
              f"{r['drops']:>6}")
    print(f"\ncalls: {len(calls)} completed, {len(result['failures'])} failed"
          + "".join(f"\n  {f}" for f in result["failures"][:5]))
    print(f"frames: {sent} sent, {final.frames_in} received by the server, "
          f"lost {lost_server} (server) / {lost_recorded} (recordings); "
          f"{len(missing)} recordings not finalized")
    print(f"load: {result['late_frames']} frames sent late, p99 lateness "
          f"{result['lateness_p99_ms']:.1f} ms")
    print(f"transcriber: {finals} finals in {files} transcripts; copies dropped per stage: "
          f"{final.drops or {}}")
    if any(final.drops.values()):
        print("note: a stage fell behind and dropped copies (counted, by design: taps and "
              "the transcriber never delay live audio); fewer --streams to stay within it")
    if per_stream:
        print(f"memory: {statistics.median(per_stream):.0f} MB RSS per active stream "
              f"(median over samples; the transcriber's decoders dominate)")
    grew_fds = False
    if len(rows) >= 3:
        first, last = rows[1], rows[-1]  # minute 1 is the warm-up
        grew_fds = last["fds"][1] > first["fds"][1] + 4
        print(f"growth from minute {first['minute']} to {last['minute']}: RSS max "
              f"{first['rss_mb'][1]:.0f} -> {last['rss_mb'][1]:.0f} MB "
              f"({last['rss_mb'][1] - first['rss_mb'][1]:+.0f}), open files max "
              f"{first['fds'][1]} -> {last['fds'][1]}, threads {first['threads']} -> "
              f"{last['threads']}")
    else:
        print("growth: run at least 3 minutes to compare a warm minute with the last")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    ok = lost_server == 0 and lost_recorded == 0 and not missing and not grew_fds \
        and not result["failures"]
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
