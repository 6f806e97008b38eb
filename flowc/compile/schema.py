"""The flow language's JSON Schema (draft 2020-12), generated from the catalog.

``schemas/flow.schema.json`` (and its copy inside the package) is this module's output;
a test asserts they are equal. A step's schema is chosen by its verb key through
``properties`` (one subschema per verb, ``additionalProperties: false``), never by a
bare ``oneOf``, so a validator's errors name the verb and attribute at fault.

Keys starting with ``x-flowc-`` are annotations the compiler reads to word its
diagnostics (ignored by other validators).

Pipeline processor settings are an extension point: the base schema accepts any
processor name with an object of settings; ``flowc validate`` checks each against the
``settings_schema`` its plugin registers (:func:`with_processors` adds them for editors).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowc.compile.catalog import ELEMENTS, RESPONSE_CHILDREN, AttributeSpec, ElementSpec

SCHEMA_ID = "https://flowc.dev/schemas/flow.schema.json"
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
DOCUMENT_NAME_PATTERN = r"^(?!streams$|stream-status$)[a-z0-9][a-z0-9-]*$"
VAR_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
TEMPLATE_ALT = r"|\{\{|\{%"
URL_PATTERN = r"^(#[a-z0-9][a-z0-9-]*|https?://[^\s/?#]+\S*)$|\{\{|\{%"
STREAM_DEFAULT_CONTENT_TYPE = "audio/x-mulaw;rate=8000"
"""What flowc emits when a Stream sets no ``contentType`` (Plivo's docs disagree)."""

FLOWC_STEP_KEYS = ("if",)
CONTENT_KEY = "text"
SSML_KEY = "ssml"
STEPS_KEY = "steps"


def _pattern(pattern: str) -> str:
    return f"^(?:{pattern})$"


def attribute_schema(attr: AttributeSpec) -> dict[str, Any]:
    """The schema of one attribute value."""
    schema: dict[str, Any] = {}
    if attr.description:
        schema["description"] = attr.description
    if attr.type == "boolean":
        schema["type"] = "boolean"
    elif attr.type in ("integer", "number"):
        schema["type"] = attr.type
        if attr.minimum is not None:
            schema["minimum"] = attr.minimum if attr.type == "number" else int(attr.minimum)
        if attr.maximum is not None:
            schema["maximum"] = attr.maximum if attr.type == "number" else int(attr.maximum)
    elif attr.type == "url":
        schema["type"] = "string"
        if attr.enum:
            extras = "|".join(_escape(e) for e in attr.enum)
            schema["pattern"] = URL_PATTERN + f"|^(?:{extras})$"
        else:
            schema["pattern"] = URL_PATTERN
        schema["x-flowc-code"] = "schema.url"
        schema["x-flowc-message"] = "is not an http(s) URL, a #document reference" + (
            ", " + ", ".join(repr(e) for e in attr.enum) if attr.enum else "") + " or a template"
    else:
        schema["type"] = "string"
        if attr.enum:
            schema["enum"] = list(attr.enum)
        elif attr.pattern is not None:
            schema["pattern"] = _pattern(attr.pattern) + TEMPLATE_ALT
    if attr.max_bytes is not None:
        schema["maxLength"] = attr.max_bytes
    if attr.default is not None:
        schema["default"] = (STREAM_DEFAULT_CONTENT_TYPE
                             if attr.name == "contentType" else attr.default)
    return schema


def _escape(text: str) -> str:
    return "".join("\\" + c if c in ".^$*+?()[]{}|\\" else c for c in text)


def _content_schema(spec: ElementSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if spec.content in ("url",) and spec.name != "Redirect":
        schema["description"] = "The URL (element text)."
    else:
        schema["description"] = "The element's text."
    if spec.name == "Stream":
        schema["pattern"] = "^wss?://\\S+$|\\{\\{|\\{%"
        schema["x-flowc-code"] = "stream.url-scheme"
        schema["x-flowc-message"] = "is not a ws:// or wss:// URL"
    elif spec.name == "Redirect":
        schema["pattern"] = URL_PATTERN
        schema["x-flowc-code"] = "schema.url"
        schema["x-flowc-message"] = "is not an http(s) URL, a #document reference or a template"
    elif spec.name == "Play":
        schema["pattern"] = r"^https?://\S+$|\{\{|\{%"
        schema["x-flowc-code"] = "schema.url"
        schema["x-flowc-message"] = "is not an http(s) URL of an audio file or a template"
    elif spec.content_pattern is not None:
        schema["pattern"] = _pattern(spec.content_pattern) + TEMPLATE_ALT
    return schema


def element_schema(spec: ElementSpec) -> dict[str, Any]:
    """The schema of one verb's value: a mapping, or a scalar for its text."""
    properties: dict[str, Any] = {a.name: attribute_schema(a) for a in spec.attributes}
    required = [a.name for a in spec.attributes if a.required]
    if spec.content != "none":
        properties[CONTENT_KEY] = _content_schema(spec)
        if spec.content in ("text", "url") and not spec.ssml:
            required.append(CONTENT_KEY)
    if spec.ssml:
        properties[SSML_KEY] = {
            "type": "string",
            "description": "Inline SSML markup (break, emphasis, prosody...), instead of text.",
        }
    if spec.children:
        properties[STEPS_KEY] = {
            "type": "array",
            "description": "Nested verbs: " + ", ".join(spec.children) + ".",
            "items": {"$ref": f"#/$defs/step.{spec.name}"},
        }
    if spec.name == "Stream":
        properties["name"] = {
            "type": "string", "pattern": NAME_PATTERN,
            "description": "flowc: stable route key of this stream (default DOCUMENT-N).",
        }
        properties["pipeline"] = {"$ref": "#/$defs/pipeline"}
    mapping: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "x-flowc-element": spec.name,
    }
    if required:
        mapping["required"] = required
    schema: dict[str, Any] = {"description": spec.description} if spec.description else {}
    needs_mapping = any(a.required for a in spec.attributes)
    if spec.content == "none" or needs_mapping:
        # `- Hangup:` (empty) is allowed; elements with required attributes need a mapping
        schema.update({"type": "object" if needs_mapping else ["object", "null"],
                       **{k: v for k, v in mapping.items() if k != "type"}})
        return schema
    scalar = _content_schema(spec)
    scalar["x-flowc-scalar"] = spec.name
    schema.update({"if": {"type": "object"}, "then": mapping, "else": scalar})
    if spec.content == "optional-url":
        schema["else"] = scalar | {"type": ["string", "null"]}
    return schema


def step_schema(context: str, verbs: tuple[str, ...]) -> dict[str, Any]:
    """A step in ``context`` (Response, GetInput...): one verb key plus optional ``if``."""
    properties: dict[str, Any] = {"if": {
        "type": "string",
        "description": "flowc: Jinja expression over request parameters; the step is "
                       "emitted when true.",
    }}
    for verb in verbs:
        properties[verb] = {"$ref": f"#/$defs/verb.{verb}"}
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "minProperties": 1,
        "if": {"required": ["if"]},
        "then": {"minProperties": 2, "maxProperties": 2, "x-flowc-step": context},
        "else": {"maxProperties": 1, "x-flowc-step": context},
        "x-flowc-step": context,
    }


