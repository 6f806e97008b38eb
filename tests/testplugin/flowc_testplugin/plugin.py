"""Processors and observer hooks that make the server's behaviour visible to tests.

``echo`` (stage): plays inbound caller audio straight back, and obeys keys the caller
presses: 1 checkpoint, 2 clearAudio, 3 sendDTMF "12#", 4 end the stream, 5 a transcript,
6 a tone of ``tone_ms`` at 24 kHz (the writer resamples it), 0 raise. ``counter`` (tap)
counts the frames it sees by type; ``passthrough`` (stage) passes every frame on. Echo and
counter append JSON lines to ``journal`` when set; the hooks append to :data:`EVENTS` and
to ``$FLOWC_TESTPLUGIN_JOURNAL`` when set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import flowc
from flowc.plugins import ProcessorSpec

EVENTS: list[tuple[str, dict[str, Any]]] = []
"""Every observer hook call in this process: (hook name, arguments)."""

def _journal(path: str | None, record: Mapping[str, Any]) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")


def _echo(settings: Mapping[str, Any], context: Any) -> Any:
    from flowc_testplugin.processors import Echo  # numpy only when a stream starts

    return Echo(settings, context)


def _counter(settings: Mapping[str, Any], context: Any) -> Any:
    from flowc_testplugin.processors import Counter

    return Counter(settings, context)


def _passthrough(settings: Mapping[str, Any], context: Any) -> Any:
    from flowc.runtime.processor import Processor

    return Processor(settings, context)


_SCHEMA = {
    "type": "object",
    "properties": {"journal": {"type": "string"}, "tone_ms": {"type": "integer", "default": 1000}},
    "additionalProperties": False,
}


@flowc.hookimpl
def register_processors(register: Callable[[ProcessorSpec], None]) -> None:
    register(ProcessorSpec(name="echo", factory=_echo, settings_schema=_SCHEMA,
                           description="Echo the caller; keys drive control messages.",
                           plays_audio=True))
    register(ProcessorSpec(name="counter", factory=_counter, settings_schema=_SCHEMA,
                           description="Count frames by type.", kind="tap"))
    register(ProcessorSpec(name="passthrough", factory=_passthrough,
                           description="Pass every frame on unchanged (benchmarks)."))


def _record(hook: str, **data: Any) -> None:
    EVENTS.append((hook, data))
    _journal(os.environ.get("FLOWC_TESTPLUGIN_JOURNAL"), {"event": f"hook:{hook}", **data})


@flowc.hookimpl
def stream_started(stream: Mapping[str, Any]) -> None:
    _record("stream_started", stream=dict(stream))


@flowc.hookimpl
def stream_stopped(stream: Mapping[str, Any], statistics: Mapping[str, Any]) -> None:
    _record("stream_stopped", stream=dict(stream), statistics=dict(statistics))


@flowc.hookimpl
def dtmf(stream: Mapping[str, Any], digit: str, track: str, timestamp_ms: int) -> None:
    _record("dtmf", stream_id=stream["stream_id"], digit=digit, track=track,
            timestamp_ms=timestamp_ms)


@flowc.hookimpl
def transcript(stream: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    _record("transcript", stream_id=stream["stream_id"], result=dict(result))


@flowc.hookimpl
def stream_status(flow: str, params: Mapping[str, str]) -> None:
    _record("stream_status", flow=flow, params=dict(params))
