"""A client that vanishes (issue 6, item 4): TCP reset, no close frame, at every stage.

Stated behaviour: the stream ends with reason ``socket closed``, every frame the server
received before the fault reached the pipeline (counted), every processor is closed, the
stream's admission slot and its event-loop tasks are released, and the other streams go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import resource
import signal
import subprocess
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import orjson
import psutil
import pytest
import websockets

from flowc.runtime import limits
from flowc.runtime.settings import ServeSettings
from tests import servers

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


# =====================================================================================
# The same faults against ``flowc serve`` as a process, with the real ``recorder``: the
# WAV file is the evidence. Frames are counted against what the server acknowledged
# receiving (``flowc_frames_in_total`` on /metrics) and compared sample for sample.
# =====================================================================================

FRAME_S = 0.02

FAULTS_FLOW = """\
flow: faults
documents:
  answer:
    - Stream:
        name: rec
        contentType: audio/x-l16;rate=8000
        pipeline:
          - recorder: {directory: "DIR", filename: "{stream_id}", tracks: inbound, buffer: 60}
    - Stream:
        name: raise
        bidirectional: true
        keepCallAlive: true
        contentType: audio/x-l16;rate=8000
        pipeline:
          - echo: {}
          - recorder: {directory: "DIR", filename: "{stream_id}", tracks: inbound, buffer: 60}
"""


@dataclasses.dataclass
class Served:
    """A ``flowc serve`` process, its port, log and recordings directory (the recorders
    buffer 60 s, so the bursts these tests send faster than real time never overflow)."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    recordings: Path

    def metric(self, name: str) -> int:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        return sum(int(float(line.split()[-1])) for line in text.splitlines()
                   if line.startswith(name) and not line.startswith("#"))

    def url(self, key: str) -> str:
        return f"ws://127.0.0.1:{self.port}/flows/faults/streams/{key}"

    def recording(self, sid: str) -> tuple[bytes, dict[str, Any]]:
        """(PCM bytes, sidecar) of one stream's recording."""
        path = self.recordings / f"{sid}.wav"
        with wave.open(str(path), "rb") as wav:
            assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (1, 8000, 2)
            pcm = wav.readframes(wav.getnframes())
            # the header describes exactly the samples the file holds
            assert wav.getnframes() * 2 == len(pcm) == path.stat().st_size - 44
        meta = json.loads((self.recordings / f"{sid}.json").read_text())
        return pcm, meta


