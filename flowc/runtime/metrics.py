"""Server-wide counters, rendered in the Prometheus text format at ``/metrics``.

Plain attributes and small per-stage records so the hot path pays an attribute increment,
not a dict lookup or a lock (everything runs on one event loop). Per process: with
``--workers N`` each worker reports its own.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
"""Histogram bucket bounds (seconds) for :meth:`Metrics.observe`."""


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
class Histogram:
    """Observations of one labelled series: cumulative buckets, sum and count."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def add(self, seconds: float) -> None:
        """Record one observation."""
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1


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
        self.counters: dict[str, dict[Labels, float]] = {}
        self.histograms: dict[str, dict[Labels, Histogram]] = {}

    def inc(self, name: str, labels: Mapping[str, str] | None = None, amount: float = 1) -> None:
        """Add to a plugin's counter ``name`` (Prometheus name, ending in ``_total``)."""
        series = self.counters.setdefault(name, {})
        key = tuple(sorted((labels or {}).items()))
        series[key] = series.get(key, 0) + amount

    def observe(self, name: str, seconds: float, labels: Mapping[str, str] | None = None) -> None:
        """Record a duration in a plugin's histogram ``name`` (ending in ``_seconds``)."""
        series = self.histograms.setdefault(name, {})
        key = tuple(sorted((labels or {}).items()))
        histogram = series.get(key)
        if histogram is None:
            histogram = series[key] = Histogram()
        histogram.add(seconds)

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
        for name, counter in sorted(self.counters.items()):
            metric(name, "counter", "Reported by a plugin.",
                   [(_labels(**dict(key)), value) for key, value in sorted(counter.items())])
        for name, series in sorted(self.histograms.items()):
            lines.append(f"# HELP {name} Reported by a plugin.")
            lines.append(f"# TYPE {name} histogram")
            for key, histogram in sorted(series.items()):
                cumulative = 0
                for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), histogram.buckets,
                                        strict=True):
                    cumulative += count
                    labels = _labels(**dict(key), le=str(bound))
                    lines.append(f"{name}_bucket{labels} {cumulative}")
                lines.append(f"{name}_sum{_labels(**dict(key))} {_number(histogram.total)}")
                lines.append(f"{name}_count{_labels(**dict(key))} {histogram.count}")
        return "\n".join(lines) + "\n"


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in labels.items()
    )
    return "{" + inner + "}"


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
