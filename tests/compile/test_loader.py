"""The YAML loader: positions, YAML 1.2 scalars, duplicates, and hostile input."""

from __future__ import annotations

import time

import pytest

from flowc.compile.diagnostics import Sink
from flowc.compile.loader import MAX_BYTES, MAX_DEPTH, Loaded, load, resolve_plain


def load_text(text: str) -> tuple[Loaded, list[tuple[int, int, str]]]:
    sink = Sink("t.yaml")
    loaded = load(text, sink)
    return loaded, [(d.line, d.col, d.code) for d in sink.items]


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("False", False), ("yes", "yes"), ("no", "no"), ("on", "on"),
    ("off", "off"), ("~", None), ("null", None), ("", None), ("12", 12), ("+12", 12),
    ("0o17", 15), ("0x1F", 31), ("1.5", 1.5), ("1e3", 1000.0), ("2026-11-28", "2026-11-28"),
    ("1_000", "1_000"), ("0777", 777), ("Yes", "Yes"),
])
def test_yaml_12_core_scalars(text: str, value: object) -> None:
    assert resolve_plain(text) == value
    assert type(resolve_plain(text)) is type(value)


def test_positions_of_keys_and_values() -> None:
    loaded, problems = load_text("a:\n  bb: [1, {c: x}]\n  dd: |\n    text\n")
    assert problems == []
    p = loaded.positions
    assert p.value(("a", "bb")) == (2, 7, 18)
    assert p.key(("a", "bb")) == (2, 3, 5)
    assert p.value(("a", "bb", 1, "c"))[:2] == (2, 15)
    assert p.key(("a", "bb", 1, "c"))[:2] == (2, 12)
    assert p.value(("a", "dd"))[:2] == (3, 7)
    assert p.value(("a", "missing", 3))[:2] == (2, 3)  # nearest ancestor: the mapping under a


def test_plain_scalars_keep_raw_text_and_bool_like_flag() -> None:
    loaded, _ = load_text("a: +0123\nb: yes\nc: 'yes'\n")
    assert loaded.data == {"a": 123, "b": "yes", "c": "yes"}
    a = loaded.positions.node(("a",))
    b = loaded.positions.node(("b",))
    c = loaded.positions.node(("c",))
    assert a is not None and a.raw == "+0123"
    assert b is not None and b.bool_like
    assert c is not None and not c.bool_like


def test_duplicate_keys_are_errors_with_the_first_line() -> None:
    sink = Sink("t.yaml")
    load("a: 1\nb: 2\na: 3\n", sink)
    assert [(d.line, d.col, d.code) for d in sink.items] == [(3, 1, "yaml.duplicate-key")]
    assert "line 1" in sink.items[0].message


def test_merge_keys_and_aliases() -> None:
    loaded, problems = load_text("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\ncopy: *b\n")
    assert problems == []
    assert loaded.data["use"] == {"y": 3, "x": 1}
    assert loaded.data["copy"] == {"x": 1, "y": 2}
    assert loaded.data["copy"] is not loaded.data["base"]
    assert loaded.positions.value(("use", "x"))[:2] == (1, 14)


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    start = time.perf_counter()
    loaded, problems = load_text("\n".join(lines) + "\n")
    elapsed = time.perf_counter() - start
    assert loaded.data is None
    assert [c for _, _, c in problems] == ["yaml.too-complex"]
    assert elapsed < 5  # generous: the point is that it terminates, not how fast


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
def test_deep_nesting_is_refused(depth: int) -> None:
    loaded, problems = load_text("[" * depth + "]" * depth)
    assert loaded.data is None
    assert [c for _, _, c in problems] == ["yaml.too-deep"]


def test_block_nesting_depth() -> None:
    levels = MAX_DEPTH + 2
    text = "".join("  " * i + f"k{i}:\n" for i in range(levels)) + "  " * levels + "v"
    _, problems = load_text(text)
    assert [c for _, _, c in problems] == ["yaml.too-deep"]


def test_huge_files_are_refused_before_parsing() -> None:
    loaded, problems = load_text("a: " + "x" * MAX_BYTES)
    assert loaded.data is None
    assert problems == [(1, 1, "yaml.too-large")]


@pytest.mark.parametrize(("text", "code"), [
    ("a: !!python/object/apply:os.system ['true']", "yaml.tag"),
    ("a: !custom x", "yaml.tag"),
    ("a: *nope", "yaml.undefined-alias"),
    ("a: &x [1, *x]", "yaml.recursive-alias"),
    ("a: 1\n---\nb: 2\n", "yaml.multiple-documents"),
    ("a: [1, 2", "yaml.syntax"),
    ("a:\tb: c\n\t- x", "yaml.syntax"),
    ("? [1, 2]\n: x\n", "yaml.key-type"),
    ("", "flow.empty"),
    ("# only a comment\n", "flow.empty"),
    ("a: \x07", "yaml.syntax"),
])
def test_bad_yaml_is_a_diagnostic(text: str, code: str) -> None:
    _, problems = load_text(text)
    assert code in [c for _, _, c in problems]


def test_explicit_str_tag_keeps_text() -> None:
    loaded, problems = load_text("a: !!str 0123\nb: !!int '7'\n")
    assert problems == []
    assert loaded.data == {"a": "0123", "b": 7}
