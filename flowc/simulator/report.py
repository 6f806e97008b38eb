"""The call's summary: per-turn latency, barge-ins, frames; as text, JSON and a WAV."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from flowc.runtime import codec
from flowc.runtime.frames import PCM
from flowc.simulator.call import CallSimulator
from flowc.simulator.caller import write_wav
from flowc.simulator.stream_client import mix_segments
from flowc.simulator.timeline import Entry

_COLORS = {
    "call": "1", "document": "36", "verb": "34", "stream": "35", "caller": "32",
    "agent": "33", "transcript": "33;1", "latency": "33", "dtmf": "32;1", "event": "2",
    "status": "2", "warning": "31", "error": "31;1", "progress": "2", "expect": "1",
}


_OBSERVED_FIELDS = {"text", "final", "track", "digit", "Event", "engine"}
"""Fields of observer hook records worth showing in ``--json`` (``server_events``)."""


def summary(call: CallSimulator) -> dict[str, Any]:
    """Turns, voice-to-voice latency per turn, barge-ins, frames sent and received."""
    latencies = [r.latency_ms for r in call.results if r.latency_ms is not None]
    totals: dict[str, int] = {}
    for run in call.streams:
        if run.client is None:
            continue
        for key, value in run.client.statistics().items():
            if isinstance(value, int):
                totals[key] = totals.get(key, 0) + value
    clears = sum(len(r.client.clears) for r in call.streams if r.client is not None)
    return {
        "turns": len(call.results),
        "latency_ms": {
            "per_turn": [None if r.latency_ms is None else round(r.latency_ms)
                         for r in call.results],
            "mean": round(statistics.fmean(latencies)) if latencies else None,
            "max": round(max(latencies)) if latencies else None,
        },
        "barge_ins": sum(1 for r in call.results if r.barge_in),
        "clear_audio": clears,
        "frames_sent": totals.get("media_sent", 0),
        "frames_received": totals.get("play_audio_received", 0),
        "dtmf_sent": totals.get("dtmf_sent", 0),
        "dtmf_received": totals.get("send_dtmf_received", 0),
        "checkpoints": totals.get("checkpoints_received", 0),
        "played_stream": totals.get("played_sent", 0),
        "protocol_errors": totals.get("protocol_errors", 0),
        "documents": len(call.documents),
        "streams": len(call.streams),
        "ended_by": call.ended_by,
        "duration_s": round(call.timeline.entries[-1].time, 3) if call.timeline.entries else 0,
    }


def to_json(call: CallSimulator, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything ``--json`` prints."""
    options = call.options
    data: dict[str, Any] = {
        "call": {
            "call_uuid": options.call_uuid,
            "answer_url": options.answer_url,
            "from": options.from_number,
            "to": options.to_number,
            "fast": options.fast,
        },
        "summary": summary(call),
        "turns": [
            {
                "index": r.index,
                "caller": r.turn.text or r.turn.describe(),
                "stream": r.stream,
                "started": _round(r.started),
                "ended": _round(r.ended),
                "barge_in": r.barge_in,
                "reply_at": _round(r.reply_at),
                "latency_ms": None if r.latency_ms is None else round(r.latency_ms),
                "reply_expected": r.reply_expected,
                "reply_seconds": round(r.reply_seconds, 3),
                "speech_input": r.speech_input,
                "transcripts": r.transcripts,
                "agent_text": r.agent_text,
                "agent_heard": r.agent_heard,
            }
            for r in call.results
        ],
        "documents": [
            {"url": d.url, "method": d.method, "status": d.status,
             "elapsed_ms": round(d.elapsed_ms, 1), "elements": d.elements, "params": d.params}
            for d in call.documents
        ],
        "streams": [
            {
                "index": run.index,
                "url": run.spec.url,
                "content_type": run.spec.content_type,
                "audio_track": run.spec.audio_track,
                "bidirectional": run.spec.bidirectional,
                "keep_call_alive": run.keep_call_alive,
                "ended_by": run.ended_by,
                "error": run.error,
                "close_code": run.client.close_code if run.client else None,
                "statistics": run.client.statistics() if run.client else None,
                "protocol_errors": run.client.protocol_errors if run.client else [],
                "dtmf_received": [d for _, d in run.client.dtmf_received] if run.client else [],
            }
            for run in call.streams
        ],
        "greeting_said": " ".join(call.greeting_said),
        "greeting_heard": call.greeting_heard,
        "server_events": [
            {"t": round(t, 3), "hook": o.hook,
             **{k: v for k, v in o.data.items() if k in _OBSERVED_FIELDS}}
            for t, o in call.observed
        ],
        "status_callbacks": call.status_posts,
        "timeline": [e.to_json() for e in call.timeline.entries],
        "errors": call.errors,
    }
    if extra:
        data.update(extra)
    return data


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class LivePrinter:
    """Prints timeline entries as they happen (``progress`` lines overwrite on a TTY)."""

    def __init__(self, out: TextIO | None = None, *, color: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.color = self.out.isatty() if color is None else color
        self._progress = False

    def __call__(self, entry: Entry) -> None:
        text = f"{entry.time:7.2f}s  {entry.kind:<10} {entry.text}"
        if self.color:
            text = f"\033[{_COLORS.get(entry.kind, '0')}m{text}\033[0m"
        if entry.kind == "progress":
            if self.color:
                self.out.write("\r" + text + "\033[K")
                self._progress = True
                self.out.flush()
            return
        if self._progress:
            self.out.write("\r\033[K")
            self._progress = False
        self.out.write(text + "\n")
        self.out.flush()


def render_summary(data: dict[str, Any]) -> str:
    """The closing summary as text."""
    s = data["summary"]
    lines = ["", "summary"]
    if data.get("greeting_said"):
        lines.append(f"  greeting         agent: {_short(data['greeting_said'])}")
    if data.get("greeting_heard"):
        lines.append(f"  greeting         agent (heard): {_short(data['greeting_heard'])}")
    lines.append(f"  turns            {s['turns']}")
    for turn in data["turns"]:
        if turn["latency_ms"] is not None:
            latency = f"voice-to-voice {turn['latency_ms']} ms"
        elif turn["reply_expected"]:
            latency = "no reply"
        else:
            latency = "(no agent on this leg)"
        flags = " (barge-in)" if turn["barge_in"] else ""
        lines.append(f"  turn {turn['index']:<3}         {latency}{flags}  "
                     f"caller: {_short(turn['caller'], 50)}")
        for text in turn["transcripts"]:
            lines.append(f"                     heard as: {_short(text)}")
        for text in turn["agent_text"]:
            lines.append(f"                     agent: {_short(text)}")
        for text in turn["agent_heard"]:
            lines.append(f"                     agent (heard): {_short(text)}")
    latency = s["latency_ms"]
    if latency["mean"] is not None:
        note = (" (--fast: speech arrives in a burst the server must catch up with; measure "
                "latency in real time)") if data.get("call", {}).get("fast") else ""
        lines.append(f"  latency          mean {latency['mean']} ms, max {latency['max']} ms"
                     + note)
    lines.append(f"  barge-ins        {s['barge_ins']} (clearAudio {s['clear_audio']})")
    lines.append(f"  frames           {s['frames_sent']} media sent, "
                 f"{s['frames_received']} playAudio received")
    lines.append(f"  checkpoints      {s['checkpoints']} received, "
                 f"{s['played_stream']} playedStream sent")
    if s["dtmf_sent"] or s["dtmf_received"]:
        lines.append(f"  dtmf             {s['dtmf_sent']} sent, {s['dtmf_received']} sendDTMF")
    lines.append(f"  documents        {s['documents']} fetched, {s['streams']} streams, "
                 f"ended by {s['ended_by']} after {s['duration_s']:.1f} s")
    if s["protocol_errors"]:
        lines.append(f"  protocol errors  {s['protocol_errors']}")
        for stream in data["streams"]:
            for error in stream["protocol_errors"][:5]:
                lines.append(f"    stream {stream['index']}: {error}")
    for error in data["errors"]:
        lines.append(f"  error            {error}")
    return "\n".join(lines)


def _short(text: str, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def record(call: CallSimulator, path: str | Path, rate: int = 16000) -> float:
    """Write the call as heard: caller on the left channel, flowc on the right.

    Caller speech is placed on each stream's media clock, what flowc played (``playAudio``
    as it played, cut by clearAudio, and the ``Speak`` prompts) on the call clock.
    Returns the length in seconds.
    """
    left: list[PCM] = []
    right: list[PCM] = []
    for run in call.streams:
        if run.client is None:
            continue
        native = run.client.spec.sample_rate
        left.append(codec.resample(mix_segments(run.client.sent, native, 0.0), native, rate))
        right.append(codec.resample(mix_segments(run.client.heard, native, 0.0), native, rate))
    for prompt in call.prompts:
        right.append(np.concatenate([
            np.zeros(round(prompt.start * rate), np.int16),
            codec.resample(np.asarray(prompt.pcm, np.int16), prompt.rate, rate)]))
    caller, flowc = _sum(left), _sum(right)
    write_wav(path, [caller, flowc], rate)
    return max(len(caller), len(flowc)) / rate


def _sum(signals: list[PCM]) -> PCM:
    out = np.zeros(max((len(s) for s in signals), default=0), np.int32)
    for signal in signals:
        out[: len(signal)] += signal
    mixed: PCM = np.clip(out, -32768, 32767).astype(np.int16)
    return mixed
