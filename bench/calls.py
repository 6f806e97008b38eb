"""Real-time 8 kHz calls per core through recorder + denoiser + transcriber, end to end.

```sh
.venv/bin/python bench/calls.py                                  # 4..14 calls, ~10 min
.venv/bin/python bench/calls.py --calls 2,4 --seconds 15         # a short look
.venv/bin/python bench/calls.py --pipeline 'recorder, denoiser: {engine: speex}, transcriber'
```

For each N (rising) and each pipeline (the one measured, then the baseline, interleaved so
both see the same host), a step:

1. ``flowc serve`` (the venv's script) starts on 127.0.0.1 pinned to one core
   (``os.sched_setaffinity``; the pocketsphinx worker processes and the denoiser's threads
   inherit it, checked) with a flow whose Stream is ``audio/x-mulaw;rate=8000``, inbound
   only, running ``--pipeline``; recordings and transcripts go to a temp dir.
2. This process, pinned to the other core, is the load. One warm-up call first (imports,
   models, the first decoder), then N calls start one per ``--ramp`` seconds (each new
   call takes a pocketsphinx worker: the pool keeps 4 idle, the others load, about
   0.75 CPU s each, during the ramp) and all stay up: μ-law speech (the nine fixture
   sentences, ``--pause`` s of silence after each, each call from its own point of the
   loop) sent as Plivo ``media`` frames every 20 ms on an absolute schedule
   (``soak.py``'s load).
3. ``--settle`` s after the last call started, the ``--seconds`` window opens: CPU of the
   server and its children (psutil, per process and the event loop's thread), others' use
   of the core (``/proc/stat``), RSS at its end.
4. The calls hang up together just after the window; when every stream has ended the
   step counts frames lost (sent vs the server's ``flowc_frames_in_total`` and the
   recordings' sidecars), the transcriber's dropped lane copies (``/metrics``) and the
   **transcript lag** of every final whose audio ended in the window: the wall time its
   JSONL line was written minus the wall time its audio ended (call start + ``end_ms``).
   The lag includes the 500 ms of silence the VAD waits for before it ends an utterance.

The live path's own delay shows as **behind**: how far the server's reader (frames read,
``flowc_frames_in_total``) was behind what the calls had sent at the window's end.

A step passes when no call failed, nothing was lost or dropped, the server used < 95 % of
its core, its reader was < 0.5 s behind, and (with a transcriber) the lag p95 is < 2 s
and grows by < 0.5 s from the window's first half to its second. A pipeline stops after
failing two N in a row (``--keep-going``: all). The last lines give the highest passing N
(calls per core) of each pipeline and the CPU ceiling 0.95 / (CPU s per audio s per call).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import soak  # noqa: E402  (bench/ is not a package)
import streams  # noqa: E402

HOST = "127.0.0.1"
FLOW = "calls"
CPU_LIMIT = 0.95
LAG_P95_LIMIT_S = 2.0
LAG_GROWTH_LIMIT_S = 0.5
BEHIND_LIMIT_S = 0.5
WARMUP_CALL_S = 5.0
WORKER_MODULE = "flowc_transcriber.isolate"


# ---------------------------------------------------------------------- the flow


def parse_pipeline(text: str) -> list[Any]:
    """``recorder, denoiser: {engine: speex}, transcriber`` (a YAML flow sequence, the
    brackets optional) -> the Stream's pipeline list."""
    text = text.strip()
    stages = yaml.safe_load(text if text.startswith("[") else f"[{text}]")
    if not isinstance(stages, list) or not stages:
        raise ValueError(f"not a pipeline: {text!r}")
    for stage in stages:
        if not (isinstance(stage, str) or (isinstance(stage, dict) and len(stage) == 1)):
            raise ValueError(f"a stage is a name or {{name: settings}}: {stage!r}")
    return stages


def stage_name(stage: Any) -> str:
    return stage if isinstance(stage, str) else str(next(iter(stage)))


def label(stages: list[Any]) -> str:
    """A short name: ``recorder+denoiser(engine=speex)+transcriber``."""
    parts = []
    for stage in stages:
        settings = {} if isinstance(stage, str) else next(iter(stage.values())) or {}
        extra = ",".join(f"{k}={v}" for k, v in settings.items())
        parts.append(stage_name(stage) + (f"({extra})" if extra else ""))
    return "+".join(parts)


