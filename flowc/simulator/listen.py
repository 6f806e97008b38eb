"""After the call: transcribe what the caller heard, so reports and scenarios know what the
agent said even when the server exposes no text.

It uses a speech recognizer registered by a plugin (``EngineSpec`` kind ``transcriber``;
``factory(settings, rate)`` returning ``feed(pcm)``/``finish()``/``close()``, see the
transcriber plugin), Whisper when installed, since it copes best with synthetic voices.
It runs after the call, so it never competes with the call for CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowc.plugins import PluginHost
from flowc.runtime import codec
from flowc.runtime.frames import PCM
from flowc.simulator.call import CallSimulator
from flowc.simulator.stream_client import Segment, mix_segments

PREFERRED = ("whisper", "pocketsphinx")


class ReplyListener:
    """Transcribes heard audio with one transcriber engine."""

    def __init__(self, host: PluginHost, engine: str | None = None) -> None:
        engines = host.engines_of("transcriber")
        name = engine or next((n for n in PREFERRED if n in engines), None)
        if name is None and engines:
            name = sorted(engines)[0]
        if name is None or name not in engines:
            raise LookupError(f"no transcriber engine {engine or ''!r} installed".strip())
        self.name = name
        self._spec = engines[name]
        processor = host.processors.get("transcriber")
        properties: dict[str, Any] = (
            dict(processor.settings_schema.get("properties", {})) if processor else {})
        self._settings = {key: value["default"] for key, value in properties.items()
                          if isinstance(value, dict) and "default" in value}
        self._settings.update({"engine": name, "transcript_dir": None})

    def transcribe(self, pcm: PCM, rate: int) -> str:
        """The final text of ``pcm`` (resampled to 16 kHz), utterances joined by spaces."""
        audio = codec.resample(pcm, rate, 16000)
        audio = np.concatenate([audio, np.zeros(16000, np.int16)])  # let utterances end
        engine = self._spec.factory(dict(self._settings), 16000)
        texts: list[str] = []
        try:
            for start in range(0, len(audio), 320):
                texts += [r.text for r in engine.feed(audio[start : start + 320]) if r.final]
            texts += [r.text for r in engine.finish() if r.final]
        finally:
            close = getattr(engine, "close", None)
            if close is not None:
                close()
        return " ".join(t.strip() for t in texts if t.strip())


def listen(call: CallSimulator, listener: ReplyListener) -> None:
    """Fill each turn's ``agent_heard`` (and ``call.greeting_heard``) from the heard audio."""
    for run in call.streams:
        client = run.client
        if client is None or not client.heard:
            continue
        rate = client.spec.sample_rate
        turns = [r for r in call.results if r.stream == f"stream {run.index}"]
        bounds = [r.started for r in turns if r.started is not None]
        first = bounds[0] if bounds else None
        greeting = [s for s in client.heard if first is None or s.start < first]
        if greeting and not call.greeting_heard:
            call.greeting_heard = _text(listener, greeting, rate)
        for index, result in enumerate(turns):
            if result.ended is None or result.reply_at is None:
                continue
            until = turns[index + 1].started if index + 1 < len(turns) else None
            reply = [s for s in client.heard
                     if s.end > result.ended and (until is None or s.start < until)]
            text = _text(listener, reply, rate)
            if text:
                result.agent_heard.append(text)


def _text(listener: ReplyListener, segments: list[Segment], rate: int) -> str:
    origin = min(s.start for s in segments)
    return listener.transcribe(mix_segments(segments, rate, origin), rate)