def _limit_file_size(size: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return apply


@contextlib.contextmanager
def served(directory: Path, *args: str, file_limit: int | None = None) -> Iterator[Served]:
    """``flowc serve`` on :data:`FAULTS_FLOW` (recordings under ``directory``)."""
    recordings = directory / "recordings"
    flow = directory / "faults.yaml"
    flow.write_text(FAULTS_FLOW.replace("DIR", str(recordings)))
    log = directory / "serve.log"
    environ = {k: v for k, v in os.environ.items() if k != "PLIVO_AUTH_TOKEN"}
    limit = None if file_limit is None else _limit_file_size(file_limit)
    with servers.flowc_serve([str(flow), "--host", "127.0.0.1", *args], log=log, env=environ,
                             within=30, preexec_fn=limit) as (process, port):
        server = Served(process, port, log, recordings)
        _wait_until(lambda: _healthy(server), "flowc serve did not start")
        yield server


def _healthy(server: Served) -> bool:
    assert server.process.poll() is None, server.log.read_text()
    try:
        return httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait_until(check: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    """Poll ``check`` (a bound on waiting against hangs, not a timing assertion)."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.02)


async def _until(check: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    with anyio.fail_after(within):
        while True:
            value = await anyio.to_thread.run_sync(check)
            if value:
                return value
            await anyio.sleep(0.02)


def _dtmf(sid: str, digit: str) -> dict[str, Any]:
    return {"event": "dtmf", "sequenceNumber": 0, "streamId": sid,
            "dtmf": {"track": "inbound", "digit": digit, "timestamp": 1705312200000}}


def _completed(server: Served, sid: str) -> bool:
    path = server.recordings / f"{sid}.json"
    return path.exists() and bool(json.loads(path.read_text()).get("complete"))


class Caller:
    """One stream from the caller's side, over a real websocket; remembers what it sent."""

    def __init__(self, server: Served, sid: str, key: str = "rec") -> None:
        self.server, self.sid, self.key = server, sid, key
        self.sent: list[bytes] = []
        self.conn: websockets.ClientConnection | None = None

    async def open(self) -> Caller:
        self.conn = await websockets.connect(self.server.url(self.key))
        await self.conn.send(orjson.dumps(kit.start_message(self.sid)).decode())
        return self

    async def send(self, count: int) -> None:
        """Send ``count`` frames, one per 20 ms (Plivo's pace)."""
        await send_together([self], count)

    async def send_one(self) -> None:
        assert self.conn is not None
        index = len(self.sent)
        payload = kit.pcm_payload(index + 7 * len(self.sid))
        self.sent.append(payload)
        await self.conn.send(orjson.dumps(
            kit.media_message(self.sid, payload, index + 2)).decode())

    async def close(self) -> None:
        assert self.conn is not None
        await self.conn.close()


async def send_together(calls: list[Caller], count: int) -> None:
    """``count`` frames on each call, the calls in step, one frame per call every 20 ms:
    real time, as Plivo sends (a burst far faster than real time overruns a tap's buffer,
    which drops copies by design)."""
    for _ in range(count):
        for call in calls:
            await call.send_one()
        await anyio.sleep(FRAME_S)


@pytest.fixture(scope="module")
def faults_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("faults"), "--failure-policy", "bypass") as server:
        yield server


async def test_reset_after_a_plugin_raised_keeps_every_acknowledged_frame(
    faults_server: Served,
) -> None:
    """A stage raises (bypassed), then the caller vanishes with a TCP reset: the WAV file
    holds exactly the frames the server acknowledged, byte for byte, and a neighbour
    stream started afterwards records in full."""
    server = faults_server
    before = await anyio.to_thread.run_sync(server.metric, "flowc_frames_in_total")
    errors = await anyio.to_thread.run_sync(server.metric, "flowc_plugin_errors_total")
    client = await kit.RawClient.connect(server.port, "/flows/faults/streams/raise")
    await client.send_json(kit.start_message("vanish"))
    sent = []
    for i in range(120):
        if i == 60:
            await client.send_json(_dtmf("vanish", "0"))  # echo raises: bypassed
        payload = kit.pcm_payload(i)
        sent.append(payload)
        await client.send_json(kit.media_message("vanish", payload, i + 2))
        await anyio.sleep(FRAME_S)
    await _until(lambda: server.metric("flowc_frames_in_total") - before == len(sent),
                 "the server never acknowledged the frames")
    await client.reset()
    await _until(lambda: _completed(server, "vanish"), "the recording was not finalized")
    pcm, meta = server.recording("vanish")
    assert pcm == b"".join(sent)  # every acknowledged frame, in order, nothing else
    assert meta["frames"] == {"inbound": len(sent)} and meta["drops"]["total"] == 0
    assert server.metric("flowc_stage_drops_total") == 0
    assert server.metric("flowc_plugin_errors_total") > errors
    assert "echo told to fail" in server.log.read_text()
    neighbour = await Caller(server, "after-vanish").open()
    await neighbour.send(50)
    await neighbour.close()
    await _until(lambda: _completed(server, "after-vanish"), "neighbour not finalized")
    assert server.recording("after-vanish")[0] == b"".join(neighbour.sent)


async def test_a_plugin_that_raises_under_policy_auto_ends_its_stream_recorded(
    tmp_path: Path,
) -> None:
    """``--failure-policy auto``: the stage that plays audio raises, so its stream ends
    (the caller sees the close); the recording holds every frame received before, is
    finalized, and a call beside it goes on untouched."""
    with served(tmp_path, "--failure-policy", "auto") as server:
        beside = await Caller(server, "beside-auto").open()
        doomed = await Caller(server, "doomed", key="raise").open()
        await send_together([beside, doomed], 40)
        await _until(lambda: server.metric("flowc_frames_in_total") == 80, "frames lost")
        assert doomed.conn is not None
        await doomed.conn.send(orjson.dumps(_dtmf("doomed", "0")).decode())
        with anyio.fail_after(30):
            with pytest.raises(websockets.ConnectionClosed):
                await _drain(doomed.conn)
        await beside.send(40)
        await beside.close()
        await _until(lambda: _completed(server, "doomed") and _completed(server, "beside-auto"),
                     "recordings not finalized")
        pcm, _ = server.recording("doomed")
        assert pcm == b"".join(doomed.sent)
        assert server.recording("beside-auto")[0] == b"".join(beside.sent)
        assert "echo told to fail" in server.log.read_text()


async def _drain(conn: websockets.ClientConnection) -> None:
    """Read (and discard) what the server sends until it closes the stream."""
    while True:
        await conn.recv()


async def test_disk_full_mid_call_is_logged_and_the_calls_go_on(tmp_path: Path) -> None:
    """RLIMIT_FSIZE on the server process: the long call's recording stops at the limit
    with a clear log line and a sidecar saying why, the call itself goes on (every frame
    still acknowledged), and a short call beside it records in full."""
    limit = 32_000  # 2 s of L16 8 kHz mono
    with served(tmp_path, file_limit=limit) as server:
        long_call = await Caller(server, "long").open()
        short_call = await Caller(server, "short").open()
        await send_together([long_call, short_call], 30)
        await long_call.send(110)
        await _until(lambda: server.metric("flowc_frames_in_total") == 170, "frames lost")
        assert long_call.conn is not None
        await long_call.conn.send(orjson.dumps(_dtmf("long", "1")).decode())
        await long_call.send(10)  # still a live call after the recording stopped
        await long_call.close()
        await short_call.close()
        await _until(lambda: _completed(server, "long") and _completed(server, "short"),
                     "recordings not finalized")
        pcm, meta = server.recording("long")
        assert 0 < len(pcm) < len(b"".join(long_call.sent))
        assert pcm == b"".join(long_call.sent)[: len(pcm)]  # a clean prefix
        assert meta["error"] and "File too large" in meta["error"]
        assert meta["drops"]["disk"] > 0
        assert server.metric("flowc_stage_drops_total") == 0  # no copy lost before the disk
        short_pcm, short_meta = server.recording("short")
        assert short_pcm == b"".join(short_call.sent) and short_meta["error"] is None
        assert server.metric("flowc_frames_in_total") == 180
        log = server.log.read_text()
        assert "recorder: writing" in log and "the call goes" in log
        assert server.process.poll() is None


async def test_sigterm_drains_live_calls_and_completes_their_recordings(
    tmp_path: Path,
) -> None:
    """SIGTERM with three live calls: they keep streaming while the server drains, every
    recording holds every frame and is marked complete, and the process exits 0."""
    with served(tmp_path, "--drain-timeout", "30") as server:
        calls = [await Caller(server, f"drain-{i}").open() for i in range(3)]
        await send_together(calls, 50)
        await _until(lambda: server.metric("flowc_frames_in_total") == 150, "frames lost")
        server.process.send_signal(signal.SIGTERM)
        await _until(lambda: httpx.get(f"http://127.0.0.1:{server.port}/readyz",
                                       timeout=2).status_code == 503, "not draining")
        await send_together(calls, 50)  # the calls go on during the drain
        for call in calls:
            await call.close()
        code = await anyio.to_thread.run_sync(server.process.wait, 30)
        assert code == 0, server.log.read_text()
        for call in calls:
            pcm, meta = server.recording(call.sid)
            assert pcm == b"".join(call.sent) and len(call.sent) == 100
            assert meta["complete"] and meta["drops"]["total"] == 0


def _worker_of(worker_pids: list[int], port: int, client_port: int) -> int | None:
    for pid in worker_pids:
        for conn in psutil.Process(pid).net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.raddr \
                    and conn.raddr.port == client_port:
                return pid
    return None


async def test_sigkill_of_a_worker_loses_at_most_its_last_second(tmp_path: Path) -> None:
    """``--workers 2``, calls on both workers, one worker killed outright: its calls'
    recordings hold all they were sent but (at most) the last second, intact; the other
    worker's calls go on and record in full; the port keeps serving."""
    with served(tmp_path, "--workers", "2") as server:
        workers = await _until(lambda: [c.pid for c in psutil.Process(
            server.process.pid).children() if "spawn_main" in " ".join(c.cmdline())]
            if len(psutil.Process(server.process.pid).children()) >= 2 else None,
            "workers not up")
        calls: dict[int, list[Caller]] = {pid: [] for pid in workers}
        for i in range(24):
            if all(len(c) >= 2 for c in calls.values()):
                break
            call = await Caller(server, f"w-{i}").open()
            assert call.conn is not None
            local = call.conn.transport.get_extra_info("sockname")[1]
            pid = _worker_of(workers, server.port, local)
            assert pid is not None
            calls[pid].append(call)
        victim, survivor = sorted(workers, key=lambda pid: -len(calls[pid]))
        assert calls[victim] and calls[survivor], "calls did not spread over both workers"
        everyone = calls[victim] + calls[survivor]
        await send_together(everyone, 150)  # 3 s of audio
        os.kill(victim, signal.SIGKILL)
        await send_together(calls[survivor], 50)
        for call in calls[survivor]:
            await call.close()
        for call in calls[victim]:
            with contextlib.suppress(websockets.ConnectionClosed):
                await call.close()
        for call in calls[survivor]:
            await _until(functools.partial(_completed, server, call.sid), "not finalized")
            pcm, meta = server.recording(call.sid)
            assert pcm == b"".join(call.sent) and meta["complete"]
        for call in calls[victim]:
            pcm, meta = server.recording(call.sid)
            sent = b"".join(call.sent)
            assert len(sent) - 16_000 <= len(pcm) <= len(sent)  # all but the last second
            assert pcm == sent[: len(pcm)]
            assert meta["complete"] is False  # the sidecar from the start, intact
        fresh = await Caller(server, "after-kill").open()  # the port keeps serving
        await fresh.send(20)
        await fresh.close()
        await _until(lambda: _completed(server, "after-kill"), "new call not recorded")
