"""``flowc call`` with the server in-process: scenarios (exit 0/1), signatures, keepCallAlive
continuation, speech GetInput, recording out. Real server, real agent, real TTS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowc.cli import main
from flowc.commands.call import serve_in_thread
from flowc.compile import compile_file
from flowc.plugins import load_plugins
from flowc.simulator import scenario as scenarios
from flowc.simulator.call import CallSimulator
from flowc.simulator.results import CallOptions

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "examples" / "flows"

HANDOFF = """\
flow: handoff
documents:
  answer:
    - Stream:
        name: bot
        bidirectional: true
        keepCallAlive: true
        contentType: audio/x-l16;rate=16000
        statusCallbackUrl: "#stream-status"
        pipeline:
          - agent:
              greeting: Hi.
              rules:
                intents:
                  - name: person
                    dtmf: "0"
                    reply: Transferring you.
                    action: end
    - Speak: Connecting you to a person.
    - Hangup: {}
"""

SHORT_AGENT = """\
flow: short-agent
documents:
  answer:
    - Stream:
        name: bot
        bidirectional: true
        keepCallAlive: true
        contentType: audio/x-mulaw;rate=8000
        statusCallbackUrl: "#stream-status"
        pipeline:
          - transcriber: {}
          - agent: {greeting: Hi., rules: {fallback: "Sorry, say again."}}
"""

SPEECH_MENU = """\
flow: speech-menu
documents:
  answer:
    - GetInput:
        action: "#heard"
        inputType: speech
        steps:
          - Speak: Say something.
  heard:
    - Speak: "You said {{ Speech }}."
"""


@pytest.fixture(autouse=True)
def _scratch_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # recordings/ and transcripts/ of the served flows land here


def run_call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    status = main(["call", *args, "--json"])
    out = capsys.readouterr().out
    return status, json.loads(out) if out.strip() else {}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_keepcallalive_xml_continues_after_the_agent_ends_the_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = write(tmp_path / "handoff.yaml", HANDOFF)
    script = write(tmp_path / "scenario.yaml", """\
fast: true
turns:
  - dtmf: "0"
    expect: {reply: true}
expect:
  events: [sendDTMF, dtmf, StartStream, StopStream, Speak, Hangup]
  ended_by: Hangup
""")
    status, report = run_call(capsys, str(flow), "--script", str(script), "--no-listen")
    checks = {c["name"]: c for c in report["scenario"]["checks"]}
    # the agent does not send sendDTMF: that expectation must fail, the rest hold
    assert not checks["event sendDTMF"]["ok"]
    assert all(c["ok"] for name, c in checks.items() if name != "event sendDTMF"), checks
    assert status == 1
    (stream,) = report["streams"]
    assert stream["ended_by"] == "server"
    assert report["summary"]["ended_by"] == "Hangup"
    speaks = [e["text"] for e in report["timeline"] if e.get("verb") == "Speak"]
    assert speaks == ['Speak "Connecting you to a person."']


def test_scenario_passes_and_records_the_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = write(tmp_path / "short.yaml", SHORT_AGENT)
    script = write(tmp_path / "ok.yaml", f"""\
name: greeting and one turn
flow: {flow}
fast: true
turns:
  - say: Hello there.
    expect:
      reply: true
      agent_says: "sorry|again"
      latency_ms: 20000
expect:
  events: [checkpoint, playedStream, playAudio, StartStream, transcript]
  documents: [/flows/short-agent/answer]
  ended_by: caller hung up
""")
    out = tmp_path / "call.wav"
    status, report = run_call(capsys, "--script", str(script), "--record-out", str(out),
                              "--listen", "whisper")
    assert report["scenario"]["ok"], report["scenario"]["checks"]
    assert status == 0
    (turn,) = report["turns"]
    assert turn["agent_text"]  # reported by the agent as it spoke
    assert report["greeting_said"]
    assert turn["agent_heard"]  # transcribed after the call (asked for with --listen)
    with wave.open(str(out)) as wav:
        assert wav.getnchannels() == 2 and wav.getframerate() == 16000
        assert wav.getnframes() / 16000 > 3


def test_failing_expectations_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = write(tmp_path / "short.yaml", SHORT_AGENT)
    script = write(tmp_path / "bad.yaml", f"""\
