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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, values, max_size=4))
def test_agrees_on_random_documents(data: dict[str, Any]) -> None:
    assert_agree(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(keys, values, max_size=2), max_size=3))
def test_agrees_on_random_steps(steps: list[Any]) -> None:
    assert_agree({"documents": {"answer": steps}})
    assert_agree(json.loads(json.dumps({"documents": {"answer": steps}})))


def test_refuses_unknown_keywords() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        list(Validator({"anyOf": [{"type": "string"}]}).iter_errors(1))


def _processor_schemas() -> list[tuple[str, Any]]:
    import logging

    from flowc.plugins import load_plugins
    from tests.compile.conftest import make_host

    logging.getLogger("flowc.plugins").setLevel(logging.CRITICAL)
    found = {f"test:{n}": s.settings_schema for n, s in make_host().processors.items()}
    found.update({n: s.settings_schema for n, s in load_plugins().processors.items()})
    return sorted(found.items())


PROCESSOR_SCHEMAS = _processor_schemas()


def _settings_for(schema: Any) -> Any:
    names = [*sorted(schema.get("properties", {})), "zz"]
    leaf = st.one_of(scalars, st.lists(scalars, max_size=3))
    return st.dictionaries(st.sampled_from(names), st.one_of(
        leaf, st.dictionaries(st.sampled_from(names), leaf, max_size=2)), max_size=4)


@pytest.mark.parametrize(("name", "schema"), PROCESSOR_SCHEMAS,
                         ids=[n for n, _ in PROCESSOR_SCHEMAS])
def test_agrees_on_processor_settings(name: str, schema: Any) -> None:
    from flowc.compile.minischema import supports

    if not supports(schema):
        pytest.skip(f"{name} uses keywords only jsonschema implements")
    mini, full = Validator(schema), Draft202012Validator(schema)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_settings_for(schema))
    def check(data: dict[str, Any]) -> None:
        assert summary(mini.iter_errors(data)) == summary(full.iter_errors(data))

    check()
    defaults = {k: v["default"] for k, v in schema.get("properties", {}).items()
                if isinstance(v, dict) and "default" in v}
    assert summary(mini.iter_errors(defaults)) == summary(full.iter_errors(defaults))
