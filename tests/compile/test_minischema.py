"""flowc's small validator agrees with ``jsonschema`` on flowc's own schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from flowc.compile.catalog import ELEMENTS
from flowc.compile.diagnostics import Sink
from flowc.compile.loader import load
from flowc.compile.minischema import Validator
from flowc.compile.schema import base_schema

SCHEMA = base_schema()
MINI = Validator(SCHEMA)
FULL = Draft202012Validator(SCHEMA)
ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*(ROOT / "examples" / "flows").glob("*.yaml"),
                *(ROOT / "tests" / "fixtures" / "invalid").glob("*.yaml")])


def summary(errors: Any) -> set[tuple[Any, ...]]:
    return {(tuple(e.absolute_path), e.validator, "propertyNames" in tuple(e.schema_path),
             repr(e.instance)) for e in errors}


def assert_agree(data: Any) -> None:
    assert summary(MINI.iter_errors(data)) == summary(FULL.iter_errors(data))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_agrees_on_files(path: Path) -> None:
    loaded = load(path.read_text(encoding="utf-8"), Sink(str(path)))
    if loaded.data is not None:
        assert_agree(loaded.data)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 100_000), st.floats(-1, 10),
                    st.text(max_size=6), st.sampled_from(
                        ["#answer", "https://h/x", "wss://h", "inbound", "both", "GET",
                         "audio/x-l16;rate=16000", "answer", "Bad Name", "{{ x }}"]))
keys = st.sampled_from([*ELEMENTS, "if", "text", "steps", "ssml", "name", "pipeline", "answer",
                        "audioTrack", "bidirectional", "loop", "action", "inputType", "role",
                        "contentType", "streamTimeout", "documents", "vars", "flow", "zz"])
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)), max_leaves=15)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, values, max_size=4))
def test_agrees_on_random_documents(data: dict[str, Any]) -> None:
    assert_agree(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(keys, values, max_size=2), max_size=3))
def test_agrees_on_random_steps(steps: list[Any]) -> None:
    assert_agree({"documents": {"answer": steps}})
    assert_agree(json.loads(json.dumps({"documents": {"answer": steps}})))


def test_refuses_unknown_keywords() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        list(Validator({"anyOf": [{"type": "string"}]}).iter_errors(1))
