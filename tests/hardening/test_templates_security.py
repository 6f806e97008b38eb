"""Templates (issue 6, item 2): request data is data, and the sandbox cannot be left.

Call parameters carrying markup or Jinja syntax come out escaped and unevaluated, through
``flowc build --param`` and through a real ``flowc serve`` answer request; sandbox escapes
are refused when the flow is compiled (``flowc validate`` exits 2 with a ``template.*``
diagnostic), so they never run. ``tests/compile/test_templates.py`` checks the renderer
in-process; these go through the processes a user runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowc.compile import compile_text
from flowc.plugins import load_plugins

from . import kit

FLOWC = [sys.executable, "-m", "flowc"]

FLOW = """\
flow: hostile
vars: {company: Acme}
documents:
  answer:
    - Speak: "{{ company }} greets {{ From }}"
    - Speak: caller is one
      if: From == "1"
    - Dial:
        callerId: "{{ From }}"
        steps:
          - Number: "14155550100"
    - Redirect: "#next"
  next:
    - Hangup: {}
"""

HOSTILE = [
    "<Hangup/>",
    "a & b &amp; c",
    "\"quoted\" 'single'",
    "{{ 7 * 7 }}",
    "{% for x in range(3) %}xx{% endfor %}",
    "{{ company }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% raw %}{{ x }}{% endraw %}",
    "]]><![CDATA[<Hangup/>",
    "</Speak><Hangup/><Speak>",
    "1",  # a value an ``if:`` compares against: data still
]


def check_answer(xml: str, value: str) -> None:
    """The document parses, carries ``value`` verbatim as text and attribute, and holds
    exactly the elements the flow wrote (nothing injected, nothing evaluated)."""
    root = ET.fromstring(xml)
    tags = [child.tag for child in root]
    expected = ["Speak", "Speak", "Dial", "Redirect"] if value == "1" else [
        "Speak", "Dial", "Redirect"]
    assert tags == expected, xml
    assert root[0].text == f"Acme greets {value}"
    dial = root.find("Dial")
    assert dial is not None and dial.get("callerId") == value
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text is not None
    assert redirect.text.endswith("/flows/hostile/next")
    # the server's URL (its port may read "49") and the value itself are not evidence
    rest = xml.replace(redirect.text, "").replace(
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), "")
    assert "49" not in rest and "xx" not in rest and "object" not in rest, xml


# ------------------------------------------------------------------ flowc build


@pytest.fixture(scope="module")
def flow_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "hostile.yaml"
    path.write_text(FLOW)
    return path


def build(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOWC, "build", "--public-url", "https://voice.example.com", *args],
                          capture_output=True, text=True, timeout=60)


def test_build_params_are_escaped_and_never_evaluated(flow_file: Path) -> None:
    for value in HOSTILE:
        proc = build(str(flow_file), "--compact", "--param", f"From={value}")
        assert proc.returncode == 0, proc.stderr
        check_answer(proc.stdout, value)


def test_defined_variables_are_data_too(flow_file: Path) -> None:
    proc = build(str(flow_file), "--compact", "-D", "company={{ 7 * 7 }}<b>&",
                 "--param", "From=x")
    assert proc.returncode == 0, proc.stderr
    root = ET.fromstring(proc.stdout)
    assert root[0].text == "{{ 7 * 7 }}<b>& greets x"


# ------------------------------------------------------------------ flowc serve


@contextlib.contextmanager
def serve(flow: Path) -> Iterator[str]:
    """``flowc serve FLOW`` on a free 127.0.0.1 port, unauthenticated; its base URL."""
    environ = {k: v for k, v in os.environ.items() if k != "PLIVO_AUTH_TOKEN"}
    with kit.serve_flow(flow, env=environ) as server:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{server.http}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "flowc serve did not answer /healthz"
            time.sleep(0.05)
        yield server.http


def test_answer_requests_render_hostile_parameters_as_data(flow_file: Path) -> None:
    with serve(flow_file) as base, httpx.Client(base_url=base, timeout=10) as client:
        for value in HOSTILE:
            posted = client.post("/flows/hostile/answer",
                                 data={"CallUUID": "c-1", "From": value, "To": "+1415"})
            assert posted.status_code == 200, posted.text
            check_answer(posted.text, value)
            queried = client.get("/flows/hostile/answer", params={"From": value})
            assert queried.status_code == 200, queried.text
            check_answer(queried.text, value)
            # a hostile name is no variable: it cannot shadow the flow's own
            shadow = client.post("/flows/hostile/answer", data={"From": "x", "company": value})
            assert ET.fromstring(shadow.text)[0].text == "Acme greets x"


# ------------------------------------------------------------------ sandbox escapes

ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.system('touch CANARY') }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('touch CANARY').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ self }}",
    "{{ self.__dict__ }}",
    "{{ From.__class__ }}",
    "{{ From['__class__'] }}",
    "{{ From|attr('__class__') }}",
    "{{ From|map(attribute='__class__')|list }}",
    "{{ From|attr('format') }}",
    "{{ From.upper }}",
    "{{ From.format }}",
    "{{ From.upper.__self__ }}",
    "{{ range.__globals__ }}",
    "{{ range.__call__ }}",
    "{{ range.x }}",
    "{{ range }}",
    "{{ dict }}",
    "{{ dict.fromkeys }}",
    "{{ dict.mro() }}",
    "{{ namespace }}",
    "{{ namespace.__init__.__globals__ }}",
    "{% set f = range %}{{ f.__closure__ }}",
    "{% macro m() %}x{% endmacro %}{{ m.__globals__ }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% include 'CANARY' %}",
    "{% import 'os' as os %}",
    "{% extends 'CANARY' %}",
]


def escape_flow(source: str, canary: Path) -> str:
    return FLOW.replace('"{{ company }} greets {{ From }}"',
                        "|-\n        " + source.replace("CANARY", str(canary)))


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_are_refused_at_compile_time(tmp_path: Path, source: str) -> None:
    canary = tmp_path / "canary"
    result = compile_text(escape_flow(source, canary), filename="escape.yaml", host=HOST)
    codes = {d.code for d in result.diagnostics if d.is_error}
    assert result.flow is None, source
    assert codes and codes <= {"template.unsafe", "template.undefined",
                               "template.unsupported"}, codes
    assert not canary.exists()


def test_sandbox_escapes_through_the_cli(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    paths: list[str] = []
    for i, source in enumerate(ESCAPES):
        file = tmp_path / f"escape{i}.yaml"
        file.write_text(escape_flow(source, canary))
        paths.append(str(file))
    checked = subprocess.run([*FLOWC, "validate", *paths], capture_output=True, text=True,
                             timeout=60)
    report = checked.stdout + checked.stderr
    assert checked.returncode == 2 and "Traceback" not in report
    for name in paths:  # every file has its own template diagnostic
        assert re.search(rf"^{re.escape(name)}:\d+:\d+: error: .*\[template\.", report,
                         re.MULTILINE), name
    for source, name in zip(ESCAPES, paths, strict=True):
        if "CANARY" in source:
            built = build(name, "--param", "From=x")
            assert built.returncode == 2 and "<Response" not in built.stdout
            assert "[template." in built.stderr and "Traceback" not in built.stderr
    assert not canary.exists()


HOST = load_plugins()


def test_a_function_that_slips_past_the_static_check_never_renders(tmp_path: Path) -> None:
    """A method reached through a local name is not known statically; the sandbox's
    ``finalize`` refuses to print it (no Python repr, no memory address)."""
    path = tmp_path / "local.yaml"
    path.write_text(FLOW.replace('"{{ company }} greets {{ From }}"',
                                 '"{% set m = From %}{{ m.upper }}"'))
    built = build(str(path), "--param", "From=x")
    assert built.returncode == 2 and "<Response" not in built.stdout
    assert "[template.render]" in built.stderr and "0x" not in built.stderr
    assert "Traceback" not in built.stderr
