"""The command-line shell: help, version, and no traceback on an internal error."""

import argparse
from pathlib import Path

import pytest

from flowc import __version__
from flowc.cli import main
from flowc.commands import schema


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"flowc {__version__}"
    assert main([]) == 2
    assert "validate" in capsys.readouterr().out


def test_an_internal_error_is_reported_without_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(args: argparse.Namespace) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(schema, "run", broken)
    assert main(["schema"]) == 2
    err = capsys.readouterr().err
    assert "flowc schema: internal error: ZeroDivisionError: a bug" in err
    assert "Traceback" not in err


def test_an_unwritable_output_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing-dir" / "schema.json"
    assert main(["schema", "-o", str(target)]) == 2
    assert f"flowc schema: cannot write {target}" in capsys.readouterr().err
    written = tmp_path / "schema.json"
    assert main(["schema", "-o", str(written)]) == 0
    assert written.read_text().startswith("{")