def flow_yaml(stages: list[Any], recordings: Path, transcripts: Path) -> str:
    """The flow: one inbound μ-law 8 kHz Stream running ``stages``; the recorder names
    files by stream id, the transcriber writes JSONL to ``transcripts``."""
    pipeline = []
    for stage in stages:
        name = stage_name(stage)
        settings = dict({} if isinstance(stage, str) else next(iter(stage.values())) or {})
        if name == "recorder":
            settings = {"directory": str(recordings), "filename": "{stream_id}", **settings}
        elif name == "transcriber":
            settings = {"transcript_dir": str(transcripts), **settings}
        pipeline.append({name: settings})
    stream = {"name": FLOW, "contentType": "audio/x-mulaw;rate=8000",
              "audioTrack": "inbound", "keepCallAlive": True, "pipeline": pipeline}
    flow = {"flow": FLOW, "documents": {"answer": [{"Stream": stream}]}}
    return yaml.safe_dump(flow, sort_keys=False)


def speech_share(frames: list[bytes]) -> float:
    """Share of the load's audio that is speech: Silero VAD utterances (start to end of
    speech, pauses under 500 ms inside), as the transcriber segments it."""
    from flowc.runtime.codec import ulaw_to_pcm
    from flowc.runtime.vad import SpeechDetector

    detector = SpeechDetector(8000)
    speech = 0.0
    start: float | None = None
    for event in detector.feed(ulaw_to_pcm(b"".join(frames))):
        if event.kind == "start":
            start = event.at_ms
        elif start is not None:
            speech += event.at_ms - start
            start = None
    if start is not None:
        speech += detector.clock_ms - start
    return speech / max(1.0, detector.clock_ms)


def source_state() -> str:
    """The commit the server runs from, and the uncommitted files of flowc and its plugins
    (the plugins are installed editable: the server runs the working tree)."""
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", "-C", str(HERE.parent), *cmd], capture_output=True,
                              text=True, check=False)
        return done.stdout

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "flowc", "plugins")
             .splitlines() if line[:2].strip() and not line.startswith("??")]
    return f"commit {git('rev-parse', '--short', 'HEAD').strip() or '?'}" + (
        f", uncommitted changes in {', '.join(dirty)}" if dirty else ", clean")


# ---------------------------------------------------------------------- the load


def _loop_cpu(pid: int) -> float:
    """CPU s of the server's main thread (its event loop)."""
    import psutil

    for thread in psutil.Process(pid).threads():
        if thread.id == pid:
            return float(thread.user_time + thread.system_time)
    return 0.0


@dataclass
class Inspection:
    """The server's processes by kind (server, pocketsphinx, other), the memory unique to
    each pocketsphinx worker (USS, MB) and the distinct CPU affinities of every process
    and thread."""

    kinds: dict[int, str]
    worker_uss_mb: list[float]
    affinities: set[frozenset[int]]


def _inspect(pid: int) -> Inspection:
    import psutil

    root = psutil.Process(pid)
    found = Inspection({pid: "server"}, [], set())
    for proc in [root, *root.children(recursive=True)]:
        try:
            if proc.pid != pid:
                worker = WORKER_MODULE in " ".join(proc.cmdline())
                found.kinds[proc.pid] = "pocketsphinx" if worker else "other"
                if worker:
                    found.worker_uss_mb.append(proc.memory_full_info().uss / 2**20)
            found.affinities.add(frozenset(proc.cpu_affinity() or ()))
            for thread in proc.threads():
                found.affinities.add(frozenset(os.sched_getaffinity(thread.id)))
        except (psutil.NoSuchProcess, ProcessLookupError):
            continue
    return found


@dataclass
class Probe:
    """What the load reads from the server at one moment."""

    wall: float
    sample: soak.Sample
    loop_cpu: float
    core_busy: float


def _probe(pid: int, port: int, core: int | None) -> Probe:
    return Probe(time.time(), soak._sample(pid, port, 0.0), _loop_cpu(pid),
                 streams._core_busy_seconds(core))


async def _probe_async(pid: int, port: int, core: int | None) -> Probe:
    return await asyncio.to_thread(_probe, pid, port, core)


