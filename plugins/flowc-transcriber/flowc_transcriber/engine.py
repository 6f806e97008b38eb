"""The transcriber engine interface (what ``register_engines`` kind ``"transcriber"`` means).

A plugin adds a speech recognizer by registering an :class:`flowc.plugins.EngineSpec`::

    @flowc.hookimpl
    def register_engines(register):
        register(EngineSpec(kind="transcriber", name="vosk", factory=make_vosk))

``factory(settings, rate)`` gets the transcriber's settings (validated, defaults filled
in; engine-specific keys live under ``settings["options"]``) and the track's sample rate
(8000 or 16000), and returns an object with the methods of :class:`TranscriberEngine`.
One engine serves one track of one stream; the transcriber creates it lazily on the
track's first audio and calls every method from a worker thread (``ctx.run_sync``), one
call at a time, so engines may block and need no locking. Times are milliseconds of audio
fed to that engine; the transcriber maps them onto the stream's clock.

:class:`flowc_transcriber.segment.UtteranceSegmenter` (Silero VAD with pre-roll) is there
for engines that decode whole utterances and have no endpointing of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the plugin module must import without numpy (flowc build loads it)
    from flowc.runtime.frames import PCM

KIND = "transcriber"
"""The ``EngineSpec.kind`` the transcriber looks engines up under."""


@dataclass(frozen=True, slots=True)
class EngineResult:
    """One recognition result on the engine's audio clock.

    A partial result is the best guess so far for the utterance starting at ``start_ms``;
    later partials and the final one replace it. A final result closes the utterance.
    """

    text: str
    final: bool
    start_ms: int
    end_ms: int


class TranscriberEngine(Protocol):
    """What an engine factory returns (structural: no base class needed)."""

    def feed(self, pcm: PCM) -> list[EngineResult]:
        """Take the next chunk of PCM16 at the factory's rate; return new results."""
        ...

    def finish(self) -> list[EngineResult]:
        """The track ended: flush buffered audio and return the last results
        (a final for any utterance still open)."""
        ...

    def close(self) -> None:
        """Release resources (return a decoder to a pool). Called once, after finish()
        or when the stream ends abruptly; must not raise."""
        ...


EngineFactory = Callable[[Mapping[str, Any], int], TranscriberEngine]


class EngineError(ValueError):
    """Settings an engine cannot work with (a clear message for the flow author)."""
