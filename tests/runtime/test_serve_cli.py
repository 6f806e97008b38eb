"""``flowc serve`` and ``flowc plugins`` as processes: drain on SIGTERM, workers, the
security defaults, and the third-party test plugin loaded through its entry point."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pluggy
import pytest
import websockets
import websockets.sync.client
from flowc_testplugin import plugin as testplugin

from flowc.commands import plugins as plugins_command
from flowc.compile import compile_file
from flowc.plugins import PluginHost, PluginInfo, load_plugins
from flowc.runtime import codec
from flowc.runtime.app import create_app
from tests.servers import flowc_serve

from .livekit import eventually, live_server, plivo_stream

CHUNK = codec.encode(np.full(320, 500, np.int16), "audio/x-l16")

FLOW = """\
flow: echo
vars:
  company: Acme
documents:
  answer:
    - Speak: "Hello from {{ company }}."
    - Stream:
        name: agent
        bidirectional: true
        keepCallAlive: true
        contentType: audio/x-l16;rate=16000
        statusCallbackUrl: "#stream-status"
        pipeline:
          - counter: {journal: JOURNAL}
          - echo: {journal: JOURNAL}
"""


def read_journal(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def flow_file(tmp_path: Path) -> tuple[Path, Path]:
    journal = tmp_path / "journal.jsonl"
    path = tmp_path / "echo.yaml"
    path.write_text(FLOW.replace("JOURNAL", str(journal)))
    return path, journal


@contextlib.contextmanager
def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None
          ) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    environ = {k: v for k, v in os.environ.items() if k != "PLIVO_AUTH_TOKEN"}
    log = tmp_path / f"serve-{time.monotonic_ns()}.log"
    with flowc_serve(args, log=log, env={**environ, **(env or {})}, within=30) as (proc, port):
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text())
            time.sleep(0.05)
        yield proc, port


@pytest.mark.anyio
async def test_sigterm_drains_active_streams_then_exits_0(
        tmp_path: Path, flow_file: tuple[Path, Path]) -> None:
    path, journal = flow_file
    with serve(tmp_path, str(path), "--drain-timeout", "30") as (proc, port):
        url = f"ws://127.0.0.1:{port}/flows/echo/streams/agent"
        async with plivo_stream(url, "draining") as plivo:
            await plivo.start()
            await plivo.media(CHUNK)
            assert (await plivo.receive())["event"] == "playAudio"
            proc.send_signal(signal.SIGTERM)
            await eventually(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code
                             == 503)
            with pytest.raises(websockets.InvalidStatus):
                async with plivo_stream(url, "late"):
                    pass
            for _ in range(3):  # the active stream carries on
                await plivo.media(CHUNK)
                assert (await plivo.receive())["event"] == "playAudio"
            assert proc.poll() is None
        assert proc.wait(timeout=20) == 0
    closes = {r["processor"]: r for r in read_journal(journal)
              if r["event"] == "close" and r["stream_id"] == "draining"}
    assert set(closes) == {"echo", "counter"}
    assert closes["counter"]["counts"]["AudioIn"] == 4
    assert not [r for r in read_journal(journal) if r.get("stream_id") == "late"]


@pytest.mark.anyio
async def test_drain_timeout_cuts_streams_and_still_closes_processors(
        tmp_path: Path, flow_file: tuple[Path, Path]) -> None:
    path, journal = flow_file
    hooks = tmp_path / "hooks.jsonl"
    with serve(tmp_path, str(path), "--drain-timeout", "0.3",
               env={"FLOWC_TESTPLUGIN_JOURNAL": str(hooks)}) as (proc, port):
        url = f"ws://127.0.0.1:{port}/flows/echo/streams/agent"
        async with plivo_stream(url, "cut") as plivo:
            await plivo.start()
            await plivo.media(CHUNK)
            await plivo.receive()
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await plivo.receive(within=20)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert proc.wait(timeout=20) == 0
    assert {r["processor"] for r in read_journal(journal)
            if r["event"] == "close" and r["stream_id"] == "cut"} == {"echo", "counter"}
    stopped = [r for r in read_journal(hooks) if r["event"] == "hook:stream_stopped"]
    assert stopped[0]["statistics"]["reason"] == "server draining"


def test_workers_serve_one_port_and_stop_cleanly(
        tmp_path: Path, flow_file: tuple[Path, Path]) -> None:
    path, _ = flow_file
    with serve(tmp_path, str(path), "--workers", "2") as (proc, port):
        for _ in range(4):
            xml = httpx.post(f"http://127.0.0.1:{port}/flows/echo/answer",
                             data={"CallUUID": "c"}).text
            assert "Hello from Acme." in xml
        with websockets.sync.client.connect(
                f"ws://127.0.0.1:{port}/flows/echo/streams/agent") as conn:
            conn.send(json.dumps({"event": "start", "start": {"streamId": "w"}}))
            conn.send(json.dumps({"event": "media", "media": {
                "track": "inbound", "chunk": 1, "timestamp": "0",
                "payload": __import__("base64").b64encode(CHUNK).decode()}}))
            assert json.loads(conn.recv(timeout=10))["event"] == "playAudio"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_workers_share_each_calls_parameters_with_its_stream(
        tmp_path: Path, flow_file: tuple[Path, Path]) -> None:
    """The answer request and the stream of a call may reach different workers; the
    stream's processors and hooks still get the call's From/To."""
    path, _ = flow_file
    hooks = tmp_path / "hooks.jsonl"
    calls = [f"call-{i}" for i in range(8)]
    with serve(tmp_path, str(path), "--workers", "2",
               env={"FLOWC_TESTPLUGIN_JOURNAL": str(hooks)}) as (proc, port):
        for i, call_id in enumerate(calls):
            httpx.post(f"http://127.0.0.1:{port}/flows/echo/answer",
                       data={"CallUUID": call_id, "From": f"1415555010{i}", "To": "1800"})
        for call_id in calls:
            with websockets.sync.client.connect(
                    f"ws://127.0.0.1:{port}/flows/echo/streams/agent") as conn:
                conn.send(json.dumps({"event": "start", "start": {
                    "streamId": f"s-{call_id}", "callId": call_id}}))
                conn.send(json.dumps({"event": "media", "media": {
                    "track": "inbound", "chunk": 1, "timestamp": "0",
                    "payload": __import__("base64").b64encode(CHUNK).decode()}}))
                assert json.loads(conn.recv(timeout=10))["event"] == "playAudio"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    started = {r["stream"]["call_id"]: r["stream"]["params"] for r in read_journal(hooks)
               if r["event"] == "hook:stream_started"}
    assert {c: p.get("From") for c, p in started.items()} == {
        c: f"1415555010{i}" for i, c in enumerate(calls)}


def test_port_0_serves_on_the_kernels_pick_and_says_which(
    tmp_path: Path, flow_file: tuple[Path, Path]
) -> None:
    path, _ = flow_file
    with serve(tmp_path, str(path)) as (_, port):
        assert port > 0
        log = next(tmp_path.glob("serve-*.log")).read_text()
        assert f"listening on http://127.0.0.1:{port}" in log
        assert f"answer URL http://127.0.0.1:{port}/flows/echo/answer" in log


def test_without_a_token_serve_refuses_a_public_interface(flow_file: tuple[Path, Path]) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "PLIVO_AUTH_TOKEN"}
    result = subprocess.run([sys.executable, "-m", "flowc", "serve", str(flow_file[0]),
                             "--host", "0.0.0.0"], env=environ, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "--insecure" in result.stderr and "PLIVO_AUTH_TOKEN" in result.stderr


def test_serve_reports_compile_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("documents:\n  answer:\n    - Speek: hi\n")
    result = subprocess.run([sys.executable, "-m", "flowc", "serve", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "bad.yaml:3:" in result.stdout + result.stderr


@pytest.mark.anyio
async def test_third_party_plugin_works_end_to_end_through_its_entry_point(
        flow_file: tuple[Path, Path]) -> None:
    host = load_plugins()  # entry points: the installed flowc-testplugin distribution
    info = next(p for p in host.plugins if p.name == "testplugin")
    assert info.distribution == "flowc-testplugin" and info.error is None
    assert host.processors["echo"].plugin == "testplugin"
    result = compile_file(flow_file[0], host=host)
    assert result.flow is not None, result.diagnostics
    with live_server(create_app(result.flow, host=host)) as live:
        async with plivo_stream(f"{live.ws}/flows/echo/streams/agent", "third") as plivo:
            await plivo.start()
            await plivo.media(CHUNK)
            assert (await plivo.receive())["event"] == "playAudio"
            await plivo.dtmf("5")
            await eventually(lambda: [d for n, d in testplugin.EVENTS
                                      if n == "transcript" and d["stream_id"] == "third"])
    stopped = await eventually(lambda: [d for n, d in testplugin.EVENTS if n == "stream_stopped"
                                        and d["stream"]["stream_id"] == "third"])
    assert stopped[0]["stream"]["flow"] == "echo"
    assert {r["processor"] for r in read_journal(flow_file[1]) if r["event"] == "close"} == {
        "echo", "counter"}


def test_flowc_plugins_lists_plugins_hooks_processors_and_broken_ones() -> None:
    result = subprocess.run([sys.executable, "-m", "flowc", "plugins", "--json"],
                            capture_output=True, text=True, timeout=60)
    listed = {p["name"]: p for p in json.loads(result.stdout)}
    ours = listed["testplugin"]
    assert ours["distribution"] == "flowc-testplugin" and ours["version"] == "0.1.0"
    assert {"register_processors", "stream_started", "dtmf"} <= set(ours["hooks"])
    assert {p["name"]: p["kind"] for p in ours["processors"]} == {"echo": "stage",
                                                                  "counter": "tap",
                                                                  "passthrough": "stage"}
    broken = PluginHost(pluggy.PluginManager("flowc"),
                        [PluginInfo("wobbly", "flowc-wobbly", "0.2", (),
                                    error="ImportError: no numpy")], {}, {})
    text = plugins_command.format_text(plugins_command.describe(broken))
    assert "wobbly (flowc-wobbly 0.2)\n  BROKEN: ImportError: no numpy" in text
