"""Bad flows (issue 6, item 1): a corpus of mutated example flows never crashes or hangs the
compiler, every error is a diagnostic (exit code 2 from the CLI, never a traceback), and
every flow it accepts renders XML that parses and obeys the Plivo rules flowc enforces.

The mutations work on the parsed YAML (delete, duplicate, retype and swap keys, odd
scalars) and on the text (truncation, random bytes); ``tests/compile/test_fuzz.py`` covers
character-level edits. Hypothesis runs derandomized, so CI sees the same corpus each time.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import Environment, meta

from flowc.compile import compile_file, compile_text
from flowc.compile.catalog import ELEMENTS, RESPONSE_CHILDREN, SPEAK_SSML_CHILDREN, SSML_TAGS
from flowc.compile.compiler import MAX_DOCUMENT_BYTES, CompileResult
from flowc.compile.params import REQUEST_PARAMETERS
from flowc.compile.templates import TemplateRenderError
from flowc.model import CompiledFlow, Element, Template
from flowc.plugins import load_plugins

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "flows").glob("*.yaml"))
SOURCES = {p.name: p.read_text(encoding="utf-8") for p in EXAMPLES}
TREES = {name: yaml.safe_load(text) for name, text in SOURCES.items()}
HOST = load_plugins()
BASE = "https://voice.example.com"
FLOWC = [sys.executable, "-m", "flowc"]
FUZZ = settings(max_examples=300, deadline=5000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ODD_SCALARS: list[Any] = [
    None, True, False, 0, -1, 2**63, 1e308, float("inf"), "", " ", "yes", "no", "on", "0x1F",
    "~", "null", "#", "#nope", "#answer", "{{", "{{ nope }}", "{% if %}", "<b>", "&", "\x00",
    "\u202e", "é" * 3, "a" * 5000, "wss://", "ws://h/x", "http://h/x", [], {}, [None], {"": 1},
    {"Speak": "x"}, [{"Hangup": {}}], "audio/x-l16;rate=16000", "inbound", "both",
]


# ------------------------------------------------------------------ tree mutations


def _containers(node: Any, out: list[Any]) -> list[Any]:
    if isinstance(node, dict | list):
        out.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            _containers(child, out)
    return out


def _keys(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        out.update(str(k) for k in node)
        for child in node.values():
            _keys(child, out)
    elif isinstance(node, list):
        for child in node:
            _keys(child, out)
    return out


ALL_KEYS = sorted(set().union(*(_keys(t, set()) for t in TREES.values())))

MUTATIONS = ("delete", "duplicate", "retype", "swap", "odd", "rename", "wrap", "move")


@st.composite
def mutated_trees(draw: st.DrawFn) -> Any:
    """An example flow's tree with one to four structural mutations."""
    tree = copy.deepcopy(TREES[draw(st.sampled_from(sorted(TREES)))])
    for _ in range(draw(st.integers(1, 4))):
        containers = _containers(tree, [])
        node = containers[draw(st.integers(0, len(containers) - 1))]
        if not node:
            continue
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        kind = draw(st.sampled_from(MUTATIONS))
        if kind == "delete":
            del node[key]
        elif kind == "duplicate":
            if isinstance(node, list):
                node.insert(key, copy.deepcopy(node[key]))
            else:
                node[f"{key}"] = copy.deepcopy(node[key])
                node[draw(st.sampled_from(ALL_KEYS))] = copy.deepcopy(node[key])
        elif kind == "retype":
            value = node[key]
            node[key] = ([value] if not isinstance(value, list) else
                         {"x": value} if draw(st.booleans()) else str(value))
        elif kind == "swap":
            other = containers[draw(st.integers(0, len(containers) - 1))]
            if other and other is not node:
                other_keys = list(other) if isinstance(other, dict) else list(range(len(other)))
                okey = draw(st.sampled_from(other_keys))
                node[key], other[okey] = copy.deepcopy(other[okey]), copy.deepcopy(node[key])
        elif kind == "odd":
            node[key] = draw(st.sampled_from(ODD_SCALARS))
        elif kind == "rename" and isinstance(node, dict):
            node[draw(st.sampled_from(ALL_KEYS))] = node.pop(key)
        elif kind == "wrap":
            node[key] = [node[key]] if draw(st.booleans()) else {"steps": node[key]}
        elif kind == "move" and isinstance(node, list) and len(node) > 1:
            node.insert(0, node.pop(key))
    return tree


def dump(tree: Any) -> str:
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, width=10_000)


# ------------------------------------------------------------------ the checks


def _attr_ok(spec: Any, value: str) -> bool:
    if spec.type == "boolean":
        return value in ("true", "false")
    if spec.type in ("integer", "number"):
        try:
            number = float(value)
        except ValueError:
            return False
        if spec.type == "integer" and not re.fullmatch(r"-?\d+", value):
            return False
        return ((spec.minimum is None or number >= spec.minimum)
                and (spec.maximum is None or number <= spec.maximum))
    if spec.type == "url":
        return bool(re.match(r"https?://\S+$", value)) or value in spec.enum
    if spec.enum and not spec.case_insensitive and value not in spec.enum:
        return False
    if spec.max_bytes is not None and len(value.encode()) > spec.max_bytes:
        return False
    return spec.pattern is None or re.fullmatch(spec.pattern, value) is not None


