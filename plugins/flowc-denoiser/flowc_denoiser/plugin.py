"""Registers the ``denoiser`` stage and its engines (kind ``"denoiser"``).

Imports nothing heavy: engines load in the factory. Other plugins add engines with
``register_engines`` (``EngineSpec(kind="denoiser", name=..., factory=f)`` where
``f(sample_rate) -> flowc_denoiser.engines.DenoiserEngine``); a flow selects one with
``- denoiser: {engine: NAME}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import flowc
from flowc.plugins import EngineSpec, ProcessorSpec

KIND = "denoiser"
DEFAULTS: dict[str, Any] = {"engine": "rnnoise", "level": 85}

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "engine": {
            "type": "string",
            "default": DEFAULTS["engine"],
            "description": "Noise suppressor: `rnnoise` (strong, neural, resamples to 48 kHz), "
            "`speex` (gentle, cheap, native rate), or an engine another plugin registers "
            "under kind `denoiser`.",
        },
        "level": {
            "type": "integer",
            "minimum": 60,
            "maximum": 100,
            "default": DEFAULTS["level"],
            "description": "Strength on Plivo's noiseCancellationLevel scale: the most the "
            "denoiser may attenuate, 10 dB at 60 plus 0.75 dB per step (28.75 dB at 85, "
            "40 dB at 100), applied as a wet/dry mix.",
        },
    },
}


def _rnnoise(sample_rate: int) -> Any:
    from flowc_denoiser.rnnoise import RNNoiseEngine

    return RNNoiseEngine(sample_rate)


def _speex(sample_rate: int) -> Any:
    from flowc_denoiser.engines import SpeexEngine

    return SpeexEngine(sample_rate)


BUILTIN_ENGINES: dict[str, Callable[[int], Any]] = {"rnnoise": _rnnoise, "speex": _speex}

_registry: Mapping[str, Any] | None = None


def _installed_engines() -> Mapping[str, Any]:
    """Engines of kind ``denoiser`` from every installed plugin (outside a server)."""
    global _registry
    if _registry is None:
        from flowc.plugins import load_plugins

        _registry = load_plugins().engines_of(KIND)
    return _registry


def engine_factory(name: str, engines: Mapping[str, Any] | None = None) -> Callable[[int], Any]:
    """The factory of denoiser engine ``name``. ``engines`` maps names to
    :class:`EngineSpec` (the server's registry); without it the installed plugins are
    loaded once."""
    registry = _installed_engines() if engines is None else engines
    if name in registry:
        factory: Callable[[int], Any] = registry[name].factory
        return factory
    if name in BUILTIN_ENGINES:
        return BUILTIN_ENGINES[name]
    known = ", ".join(sorted(set(BUILTIN_ENGINES) | set(registry)))
    raise ValueError(f"denoiser: unknown engine {name!r} (installed: {known})")


def make_denoiser(settings: Mapping[str, Any], context: Any) -> Any:
    """``ProcessorSpec.factory``: one :class:`DenoiserProcessor` per stream."""
    from flowc_denoiser.processor import DenoiserProcessor

    merged = {**DEFAULTS, **settings}
    lookup = getattr(context, "engines", None)
    engines = lookup(KIND) if lookup is not None else None
    return DenoiserProcessor(merged, context, engine_factory(str(merged["engine"]), engines))


@flowc.hookimpl
def register_processors(register: Callable[[ProcessorSpec], None]) -> None:
    register(ProcessorSpec(
        name="denoiser",
        factory=make_denoiser,
        settings_schema=SETTINGS_SCHEMA,
        description="Noise suppression on the caller's audio (RNNoise or speexdsp)",
        kind="stage",
        sample_rates=(8000, 16000),
    ))


@flowc.hookimpl
def register_engines(register: Callable[[EngineSpec], None]) -> None:
    register(EngineSpec(KIND, "rnnoise", _rnnoise,
                        "RNNoise (librnnoise.so from pyrnnoise), 48 kHz, 20 ms delay"))
    register(EngineSpec(KIND, "speex", _speex,
                        "speexdsp preprocessor noise suppression, native rate, 10 ms delay"))
