"""How many real-time Plivo streams one core serves: ``flowc serve`` against the floor.

For each stack and each N (rising): start the server pinned to one core, start a load
process pinned to another, open N WebSocket streams to 127.0.0.1, send ``start`` and then a
Plivo ``media`` frame (160 bytes of μ-law, base64) every 20 ms per stream in real time, for
``--duration`` seconds; then close every stream cleanly. Each payload carries its send time
(bench/streams_probe.py); a pass-through processor (flowc) or the handler (floor) records the
arrival time, so the report joins send and receive per frame:

* lost: frames sent that never reached the processor;
* p50 / p99 / max delay from send to processor, over the frames sent after ``--warmup``;
* server CPU (user+system) per frame over the same window, and the server's CPU share;
* the load's own lateness (p99), to show when the load process is the limit.

Stacks:
* ``floor``: a minimal ``websockets`` + uvloop + orjson server that decodes JSON, base64 and
  μ-law and records the frame -- the floor for Python;
* ``asgi``: a bare Starlette WebSocket route on uvicorn, configured as ``flowc serve`` runs
  it, decoding the same way -- what the ASGI stack costs before flowc's own code;
* ``flowc``: ``flowc serve`` on a flow whose Stream pipeline is one ``benchprobe`` processor
  (registered as a plugin through a throw-away dist-info on PYTHONPATH, exactly as an
  installed third-party plugin would be).

A stack passes at N when nothing is lost, every stream connected and p99 < 20 ms. The last
line gives the ratio flowc/floor of streams per core at that bar.

    .venv/bin/python bench/streams.py                      # full run, a few minutes
    .venv/bin/python bench/streams.py --streams 50,200 --duration 5 --stacks flowc
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import numpy as np
import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import streams_probe  # noqa: E402  (bench/ is not a package)

HOST = "127.0.0.1"
STREAM_PATH = "/flows/bench/streams/probe"
FRAME_NS = 20_000_000
BUCKETS = 20  # streams are spread over 20 one-millisecond slots of each 20 ms period
P99_LIMIT_MS = 20.0

FLOW_YAML = """\
flow: bench
documents:
  answer:
    - Stream:
        name: probe
        pipeline:
{passes}          - benchprobe: {{directory: "{out}"}}
"""


# --------------------------------------------------------------------------- helpers


def _pin(core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})


def _raise_fd_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _new_event_loop() -> asyncio.AbstractEventLoop:
    import uvloop

    return uvloop.new_event_loop()


# ------------------------------------------------------------------------ floor server


async def _floor_main(port: int, out: str) -> None:
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    from flowc.runtime.codec import ulaw_to_pcm

    async def handler(ws: ServerConnection) -> None:
        probe = streams_probe.Probe()
        audio: list[Any] = []
        stream_id = "unknown"
        try:
            while True:
                raw = await ws.recv(decode=False)
                msg = orjson.loads(raw)
                event = msg.get("event")
                if event == "media":
                    pcm = ulaw_to_pcm(base64.b64decode(msg["media"]["payload"]))
                    probe.record(msg["sequenceNumber"], pcm)
                    audio.append(pcm)
                elif event == "start":
                    stream_id = msg["start"]["streamId"]
        except ConnectionClosed:
            pass
        finally:
            probe.dump(out, stream_id)

    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(handler, HOST, port, compression=None, max_size=2**20):
        await stop


def serve_floor(port: int, out: str) -> None:
    """Run the floor server until SIGTERM."""
    _raise_fd_limit()
    with asyncio.Runner(loop_factory=_new_event_loop) as runner:
        runner.run(_floor_main(port, out))


# ------------------------------------------------------------ minimal ASGI server


def serve_asgi(port: int, out: str) -> None:
    """A bare Starlette WebSocket route on uvicorn (configured as ``flowc serve`` runs it)
    that decodes frames like the floor: what the ASGI stack alone costs."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    from flowc.runtime.codec import ulaw_to_pcm

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        probe = streams_probe.Probe()
        audio: list[Any] = []
        stream_id = "unknown"
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                msg = orjson.loads(message.get("text") or message.get("bytes") or b"{}")
                event = msg.get("event")
                if event == "media":
                    pcm = ulaw_to_pcm(base64.b64decode(msg["media"]["payload"]))
                    probe.record(msg["sequenceNumber"], pcm)
                    audio.append(pcm)
                elif event == "start":
                    stream_id = msg["start"]["streamId"]
        finally:
            probe.dump(out, stream_id)

    _raise_fd_limit()
    app = Starlette(routes=[WebSocketRoute(STREAM_PATH, handler)])
    uvicorn.run(
        app,
        host=HOST,
        port=port,
        log_level="warning",
        lifespan="off",
        ws_per_message_deflate=False,
        ws_max_size=65536,
    )


