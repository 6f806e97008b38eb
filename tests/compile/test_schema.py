"""The generated JSON Schema: committed copies, validity, and agreement with the compiler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from flowc.compile.catalog import ELEMENTS, RESPONSE_CHILDREN
from flowc.compile.diagnostics import Sink
from flowc.compile.loader import load
from flowc.compile.schema import base_schema, dumps, packaged_schema_path, with_processors
from tests.compile.conftest import make_host

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "flows").glob("*.yaml"))


@pytest.mark.parametrize("path", [ROOT / "schemas" / "flow.schema.json", packaged_schema_path()],
                         ids=["schemas", "package"])
def test_committed_schema_equals_generated(path: Path) -> None:
    assert path.read_text(encoding="utf-8") == dumps(base_schema()), (
        "regenerate with: flowc schema -o schemas/flow.schema.json && "
        "flowc schema -o flowc/schemas/flow.schema.json")


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(base_schema())
    schema = with_processors(base_schema(), {n: s.settings_schema
                                             for n, s in make_host().processors.items()})
    Draft202012Validator.check_schema(schema)


def test_every_verb_and_attribute_is_in_the_schema() -> None:
    defs = base_schema()["$defs"]
    assert set(defs["step.Response"]["properties"]) == {"if", *RESPONSE_CHILDREN}
    for name, spec in ELEMENTS.items():
        verb = defs[f"verb.{name}"]
        mapping = verb.get("then", verb)
        assert {a.name for a in spec.attributes} <= set(mapping["properties"])


def test_steps_choose_their_schema_by_key_not_oneof() -> None:
    assert '"oneOf"' not in dumps(base_schema())


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_validate_against_the_plain_schema(path: Path) -> None:
    """Editors using only the JSON Schema accept every example."""
    loaded = load(path.read_text(encoding="utf-8"), Sink(str(path)))
    errors = list(Draft202012Validator(base_schema()).iter_errors(loaded.data))
    assert errors == []


def test_schema_command_output_is_the_schema() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "flowc", "schema"], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    assert json.loads(out.stdout) == base_schema()
