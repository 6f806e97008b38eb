"""The simulated caller: what they say (WAV, text through a TTS engine, silence) and press.

A :class:`Turn` is one thing the caller does once it is their turn to talk. DTMF comes
from ``--dtmf`` specs such as ``"1@2.5s"`` (press 1 at 2.5 s into the call), ``"12#"``
(press 1, 2, # whenever input is next asked for) or ``"5@800ms"``.
"""

from __future__ import annotations

import re
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from flowc.plugins import PluginHost
from flowc.runtime.frames import PCM

DTMF_DIGITS = "0123456789*#ABCD"
DIGIT_GAP = 0.3
"""Seconds between the keys of a multi-digit press such as ``12#@3s``."""


class CallerError(ValueError):
    """Bad caller input: an unreadable WAV, a bad DTMF spec, no TTS engine."""


@dataclass
class Turn:
    """One caller turn.

    ``pcm``/``rate`` is what the caller says (empty for a silent turn); ``text`` is the
    sentence when it was synthesized (shown on the timeline and posted as ``Speech`` to a
    speech ``GetInput``). ``pause`` is silence before speaking; ``barge_in`` speaks
    ``barge_in`` seconds after the agent starts its reply instead of waiting for it to end.
    ``expect`` holds the scenario's expectations for this turn.
    """

    pcm: PCM
    rate: int
    text: str | None = None
    label: str = ""
    pause: float = 0.0
    barge_in: float | None = None
    dtmf: str = ""
    expect: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.pcm) / self.rate if self.rate else 0.0

    def describe(self) -> str:
        """Short text for the timeline."""
        if self.text:
            return f'"{self.text}"'
        if self.label:
            return self.label
        return f"{self.duration:.1f} s of audio" if len(self.pcm) else "silence"


@dataclass(frozen=True)
class KeyPress:
    """A DTMF key; ``at`` is call time in seconds, or ``None`` for "when asked"."""

    digit: str
    at: float | None


_DTMF_ITEM = re.compile(r"^([0-9*#A-D]+)(?:@(\d+(?:\.\d+)?)(ms|s)?)?$")


def parse_dtmf(spec: str) -> list[KeyPress]:
    """Parse ``"1@2.5s, 12#, 5@800ms"`` into key presses (comma or space separated)."""
    presses: list[KeyPress] = []
    for item in re.split(r"[,\s]+", spec.strip()):
        if not item:
            continue
        match = _DTMF_ITEM.match(item)
        if match is None:
            raise CallerError(
                f"bad DTMF {item!r}: use digits 0-9 * # A-D, optionally @TIME "
                "(\"1@2.5s\", \"12#@800ms\")")
        digits, number, unit = match.groups()
        at = None if number is None else float(number) / (1000 if unit == "ms" else 1)
        for index, digit in enumerate(digits):
            presses.append(KeyPress(digit, None if at is None else at + index * DIGIT_GAP))
    return presses


def load_wav(path: str | Path | BinaryIO) -> tuple[PCM, int]:
    """Read a PCM WAV (8/16/24/32-bit, any rate, mono or mixed down) as int16 mono.

    ``path`` may also be an open binary file (a WAV fetched for ``<Play>``)."""
    source: str | BinaryIO = path if not isinstance(path, str | Path) else str(path)
    try:
        with wave.open(source, "rb") as wav:
            channels = wav.getnchannels()
            width = wav.getsampwidth()
            rate = wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except FileNotFoundError as exc:
        raise CallerError(f"{path}: no such file") from exc
    except (wave.Error, EOFError) as exc:
        raise CallerError(f"{path}: not a PCM WAV file ({exc})") from exc
    if width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.int32) - 128) << 8
    elif width == 2:
        samples = np.frombuffer(raw, "<i2").astype(np.int32)
    elif width == 3:
        bytes3 = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        samples = (bytes3[:, 0] | (bytes3[:, 1] << 8) | (bytes3[:, 2] << 16)) << 8 >> 16
    elif width == 4:
        samples = (np.frombuffer(raw, "<i4") >> 16).astype(np.int32)
    else:
        raise CallerError(f"{path}: unsupported sample width {width * 8} bits")
    if channels > 1:
        samples = samples[: len(samples) - len(samples) % channels]
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int32)
    pcm: PCM = np.clip(samples, -32768, 32767).astype(np.int16)
    return pcm, rate


def write_wav(path: str | Path, channels: list[PCM], rate: int) -> None:
    """Write int16 channels (padded to the longest) as one WAV file."""
    length = max((len(c) for c in channels), default=0)
    frames = np.zeros((length, len(channels)), np.int16)
    for index, channel in enumerate(channels):
        frames[: len(channel), index] = channel
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(len(channels))
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames.astype("<i2").tobytes())


def silence(seconds: float, rate: int = 16000) -> Turn:
    """A turn in which the caller says nothing for ``seconds``."""
    return Turn(np.zeros(int(seconds * rate), np.int16), rate, label=f"{seconds:g} s of silence")


class Voice:
    """Speaks caller text through a TTS engine registered by a plugin (kind ``tts``)."""

    def __init__(self, host: PluginHost, engine: str = "espeak", **options: Any) -> None:
        engines = host.engines_of("tts")
        spec = engines.get(engine)
        if spec is None:
            known = ", ".join(sorted(engines)) or "none (is the flowc-agent plugin installed?)"
            raise CallerError(f"no TTS engine {engine!r}; installed: {known}")
        self.name = engine
        try:
            self._engine = spec.factory(**options)
        except Exception as exc:  # an engine that cannot load (missing model, library)
            raise CallerError(f"TTS engine {engine!r} failed to load: {exc}") from exc

    def say(self, text: str) -> tuple[PCM, int]:
        """Synthesize ``text``: int16 PCM and its rate."""
        pcm, rate = self._engine.synthesize(text)
        return np.asarray(pcm, dtype=np.int16), int(rate)

    def turn(self, text: str, **fields: Any) -> Turn:
        """A caller turn speaking ``text``."""
        pcm, rate = self.say(text)
        return Turn(pcm, rate, text=text, **fields)