flow: {flow}
fast: true
turns:
  - say: Hello there.
    expect: {{reply: false, agent_says: zebra, latency_ms: 1}}
expect:
  dtmf_received: "9"
""")
    status, report = run_call(capsys, "--script", str(script), "--no-listen")
    assert status == 1
    failed = {c["name"] for c in report["scenario"]["checks"] if not c["ok"]}
    assert failed == {"reply", "agent_says", "latency_ms", "dtmf_received"}


def test_invalid_scenario_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path / "broken.yaml", "turns:\n  - say: hi\n    audio: x.wav\n"
                                             "  - shout: hi\n")
    assert main(["call", str(FLOWS / "ivr-menu.yaml"), "--script", str(script)]) == 2
    err = capsys.readouterr().err
    assert "broken.yaml: turns/0" in err and "broken.yaml: turns/1" in err


def test_example_scenario_validates() -> None:
    loaded = scenarios.load(ROOT / "examples" / "scenarios" / "voice-agent.yaml")
    assert loaded.flow == str((FLOWS / "voice-agent.yaml").resolve())
    assert len(loaded.turns) == 3


def test_speech_getinput_posts_the_turn_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = write(tmp_path / "speech.yaml", SPEECH_MENU)
    status, report = run_call(capsys, str(flow), "--fast", "--say", "billing please")
    assert status == 0
    heard = report["documents"][1]
    assert heard["params"]["InputType"] == "speech"
    assert heard["params"]["Speech"] == "billing please"
    speaks = [e["text"] for e in report["timeline"] if e.get("verb") == "Speak"]
    assert speaks[-1] == 'Speak "You said billing please."'


def test_signed_requests_pass_and_wrong_token_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, report = run_call(capsys, str(FLOWS / "status-callbacks.yaml"), "--fast",
                              "--auth-token", "s3cret", "--no-listen")
    assert status == 0 and report["errors"] == []
    assert [p["status"] for p in report["status_callbacks"]] == [200, 200]
    assert report["streams"][0]["ended_by"] != "dropped"

    host = load_plugins()
    flow = compile_file(FLOWS / "status-callbacks.yaml", host=host).flow
    with serve_in_thread(flow, host, auth_token="s3cret") as base:
        url = f"{base}/flows/status-callbacks/answer"
        wrong = asyncio.run(CallSimulator(CallOptions(url, auth_token="other", fast=True)).run())
        unsigned = asyncio.run(CallSimulator(CallOptions(url, fast=True)).run())
    for call in (wrong, unsigned):
        assert call.ended_by == "document error"
        assert "HTTP 403" in call.errors[0]


DROPPED = """\
flow: dropped
documents:
  answer:
    - Stream:
        text: ws://127.0.0.1:9/nowhere
        contentType: audio/x-mulaw;rate=8000
        statusCallbackUrl: "#stream-status"
    - Speak: The stream could not start.
"""


def test_unreachable_stream_is_retried_then_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = write(tmp_path / "dropped.yaml", DROPPED)
    status, report = run_call(capsys, str(flow), "--fast", "--no-listen")
    assert status == 1
    (stream,) = report["streams"]
    assert stream["ended_by"] == "dropped" and stream["statistics"] is None
    assert report["status_callbacks"] == [{"event": "DroppedStream", "stream": 1, "status": 200}]
    assert "could not connect" in report["errors"][0]
    assert report["summary"]["ended_by"] == "end of document"  # the XML went on


def test_timed_dtmf_reaches_the_server_during_a_stream(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, report = run_call(capsys, str(FLOWS / "status-callbacks.yaml"), "--fast",
                              "--dtmf", "5@0.5s", "--no-listen")
    assert status == 0
    assert report["streams"][0]["statistics"]["dtmf_sent"] == 1
    seen = [e for e in report["server_events"] if e["hook"] == "dtmf"]
    assert seen == [{"t": seen[0]["t"], "hook": "dtmf", "digit": "5", "track": "inbound"}]
    assert {e.get("Event") for e in report["server_events"]} >= {"StartStream", "StopStream"}


TWO_STREAMS = """\
flow: two-streams
documents:
  answer:
    - Stream:
        name: tap
        contentType: audio/x-l16;rate=8000
        pipeline:
          - transcriber: {}
    - Stream:
        name: bot
        bidirectional: true
        keepCallAlive: true
        contentType: audio/x-l16;rate=16000
        pipeline:
          - transcriber: {}
          - agent: {greeting: Hi., rules: {fallback: OK.}}
