"""A small JSON Schema (2020-12) validator for the keywords flowc's own schema uses.

``jsonschema`` takes ~40 ms to import, a fifth of ``flowc build``'s start-up, so the
base schema (:mod:`flowc.compile.schema`) is checked here instead. Errors mirror
``jsonschema.ValidationError``'s attributes that :mod:`flowc.compile.schemacheck`
reads. Plugin settings schemas, which may use any keyword, still go to ``jsonschema``.
A test runs both validators over every fixture and random documents and compares.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

SUPPORTED = frozenset({
    "$ref", "type", "enum", "const", "pattern", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "required", "properties",
    "additionalProperties", "propertyNames", "minProperties", "maxProperties", "items",
    "minItems", "maxItems", "uniqueItems", "if", "then", "else", "allOf",
    # annotations (``format`` too: jsonschema does not assert it without a format checker)
    "$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples",
    "format", "deprecated", "readOnly", "writeOnly",
})
_SUBSCHEMA_MAPS = ("properties", "$defs")
_SUBSCHEMAS = ("additionalProperties", "propertyNames", "items", "if", "then", "else")


def supports(schema: Any) -> bool:
    """True if every keyword in ``schema`` is one this validator implements."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, Mapping):
        return False
    for keyword, value in schema.items():
        if keyword not in SUPPORTED and not keyword.startswith("x-flowc-"):
            return False
        if keyword == "$ref" and not (isinstance(value, str) and value.startswith("#/")):
            return False
        if keyword in _SUBSCHEMA_MAPS and not all(supports(v) for v in value.values()):
            return False
        if keyword in _SUBSCHEMAS and not supports(value):
            return False
        if keyword == "allOf" and not all(supports(v) for v in value):
            return False
    return True


@dataclass
class Error:
    """One failed keyword: the parts of ``jsonschema.ValidationError`` flowc uses."""

    validator: str
    validator_value: Any
    instance: Any
    schema: Mapping[str, Any]
    absolute_path: tuple[Any, ...]
    schema_path: tuple[Any, ...]
    message: str


