"""Text-to-speech engines (EngineSpec kind ``"tts"``).

The engine interface, stable because the agent and the simulator (``flowc call --say``)
both use it through the plugin host::

    engine = spec.factory(**options)          # options: engine-specific keywords
    pcm, rate = engine.synthesize(text)       # mono int16 ndarray, its sample rate
    for sentence, pcm in engine.sentences(text):   # optional: one sentence at a time
        ...                                   # (pcm at engine.rate)

``synthesize`` is synchronous and CPU-bound: call it through ``ctx.run_sync`` (or a worker
thread). Engines are safe to call from several threads; they serialize internally where
the underlying library is process-global. A factory may return a shared instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from flowc.runtime.frames import PCM


@runtime_checkable
class TtsEngine(Protocol):
    """What a ``tts`` engine factory returns."""

    rate: int

    def synthesize(self, text: str) -> tuple[PCM, int]:
        """Speak ``text``: mono int16 PCM and its sample rate."""
        ...


def sentences(engine: TtsEngine, text: str) -> Iterator[tuple[str, PCM]]:
    """Sentence by sentence synthesis: the engine's own ``sentences`` if it has one."""
    own = getattr(engine, "sentences", None)
    if own is not None:
        yield from own(text)
        return
    from flowc_agent.text import split_sentences

    for sentence in split_sentences(text):
        pcm, _ = engine.synthesize(sentence)
        yield sentence, pcm
