"""Every hook a flowc plugin can implement.

Hooks wire things up and observe calls; they never carry audio (pluggy calls hooks
synchronously). Audio flows through :class:`flowc.runtime.processor.Processor` objects
that a plugin hands to flowc from :func:`register_processors`.

A plugin is a module (or object) with functions decorated by ``@flowc.hookimpl`` and
named like the specs below; it is found through the ``flowc`` entry-point group::

    [project.entry-points.flowc]
    recorder = "flowc_recorder.plugin"

Plugin modules must import quickly: ``flowc build`` loads them to read settings
schemas, so import heavy engines (numpy models, ONNX, ...) inside the factory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from flowc.plugins import EngineSpec, ProcessorSpec

hookspec = pluggy.HookspecMarker("flowc")


@hookspec
def register_processors(register: Callable[[ProcessorSpec], None]) -> None:
    """Register pipeline processors.

    Call ``register(ProcessorSpec(name=..., factory=..., settings_schema=...))`` once per
    processor. ``name`` is the key a flow uses in a Stream's ``pipeline:`` list
    (``- recorder: {directory: calls}``); ``settings_schema`` is the JSON Schema
    (draft 2020-12) of its settings, which ``flowc validate`` checks at compile time.
    """


@hookspec
def register_engines(register: Callable[[EngineSpec], None]) -> None:
    """Register engines that processors choose by name in their settings.

    Used for pluggable speech engines: ``register(EngineSpec(kind="transcriber",
    name="vosk", factory=...))`` lets ``- transcriber: {engine: vosk}`` select it.
    Each processor documents the ``kind`` it looks up and the factory's signature.
    """


@hookspec
def stream_started(stream: Mapping[str, Any]) -> None:
    """A Plivo audio stream started (its ``start`` event arrived).

    ``stream`` holds ``flow``, ``flow_version``, ``stream_key``, ``call_id``,
    ``stream_id``, ``account_id``, ``tracks``, ``content_type``, ``sample_rate`` and
    ``extra_headers`` (a dict).
    """


@hookspec
def stream_stopped(stream: Mapping[str, Any], statistics: Mapping[str, Any]) -> None:
    """A stream ended (socket closed, ``stop`` event, timeout or drain).

    ``statistics`` holds frame counts in and out, gaps, drops per stage, errors and
    the reason it ended.
    """


@hookspec
def transcript(stream: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """A transcriber produced a result.

    ``result`` holds ``text``, ``final`` (bool), ``track``, ``start_ms``, ``end_ms``
    and ``engine``. Called for partial and final results alike.
    """


@hookspec
def dtmf(stream: Mapping[str, Any], digit: str, track: str, timestamp_ms: int) -> None:
    """The caller pressed a key during a stream (Plivo's ``dtmf`` event)."""


@hookspec
def stream_status(flow: str, params: Mapping[str, str]) -> None:
    """Plivo posted a stream status callback.

    ``params`` is the whole form (``Event`` is ``StartStream``, ``StopStream``,
    ``DroppedStream`` or ``DegradedStream``; other keys as Plivo sends them).
    """
