"""Every example flow compiles cleanly, shows its use case, and renders its golden XML.

Regenerate the goldens with ``FLOWC_UPDATE_GOLDENS=1 pytest tests/compile/test_examples.py``
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.compile._examples import (
    EXAMPLES,
    EXAMPLES_DIR,
    PUBLIC_URL,
    compile_example,
    golden_path,
    render_documents,
    stand_ins_in_use,
)

pytest.importorskip("flowc.compile", reason="compiler not built yet")
if not hasattr(__import__("flowc.compile", fromlist=["compile_file"]), "compile_file"):
    pytest.skip("flowc.compile.compile_file not built yet", allow_module_level=True)

UPDATE = os.environ.get("FLOWC_UPDATE_GOLDENS") == "1"

# What each example must demonstrate (one per use case of Plivo's Stream docs):
# stream key -> (contentType, audioTrack, bidirectional, keepCallAlive, pipeline)
USE_CASES: dict[str, dict[str, tuple[str, str, bool, bool, tuple[str, ...]]]] = {
    "realtime-transcription": {
        "transcript": ("audio/x-l16;rate=16000", "both", False, False, ("transcriber",))},
    "voice-agent": {
        "agent": ("audio/x-mulaw;rate=8000", "inbound", True, True,
                  ("recorder", "transcriber", "agent"))},
    "voice-agent-noisy": {
        "agent": ("audio/x-l16;rate=16000", "inbound", True, True,
                  ("denoiser", "transcriber", "agent"))},
    "call-monitoring": {
        "monitor": ("audio/x-l16;rate=8000", "inbound", False, False, ("transcriber",))},
    "quality-analysis": {
        "qa": ("audio/x-l16;rate=8000", "both", False, False, ("recorder",))},
    "status-callbacks": {
        "watched": ("audio/x-mulaw;rate=8000", "inbound", False, False, ("recorder",))},
    "custom-headers": {
        "tagged": ("audio/x-l16;rate=8000", "inbound", False, False, ("transcriber",))},
    "keepcallalive-sequence": {
        "assistant": ("audio/x-l16;rate=16000", "inbound", True, True,
                      ("transcriber", "agent"))},
    "ivr-menu": {},
}


def _compiled(path: Path) -> Any:
    flow, diagnostics = compile_example(path)
    assert [d for d in diagnostics] == [], "\n".join(d.headline() for d in diagnostics)
    assert flow is not None
    return flow


def test_examples_use_the_installed_plugins() -> None:
    """The recorder, denoiser, transcriber and agent plugins are installed (make setup),
    so the examples' pipelines are validated against their real settings schemas."""
    assert stand_ins_in_use() == []


def test_every_use_case_has_an_example() -> None:
    assert sorted(p.stem for p in EXAMPLES) == sorted(USE_CASES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_compiles_without_diagnostics(path: Path) -> None:
    flow = _compiled(path)
    assert flow.name == path.stem
    assert "answer" in flow.documents


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_shows_its_use_case(path: Path) -> None:
    flow = _compiled(path)
    expected = USE_CASES[path.stem]
    assert set(flow.streams) == set(expected)
    for key, (content_type, track, bidi, keep, pipeline) in expected.items():
        route = flow.streams[key]
        assert route.content_type == content_type
        assert route.audio_track == track
        assert route.bidirectional is bidi
        assert route.keep_call_alive is keep
        assert tuple(step.processor for step in route.pipeline) == pipeline
        assert route.path == f"/flows/{flow.name}/streams/{key}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_matches_golden_xml(path: Path) -> None:
    flow = _compiled(path)
    rendered = render_documents(flow)
    for document, xml in rendered.items():
        golden = golden_path(path, document)
        text = xml if xml.endswith("\n") else xml + "\n"
        if UPDATE:
            golden.write_text(text, encoding="utf-8")
            continue
        assert golden.exists(), f"{golden.name} missing; run with FLOWC_UPDATE_GOLDENS=1"
        assert text == golden.read_text(encoding="utf-8"), f"{golden.name} differs"
    wanted = {golden_path(path, d).name for d in rendered}
    present = {p.name for p in EXAMPLES_DIR.glob(path.stem + ".*xml")
               if p.name.split(".")[0] == path.stem}
    assert present == wanted, "stale golden files"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_golden_streams_point_at_flowc_routes(path: Path) -> None:
    """Stream URLs and #references resolve against the public URL (wss for streams)."""
    flow = _compiled(path)
    answer = render_documents(flow)["answer"]
    for key in flow.streams:
        assert f">wss://flowc.example.com/flows/{flow.name}/streams/{key}</Stream>" in answer
    assert "#" + "stream-status" not in answer
    assert PUBLIC_URL.startswith("https://")
