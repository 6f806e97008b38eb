"""Per-turn timing and barge-in counts of one agent stream."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TurnMetrics:
    """Monotonic timestamps (seconds) of one caller turn and the reply to it.

    ``speech_end`` is when the caller stopped speaking (the VAD decided ``end_silence_ms``
    later, at ``eou``); for key presses and transcript-only turns it is the event's arrival.
    """

    turn: int
    trigger: str
    speech_end: float
    eou: float | None = None
    transcript: float | None = None
    reply_text: float | None = None
    first_audio: float | None = None
    intent: str | None = None
    text: str = ""

    def _since_end(self, t: float | None) -> float | None:
        return None if t is None else round(1000.0 * (t - self.speech_end), 1)

    def durations_ms(self) -> dict[str, float | None]:
        """Milliseconds from the end of the caller's speech to each step."""
        return {
            "eou_ms": self._since_end(self.eou),
            "transcript_ms": self._since_end(self.transcript),
            "reply_text_ms": self._since_end(self.reply_text),
            "voice_to_voice_ms": self._since_end(self.first_audio),
        }


@dataclass
class AgentStats:
    """Everything the agent measured on one stream (exposed as ``processor.stats``)."""

    turns: list[TurnMetrics] = field(default_factory=list)
    barge_ins: int = 0
    barge_in_clear_ms: list[float] = field(default_factory=list)
    """VAD start decision → ``ClearAudio`` emitted."""
    barge_in_stop_ms: list[float] = field(default_factory=list)
    """VAD start decision → the reply task stopped (no more audio can follow)."""
    ignored_turns: int = 0
    """Caller speech with no words (no transcriber, or nothing recognised)."""

    def voice_to_voice_ms(self) -> list[float]:
        return [v for t in self.turns if (v := t.durations_ms()["voice_to_voice_ms"]) is not None]

    def summary(self) -> dict[str, Any]:
        v2v = self.voice_to_voice_ms()
        return {
            "turns": len(self.turns),
            "barge_ins": self.barge_ins,
            "ignored_turns": self.ignored_turns,
            "voice_to_voice_median_ms": round(statistics.median(v2v), 1) if v2v else None,
            "barge_in_stop_max_ms": max(self.barge_in_stop_ms, default=None),
        }


def publish_turn(registry: Any, flow: str, turn: TurnMetrics) -> None:
    """Report a turn to the server's metrics registry, if it has a histogram API.

    Uses ``registry.observe(name, seconds, labels)`` when present (flowc.runtime.metrics).
    """
    observe = getattr(registry, "observe", None)
    if observe is None:
        return
    for key, value in turn.durations_ms().items():
        if value is not None:
            name = "flowc_agent_" + key.removesuffix("_ms") + "_seconds"
            observe(name, value / 1000.0, {"flow": flow})


def publish_barge_in(registry: Any, flow: str) -> None:
    """Count a barge-in in the server's registry (``registry.inc(name, labels)``)."""
    inc = getattr(registry, "inc", None)
    if inc is not None:
        inc("flowc_agent_barge_ins_total", {"flow": flow})