"""


def test_caller_voice_reaches_every_inbound_stream_and_the_agent_leads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = write(tmp_path / "two.yaml", TWO_STREAMS)
    status, report = run_call(capsys, str(flow), "--fast", "--no-listen", "--reply-timeout", "8",
                              "--say", "Hello there.")
    assert status == 0, report["errors"]
    (turn,) = report["turns"]
    assert turn["stream"] == "stream 2" and turn["reply_expected"]  # the agent leads
    tap, bot = report["streams"]
    assert tap["statistics"]["sent_speech_seconds"] == bot["statistics"]["sent_speech_seconds"] > 0
    assert tap["statistics"]["play_audio_received"] == 0
    assert report["summary"]["ended_by"] == "caller hung up"


def test_wav_turn_is_transcribed_by_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = ROOT / "tests" / "fixtures" / "speech" / "s06.wav"  # "what are your opening hours..."
    script = write(tmp_path / "wav.yaml", f"""\
flow: {FLOWS / "realtime-transcription.yaml"}
fast: true
turns:
  - audio: {wav}
    expect:
      transcript_contains: opening hours
      reply: false
expect:
  events: [transcript, StartStream, StopStream, Dial]
""")
    status, report = run_call(capsys, "--script", str(script), "--no-listen")
    assert report["scenario"]["ok"], report["scenario"]["checks"]
    assert status == 0
    (turn,) = report["turns"]
    assert turn["caller"] == "s06.wav"
    (stream,) = report["streams"]
    assert stream["statistics"]["sent_speech_seconds"] > 2  # 16 kHz stream, WAV resampled


def test_play_fetches_a_wav_and_the_caller_hears_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import functools
    import http.server
    import threading

    import numpy as np

    from flowc.simulator.caller import load_wav, write_wav

    tone = (np.sin(np.arange(4000) * 2 * np.pi * 440 / 8000) * 9000).astype(np.int16)
    write_wav(tmp_path / "tone.wav", [tone], 8000)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        flow = write(tmp_path / "play.yaml", f"""\
flow: play
documents:
  answer:
    - Play: http://127.0.0.1:{port}/tone.wav
    - Play: http://127.0.0.1:{port}/missing.mp3
""")
        out = tmp_path / "heard.wav"
        status, report = run_call(capsys, str(flow), "--fast", "--record-out", str(out))
    finally:
        server.shutdown()
        server.server_close()
    assert status == 0
    plays = [e["text"] for e in report["timeline"] if e.get("verb") == "Play"]
    assert plays[0].endswith("(0.5 s)") and "not a WAV" in plays[1]
    stereo, rate = load_wav(out)  # mixed down: the tone is on the flowc channel
    assert rate == 16000 and np.abs(stereo).max() > 2000


def test_bad_flow_and_unreachable_server_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = write(tmp_path / "broken.yaml", "documents:\n  answer:\n    - Speek: hi\n")
    assert main(["call", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "broken.yaml:3:" in err and "does not compile" in err
    assert main(["call", str(tmp_path / "absent.yaml")]) == 2
    assert "no such flow file" in capsys.readouterr().err

    with socket_port() as port:
        status, report = run_call(capsys, f"http://127.0.0.1:{port}/flows/x/answer",
                                  "--no-listen")
    assert status == 1
    assert report["summary"]["ended_by"] == "document error"
    assert "failed" in report["errors"][0]


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
