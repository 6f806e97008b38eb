"""The README's language section: its flows compile and its error sample is real output."""

from __future__ import annotations

import re
import textwrap
from dataclasses import replace
from pathlib import Path

from flowc.compile.diagnostics import format_text, summary
from tests.compile._util import compile_ok, compile_yaml

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("<!-- section: language -->"):
                 README.index("<!-- /section: language -->")]
YAML_BLOCKS = re.findall(r"```yaml\n(.*?)```", SECTION, re.S)


def test_readme_flows_compile() -> None:
    full = [b for b in YAML_BLOCKS if b.lstrip().startswith(("#", "documents:"))]
    assert len(full) == 2
    for block in full:
        compile_ok(block)
    (stream,) = [b for b in YAML_BLOCKS if "- Stream:" in b]
    flow = compile_ok("vars: {company: Acme}\ndocuments:\n  answer:\n"
                      + textwrap.indent(textwrap.dedent(stream), "    "))
    assert [s.processor for s in flow.streams["agent"].pipeline] == [
        "recorder", "transcriber", "agent"]


def test_readme_error_sample_is_real_output() -> None:
    sample = re.search(r"```text\n\$ flowc validate (\S+)\n(.*?)```", SECTION, re.S)
    assert sample is not None
    name, shown = sample.group(1), sample.group(2)
    source = ("documents:\n  answer:\n    - Stream:\n        bidirectional: true\n"
              "        keepCallAlive: true\n        audioTrack: both\n"
              "        contentType: audio/x-l16;rate=16000\n        pipeline:\n"
              "          - transcribr: {}\n")
    result = compile_yaml(source)
    diagnostics = [replace(d, file=name) for d in result.diagnostics]
    rendered = format_text(diagnostics, {name: source}) + summary(diagnostics, 1) + "\n"
    assert rendered == shown