CONTEXT = {"From": "+14155550100", "Digits": "1"}


_JINJA = Environment()


def per_request(value: object) -> bool:
    """True for a template that reads a request parameter (its value is the caller's); a
    template of constants renders the same every time and must pass the literal's rules."""
    if not isinstance(value, Template):
        return False
    names = meta.find_undeclared_variables(_JINJA.parse(value.source))
    return any(name in REQUEST_PARAMETERS for name in names)


def check_element(element: ET.Element, model: Element | None, allowed: tuple[str, ...],
                  where: str) -> None:
    """The element, its attributes and its children follow the catalog. Values a template
    produced per request (``model`` tells which) are only checked for well-formedness:
    request data is the caller's, not the flow's."""
    assert element.tag in allowed, f"{where}: <{element.tag}> not allowed here"
    spec = ELEMENTS.get(element.tag) or SSML_TAGS[element.tag]
    templated = {name for name, value in model.attributes
                 if per_request(value)} if model is not None else set()
    for name, value in element.attrib.items():
        attr = spec.attribute(name)
        assert attr is not None, f"{where}: unknown attribute {element.tag}@{name}"
        assert name in templated or _attr_ok(attr, value), (
            f"{where}: {element.tag}@{name}={value!r}")
    for attr in spec.attributes:
        assert not attr.required or attr.name in element.attrib, (
            f"{where}: {element.tag} lacks {attr.name}")
    if element.tag == "Stream":
        if element.get("bidirectional") == "true":
            assert element.get("audioTrack", "inbound") == "inbound", where
        if element.get("noiseCancellationLevel") is not None:
            assert element.get("noiseCancellation") == "true", where
    text_templated = model is not None and per_request(model.text)
    if spec.content_pattern is not None and (element.text or "").strip() and not text_templated:
        assert re.fullmatch(spec.content_pattern, element.text or ""), where
    children = SPEAK_SSML_CHILDREN if element.tag == "Speak" else spec.children
    models: list[Element | None] = [None] * len(element)
    if model is not None:
        models = [c for c in model.children
                  if c.condition is None or c.condition.evaluate(CONTEXT)]
        assert len(models) == len(element), where
    for child, child_model in zip(element, models, strict=True):
        check_element(child, child_model, children, f"{where}/{element.tag}")


def check_accepted(flow: CompiledFlow) -> None:
    """Every document renders (or refuses with a template error) to valid Plivo XML."""
    for name, document in flow.documents.items():
        try:
            xml = document.render(CONTEXT, BASE, pretty=False)
        except TemplateRenderError:
            continue  # a request-time template error is a clean, positioned refusal
        assert len(xml.encode()) <= MAX_DOCUMENT_BYTES, name
        root = ET.fromstring(xml)
        assert root.tag == "Response", name
        tops = [c for c in document.root.children
                if c.condition is None or c.condition.evaluate(CONTEXT)]
        assert len(tops) == len(root), name
        for child, model in zip(root, tops, strict=True):
            check_element(child, model, RESPONSE_CHILDREN, name)


def check_result(result: CompileResult) -> None:
    assert all(d.code != "internal" for d in result.diagnostics), [
        d.headline() for d in result.diagnostics]
    errors = [d for d in result.diagnostics if d.is_error]
    assert (result.flow is None) == bool(errors)
    for d in result.diagnostics:
        assert d.line >= 1 and d.col >= 1 and d.message and d.code
    if result.flow is not None:
        check_accepted(result.flow)


def compile_source(text: str) -> CompileResult:
    return compile_text(text, filename="mutant.yaml", host=HOST)


# ------------------------------------------------------------------ the corpus


def test_every_example_passes_the_checks() -> None:
    """The checker accepts the valid examples, so its refusals below mean something."""
    for name, text in SOURCES.items():
        result = compile_source(text)
        assert result.flow is not None, name
        check_accepted(result.flow)


def test_the_checker_refuses_invalid_xml() -> None:
    bad = ET.fromstring('<Response><Stream bidirectional="true" audioTrack="both">'
                        "wss://h/x</Stream></Response>")
    with pytest.raises(AssertionError):
        check_element(bad[0], None, RESPONSE_CHILDREN, "answer")
    with pytest.raises(AssertionError):
        check_element(ET.fromstring('<Wait length="-3"/>'), None, RESPONSE_CHILDREN, "answer")


@FUZZ
@given(mutated_trees())
def test_structurally_mutated_flows(tree: Any) -> None:
    check_result(compile_source(dump(tree)))


