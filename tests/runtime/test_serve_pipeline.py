"""Pipelines under a live server: failure isolation, taps that fall behind, hooks that
fail, run_sync, call parameters from the answer request."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pytest
import websockets
from flowc_testplugin import plugin as testplugin

import flowc
from flowc.plugins import ProcessorSpec, load_plugins
from flowc.runtime import codec
from flowc.runtime.app import create_app
from flowc.runtime.frames import Dtmf, Frame, Transcript
from flowc.runtime.processor import Emit, Processor
from flowc.runtime.settings import ServeSettings

from .livekit import Live, eventually, live_server, make_flow, plivo_stream

pytestmark = pytest.mark.anyio

CHUNK = codec.encode(np.full(320, 1000, np.int16), "audio/x-l16")
SEEN: dict[str, list[str]] = {}
PARAMS: dict[str, dict[str, str]] = {}


class Sleepy(Processor):
    """A tap far slower than real time."""

    async def process(self, frame: Frame, emit: Emit) -> None:
        await anyio.sleep(0.05)


class Thinker(Processor):
    """Does 'CPU work' through ctx.run_sync and reports it as a transcript."""

    async def start(self) -> None:
        PARAMS[self.context.stream_id] = dict(self.context.params)

    async def process(self, frame: Frame, emit: Emit) -> None:
        if isinstance(frame, Dtmf) and self.context.run_sync is not None:
            text = await self.context.run_sync(lambda d: f"thread says {d}", frame.digit)
            await emit(Transcript(text, True, "inbound", 0, 0, "thinker"))
        await emit(frame)


class FailsOnStart(Processor):
    async def start(self) -> None:
        raise ValueError("no model")


class HangsOnClose(Processor):
    async def close(self) -> None:
        await anyio.sleep(3600)


class FailsOnClose(Processor):
    async def close(self) -> None:
        raise OSError("disk full")


class Witness(Processor):
    """Records the frame types that reach it (after the stages before it)."""

    async def process(self, frame: Frame, emit: Emit) -> None:
        SEEN.setdefault(self.context.stream_id, []).append(type(frame).__name__)
        await emit(frame)


class TestProcessors:
    @flowc.hookimpl
    def register_processors(self, register: Callable[[ProcessorSpec], None]) -> None:
        register(ProcessorSpec(name="sleepy", factory=Sleepy, kind="tap"))
        register(ProcessorSpec(name="thinker", factory=Thinker))
        register(ProcessorSpec(name="fails-on-start", factory=FailsOnStart))
        register(ProcessorSpec(name="witness", factory=Witness))
        register(ProcessorSpec(name="hangs-on-close", factory=HangsOnClose))
        register(ProcessorSpec(name="fails-on-close", factory=FailsOnClose))
        register(ProcessorSpec(name="bad-factory", factory=lambda s, c: 42))


class BrokenObserver:
    @flowc.hookimpl
    def dtmf(self, stream: Mapping[str, Any], digit: str) -> None:
        raise RuntimeError("observer bug")


def stopped(sid: str) -> list[dict[str, Any]]:
    return [d for name, d in testplugin.EVENTS
            if name == "stream_stopped" and d["stream"]["stream_id"] == sid]


@pytest.fixture(scope="module")
def host() -> Any:
    return load_plugins([testplugin, TestProcessors(), BrokenObserver()],
                        entry_points_enabled=False)


@pytest.fixture(scope="module")
def live(host: Any) -> Iterator[Live]:
    flows = [
        make_flow("iso", pipeline=[("counter", {}), ("echo", {}), ("witness", {})]),
        make_flow("slow", pipeline=[("sleepy", {}), ("echo", {})]),
        make_flow("think", pipeline=[("thinker", {})]),
        make_flow("broken", pipeline=[("fails-on-start", {}), ("bad-factory", {}),
                                      ("not-installed", {}), ("echo", {})]),
    ]
    # bypass, to watch frames flow around a failed stage (the default, auto, would end
    # the stream of a failed echo, which plays audio)
    settings = ServeSettings(tap_buffer=2, close_timeout=3, failure_policy="bypass")
    with live_server(create_app(flows, host=host, settings=settings)) as server:
        yield server


async def test_a_failing_processor_is_bypassed_and_no_other_stream_notices(live: Live) -> None:
    errors_before = live.runtime.metrics.plugin_errors.get(testplugin.__name__, 0)
    url = f"{live.ws}/flows/iso/streams/agent"
    async with plivo_stream(url, "victim") as a, plivo_stream(url, "bystander") as b:
        await a.start()
        await b.start()
        await a.dtmf("0")  # echo raises
        await eventually(lambda: live.runtime.metrics.plugin_errors.get(testplugin.__name__))
        for _ in range(3):
            await a.media(CHUNK)
            await b.media(CHUNK)
        replies = [await b.receive() for _ in range(3)]
        await a.dtmf("3")  # echo is gone: no sendDTMF comes back, frames pass around it
        await eventually(lambda: SEEN.get("victim", []).count("AudioIn") == 3
                         and "Dtmf" in SEEN["victim"][-1:])
        await b.dtmf("3")
        assert (await b.receive())["event"] == "sendDTMF"
    assert [m["event"] for m in replies] == ["playAudio"] * 3
    assert live.runtime.metrics.plugin_errors[testplugin.__name__] == errors_before + 1
    victim = (await eventually(lambda: stopped("victim")))[0]["statistics"]
    assert victim["failed"] == ["echo"]
    assert victim["errors"][0]["plugin"] == testplugin.__name__
    assert "echo told to fail" in victim["errors"][0]["error"]
    assert victim["frames_out"] == 0
    bystander = (await eventually(lambda: stopped("bystander")))[0]["statistics"]
    assert bystander["failed"] == [] and bystander["frames_out"] == 3


@pytest.mark.parametrize("policy", ["end", "auto"])
async def test_policy_end_ends_only_the_failing_stream(host: Any, policy: str) -> None:
    flows = [make_flow("iso", pipeline=[("echo", {})]),
             make_flow("quiet", pipeline=[("witness", {}), ("fails-on-start", {})])]
    settings = ServeSettings(failure_policy=policy, close_timeout=3)  # type: ignore[arg-type]
    app = create_app(flows, host=host, settings=settings)
    with live_server(app) as live:
        url = f"{live.ws}/flows/iso/streams/agent"
        async with plivo_stream(url, f"{policy}-a") as a, plivo_stream(url, f"{policy}-b") as b:
            await a.start()
            await b.start()
            await a.dtmf("0")  # echo plays audio: ended under both policies
            with pytest.raises(websockets.ConnectionClosed):
                await a.receive()
            await b.media(CHUNK)
            assert (await b.receive())["event"] == "playAudio"
        quiet = f"{live.ws}/flows/quiet/streams/agent"
        async with plivo_stream(quiet, f"{policy}-quiet") as c:
            await c.start()  # a failing processor that plays no audio: only "end" ends it
            if policy == "end":
                with pytest.raises(websockets.ConnectionClosed):
                    await c.receive()
            else:
                await c.dtmf("3")
                await eventually(lambda: "Dtmf" in SEEN.get(f"{policy}-quiet", []))


async def test_a_tap_that_falls_behind_drops_copies_not_live_audio(live: Live) -> None:
    async with plivo_stream(f"{live.ws}/flows/slow/streams/agent", "slow") as plivo:
        await plivo.start()
        for _ in range(30):
            await plivo.media(CHUNK)
        replies = [await plivo.receive() for _ in range(30)]
    assert {m["event"] for m in replies} == {"playAudio"}
    stats = (await eventually(lambda: stopped("slow")))[0]["statistics"]
    assert stats["drops"]["sleepy"] > 0
    assert live.runtime.metrics.stages["sleepy"].drops >= stats["drops"]["sleepy"]


async def test_run_sync_failing_hooks_and_call_parameters(live: Live) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{live.http}/flows/think/answer",
                                     data={"CallUUID": "call-think", "From": "+14155550100"})
    assert response.status_code == 200
    errors_before = live.runtime.metrics.plugin_errors.get("BrokenObserver", 0)
    async with plivo_stream(f"{live.ws}/flows/think/streams/agent", "think") as plivo:
        await plivo.start(call_id="call-think")
        await plivo.dtmf("7")
        await eventually(lambda: [d for name, d in testplugin.EVENTS
                                  if name == "transcript" and d["stream_id"] == "think"])
    transcript = next(d for name, d in testplugin.EVENTS
                  if name == "transcript" and d["stream_id"] == "think")
    assert transcript["result"]["text"] == "thread says 7"
    assert PARAMS["think"]["From"] == "+14155550100"
    # The broken observer failed, was counted, and other observers still ran.
    assert [d for name, d in testplugin.EVENTS if name == "dtmf" and d["stream_id"] == "think"]
    assert sum(live.runtime.metrics.plugin_errors.values()) > errors_before


async def test_broken_processors_are_skipped_and_the_rest_runs(live: Live) -> None:
    async with plivo_stream(f"{live.ws}/flows/broken/streams/agent", "broken") as plivo:
        await plivo.start()
        await plivo.media(CHUNK)
        assert (await plivo.receive())["event"] == "playAudio"
    stats = (await eventually(lambda: stopped("broken")))[0]["statistics"]
    assert {e["processor"] for e in stats["errors"]} == {"fails-on-start", "bad-factory"}
    assert stats["failed"] == ["fails-on-start"]


async def test_metrics_expose_streams_frames_stages_and_errors(live: Live) -> None:
    async with plivo_stream(f"{live.ws}/flows/iso/streams/agent", "metrics") as plivo:
        await plivo.start()
        await plivo.media(CHUNK)
        await plivo.receive()
        await plivo.dtmf("0")
    await eventually(lambda: stopped("metrics"))
    await eventually(lambda: live.runtime.metrics.active_streams == 0)
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{live.http}/metrics")).text
    assert "flowc_active_streams 0" in text
    assert 'flowc_stage_drops_total{processor="counter"} 0' in text
    assert 'flowc_stage_seconds_total{processor="echo"}' in text
    assert 'flowc_plugin_errors_total{plugin="flowc_testplugin.plugin"}' in text
    frames_in = next(line for line in text.splitlines() if line.startswith("flowc_frames_in_total"))
    assert int(frames_in.split()[1]) > 0




async def test_a_close_that_hangs_or_fails_does_not_stop_the_others(
        host: Any, tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    flow = make_flow("closing", pipeline=[("hangs-on-close", {}), ("fails-on-close", {}),
                                          ("counter", {"journal": str(journal)})])
    app = create_app(flow, host=host, settings=ServeSettings(close_timeout=0.3))
    with live_server(app) as live:
        async with plivo_stream(f"{live.ws}/flows/closing/streams/agent", "closing") as plivo:
            await plivo.start()
            await plivo.media(CHUNK)
        stats = (await eventually(lambda: stopped("closing")))[0]["statistics"]
    assert [e["processor"] for e in stats["errors"]] == ["fails-on-close"]
    assert "OSError: disk full" in stats["errors"][0]["error"]
    assert '"processor": "counter"' in journal.read_text()
