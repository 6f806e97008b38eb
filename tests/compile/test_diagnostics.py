"""Diagnostic formatting: headline, snippet with caret, JSON, sorting, did-you-mean."""

from __future__ import annotations

import json

from flowc.compile.diagnostics import (
    Diagnostic,
    did_you_mean,
    format_json,
    format_text,
    sort_diagnostics,
    summary,
)

SOURCE = "documents:\n  answer:\n    - Stream:\n        audioTrack: both\n"


def test_headline_and_caret_snippet() -> None:
    diag = Diagnostic("f.yaml", 4, 21, "error", "audioTrack must be inbound",
                      "stream.bidirectional-track", end_col=25)
    text = format_text([diag], {"f.yaml": SOURCE})
    assert text == (
        "f.yaml:4:21: error: audioTrack must be inbound [stream.bidirectional-track]\n"
        "    4 |         audioTrack: both\n"
        "      |                     ^~~~\n")


def test_snippet_is_skipped_without_source() -> None:
    diag = Diagnostic("gone.yaml", 9, 1, "warning", "x", "ref.unreachable")
    assert format_text([diag], {}) == "gone.yaml:9:1: warning: x [ref.unreachable]\n"


def test_json_format() -> None:
    diag = Diagnostic("f.yaml", 2, 3, "warning", "m", "c.d")
    assert json.loads(format_json([diag])) == [{
        "file": "f.yaml", "line": 2, "column": 3, "severity": "warning", "message": "m",
        "code": "c.d", "end_column": None}]


def test_sorting_and_deduplication() -> None:
    a = Diagnostic("f", 3, 1, "error", "m", "x")
    b = Diagnostic("f", 1, 5, "warning", "m", "y")
    c = Diagnostic("e", 9, 9, "error", "m", "z")
    assert sort_diagnostics([a, b, a, c]) == [c, b, a]


def test_summary_and_did_you_mean() -> None:
    items = [Diagnostic("f", 1, 1, "error", "m", "x"), Diagnostic("f", 1, 1, "warning", "m", "y")]
    assert summary(items, 2) == "1 error, 1 warning in 2 files"
    assert did_you_mean("audiotrack", ["audioTrack", "bidirectional"]) == \
        " (did you mean 'audioTrack'?)"
    assert did_you_mean("zzz", ["audioTrack"]) == ""