async def _idle(port: int, within: float) -> bool:
    """Wait until the server has no active stream."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        metrics = await asyncio.to_thread(soak._metrics, port)
        if not metrics.get("flowc_active_streams", 0):
            return True
        await asyncio.sleep(0.5)
    return False


async def _step_load(url: str, n: int, args: argparse.Namespace, frames: list[bytes],
                     pid: int, port: int, core: int | None) -> dict[str, Any]:
    """The warm-up call, then N calls ramped up, the window measured in between."""
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    try:
        await asyncio.wait_for(soak._call(url, "warmup", WARMUP_CALL_S, frames, 0, [], []),
                               WARMUP_CALL_S + 30)
    except Exception as exc:  # e.g. a server starved by a busier process on its core
        failures.append(f"warm-up call: {type(exc).__name__}: {exc}")
    await _idle(port, 60)
    before = await _probe_async(pid, port, core)
    rng = random.Random(n)
    lateness: list[float] = []
    start = time.monotonic()
    window_open = start + (n - 1) * args.ramp + args.settle
    window_close = window_open + args.seconds
    hang_up = window_close + 0.5

    async def call(i: int) -> None:
        await asyncio.sleep(max(0.0, start + i * args.ramp - time.monotonic()))
        sid = f"n{n}-{i}"
        try:
            await soak._call(url, sid, hang_up - time.monotonic(), frames,
                             rng.randrange(len(frames)), results, lateness)
        except Exception as exc:  # a failed call is a finding, not a crash
            failures.append(f"{sid}: {type(exc).__name__}: {exc}")

    async def measure() -> tuple[Probe, Probe, Inspection]:
        await asyncio.sleep(max(0.0, window_open - time.monotonic()))
        first = await _probe_async(pid, port, core)
        await asyncio.sleep(max(0.0, window_close - time.monotonic()))
        last = await _probe_async(pid, port, core)
        return first, last, await asyncio.to_thread(_inspect, pid)

    calls = asyncio.gather(*(call(i) for i in range(n)))
    first, last, inspection = await measure()
    await calls
    idle = await _idle(port, 180)
    return {"before": before, "first": first, "last": last, "inspection": inspection,
            "calls": results, "failures": failures, "late": lateness, "idle": idle}


# ---------------------------------------------------------------------- a step


@dataclass
class Step:
    pipeline: str
    n: int
    window_s: float
    cpu_s: float
    parts: dict[str, float]
    others: float
    rss_mb: float
    server_rss_mb: float
    worker_rss_mb: float
    worker_uss_mb: float
    workers: int
    pinned: bool
    sent: int
    lost_server: int
    lost_recorded: int | None
    unfinished: int
    lingered: bool
    failures: list[str]
    drops: int
    transcribes: bool
    finals: int
    lags: list[tuple[float, float]] = field(default_factory=list)
    mid: float = 0.0
    late_max_ms: float = 0.0
    late_frames: int = 0
    behind_s: float = 0.0
    """How far the server's reader was behind the calls at the window's end (s per call)."""

    @property
    def share(self) -> float:
        return self.cpu_s / self.window_s

    @property
    def per_call(self) -> float:
        """CPU s per audio s per call."""
        return self.cpu_s / (self.window_s * self.n)

    def lag(self, q: float, half: int | None = None) -> float:
        values = [lag for end, lag in self.lags
                  if half is None or (end < self.mid) == (half == 0)]
        return float(np.percentile(values, q)) if values else float("nan")

    @property
    def growth(self) -> float:
        return self.lag(95, 1) - self.lag(95, 0)

    @property
    def lag_ok(self) -> bool:
        if not self.transcribes:
            return True
        growth = self.growth  # nan when a half has no final (a short window)
        return bool(self.lags) and self.lag(95) < LAG_P95_LIMIT_S \
            and not growth >= LAG_GROWTH_LIMIT_S

    @property
    def reasons(self) -> list[str]:
        """Why the step failed (empty: it passed)."""
        found = []
        if self.failures:
            found.append(f"{len(self.failures)} calls failed ({self.failures[0]})")
        if self.share >= CPU_LIMIT:
            found.append("CPU")
        if self.lost_server or self.lost_recorded:
            found.append("frames lost")
        if self.unfinished:
            found.append(f"{self.unfinished} recordings unfinished")
        if self.lingered:
            found.append("streams still open 180 s after hang-up")
        if self.behind_s >= BEHIND_LIMIT_S:
            found.append("live path behind")
        if self.drops:
            found.append("copies dropped")
        if self.transcribes and not self.lags:
            found.append("no final in the window")
        elif self.transcribes and self.lag(95) >= LAG_P95_LIMIT_S:
            found.append("lag p95")
        if self.transcribes and self.growth >= LAG_GROWTH_LIMIT_S:
            found.append("lag grows")
        return found

    @property
    def passed(self) -> bool:
        return not self.reasons


def _lags(transcripts: Path, calls: list[dict[str, Any]], lo: float,
          hi: float) -> tuple[int, list[tuple[float, float]]]:
    """Finals of the calls (all) and, for those whose audio ended in [lo, hi], the wall
    time their audio ended and their lag (written - audio end)."""
    from flowc_transcriber.jsonl import file_name

    finals = 0
    lags: list[tuple[float, float]] = []
    for call in calls:
        path = transcripts / file_name(f"call-{call['stream_id']}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if not record.get("final"):
                continue
            finals += 1
            ended = call["started"] + record["end_ms"] / 1000
            if lo <= ended <= hi:
                written = dt.datetime.fromisoformat(record["time"]).timestamp()
                lags.append((ended, written - ended))
    return finals, lags


def _behind(calls: list[dict[str, Any]], at: float, received: int) -> float:
    """Seconds per call the server's reader was behind at wall time ``at``: frames the
    calls had sent by then (one per 20 ms from each call's first) minus frames it had read
    (``flowc_frames_in_total``), over 50 frames per second and the number of calls."""
    sent = sum(min(c["sent"], int((at - c["started"]) * 50) + 1) for c in calls
               if at >= c["started"])
    return float(max(0, sent - received)) / (50 * max(1, len(calls)))


def run_step(stages: list[Any], n: int, args: argparse.Namespace,
             cores: tuple[int | None, int | None], frames: list[bytes]) -> Step:
    work = Path(tempfile.mkdtemp(prefix=f"flowc-calls-{n}-"))
    recordings, transcripts = work / "recordings", work / "transcripts"
    flow = work / "calls.yaml"
    flow.write_text(flow_yaml(stages, recordings, transcripts))
    port = soak._free_port()
    log = work / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "PLIVO_AUTH_TOKEN"}
    flowc = Path(sys.executable).with_name("flowc")
    core = cores[0]
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(flowc), "serve", str(flow), "--host", HOST, "--port", str(port),
             "--max-streams", "0", "--handshake-rate", "0"],
            stdout=sink, stderr=sink, env=env, cwd=work,
            preexec_fn=(lambda: streams._pin(core)) if core is not None else None)
    try:
        soak._wait_ready(port, server, log)
        url = f"ws://{HOST}:{port}/flows/{FLOW}/streams/{FLOW}"
        with asyncio.Runner(loop_factory=streams._new_event_loop) as runner:
            got = runner.run(_step_load(url, n, args, frames, server.pid, port, core))
        names = [stage_name(s) for s in stages]
        calls: list[dict[str, Any]] = got["calls"]
        unfinished = 0
        if "recorder" in names:
            deadline = time.monotonic() + 60
            missing = [c for c in calls if soak._recorded(recordings, c["stream_id"]) is None]
            while missing and time.monotonic() < deadline:
                time.sleep(0.5)
                missing = [c for c in calls
                           if soak._recorded(recordings, c["stream_id"]) is None]
            unfinished = len(missing)
        final = soak._sample(server.pid, port, 0.0)
    finally:
        streams._stop(server)

    before, first, last = got["before"], got["first"], got["last"]
    inspection: Inspection = got["inspection"]
    window = last.wall - first.wall
    parts = dict.fromkeys(("loop", "threads", "pocketsphinx", "other"), 0.0)
    for pid, (cpu, _) in last.sample.procs.items():
        kind = inspection.kinds.get(pid, "other")
        delta = cpu - first.sample.procs.get(pid, (0.0, 0.0))[0]
        parts["threads" if kind == "server" else kind] += delta
    loop = last.loop_cpu - first.loop_cpu
    parts["threads"] -= loop
    parts["loop"] = loop
    cpu_s = sum(parts.values())
    workers = [rss for pid, (_, rss) in last.sample.procs.items()
               if inspection.kinds.get(pid) == "pocketsphinx"]
    sent = sum(c["sent"] for c in calls)
    lost_recorded = None
    if "recorder" in names:
        lost_recorded = sum(
            max(0, c["sent"] - (soak._recorded(recordings, c["stream_id"]) or 0))
            for c in calls)
    finals, lags = _lags(transcripts, calls, first.wall, last.wall)
    late: list[float] = got["late"]
    step = Step(
        pipeline=label(stages), n=n, window_s=window, cpu_s=cpu_s,
        parts={k: v / window for k, v in parts.items()},
        others=max(0.0, last.core_busy - first.core_busy - cpu_s) / window,
        rss_mb=last.sample.rss_mb, server_rss_mb=last.sample.procs[server.pid][1],
        worker_rss_mb=statistics.mean(workers) if workers else 0.0,
        worker_uss_mb=statistics.mean(inspection.worker_uss_mb or [0.0]),
        workers=len(workers),
        pinned=core is None or (bool(inspection.affinities)
                                and all(a == {core} for a in inspection.affinities)),
        sent=sent, lost_server=sent - (final.frames_in - before.sample.frames_in),
        lost_recorded=lost_recorded, unfinished=unfinished, lingered=not got["idle"],
        failures=got["failures"], drops=sum(final.drops.values()),
        transcribes="transcriber" in names, finals=finals, lags=lags,
        mid=(first.wall + last.wall) / 2, late_max_ms=max(late, default=0.0) * 1000,
        late_frames=sum(1 for x in late if x > 0.02),
        behind_s=_behind(calls, last.wall, last.sample.frames_in - before.sample.frames_in))
    if args.keep or (not step.passed and args.keep_failed):
        print(f"  kept {work}", flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return step


# ---------------------------------------------------------------------- the report


HEADER = (f"{'pipeline':<34} {'N':>3} {'srv CPU':>7} {'loop':>5} {'thrds':>5} {'sphinx':>6} "
          f"{'others':>6} {'CPU/call':>8} {'lost s/rec':>11} {'drop':>4} {'finals':>6} "
          f"{'lag p50':>7} {'p95':>5} {'max':>5} {'p95 1st→2nd':>11} {'behind':>6} "
          f"{'RSS/call':>8}  pass")


def _row(s: Step) -> str:
    rec = "-" if s.lost_recorded is None else str(s.lost_recorded)
    lost = f"{s.lost_server}/{rec}"
    if s.transcribes and s.lags:
        lag = (f"{s.lag(50):>6.2f}s {s.lag(95):>4.2f}s {max(x for _, x in s.lags):>4.1f}s "
               f"{s.lag(95, 0):>4.2f}→{s.lag(95, 1):<4.2f}s ")
    else:
        lag = f"{'-':>7} {'-':>5} {'-':>5} {'-':>11}"
    verdict = "yes" if s.passed else "NO: " + ", ".join(s.reasons)
    if not s.pinned:
        verdict += " (not all on the server core!)"
    return (f"{s.pipeline:<34} {s.n:>3} {s.share:>6.0%} {s.parts['loop']:>5.0%} "
            f"{s.parts['threads']:>5.0%} {s.parts['pocketsphinx']:>6.0%} {s.others:>6.0%} "
            f"{s.per_call:>8.4f} {lost:>11} {s.drops:>4} {s.finals:>6} {lag} "
            f"{s.behind_s:>5.1f}s "
            f"{s.rss_mb / s.n:>6.0f}MB  {verdict}")


def _summary(steps: list[Step], name: str, counts: list[int]) -> str:
    mine = [s for s in steps if s.pipeline == name]
    passed = [s.n for s in mine if s.passed]
    best = max(passed, default=0)
    bound = "≥ " if best == counts[-1] else ""
    text = f"{name}: {bound}{best} calls per core"
    below = [s for s in mine if s.share < CPU_LIMIT]
    if below:
        ref = max(below, key=lambda s: s.n)
        text += (f"; CPU ceiling ≈ {CPU_LIMIT / ref.per_call:.0f} "
                 f"({CPU_LIMIT:.0%} / {ref.per_call:.4f} CPU s per audio s per call at "
                 f"N = {ref.n})")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="4,6,8,10,12,14",
                        help="comma-separated N, rising (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=40.0,
                        help="measured window per step (default %(default)s)")
    parser.add_argument("--pipeline", default="recorder, denoiser, transcriber",
                        help="the stages measured, a YAML flow sequence without brackets "
                        "(default: %(default)s)")
    parser.add_argument("--baseline", default="recorder",
                        help="the pipeline measured alongside, for the host's speed "
                        "(default %(default)s; 'none': skip)")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds of silence after each sentence (default %(default)s)")
    parser.add_argument("--ramp", type=float, default=1.0,
                        help="seconds between two call starts (default %(default)s)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds from the last call's start to the window "
                        "(default %(default)s)")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every N even after a pipeline failed twice in a row")
    parser.add_argument("--keep", action="store_true", help="keep every step's work dir")
    parser.add_argument("--keep-failed", action="store_true",
                        help="keep the work dirs of failed steps")
    args = parser.parse_args(argv)
    counts = sorted({int(x) for x in args.calls.split(",") if x.strip()})
    pipelines = [parse_pipeline(args.pipeline)]
    if args.baseline.strip().lower() != "none":
        pipelines.append(parse_pipeline(args.baseline))

    cores = streams._cores()
    streams._pin(cores[1])  # this process is the load
    streams._raise_fd_limit()
    frames = soak._frames(args.pause)
    share = speech_share(frames)
    print(f"python {sys.version.split()[0]}, server core {cores[0]}, load core {cores[1]}; "
          f"audio: 9 sentences + {args.pause:g} s pause each, {len(frames) * 0.02:.1f} s "
          f"loop, {share:.0%} speech (VAD); per step: a {WARMUP_CALL_S:g} s warm-up call, "
          f"N calls started {args.ramp:g} s apart, {args.settle:g} s settle, "
          f"{args.seconds:g} s measured")
    print(f"source: {source_state()}")
    print(f"pass: no loss or drop, server CPU < {CPU_LIMIT:.0%} of its core, transcript "
          f"lag p95 < {LAG_P95_LIMIT_S:g} s, growing < {LAG_GROWTH_LIMIT_S:g} s from the "
          f"window's first half to its second, the server's reader < {BEHIND_LIMIT_S:g} s "
          "behind the calls")
    print(HEADER, flush=True)
    names = [label(p) for p in pipelines]
    failures = dict.fromkeys(names, 0)
    steps: list[Step] = []
    for n in counts:
        for stages, name in zip(pipelines, names, strict=True):
            if failures[name] >= 2 and not args.keep_going:
                continue
            step = run_step(stages, n, args, cores, frames)
            steps.append(step)
            print(_row(step), flush=True)
            failures[name] = 0 if step.passed else failures[name] + 1
    print()
    print("columns: srv CPU = server + children's share of its core (loop = the event "
          "loop's thread, thrds = the server's other threads: denoiser, recorder writers, "
          "run_sync; sphinx = pocketsphinx worker processes); others = other processes on "
          "that core; CPU/call = CPU s per audio s per call; behind = how far the server's "
          "reader was behind the calls at the window's end; lost s/rec = frames sent but "
          "not received by the server / not in the recordings; drop = transcriber copies "
          "dropped; lag = transcript written - its audio's end")
    for name in names:
        print(_summary(steps, name, counts))
    unpinned = [f"{s.pipeline} N={s.n}" for s in steps if not s.pinned]
    print(f"pinning: the server, its pocketsphinx workers and all their threads on core "
          f"{cores[0]}" + (f", except in {', '.join(unpinned)}" if unpinned else
                           " in every step (checked at each window's end)"))
    main_steps = [s for s in steps if s.pipeline == names[0]]
    if main_steps:
        s = max(main_steps, key=lambda x: x.n)
        print(f"memory at N = {s.n}: {s.rss_mb:.0f} MB RSS in all ({s.rss_mb / s.n:.0f} MB "
              f"per call): the server {s.server_rss_mb:.0f} MB, {s.workers} pocketsphinx "
              f"workers of {s.worker_rss_mb:.0f} MB RSS each ({s.worker_uss_mb:.0f} MB "
              "unique to each, USS; the rest is shared library pages)")
        late = max(x.late_max_ms for x in steps)
        print(f"load: latest frame {late:.0f} ms behind its schedule "
              f"({sum(x.late_frames for x in steps)} frames > 20 ms late over the run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
