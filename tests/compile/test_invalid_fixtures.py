"""Each invalid fixture states its exact diagnostics in its first line; assert that set.

Header format: ``# expect: LINE:COL code, LINE:COL code`` (errors and warnings alike).
Every fixture must produce at least one error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flowc.compile import compile_file
from flowc.plugins import PluginHost

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "invalid").glob("*.yaml"))
_ITEM = re.compile(r"(\d+):(\d+) ([a-z][a-z0-9.-]*)\Z")


def expected(path: Path) -> set[tuple[int, int, str]]:
    """The (line, col, code) set a fixture's header declares."""
    header = path.read_text(encoding="utf-8").split("\n", 1)[0]
    assert header.startswith("# expect: "), f"{path.name}: missing '# expect:' header"
    out = set()
    for item in header[len("# expect: "):].split(","):
        match = _ITEM.match(item.strip())
        assert match, f"{path.name}: bad expectation {item!r}"
        out.add((int(match[1]), int(match[2]), match[3]))
    return out


def test_there_are_enough_fixtures() -> None:
    assert len(FIXTURES) >= 40


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture_diagnostics(path: Path, host: PluginHost) -> None:
    result = compile_file(path, host=host)
    got = {(d.line, d.col, d.code) for d in result.diagnostics}
    assert got == expected(path), "\n".join(d.headline() for d in result.diagnostics)
    assert result.flow is None
    assert any(d.is_error for d in result.diagnostics)
    assert all(d.code != "internal" for d in result.diagnostics)