def _is_type(instance: Any, name: str) -> bool:
    if name == "object":
        return isinstance(instance, dict)
    if name == "array":
        return isinstance(instance, list)
    if name == "string":
        return isinstance(instance, str)
    if name == "boolean":
        return isinstance(instance, bool)
    if name == "null":
        return instance is None
    if isinstance(instance, bool):
        return False
    if name == "integer":
        return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())
    if name == "number":
        return isinstance(instance, int | float)
    raise ValueError(f"unknown JSON Schema type {name!r}")


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers; containers compare item by item."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    return bool(a == b)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class Validator:
    """Validates instances against one root schema (local ``$ref`` only)."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, ref: str) -> Mapping[str, Any]:
        """The subschema a local ``$ref`` (``#/$defs/x``) points at."""
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node  # type: ignore[no-any-return]

    def iter_errors(self, instance: Any) -> Iterator[Error]:
        """Every error, like ``jsonschema``'s ``iter_errors``."""
        yield from self._errors(instance, self.root, (), ())

    def is_valid(self, instance: Any, schema: Mapping[str, Any]) -> bool:
        """True if ``instance`` matches ``schema`` (a part of the root schema)."""
        return next(self._errors(instance, schema, (), ()), None) is None

    def _errors(self, instance: Any, schema: Mapping[str, Any] | bool, path: tuple[Any, ...],
                spath: tuple[Any, ...]) -> Iterator[Error]:
        if schema is True:
            return
        if schema is False:
            yield Error("false", False, instance, {}, path, spath, "False schema")
            return
        assert isinstance(schema, Mapping)

        def error(keyword: str, message: str) -> Error:
            return Error(keyword, schema[keyword], instance, schema, path, (*spath, keyword),
                         message)

        for keyword, value in schema.items():
            if keyword == "$ref":
                yield from self._errors(instance, self.resolve(value), path, (*spath, keyword))
            elif keyword == "type":
                names = [value] if isinstance(value, str) else value
                if not any(_is_type(instance, n) for n in names):
                    yield error(keyword, f"{instance!r} is not of type {value!r}")
            elif keyword == "enum":
                if not any(_equal(instance, option) for option in value):
                    yield error(keyword, f"{instance!r} is not one of {value!r}")
            elif keyword == "pattern":
                if isinstance(instance, str) and not _regex(value).search(instance):
                    yield error(keyword, f"{instance!r} does not match {value!r}")
            elif keyword == "const":
                if not _equal(instance, value):
                    yield error(keyword, f"{value!r} was expected")
            elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if isinstance(instance, int | float) and not isinstance(instance, bool) and {
                    "minimum": instance < value, "maximum": instance > value,
                    "exclusiveMinimum": instance <= value, "exclusiveMaximum": instance >= value,
                }[keyword]:
                    yield error(keyword, f"{instance!r} is out of range")
            elif keyword in ("minItems", "maxItems"):
                if isinstance(instance, list) and (
                        len(instance) < value if keyword == "minItems" else len(instance) > value):
                    bound = "at least" if keyword == "minItems" else "at most"
                    yield error(keyword, f"expected {bound} {value} items")
            elif keyword == "uniqueItems":
                if value and isinstance(instance, list) and any(
                        _equal(a, b) for i, a in enumerate(instance) for b in instance[i + 1:]):
                    yield error(keyword, "has duplicate items")
            elif keyword == "allOf":
                for index, subschema in enumerate(value):
                    yield from self._errors(instance, subschema, path, (*spath, keyword, index))
            elif keyword in ("minLength", "maxLength"):
                if isinstance(instance, str) and (
                        len(instance) < value if keyword == "minLength" else len(instance) > value):
                    yield error(keyword, f"{instance!r} has the wrong length")
            elif isinstance(instance, dict) and keyword in (
                    "required", "properties", "additionalProperties", "propertyNames",
                    "minProperties", "maxProperties"):
                yield from self._object(keyword, value, instance, schema, path, spath, error)
            elif keyword == "items":
                if isinstance(instance, list):
                    for index, item in enumerate(instance):
                        yield from self._errors(item, value, (*path, index), (*spath, keyword))
            elif keyword == "if":
                branch = "then" if self.is_valid(instance, value) else "else"
                if branch in schema:
                    yield from self._errors(instance, schema[branch], path, (*spath, branch))
            elif keyword not in SUPPORTED and not keyword.startswith("x-flowc-"):
                raise ValueError(f"unsupported JSON Schema keyword {keyword!r}")

    def _object(self, keyword: str, value: Any, instance: dict[str, Any],
                schema: Mapping[str, Any], path: tuple[Any, ...], spath: tuple[Any, ...],
                error: Any) -> Iterator[Error]:
        if keyword == "required":
            for name in value:
                if name not in instance:
                    yield error(keyword, f"{name!r} is a required property")
        elif keyword == "properties":
            for name, subschema in value.items():
                if name in instance:
                    yield from self._errors(instance[name], subschema, (*path, name),
                                            (*spath, keyword, name))
        elif keyword == "additionalProperties":
            known = schema.get("properties", {})
            extras = [k for k in instance if k not in known]
            if value is False:
                if extras:
                    yield error(keyword, "Additional properties are not allowed")
            else:
                for name in extras:
                    yield from self._errors(instance[name], value, (*path, name),
                                            (*spath, keyword))
        elif keyword == "propertyNames":
            for name in instance:
                yield from self._errors(name, value, path, (*spath, keyword))
        elif keyword == "minProperties":
            if len(instance) < value:
                yield error(keyword, f"{instance!r} has too few properties")
        elif len(instance) > value:
            yield error(keyword, f"{instance!r} has too many properties")
