"""Registers the ``recorder`` tap. Imports nothing heavy (the processor loads in the
factory)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import flowc
from flowc.plugins import ProcessorSpec
from flowc_recorder.naming import FIELDS, TEMPLATE_PATTERN

DEFAULTS: dict[str, Any] = {
    "directory": "recordings",
    "filename": "{flow}/{call_id}-{stream_id}",
    "tracks": "auto",
    "fsync": 1.0,
    "buffer": 10.0,
    "sidecar": True,
    "format": "pcm16",
    "sample_rate": None,
}
RECORDING_RATES = (8000, 16000, 24000, 48000)

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "directory": {
            "type": "string", "minLength": 1, "default": DEFAULTS["directory"],
            "description": "Directory for recordings (created if missing; relative paths "
            "are relative to where flowc serve runs).",
        },
        "filename": {
            "type": "string", "pattern": TEMPLATE_PATTERN, "default": DEFAULTS["filename"],
            "description": "File name template without extension, `/` makes subdirectories. "
            "Placeholders: " + ", ".join(f"{{{f}}}" for f in FIELDS) + " (date and time "
            "in UTC at the stream's start). Writes NAME.wav and NAME.json.",
        },
        "tracks": {
            "enum": ["auto", "inbound", "outbound", "both"], "default": DEFAULTS["tracks"],
            "description": "`auto`: stereo (caller left, what the caller hears right) when "
            "the stream has both tracks or is bidirectional, else mono; `inbound` / "
            "`outbound`: that side only, mono; `both`: always stereo.",
        },
        "fsync": {
            "type": "number", "minimum": 0, "default": DEFAULTS["fsync"],
            "description": "Seconds between fsyncs of the WAV file (0: only at the end). "
            "The header is rewritten after every write (every 0.2 s) whatever this is.",
        },
        "buffer": {
            "type": "number", "exclusiveMinimum": 0, "maximum": 600,
            "default": DEFAULTS["buffer"],
            "description": "Seconds of audio queued for a slow disk before chunks are "
            "dropped (and counted in the sidecar).",
        },
        "format": {
            "enum": ["pcm16", "mulaw"], "default": DEFAULTS["format"],
            "description": "`pcm16`: 16-bit linear PCM; `mulaw`: G.711 μ-law (WAV format "
            "7, 8 bits per sample, half the size; what telephony tools expect).",
        },
        "sample_rate": {
            "enum": [*RECORDING_RATES, None], "default": DEFAULTS["sample_rate"],
            "description": "Rate of the file in Hz: "
            + ", ".join(map(str, RECORDING_RATES)) + ", or null (default) for the "
            "stream's. The call's timeline is kept exactly: gaps keep their length, "
            "both channels stay aligned.",
        },
        "sidecar": {
            "type": "boolean", "default": DEFAULTS["sidecar"],
            "description": "Write NAME.json with call and stream ids, From/To, extra "
            "headers, format and rate, start/end, duration, frames, gaps, drops, flow "
            "name and version.",
        },
    },
}


def make_recorder(settings: Mapping[str, Any], context: Any) -> Any:
    """``ProcessorSpec.factory``: one :class:`RecorderProcessor` per stream."""
    from flowc_recorder.processor import RecorderProcessor

    return RecorderProcessor({**DEFAULTS, **settings}, context)


@flowc.hookimpl
def register_processors(register: Callable[[ProcessorSpec], None]) -> None:
    register(ProcessorSpec(
        name="recorder",
        factory=make_recorder,
        settings_schema=SETTINGS_SCHEMA,
        description="Durable WAV recording of the call as heard, with a JSON sidecar",
        kind="tap",
        sample_rates=(8000, 16000),
    ))