def base_schema() -> dict[str, Any]:
    """The flow language schema without plugin settings."""
    defs: dict[str, Any] = {
        "document": {
            "type": "array",
            "description": "A Plivo XML document: the verbs under <Response>.",
            "items": {"$ref": "#/$defs/step.Response"},
        },
        "step.Response": step_schema("Response", RESPONSE_CHILDREN),
        "pipeline": {
            "type": "array",
            "description": ("flowc: processors that run on this stream, in order. Each item "
                            "is {processor-name: settings}; settings schemas come from "
                            "plugins (flowc plugins lists them)."),
            "items": {"$ref": "#/$defs/pipelineStep"},
        },
        "pipelineStep": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "propertyNames": {"pattern": NAME_PATTERN.replace("-]", "_-]")},
            "additionalProperties": {"type": ["object", "null"]},
            "x-flowc-pipeline-step": True,
        },
    }
    for name, spec in ELEMENTS.items():
        if spec.children:
            defs[f"step.{name}"] = step_schema(name, spec.children)
        defs[f"verb.{name}"] = element_schema(spec)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "flowc flow",
        "description": ("One YAML call flow: named Plivo XML documents (Plivo's own element "
                        "and attribute names) plus flowc's keys: flow, version, vars, "
                        "documents, steps, text, ssml, if, name, pipeline."),
        "type": "object",
        "properties": {
            "flow": {"type": "string", "pattern": NAME_PATTERN,
                     "x-flowc-code": "schema.name",
                     "x-flowc-message":
                         "is not a valid flow name (lower-case letters, digits, '-')",
                     "description": "Flow name used in routes (default: the file stem)."},
            "version": {"type": ["string", "integer", "number"],
                        "description": "Version label (default: a short content hash)."},
            "vars": {
                "type": "object",
                "description": "Template variables ({{ name }}); -D and --vars override.",
                "propertyNames": {"pattern": VAR_NAME_PATTERN},
            },
            "documents": {
                "type": "object",
                "description": "Named XML documents; 'answer' is the entry; '#name' "
                               "references one.",
                "required": ["answer"],
                "propertyNames": {"pattern": DOCUMENT_NAME_PATTERN},
                "additionalProperties": {"$ref": "#/$defs/document"},
            },
        },
        "required": ["documents"],
        "additionalProperties": False,
        "$defs": defs,
    }


def with_processors(schema: dict[str, Any], processors: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with each processor's settings schema under ``pipelineStep``."""
    out = json.loads(json.dumps(schema))
    step = out["$defs"]["pipelineStep"]
    step["properties"] = {name: dict(s) for name, s in sorted(processors.items())}
    step["additionalProperties"] = False
    return dict(out)


def dumps(schema: Mapping[str, Any]) -> str:
    """Stable JSON text (two-space indent, trailing newline)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def packaged_schema_path() -> Path:
    """The schema file shipped inside the package."""
    return Path(__file__).resolve().parent.parent / "schemas" / "flow.schema.json"


_CACHE: dict[str, dict[str, Any]] = {}


def cached_base_schema() -> dict[str, Any]:
    """:func:`base_schema`, built once per process (callers must not mutate it)."""
    if "base" not in _CACHE:
        _CACHE["base"] = base_schema()
    return _CACHE["base"]