# ----------------------------------------------------------------------- load process


class _Client(asyncio.Protocol):
    """A minimal WebSocket client: handshake, masked text frames (zero key), close."""

    def __init__(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.port = port
        self.upgraded: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.stream_id = str(uuid.uuid4())
        self.sequence = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            f"GET {STREAM_PATH} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            del self.buffer[: end + 4]
            if b" 101 " not in status:
                self.upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
                self._finish()
                return
            self.upgraded.set_result(None)
        self._read_frames()

    def _read_frames(self) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            length, offset = buf[1] & 0x7F, 2
            if length == 126:
                length, offset = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                length, offset = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < offset + length:
                return
            if buf[0] & 0x0F == 0x8:  # close from the server
                self._finish()
            del buf[: offset + length]

    def _finish(self) -> None:
        self.closed = True
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.upgraded.done():
            self.upgraded.set_exception(exc or ConnectionError("closed during handshake"))
        if not self.done.done():
            self.done.set_result(None)

    def send(self, payload: bytes, opcode: int = 0x1) -> None:
        n = len(payload)
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
        assert self.transport is not None
        self.transport.write(header + b"\0\0\0\0" + payload)  # zero mask key: payload as is

    def send_start(self) -> None:
        self.sequence = 1
        self.send(
            orjson.dumps(
                {
                    "event": "start",
                    "sequenceNumber": 1,
                    "start": {
                        "callId": str(uuid.uuid4()),
                        "streamId": self.stream_id,
                        "accountId": "MABENCHBENCHBENCHBEN",
                        "tracks": ["inbound"],
                        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
                    },
                    "extra_headers": "",
                }
            )
        )

    def send_media(self, wall_ms: int) -> int:
        """Send the next media frame, stamped with the send time; returns that time."""
        self.sequence += 1
        now = time.monotonic_ns()
        payload = base64.b64encode(streams_probe.stamped_payload(now)).decode()
        self.send(
            orjson.dumps(
                {
                    "event": "media",
                    "sequenceNumber": self.sequence,
                    "streamId": self.stream_id,
                    "media": {
                        "track": "inbound",
                        "timestamp": str(wall_ms),
                        "chunk": self.sequence - 1,
                        "payload": payload,
                    },
                    "extra_headers": "",
                }
            )
        )
        return now


def _core_busy_seconds(core: int | None) -> float:
    """Busy time of one core (all processes, with steal) from /proc/stat; 0 if unknown."""
    if core is None:
        return 0.0
    with open("/proc/stat") as fh:
        for line in fh:
            if line.startswith(f"cpu{core} "):
                f = [int(x) for x in line.split()[1:]]
                # user nice system idle iowait irq softirq steal
                return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _cpu_seconds(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        times = p.cpu_times()
        total += times.user + times.system
    return total


async def _load(
    port: int, n: int, duration: float, warmup: float, server_pid: int, server_core: int | None
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(64)

    async def connect() -> _Client | None:
        async with gate:
            try:
                _, client = await loop.create_connection(lambda: _Client(port), HOST, port)
                await asyncio.wait_for(client.upgraded, 15)
            except (OSError, ConnectionError, TimeoutError):
                return None
            return client

    attempts = await asyncio.gather(*(connect() for _ in range(n)))
    clients = [c for c in attempts if c is not None]
    for client in clients:
        client.send_start()
    buckets = [clients[b::BUCKETS] for b in range(BUCKETS)]
    ticks = int(duration * 1000)
    t0 = time.monotonic_ns() + 100_000_000
    window = (t0 + int(warmup * 1e9), t0 + ticks * 1_000_000)
    cpu0 = load_cpu0 = core0 = 0.0
    wall0 = 0
    window_frames = 0
    lags = np.zeros(ticks, dtype=np.int64)
    wall_base = time.time_ns() // 1_000_000
    for tick in range(ticks):
        due = t0 + tick * 1_000_000
        now = time.monotonic_ns()
        await asyncio.sleep(max(0, due - now) / 1e9)
        now = time.monotonic_ns()
        lags[tick] = now - due
        if wall0 == 0 and due >= window[0]:
            cpu0, load_cpu0, wall0 = _cpu_seconds(server_pid), time.process_time(), now
            core0 = _core_busy_seconds(server_core)
        wall_ms = wall_base + tick
        for client in buckets[tick % BUCKETS]:
            if not client.closed and client.send_media(wall_ms) >= window[0]:
                window_frames += 1
    cpu1, load_cpu1, wall1 = _cpu_seconds(server_pid), time.process_time(), time.monotonic_ns()
    core1 = _core_busy_seconds(server_core)
    for client in clients:
        if not client.closed:
            client.send(b"\x03\xe8", opcode=0x8)  # close, 1000
    if clients:
        await asyncio.wait([c.done for c in clients], timeout=20)
    for client in clients:
        if client.transport is not None:
            client.transport.abort() if not client.done.done() else client.transport.close()
    wall = max(1e-9, (wall1 - wall0) / 1e9)
    return {
        "refused": n - len(clients),
        "streams": {c.stream_id: c.sequence for c in clients},
        "window": window,
        "window_frames": window_frames,
        "server_cpu_s": cpu1 - cpu0,
        "server_share": (cpu1 - cpu0) / wall,
        "load_share": (load_cpu1 - load_cpu0) / wall,
        "other_share": max(0.0, (core1 - core0 - (cpu1 - cpu0)) / wall),
        "lag_p99_ms": float(np.percentile(lags, 99) / 1e6) if ticks else 0.0,
    }


def load_main(
    port: int,
    n: int,
    duration: float,
    warmup: float,
    server_pid: int,
    cores: tuple[int | None, int | None],
    conn: Connection,
) -> None:
    """The load process: pin, run the streams, send the figures back."""
    _pin(cores[1])
    _raise_fd_limit()
    with asyncio.Runner(loop_factory=_new_event_loop) as runner:
        conn.send(runner.run(_load(port, n, duration, warmup, server_pid, cores[0])))
    conn.close()


# ---------------------------------------------------------------------------- driver


@dataclass
class Step:
    stack: str
    n: int
    refused: int
    sent: int
    lost: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_us_per_frame: float
    server_share: float
    load_share: float
    other_share: float
    lag_p99_ms: float

    @property
    def passed(self) -> bool:
        return self.refused == 0 and self.lost == 0 and self.p99_ms < P99_LIMIT_MS


_PROFILE_HOOK = """\
import atexit, cProfile
_profile = cProfile.Profile()
_profile.enable()
atexit.register(lambda: (_profile.disable(), _profile.dump_stats({out!r})))
"""


def _start_server(
    stack: str,
    port: int,
    out: Path,
    core: int | None,
    profile: str | None = None,
    stages: int = 1,
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if stack in ("floor", "asgi"):
        cmd = [sys.executable, str(Path(__file__).resolve()), f"_{stack}", str(port), str(out)]
    else:
        # Register bench/streams_probe.py as the plugin "benchprobe" through a dist-info.
        site = out / "site"
        dist = site / "flowc_benchprobe-0.0.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: flowc-benchprobe\nVersion: 0.0\n"
        )
        (dist / "entry_points.txt").write_text("[flowc]\nbenchprobe = streams_probe\n")
        if profile:
            (site / "sitecustomize.py").write_text(_PROFILE_HOOK.format(out=profile))
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(HERE), env.get("PYTHONPATH", "")])
        flow = out / "bench.yaml"
        flow.write_text(
            FLOW_YAML.format(out=out, passes="          - benchpass: {}\n" * (stages - 1))
        )
        flowc = Path(sys.executable).with_name("flowc")
        cmd = [str(flowc), "serve", str(flow), "--host", HOST, "--port", str(port)]
        cmd += ["--max-streams", "0", "--handshake-rate", "0"]  # the bench opens N at once
    with (out / "server.log").open("wb") as log:
        return subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            preexec_fn=(lambda: _pin(core)) if core is not None else None,
        )


