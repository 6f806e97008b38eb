"""Run the JSON Schema over loaded data and turn its errors into diagnostics.

Each :class:`jsonschema.ValidationError` carries the path of the failing value; the
loader's position tree maps that path to ``line:col``. Messages are rewritten to name
the attribute and, for unknown keys, suggest the closest known one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flowc.compile.catalog import ELEMENTS
from flowc.compile.diagnostics import Sink, did_you_mean
from flowc.compile.loader import Path, Positions

_TYPE_NAMES = {
    "string": "a string", "integer": "an integer", "number": "a number",
    "boolean": "a boolean (true or false)", "object": "a mapping", "array": "a list",
    "null": "empty",
}

_validators: dict[int, tuple[Mapping[str, Any], Any]] = {}


def validator_for(schema: Mapping[str, Any]) -> Any:
    """A cached ``jsonschema`` Draft 2020-12 validator for ``schema``."""
    cached = _validators.get(id(schema))
    if cached is None or cached[0] is not schema:
        from jsonschema import Draft202012Validator

        cached = (schema, Draft202012Validator(schema))
        _validators[id(schema)] = cached
    return cached[1]


def describe(path: Sequence[Any]) -> str:
    """``documents.answer[2].Stream.audioTrack``."""
    out = ""
    for item in path:
        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out or "the flow"


def type_name(value: Any) -> str:
    """A YAML-ish name of a value's type."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def check(
    data: Any,
    schema: Mapping[str, Any],
    positions: Positions,
    sink: Sink,
    *,
    prefix: Path = (),
) -> set[Path]:
    """Validate ``data``; report each error; return the paths that failed."""
    failed: set[Path] = set()
    errors = list(validator_for(schema).iter_errors(data))
    empty = {tuple(e.absolute_path) for e in errors if e.validator == "minLength"}
    for error in errors:
        if tuple(error.absolute_path) in empty and error.validator != "minLength":
            continue  # "must not be empty" says it all
        for path in _report(error, positions, sink, prefix):
            failed.add(path)
    return failed


def _label(path: Sequence[Any]) -> str:
    """The last mapping key in ``path`` (an attribute or verb name)."""
    for item in reversed(path):
        if isinstance(item, str):
            return item
    return describe(path)


