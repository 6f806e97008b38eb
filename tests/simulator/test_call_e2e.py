"""End to end: every example flow through ``flowc call`` against a real ``flowc serve``.

One ``flowc serve examples/flows`` subprocess serves them all (module fixture); each test
runs ``flowc call FLOW --server URL --fast --json`` in-process and checks what the call
did: documents fetched, streams run, status callbacks, replies, how the call ended.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowc.cli import main
from flowc.compile import compile_file
from flowc.plugins import load_plugins
from tests.servers import flowc_serve

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "examples" / "flows"
ALL_FLOWS = sorted(p.stem for p in FLOWS.glob("*.yaml"))
SAY = "Hello, what are your opening hours?"


@pytest.fixture(scope="module")
def servable(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """A folder with the example flows that compile with the installed plugins."""
    folder = tmp_path_factory.mktemp("flows")
    host = load_plugins()
    ok: set[str] = set()
    for path in FLOWS.glob("*.yaml"):
        if compile_file(path, host=host).flow is not None:
            shutil.copy(path, folder / path.name)
            ok.add(path.stem)
    return folder, ok


@pytest.fixture(scope="module")
def server(servable: tuple[Path, set[str]], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    """``flowc serve`` on a free port, in a scratch working directory."""
    folder, _ = servable
    workdir = tmp_path_factory.mktemp("serve")
    with flowc_serve([str(folder)], log=workdir / "serve.log", cwd=workdir,
                     env={**os.environ, "PLIVO_AUTH_TOKEN": ""}) as (_, port):
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "flowc serve did not answer /healthz"
            time.sleep(0.1)
        yield url


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``flowc call ... --json`` in-process; (exit status, report)."""
    capsys.readouterr()
    status = main(["call", *args, "--json", "--no-listen"])
    out = capsys.readouterr().out
    return status, json.loads(out)


def paths(report: dict[str, Any]) -> list[str]:
    return [d["url"].split("://", 1)[1].split("/", 1)[1] for d in report["documents"]]


def assert_clean(report: dict[str, Any]) -> None:
    """What every simulated call must satisfy."""
    assert report["errors"] == []
    assert all(d["status"] == 200 for d in report["documents"])
    for stream in report["streams"]:
        assert stream["ended_by"] != "dropped", stream
        assert stream["protocol_errors"] == []
        stats = stream["statistics"]
        assert stats["media_sent"] > 0
        assert stats["played_sent"] == stats["checkpoints_received"]
    for post in report["status_callbacks"]:
        assert post["status"] == 200


# Per flow: extra arguments, then checks on the report.
CASES: dict[str, list[str]] = {
    "voice-agent": ["--say", SAY],
    "voice-agent-noisy": ["--say", SAY],
    "keepcallalive-sequence": ["--say", SAY],
    "ivr-menu": ["--dtmf", "2", "--say", "I called about my bill."],
    "status-callbacks": ["--say", SAY],
    "call-monitoring": ["--say", SAY],
    "custom-headers": ["--say", SAY],
    "realtime-transcription": ["--say", SAY],
    "quality-analysis": ["--say", SAY],
}


def check_agent(report: dict[str, Any]) -> None:
    (stream,) = report["streams"]
    assert stream["bidirectional"] and stream["keep_call_alive"]
    (turn,) = report["turns"]
    assert turn["latency_ms"] is not None and turn["latency_ms"] > 0
    assert turn["reply_seconds"] > 0
    assert stream["statistics"]["play_audio_received"] > 0
    assert stream["statistics"]["checkpoints_received"] > 0
    assert [p["event"] for p in report["status_callbacks"]] == ["StartStream", "StopStream"]
    assert report["summary"]["ended_by"] == "caller hung up"


def check_ivr(report: dict[str, Any]) -> None:
    assert paths(report) == ["flows/ivr-menu/answer", "flows/ivr-menu/menu",
                             "flows/ivr-menu/support", "flows/ivr-menu/goodbye"]
    assert report["documents"][1]["params"] == {"Digits": "2", "InputType": "dtmf"}
    assert report["documents"][3]["params"]["RecordingDuration"] != ""
    assert report["summary"]["ended_by"] == "Hangup"
    assert report["streams"] == []


def check_one_way(report: dict[str, Any]) -> None:
    (stream,) = report["streams"]
    assert not stream["bidirectional"]
    assert stream["statistics"]["play_audio_received"] == 0
    (turn,) = report["turns"]
    assert turn["latency_ms"] is None and not turn["reply_expected"]


CHECKS = {
    "voice-agent": [check_agent],
    "voice-agent-noisy": [check_agent],
    "keepcallalive-sequence": [check_agent],
    "ivr-menu": [check_ivr],
    "status-callbacks": [check_one_way],
    "call-monitoring": [check_one_way],
    "custom-headers": [check_one_way],
    "realtime-transcription": [check_one_way],
    "quality-analysis": [check_one_way],
}


def test_every_example_flow_has_a_case() -> None:
    assert set(ALL_FLOWS) <= set(CASES), set(ALL_FLOWS) - set(CASES)


@pytest.mark.parametrize("flow", ALL_FLOWS)
def test_example_flow_through_flowc_serve(
    flow: str, server: str, servable: tuple[Path, set[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    if flow not in servable[1]:
        pytest.skip(f"{flow} needs a processor that is not installed")
    status, report = call(capsys, str(FLOWS / f"{flow}.yaml"), "--server", server, "--fast",
                          *CASES.get(flow, []))
    assert status == 0
    assert report["call"]["answer_url"] == f"{server}/flows/{flow}/answer"
    assert_clean(report)
    for check in CHECKS.get(flow, []):
        check(report)


def test_ivr_sales_branch_dials_and_status_callbacks_post(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report = call(capsys, str(FLOWS / "ivr-menu.yaml"), "--server", server, "--fast",
                          "--dtmf", "1")
    assert status == 0
    assert paths(report) == ["flows/ivr-menu/answer", "flows/ivr-menu/menu"]
    verbs = [e.get("verb") for e in report["timeline"] if e["kind"] == "verb"]
    assert "Dial" in verbs
    assert report["summary"]["ended_by"] == "end of document"  # Dial ended, nothing follows


def test_ivr_without_input_redirects_until_the_hop_limit(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report = call(capsys, str(FLOWS / "ivr-menu.yaml"), "--server", server, "--fast")
    assert status == 1  # a redirect loop is an error
    assert report["summary"]["ended_by"] == "too many documents"
    assert set(paths(report)) == {"flows/ivr-menu/answer"}
    assert len(report["documents"]) == 25


def test_answer_url_target_and_http_error(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report = call(capsys, f"{server}/flows/no-such-flow/answer", "--fast")
    assert status == 1
    assert report["summary"]["ended_by"] == "document error"
    assert "HTTP 404" in report["errors"][0]