def _wait_ready(port: int, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start listening")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run_step(
    stack: str, n: int, args: argparse.Namespace, cores: tuple[int | None, int | None]
) -> Step:
    out = Path(tempfile.mkdtemp(prefix=f"flowc-bench-{stack}-{n}-"))
    port = _free_port()
    profile = None
    if args.profile and stack == "flowc":
        profile = str(Path(args.profile).resolve().with_suffix(f".{n}.prof"))
    server = _start_server(stack, port, out, cores[0], profile, args.stages)
    try:
        _wait_ready(port, server)
        ctx = mp.get_context("spawn")
        mine, theirs = ctx.Pipe()
        load = ctx.Process(
            target=load_main,
            args=(port, n, args.duration, args.warmup, server.pid, cores, theirs),
        )
        load.start()
        if not mine.poll(args.duration + 120):
            load.kill()
            raise RuntimeError("load process did not report")
        figures: dict[str, Any] = mine.recv()
        load.join()
        streams: dict[str, int] = figures["streams"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(
            (out / f"{sid}.npy").exists() for sid in streams
        ):
            time.sleep(0.1)
    finally:
        _stop(server)
    lost = 0
    sent = 0
    delays: list[np.ndarray[Any, Any]] = []
    lo, hi = figures["window"]
    for sid, last in streams.items():
        expected = max(0, last - 1)  # media frames carry sequence 2..last
        sent += expected
        path = out / f"{sid}.npy"
        if not path.exists():
            lost += expected
            continue
        rows = np.load(path)
        seqs = rows[:, 0]
        lost += expected - len(np.unique(seqs[(seqs >= 2) & (seqs <= last)]))
        in_window = rows[(rows[:, 1] >= lo) & (rows[:, 1] <= hi)]
        delays.append(in_window[:, 2] - in_window[:, 1])
    all_delays = np.concatenate(delays) / 1e6 if delays else np.zeros(1)
    if not len(all_delays):
        all_delays = np.zeros(1)
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    frames = max(1, figures["window_frames"])
    return Step(
        stack=stack,
        n=n,
        refused=figures["refused"],
        sent=sent,
        lost=lost,
        p50_ms=float(np.percentile(all_delays, 50)),
        p99_ms=float(np.percentile(all_delays, 99)),
        max_ms=float(all_delays.max()),
        cpu_us_per_frame=figures["server_cpu_s"] / frames * 1e6,
        server_share=figures["server_share"],
        load_share=figures["load_share"],
        other_share=figures["other_share"],
        lag_p99_ms=figures["lag_p99_ms"],
    )


def _cores() -> tuple[int | None, int | None]:
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        print("warning: one core available; server and load share it", file=sys.stderr)
        return None, None
    return available[0], available[1]


HEADER = (
    f"{'stack':<6} {'N':>5} {'refused':>7} {'frames':>8} {'lost':>6} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'max ms':>7} {'µs/frame':>8} {'srv CPU':>7} {'load CPU':>8} "
    f"{'load lag':>8} {'others':>6}  pass"
)


def _row(s: Step) -> str:
    return (
        f"{s.stack:<6} {s.n:>5} {s.refused:>7} {s.sent:>8} {s.lost:>6} {s.p50_ms:>7.2f} "
        f"{s.p99_ms:>7.2f} {s.max_ms:>7.1f} {s.cpu_us_per_frame:>8.1f} "
        f"{s.server_share:>6.0%} {s.load_share:>8.0%} {s.lag_p99_ms:>8.2f} {s.other_share:>6.0%}  "
        f"{'yes' if s.passed else 'NO'}"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_floor"]:
        serve_floor(int(argv[1]), argv[2])
        return 0
    if argv[:1] == ["_asgi"]:
        serve_asgi(int(argv[1]), argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--streams",
        default="50,100,200,400,600,800,1000,1300",
        help="comma-separated N, rising (default %(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=8.0,
        help="seconds of audio per step (default %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds at the start of a step left out of delay and CPU figures",
    )
    parser.add_argument(
        "--stacks",
        default="floor,asgi,flowc",
        help="any of floor, asgi, flowc (default %(default)s)",
    )
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="run every N even after a stack failed twice in a row",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="R",
        help="tries per stack and N: it passes N when one of R tries passes (a stall of "
        "the host ruins one try's p99; every stack gets the same tries; default 1)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the per-step directories")
    parser.add_argument(
        "--stages",
        type=int,
        default=1,
        metavar="K",
        help="flowc pipeline length: K-1 pass-through stages before the probe (default 1)",
    )
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="cProfile the flowc server; stats to PREFIX.<N>.prof (slows it down)",
    )
    args = parser.parse_args(argv)
    if args.warmup >= args.duration:
        parser.error("--warmup must be shorter than --duration")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    counts = sorted({int(x) for x in args.streams.split(",") if x.strip()})
    stacks = [s.strip() for s in args.stacks.split(",") if s.strip()]
    cores = _cores()
    _raise_fd_limit()
    print(
        f"python {sys.version.split()[0]}, server core {cores[0]}, load core {cores[1]}, "
        f"{args.duration:g} s per step ({args.warmup:g} s warm-up), pass: lost 0, "
        f"p99 < {P99_LIMIT_MS:g} ms"
    )
    print(HEADER, flush=True)
    best: dict[str, int] = {}
    failures = dict.fromkeys(stacks, 0)
    busy: list[float] = []
    steps: list[Step] = []
    for n in counts:  # stacks interleaved per N, so both see the same host conditions
        for stack in stacks:
            if failures[stack] >= 2 and not args.keep_going:
                continue
            for _attempt in range(args.repeat):
                step = run_step(stack, n, args, cores)
                busy.append(step.other_share)
                steps.append(step)
                print(_row(step), flush=True)
                if step.passed:
                    break
            if step.passed:
                best[stack] = max(best.get(stack, 0), n)
                failures[stack] = 0
            else:
                failures[stack] += 1
    top = {stack: best.get(stack) == counts[-1] for stack in stacks}
    # CPU ceiling: streams one core could carry on CPU alone, from the CPU per frame at the
    # highest N every stack ran (CPU per frame falls as N rises, so compare at the same N).
    common = [
        n for n in counts if all(any(s.n == n and s.stack == k for s in steps) for k in stacks)
    ]
    ceiling: dict[str, float] = {}
    for step in steps:
        if common and step.n == common[-1] and step.cpu_us_per_frame > 0:
            ceiling[step.stack] = 1e6 / (50 * step.cpu_us_per_frame)
    busiest = max(busy, default=0.0)
    if busiest > 0.2:
        print(
            f"\nwarning: other processes took up to {busiest:.0%} of the server's core during "
            "this run; its figures understate what a quiet core does"
        )
    print()
    for stack in stacks:
        bound = "≥ " if top[stack] else ""
        print(f"{stack}: {bound}{best.get(stack, 0)} streams per core pass")
    if best.get("floor") and "flowc" in best:
        ratio = best["flowc"] / best["floor"]
        note = " (floor not saturated: raise --streams)" if top["floor"] else ""
        print(f"flowc/floor streams per core: {ratio:.0%} (target ≥ 70%){note}")
    for stack, value in ceiling.items():
        print(
            f"{stack}: CPU ceiling ≈ {value:.0f} streams per core "
            f"(1 s / (50 frames * CPU per frame at N = {common[-1]}))"
        )
    for upper, lower in (("flowc", "floor"), ("asgi", "floor"), ("flowc", "asgi")):
        if upper in ceiling and lower in ceiling:
            print(f"{upper}/{lower} CPU ceiling: {ceiling[upper] / ceiling[lower]:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
