"""Scenario files for ``flowc call --script``: caller turns with expectations, exit 0/1.

The format (JSON Schema: ``schemas/scenario.schema.json``)::

    name: opening hours
    flow: ../flows/voice-agent.yaml     # optional; relative to this file
    from: "14155550100"
    to: "14155550123"
    fast: true
    voice: espeak                       # TTS engine for `say`
    dtmf: "1@2.5s"                      # key presses, as --dtmf
    turns:
      - say: Hello, what are your opening hours?
        expect:
          agent_says: "open|hour"       # regex, case-insensitive
          transcript_contains: opening hours
          latency_ms: 3000              # voice-to-voice at most
          reply: true                   # the agent answers (false: it stays silent)
      - audio: caller.wav               # relative to this file
      - silence: 2
      - dtmf: "1"
        pause: 0.5
      - say: Stop, stop.
        barge_in: 0.8                   # 0.8 s into the agent's previous reply
    expect:
      events: [playedStream, StartStream]
      dtmf_received: "12#"
      documents: [/flows/ivr-menu/answer, /flows/ivr-menu/menu]
      ended_by: caller hung up
      max_latency_ms: 2500
      protocol_errors: 0
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from flowc.simulator.call import CallSimulator
from flowc.simulator.caller import CallerError, Turn, Voice, load_wav, silence
from flowc.simulator.results import TurnResult


class ScenarioError(ValueError):
    """The scenario file is invalid (message names the file and the problem)."""


@dataclass
class Scenario:
    """A loaded scenario; ``turns`` still hold text/paths until :meth:`build_turns`."""

    path: Path
    data: dict[str, Any]
    turns: list[dict[str, Any]] = field(default_factory=list)
    expect: dict[str, Any] = field(default_factory=dict)

    @property
    def flow(self) -> str | None:
        """The flow file (resolved against the scenario's folder) or URL, if given."""
        flow = self.data.get("flow")
        if not isinstance(flow, str):
            return None
        if "://" in flow:
            return flow
        return str((self.path.parent / flow).resolve())

    def build_turns(self, voice: Voice | None) -> list[Turn]:
        """Synthesize ``say`` turns, read ``audio`` files, make silences."""
        turns: list[Turn] = []
        for index, spec in enumerate(self.turns, start=1):
            fields: dict[str, Any] = {
                "pause": float(spec.get("pause", 0.0)),
                "barge_in": spec.get("barge_in"),
                "dtmf": str(spec.get("dtmf", "")),
                "expect": dict(spec.get("expect", {})),
            }
            if "say" in spec:
                if voice is None:
                    raise ScenarioError(f"{self.path}: turn {index} says text, but no TTS "
                                        "engine is available")
                turns.append(voice.turn(str(spec["say"]), **fields))
            elif "audio" in spec:
                wav = (self.path.parent / str(spec["audio"])).resolve()
                try:
                    pcm, rate = load_wav(wav)
                except CallerError as exc:
                    raise ScenarioError(f"{self.path}: turn {index}: {exc}") from exc
                turns.append(Turn(pcm, rate, label=wav.name, **fields))
            elif "silence" in spec:
                quiet = silence(float(spec["silence"]))
                turns.append(Turn(quiet.pcm, quiet.rate, label=quiet.label, **fields))
            else:
                turns.append(Turn(silence(0).pcm, 16000, label="keys", **fields))
        return turns


def schema() -> dict[str, Any]:
    """The scenario JSON Schema (shipped in the package; ``schemas/`` holds the same file)."""
    text = resources.files("flowc").joinpath("schemas/scenario.schema.json").read_text(
        encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file; :class:`ScenarioError` says what is wrong."""
    import jsonschema

    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{file}: not YAML: {exc}") from exc
    if data is None:
        data = {}
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for error in errors[:10]:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            lines.append(f"{file}: {where}: {error.message}")
        raise ScenarioError("\n".join(lines))
    return Scenario(file, data, list(data.get("turns", [])), dict(data.get("expect", {})))


# ---------------------------------------------------------------------- expectations


@dataclass(frozen=True)
class Check:
    """One expectation and whether it held."""

    scope: str
    """``turn N`` or ``call``."""
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        """As data for ``--json``."""
        return {"scope": self.scope, "name": self.name, "ok": self.ok, "detail": self.detail}


def evaluate(call: CallSimulator, expect: dict[str, Any]) -> list[Check]:
    """Check every turn's ``expect`` and the call-level ``expect``."""
    checks: list[Check] = []
    for result in call.results:
        checks += _turn_checks(call, result)
    for index in range(len(call.results), len(call.results) + len(call.pending_turns)):
        turn = call.pending_turns[index - len(call.results)]
        if turn.expect:
            checks.append(Check(f"turn {index + 1}", "spoken", False,
                                "the call ended before this turn"))
    checks += _call_checks(call, expect)
    return checks


def _agent_texts(call: CallSimulator, result: TurnResult) -> tuple[list[str], str]:
    if result.agent_text:
        return result.agent_text, "the agent's replies"
    if result.agent_heard:
        return result.agent_heard, "the reply as heard (transcribed)"
    return [], "no agent text"


def _turn_checks(call: CallSimulator, result: TurnResult) -> list[Check]:
    expect = result.turn.expect
    scope = f"turn {result.index}"
    checks: list[Check] = []
    if "agent_says" in expect:
        pattern = str(expect["agent_says"])
        texts, source = _agent_texts(call, result)
        if not texts:
            checks.append(Check(scope, "agent_says", False,
                                f"/{pattern}/: no agent text for this turn (no reply, or no "
                                "transcriber engine to listen with)"))
        else:
            hit = any(re.search(pattern, t, re.IGNORECASE) for t in texts)
            checks.append(Check(scope, "agent_says", hit,
                                f"/{pattern}/ against {source}: {' | '.join(texts)}"))
    if "transcript_contains" in expect:
        wanted = str(expect["transcript_contains"]).lower()
        heard = " ".join(result.transcripts)
        checks.append(Check(scope, "transcript_contains", wanted in heard.lower(),
                            f"{wanted!r} in {heard!r}" if heard else
                            f"{wanted!r}: no transcript for this turn"))
    if "latency_ms" in expect:
        limit = float(expect["latency_ms"])
        latency = result.latency_ms
        ok = latency is not None and latency <= limit
        shown = "no reply" if latency is None else f"{latency:.0f} ms"
        checks.append(Check(scope, "latency_ms", ok, f"{shown} (limit {limit:.0f} ms)"))
    if "reply" in expect:
        wanted_reply = bool(expect["reply"])
        replied = result.reply_at is not None
        checks.append(Check(scope, "reply", replied == wanted_reply,
                            "the agent replied" if replied else "no reply"))
    if "barge_in" in expect:
        checks.append(Check(scope, "barge_in", result.barge_in == bool(expect["barge_in"]),
                            f"barge-in: {result.barge_in}"))
    return checks


def _seen_events(call: CallSimulator) -> set[str]:
    seen: set[str] = set()
    for entry in call.timeline.entries:
        seen.add(entry.kind)
        for key in ("event", "verb"):
            value = entry.data.get(key)
            if isinstance(value, str):
                seen.add(value)
    for run in call.streams:
        if run.client is not None:
            seen.update(e.event for e in run.client.events)
            if run.client.audio_arrivals:
                seen.add("playAudio")
    for _, observed in call.observed:
        seen.add(observed.hook)
    return seen


def _call_checks(call: CallSimulator, expect: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if "events" in expect:
        seen = _seen_events(call)
        for name in expect["events"]:
            checks.append(Check("call", f"event {name}", name in seen,
                                "seen" if name in seen else "never happened"))
    if "dtmf_received" in expect:
        got = "".join(d for r in call.streams if r.client is not None
                      for _, d in r.client.dtmf_received)
        wanted = str(expect["dtmf_received"])
        checks.append(Check("call", "dtmf_received", got == wanted,
                            f"sendDTMF {got!r}, expected {wanted!r}"))
    if "documents" in expect:
        from urllib.parse import urlparse

        fetched = [urlparse(d.url).path for d in call.documents]
        wanted_docs = [str(d) for d in expect["documents"]]
        checks.append(Check("call", "documents", _subsequence(wanted_docs, fetched),
                            f"fetched {fetched}"))
    if "ended_by" in expect:
        wanted = str(expect["ended_by"])
        checks.append(Check("call", "ended_by", call.ended_by == wanted,
                            f"ended by {call.ended_by!r}"))
    if "max_latency_ms" in expect:
        limit = float(expect["max_latency_ms"])
        latencies = [r.latency_ms for r in call.results if r.latency_ms is not None]
        worst = max(latencies, default=None)
        ok = worst is not None and worst <= limit
        shown = "no replies" if worst is None else f"worst {worst:.0f} ms"
        checks.append(Check("call", "max_latency_ms", ok, f"{shown} (limit {limit:.0f} ms)"))
    limit_errors = int(expect.get("protocol_errors", 0))
    errors = [e for r in call.streams if r.client is not None for e in r.client.protocol_errors]
    checks.append(Check("call", "protocol_errors", len(errors) <= limit_errors,
                        f"{len(errors)} ({'; '.join(errors[:3])})" if errors else "none"))
    if "errors" not in expect or not expect["errors"]:
        checks.append(Check("call", "no errors", not call.errors,
                            "; ".join(call.errors) if call.errors else "none"))
    return checks


def _subsequence(wanted: list[str], got: list[str]) -> bool:
    position = iter(got)
    return all(any(item == seen for seen in position) for item in wanted)