def _report(error: Any, positions: Positions, sink: Sink, prefix: Path) -> Iterable[Path]:
    path: Path = prefix + tuple(error.absolute_path)
    keyword = error.validator
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    instance = error.instance
    label = _label(path)
    line, col, end = positions.value(path)

    if keyword == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extras = [k for k in instance if k not in allowed] if isinstance(instance, dict) else []
        for key in extras:
            kline, kcol, kend = positions.key((*path, key))
            code, message = "schema.unknown-key", f"unknown key {key!r}"
            step_context = schema.get("x-flowc-step")
            element = schema.get("x-flowc-element")
            verbs = [k for k in instance if k in ELEMENTS]
            owner = ELEMENTS[verbs[0]] if step_context is not None and len(verbs) == 1 else None
            if owner is not None and key not in ELEMENTS and (
                    owner.attribute(key) is not None
                    or key in ("text", "steps", "ssml", "name", "pipeline")):
                code = "step.misindented"
                message = (f"{key!r} belongs to {owner.name}: indent it under `{owner.name}:`"
                           + (" and give the text as `text:`" if isinstance(
                               instance[owner.name], str | int | float) else ""))
            elif step_context is not None:
                if key in ELEMENTS:
                    code = "schema.nesting"
                    message = (f"{key} is not allowed in {step_context}; allowed: "
                               + ", ".join(v for v in allowed if v != "if"))
                else:
                    message = f"unknown verb {key!r}" + did_you_mean(key, allowed)
            elif element is not None:
                message = f"unknown {element} attribute {key!r}" + did_you_mean(key, allowed)
                if key == "if":
                    message += " (`if` goes beside the verb key, not inside it)"
            elif schema.get("x-flowc-pipeline-step"):
                code = "pipeline.unknown-processor"
                message = f"unknown processor {key!r}" + did_you_mean(key, allowed)
            else:
                message += did_you_mean(key, allowed)
            sink.add(kline, kcol, message, code, end_col=kend)
            yield (*path, key)
        return

    if "propertyNames" in error.schema_path:
        # jsonschema reports the bad key as the instance, at the owning mapping's path.
        key = instance if isinstance(instance, str) else str(instance)
        kline, kcol, kend = positions.key((*path, key))
        what = {"documents": "document name", "vars": "variable name"}.get(label, "name")
        rule = ("letters, digits and '_', starting with a letter" if what == "variable name"
                else "lower-case letters, digits and '-'")
        sink.add(kline, kcol, f"invalid {what} {key!r}: use {rule}"
                 + (" ('streams' and 'stream-status' are reserved)"
                    if what == "document name" else ""), "schema.name", end_col=kend)
        yield (*path, key)
        return

    custom_code = schema.get("x-flowc-code")
    if custom_code is not None and keyword in ("pattern", "type", "enum"):
        shown = instance if isinstance(instance, str) else type_name(instance)
        sink.add(line, col, f"{label}: {shown!r} {schema.get('x-flowc-message', 'is invalid')}"
                 if isinstance(instance, str) else f"{label}: {shown} "
                 f"{schema.get('x-flowc-message', 'is invalid')}", custom_code, end_col=end)
        yield path
        return

    if keyword == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names if n != "null")
        scalar_of = schema.get("x-flowc-scalar")
        if scalar_of is not None:
            message = (f"{scalar_of} needs its text: write `{scalar_of}: ...` with a value or "
                       f"a mapping, not {type_name(instance)}")
        elif schema.get("x-flowc-element") is not None and "required" in schema:
            element = schema["x-flowc-element"]
            found = "nothing" if instance is None else type_name(instance)
            message = (f"{element} needs a mapping with " + ", ".join(schema["required"])
                       + f"; found {found}")
        elif schema.get("x-flowc-step") is not None and isinstance(instance, str):
            message = f"a step is a mapping with one verb key: write `- {instance}: ...`"
        else:
            message = f"{label} must be {wanted}, not {type_name(instance)}"
            if isinstance(instance, str) and instance.lower() in ("true", "false") and \
                    "boolean" in names:
                message += f" (write {instance.lower()} without quotes)"
            elif isinstance(instance, str):
                message += f" {instance!r}"
        sink.add(line, col, message, "schema.type", end_col=end)
    elif keyword in ("enum", "const"):
        options = error.validator_value if keyword == "enum" else [error.validator_value]
        choices = [_as_yaml(option) for option in options]
        message = f"{label}: {instance!r} is not one of " + ", ".join(choices)
        if isinstance(instance, str):
            unquoted = next((text for option, text in zip(options, choices, strict=True)
                             if not isinstance(option, str) and text == instance.strip()), None)
            message += (f" (write {unquoted} without quotes)" if unquoted is not None
                        else did_you_mean(instance, choices))
        sink.add(line, col, message, "schema.enum", end_col=end)
    elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = error.validator_value
        relation = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">",
                    "exclusiveMaximum": "<"}[keyword]
        sink.add(line, col, f"{label} must be {relation} {bound} (got {instance})",
                 "schema.range", end_col=end)
    elif keyword == "required":
        missing = [k for k in error.validator_value if k not in instance]
        needed_by = str(schema.get("x-flowc-element") or describe(path))
        line, col, end = positions.key(path)
        for key in missing:
            sink.add(line, col, f"{needed_by} needs {key!r}", "schema.required", end_col=end)
    elif keyword == "pattern":
        sink.add(line, col, f"{label}: {instance!r} does not match {error.validator_value}",
                 "schema.pattern", end_col=end)
    elif keyword in ("minProperties", "maxProperties") and schema.get("x-flowc-step") is None \
            and "x-flowc-pipeline-step" not in schema and isinstance(instance, dict):
        sink.add(line, col, f"{label}: {error.message}", "schema.invalid", end_col=end)
    elif keyword in ("minProperties", "maxProperties") and isinstance(instance, dict):
        kind = "processor" if "x-flowc-pipeline-step" in schema else "verb"
        verbs = [k for k in instance if k != "if"]
        if kind == "verb":
            known = [k for k in verbs if k in ELEMENTS]
            if verbs and len(known) <= 1:
                return  # the other keys are reported as unknown or misindented
            verbs = known or verbs
        if verbs:
            message = (f"a step holds exactly one {kind}; found " + ", ".join(verbs)
                       + ("; start another `- ` item" if len(verbs) > 1 else ""))
        else:
            message = f"this step has no {kind}"
        sink.add(line, col, message, "step.verb-count", end_col=end)
    elif keyword in ("minItems", "maxItems", "uniqueItems", "const"):
        sink.add(line, col, f"{label}: {error.message}", "schema.invalid", end_col=end)
    elif keyword == "minLength":
        sub = path[-2] if len(path) > 1 and path[-1] == "text" else label
        sink.add(line, col, f"{sub} text must not be empty", "schema.empty", end_col=end)
    elif keyword == "maxLength":
        sink.add(line, col, f"{label} is longer than {error.validator_value} characters",
                 "schema.max-length", end_col=end)
    else:
        sink.add(line, col, f"{describe(path)}: {error.message}", "schema.invalid", end_col=end)
    yield path


def _as_yaml(value: Any) -> str:
    """A schema value as the flow's author writes it (``null``, ``true``, ``8000``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