@FUZZ
@given(st.sampled_from(sorted(SOURCES)), st.floats(0, 1))
def test_truncated_flows(name: str, fraction: float) -> None:
    text = SOURCES[name]
    check_result(compile_source(text[: int(len(text) * fraction)]))


@settings(FUZZ, max_examples=80)
@given(st.sampled_from(sorted(SOURCES)), st.integers(0), st.binary(min_size=1, max_size=16))
def test_random_bytes_in_flows(tmp_path_factory: pytest.TempPathFactory, name: str, at: int,
                               junk: bytes) -> None:
    raw = SOURCES[name].encode()
    at %= len(raw) + 1
    path = tmp_path_factory.mktemp("bytes", numbered=True) / "mutant.yaml"
    path.write_bytes(raw[:at] + junk + raw[at:])
    check_result(compile_file(path, host=HOST))


# ------------------------------------------------------------------ the CLI


def _mutants(count: int) -> Iterator[str]:
    """A fixed handful of refused mutants for the CLI (found with the same strategy)."""
    found = 0

    @settings(FUZZ, max_examples=200)
    @given(mutated_trees())
    def collect(tree: Any) -> None:
        nonlocal found
        text = dump(tree)
        if found < count and compile_source(text).flow is None:
            found += 1
            texts.append(text)

    texts: list[str] = []
    collect()
    yield from texts


def run_cli(*args: str, within: float = 30.0) -> subprocess.CompletedProcess[str]:
    """``flowc ARGS`` as a process; ``within`` bounds a hang (not a timing assertion)."""
    return subprocess.run([*FLOWC, *args], capture_output=True, text=True, timeout=within,
                          cwd=ROOT)


def assert_clean_refusal(proc: subprocess.CompletedProcess[str], code: str | None = None) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    report = proc.stdout + proc.stderr  # validate reports on stdout, build on stderr
    assert re.search(r"^\S+:\d+:\d+: error: .+ \[[a-z-]+\.[a-z-]+\]$", report,
                     re.MULTILINE), report
    if code is not None:
        assert f"[{code}]" in report, report


def test_refused_mutants_through_the_cli(tmp_path: Path) -> None:
    paths = []
    for i, text in enumerate(_mutants(4)):
        path = tmp_path / f"mutant{i}.yaml"
        path.write_text(text)
        paths.append(path)
    assert len(paths) == 4
    for path in paths:
        assert_clean_refusal(run_cli("validate", str(path)))
        build = run_cli("build", str(path))
        assert_clean_refusal(build)
        assert "<Response" not in build.stdout
    # one process, every file: every one of them is reported
    together = run_cli("validate", "--format", "json", *map(str, paths))
    assert together.returncode == 2 and "Traceback" not in together.stderr
    report = json.loads(together.stdout)
    assert report, together.stdout


def test_random_bytes_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"flow: x\ndocuments:\n  answer:\n    - Speak: \xff\xfe\x00\x81\n")
    assert_clean_refusal(run_cli("validate", str(path)))


# ------------------------------------------------------------------ bombs and giants

BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n"
    for i in range(8)) + "documents: {answer: [{Speak: *i}]}\n"


def _deep(depth: int) -> str:
    return "documents: {answer: [{Speak: " + "[" * depth + "x" + "]" * depth + "}]}\n"


def _deep_block(depth: int) -> str:
    lines = ["documents:", "  answer:"]
    lines += [" " * (2 * i + 4) + f"k{i}:" for i in range(depth)]
    return "\n".join(lines) + " x\n"


def _huge() -> str:
    speak = "    - Speak: " + "hello " * 100 + "\n"
    return "documents:\n  answer:\n" + speak * (2 * 1024 * 1024 // len(speak))


@pytest.mark.parametrize(("name", "source", "code"), [
    ("billion-laughs", BILLION_LAUGHS, "yaml.too-complex"),
    ("deep-flow", _deep(5000), "yaml.too-deep"),
    ("deep-block", _deep_block(200), "yaml.too-deep"),
    ("huge", _huge(), "yaml.too-large"),
])
def test_bombs_and_giants_are_refused_with_a_clear_error(
        tmp_path: Path, name: str, source: str, code: str) -> None:
    result = compile_source(source)
    assert result.flow is None
    assert code in {d.code for d in result.diagnostics}
    path = tmp_path / f"{name}.yaml"
    path.write_text(source)
    # a bound on waiting (the CLI must not expand the bomb), not a timing assertion
    proc = run_cli("validate", str(path), within=20)
    assert_clean_refusal(proc, code)



def test_a_template_of_constant_vars_is_checked_like_a_literal() -> None:
    """``Number: "{{ n }}"`` with ``vars: {n: abc}`` renders ``<Number>abc</Number>`` on
    every request, which Plivo refuses; the literal ``Number: abc`` is a compile error."""
    result = compile_source('vars: {n: abc}\ndocuments:\n  answer:\n'
                            '    - Dial:\n        steps:\n          - Number: "{{ n }}"\n')
    assert result.flow is None
