"""Server-wide counters, rendered in the Prometheus text format at ``/metrics``.

Plain attributes and small per-stage records so the hot path pays an attribute increment,
not a dict lookup or a lock (everything runs on one event loop). Per process: with
``--workers N`` each worker reports its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StageStats:
    """Counters for one processor name, summed over every stream that runs it."""

    frames: int = 0
    """Frames handed to the processor."""
    busy_seconds: float = 0.0
    """Time it spent on them (from receiving a frame to asking for the next)."""
    drops: int = 0
    """Copies a tap could not take because it was behind."""


@dataclass
class Metrics:
    """Everything ``/metrics`` exposes."""

    active_streams: int = 0
    streams_total: int = 0
    streams_refused: int = 0
    frames_in: int = 0
    frames_out: int = 0
    malformed_messages: int = 0
    sequence_gaps: int = 0
    signature_failures: int = 0
    draining: bool = False

    def __post_init__(self) -> None:
        self.stages: dict[str, StageStats] = {}
        self.plugin_errors: dict[str, int] = {}

    def stage(self, name: str) -> StageStats:
        """The record for processor ``name`` (created on first use)."""
        stats = self.stages.get(name)
        if stats is None:
            stats = self.stages[name] = StageStats()
        return stats

    def plugin_error(self, plugin: str) -> None:
        """Count one failure of a plugin's processor or hook."""
        self.plugin_errors[plugin] = self.plugin_errors.get(plugin, 0) + 1

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                lines.append(f"{name}{labels} {_number(value)}")

        metric("flowc_active_streams", "gauge", "Streams in progress.",
               [("", self.active_streams)])
        metric("flowc_draining", "gauge", "1 while the server drains.", [("", int(self.draining))])
        metric("flowc_streams_total", "counter", "Streams accepted.", [("", self.streams_total)])
        metric("flowc_streams_refused_total", "counter", "Stream handshakes refused.",
               [("", self.streams_refused)])
        metric("flowc_frames_in_total", "counter", "Media frames received from Plivo.",
               [("", self.frames_in)])
        metric("flowc_frames_out_total", "counter", "playAudio messages sent to Plivo.",
               [("", self.frames_out)])
        metric("flowc_malformed_messages_total", "counter", "Inbound messages dropped.",
               [("", self.malformed_messages)])
        metric("flowc_sequence_gaps_total", "counter", "Inbound messages missing.",
               [("", self.sequence_gaps)])
        metric("flowc_signature_failures_total", "counter", "Requests refused for their signature.",
               [("", self.signature_failures)])
        stages = sorted(self.stages.items())
        metric("flowc_stage_drops_total", "counter", "Frame copies a tap dropped (it was behind).",
               [(_labels(processor=n), s.drops) for n, s in stages])
        metric("flowc_stage_frames_total", "counter", "Frames handed to each processor.",
               [(_labels(processor=n), s.frames) for n, s in stages])
        metric("flowc_stage_seconds_total", "counter", "Time each processor spent on frames.",
               [(_labels(processor=n), s.busy_seconds) for n, s in stages])
        metric("flowc_plugin_errors_total", "counter", "Plugin processor/hook failures.",
               [(_labels(plugin=p), c) for p, c in sorted(self.plugin_errors.items())])
        return "\n".join(lines) + "\n"


def _labels(**labels: str) -> str:
    inner = ",".join(
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in labels.items()
    )
    return "{" + inner + "}"


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
