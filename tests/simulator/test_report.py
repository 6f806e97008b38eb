"""The live timeline printer and the text summary."""

from __future__ import annotations

import io

from flowc.simulator.report import LivePrinter, render_summary
from flowc.simulator.timeline import CallClock, Entry, Timeline


def test_live_printer_plain_and_progress_on_a_terminal() -> None:
    plain = io.StringIO()
    printer = LivePrinter(plain, color=False)
    printer(Entry(1.5, "caller", 'caller says "hi"'))
    printer(Entry(2.0, "progress", "sending caller audio 40%"))
    assert plain.getvalue() == '   1.50s  caller     caller says "hi"\n'

    tty = io.StringIO()
    printer = LivePrinter(tty, color=True)
    printer(Entry(2.0, "progress", "sending caller audio 40%"))
    printer(Entry(3.0, "agent", "agent reply"))
    out = tty.getvalue()
    assert out.startswith("\r\033[2m") and "40%" in out
    assert "\r\033[K\033[33m   3.00s  agent" in out  # the progress line is cleared first


def test_timeline_entries_keep_their_text_in_json() -> None:
    timeline = Timeline(CallClock())
    entry = timeline.add("verb", 'Speak "Hi"', verb="Speak", say="Hi", text="ignored")
    assert entry.to_json()["text"] == 'Speak "Hi"' and entry.to_json()["say"] == "Hi"


def test_summary_text() -> None:
    report = {
        "greeting_heard": "Hello, how can I help?",
        "summary": {"turns": 2, "latency_ms": {"per_turn": [812, None], "mean": 812,
                                                "max": 812},
                    "barge_ins": 1, "clear_audio": 1, "frames_sent": 500,
                    "frames_received": 200, "dtmf_sent": 1, "dtmf_received": 0,
                    "checkpoints": 4, "played_stream": 4, "protocol_errors": 0,
                    "documents": 1, "streams": 1, "ended_by": "caller hung up",
                    "duration_s": 12.5},
        "turns": [
            {"index": 1, "caller": "What are your hours?", "latency_ms": 812,
             "reply_expected": True, "barge_in": False, "transcripts": ["what are your hours"],
             "agent_text": [], "agent_heard": ["We open at nine."]},
            {"index": 2, "caller": "Stop.", "latency_ms": None, "reply_expected": True,
             "barge_in": True, "transcripts": [], "agent_text": [], "agent_heard": []},
        ],
        "streams": [],
        "errors": [],
    }
    text = render_summary(report)
    assert "voice-to-voice 812 ms  caller: What are your hours?" in text
    assert "no reply (barge-in)" in text
    assert "agent (heard): We open at nine." in text
    assert "mean 812 ms, max 812 ms" in text
    assert "1 (clearAudio 1)" in text and "1 sent, 0 sendDTMF" in text
