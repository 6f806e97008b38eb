"""Hostile and random input never crashes the compiler (no exception, no ``internal``)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowc.compile import compile_text
from flowc.compile.catalog import ELEMENTS
from tests.compile.conftest import make_host

HOST = make_host()
ROOT = Path(__file__).resolve().parents[2]
SEEDS = [p.read_text(encoding="utf-8") for p in sorted(
    [*(ROOT / "examples" / "flows").glob("*.yaml"),
     *(ROOT / "tests" / "fixtures" / "invalid").glob("*.yaml")]) if p.stat().st_size < 5000]


def assert_survives(text: str) -> None:
    result = compile_text(text, filename="fuzz.yaml", host=HOST)
    assert all(d.code != "internal" for d in result.diagnostics), [
        d.headline() for d in result.diagnostics]
    assert (result.flow is None) == any(d.is_error for d in result.diagnostics)
    for d in result.diagnostics:
        assert d.line >= 1 and d.col >= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    assert_survives(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.integers(min_value=0), st.integers(min_value=0, max_value=40),
       st.text(alphabet=" \n\t-:{}[]\"'#&*!|>%@`yesno0123ABC", max_size=8))
def test_mutated_flows(seed: str, at: int, cut: int, insert: str) -> None:
    at %= len(seed) + 1
    assert_survives(seed[:at] + insert + seed[at + cut:])


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=20),
                    st.sampled_from(["#answer", "#nope", "{{ From }}", "{{ x", "yes",
                                     "wss://h/x", "https://h/x", "audio/x-l16;rate=16000"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from([*ELEMENTS, "text", "steps", "if", "pipeline", "name",
                                     "bidirectional", "audioTrack", "action", "agent"]),
                    inner, max_size=3)), max_leaves=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from([*ELEMENTS, "if"]), values, max_size=2),
                max_size=4))
def test_structured_documents(steps: list[dict[str, object]]) -> None:
    import json

    assert_survives(json.dumps({"documents": {"answer": steps}}))
