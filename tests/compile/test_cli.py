"""``flowc validate``, ``flowc build`` and ``flowc schema`` as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INVALID = ROOT / "tests" / "fixtures" / "invalid"

GOOD = """\
flow: demo
vars:
  company: Acme
documents:
  answer:
    - Speak: "Welcome to {{ company }}, {{ From }}."
    - GetInput:
        action: "#menu"
        inputType: dtmf
        steps:
          - Speak: Press 1.
  menu:
    - Speak: One.
      if: Digits == "1"
    - Hangup: {}
"""

PLAIN = """\
documents:
  answer:
    - Speak: "Hello {{ From }}"
    - Hangup: {}
"""


def flowc(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowc", *args], capture_output=True,
                          text=True, input=stdin, cwd=ROOT, timeout=60)


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return path


def test_validate_ok_exits_zero(good: Path) -> None:
    proc = flowc("validate", str(good))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_validate_many_files_lists_every_problem() -> None:
    files = [str(INVALID / "stream-bidirectional-track.yaml"),
             str(INVALID / "unknown-attribute.yaml")]
    proc = flowc("validate", *files)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert "stream-bidirectional-track.yaml:6:21: error:" in proc.stdout
    assert "[stream.bidirectional-track]" in proc.stdout
    assert "(did you mean 'voice'?) [schema.unknown-key]" in proc.stdout
    assert "        audioTrack: both\n" in proc.stdout
    assert "^~~~" in proc.stdout
    assert proc.stdout.rstrip().endswith("2 errors, 0 warnings in 2 files")


def test_validate_json_format() -> None:
    proc = flowc("validate", "--format", "json", str(INVALID / "ref-unknown-document.yaml"))
    assert proc.returncode == 2
    items = json.loads(proc.stdout)
    assert [(i["line"], i["column"], i["severity"], i["code"]) for i in items] == [
        (5, 17, "error", "ref.unknown-document"), (9, 3, "warning", "ref.unreachable")]


def test_warnings_do_not_fail(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("documents:\n  answer:\n    - Hangup: {}\n  spare:\n    - Hangup: {}\n")
    proc = flowc("validate", str(path))
    assert proc.returncode == 0
    assert "warning:" in proc.stdout and "[ref.unreachable]" in proc.stdout
    assert flowc("validate", "-q", str(path)).stdout == ""


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage", b"\x00\x01\x02", b"{{{{", b"- - -"])
def test_garbage_never_tracebacks(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.yaml"
    path.write_bytes(content)
    proc = flowc("validate", str(path))
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert "junk.yaml:" in proc.stdout


def test_missing_file(tmp_path: Path) -> None:
    proc = flowc("validate", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert proc.stdout.count("[file.read]") == 1


def test_directories_expand_to_their_flows() -> None:
    proc = flowc("validate", "-q", str(INVALID))
    assert proc.returncode == 2
    count = len(list(INVALID.glob("*.yaml")))
    assert proc.stdout.rstrip().endswith(f"in {count} files")


def test_validate_reads_stdin() -> None:
    proc = flowc("validate", "-", stdin="documents:\n  answer:\n    - Speek: hi\n")
    assert proc.returncode == 2
    assert "<stdin>:3:7: error: unknown verb 'Speek'" in proc.stdout


def test_build_needs_public_url_for_flowc_routes(good: Path) -> None:
    proc = flowc("build", str(good))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "--public-url" in proc.stderr and "[build.public-url]" in proc.stderr
    assert_no_traceback(proc)


def test_build_renders_with_params_escaped(good: Path) -> None:
    proc = flowc("build", str(good), "--public-url", "https://voice.example.com/",
                 "--param", "From=<a&b \"{{ 1 }}\">")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "<Response>\n"
        "  <Speak>Welcome to Acme, &lt;a&amp;b \"{{ 1 }}\"&gt;.</Speak>\n"
        '  <GetInput action="https://voice.example.com/flows/demo/menu" inputType="dtmf">\n'
        "    <Speak>Press 1.</Speak>\n"
        "  </GetInput>\n"
        "</Response>\n")


def test_build_document_compact_and_defines(good: Path, tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text('{"company": "FromFile"}')
    out = tmp_path / "menu.xml"
    proc = flowc("build", str(good), "--document", "menu", "--param", "Digits=1",
                 "--compact", "-o", str(out), "--vars", str(vars_file))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert out.read_text() == "<Response><Speak>One.</Speak><Hangup/></Response>\n"
    proc = flowc("build", str(good), "--public-url", "https://h", "--vars", str(vars_file),
                 "-D", "company=Cli", "--compact")
    assert "Welcome to Cli, ." in proc.stdout


def test_build_without_routes_needs_no_url(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(PLAIN)
    proc = flowc("build", str(path), "--compact", "--param", "From={% raw %}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "<Response><Speak>Hello {% raw %}</Speak><Hangup/></Response>\n"


def test_build_errors(good: Path) -> None:
    proc = flowc("build", str(good), "--document", "menus")
    assert proc.returncode == 2
    assert "did you mean 'menu'?" in proc.stderr
    proc = flowc("build", str(INVALID / "template-undefined.yaml"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "[template.undefined]" in proc.stderr
    proc = flowc("build", str(good), "--public-url", "ftp://x")
    assert proc.returncode == 2 and "[cli.public-url]" in proc.stderr
    proc = flowc("build", str(good), "--param", "novalue")
    assert proc.returncode == 2 and "[cli.option]" in proc.stderr


def test_build_output_is_deterministic(good: Path) -> None:
    runs = {flowc("build", str(good), "--public-url", "https://h").stdout for _ in range(3)}
    assert len(runs) == 1


def test_build_leaves_existing_output_alone_on_error(good: Path, tmp_path: Path) -> None:
    out = tmp_path / "answer.xml"
    out.write_text("previous")
    proc = flowc("build", str(good), "-o", str(out))  # fails: needs --public-url
    assert proc.returncode == 2
    assert out.read_text() == "previous"


@pytest.mark.parametrize("command", ["validate", "build", "schema"])
def test_help(command: str) -> None:
    proc = flowc(command, "--help")
    assert proc.returncode == 0
    assert f"usage: flowc {command}" in proc.stdout


def test_bad_defines_and_vars_files(good: Path, tmp_path: Path) -> None:
    proc = flowc("validate", str(good), "-D", "bad-name=1")
    assert proc.returncode == 2 and "<-D>:1:1: error: invalid variable name" in proc.stdout
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    proc = flowc("validate", str(good), "--vars", str(listing))
    assert proc.returncode == 2 and "[vars.file]" in proc.stdout
    proc = flowc("validate", str(good), "--vars", str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2 and "[file.read]" in proc.stdout
    assert_no_traceback(proc)


def test_build_checks_the_rendered_size(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(PLAIN)
    proc = flowc("build", str(path), "--param", "From=" + "x" * 100_001)
    assert proc.returncode == 2
    assert "[doc.too-large]" in proc.stderr and proc.stdout == ""
