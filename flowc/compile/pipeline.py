"""Checks of a Stream's ``pipeline:`` against the processors plugins register.

Unknown processors get a did-you-mean; settings are validated against each processor's
``settings_schema`` (string settings may use templates over ``vars``, rendered now);
the processor's audio needs are checked against the Stream's attributes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from flowc.compile.diagnostics import did_you_mean
from flowc.compile.loader import Path
from flowc.compile.schema import STREAM_DEFAULT_CONTENT_TYPE
from flowc.compile.templates import is_template

if TYPE_CHECKING:
    from flowc.compile.compiler import Compiler
    from flowc.plugins import PluginHost


def check(c: Compiler, host: PluginHost, path: Path, stream: dict[str, Any],
          items: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """Validated (processor, settings) pairs of one pipeline; problems go to ``c``."""
    from flowc.compile import schemacheck

    out: list[tuple[str, dict[str, Any]]] = []
    content_type = stream.get("contentType", STREAM_DEFAULT_CONTENT_TYPE)
    rate: int | None = None  # None: contentType is invalid (reported by the schema)
    if isinstance(content_type, str) and re.fullmatch(r"audio/x-(l16|mulaw);rate=(8000|16000)",
                                                      content_type):
        rate = int(content_type.rsplit("=", 1)[1])
    for index, item in enumerate(items):
        if not isinstance(item, dict) or len(item) != 1:
            continue  # the schema reported it
        (name, settings), = item.items()
        spath: Path = (*path, index, name)
        spec = host.processors.get(name)
        broken = [p for p in host.plugins if p.error is not None and p.name == name]
        if spec is None and broken:
            c.error(spath, f"processor {name!r} is unavailable: its plugin failed to load "
                    f"({broken[0].error})", "pipeline.plugin-error", key=True)
            continue
        if spec is None:
            known = sorted(host.processors)
            hint = did_you_mean(name, known) or (
                f"; installed: {', '.join(known)}" if known else "; no processors are installed")
            c.error(spath, f"unknown processor {name!r}{hint}", "pipeline.unknown-processor",
                    key=True)
            continue
        if not isinstance(settings, dict):
            continue
        settings = _render(c, settings, spath)
        _coerce_booleans(c, spec.settings_schema, settings, spath)
        failed = schemacheck.check(settings, spec.settings_schema, c.positions, c.sink,
                                   prefix=spath)
        if failed:
            continue
        if spec.plays_audio and stream.get("bidirectional") is not True:
            c.error(spath, f"{name} plays audio to the caller: the Stream needs "
                    "bidirectional: true", "pipeline.needs-bidirectional", key=True)
        if rate is not None and rate not in spec.sample_rates:
            c.error(spath, f"{name} accepts " + ", ".join(f"{r} Hz" for r in spec.sample_rates)
                    + f" audio; contentType {content_type!r} is {rate} Hz",
                    "pipeline.sample-rate", key=True)
        if spec.wants_keep_call_alive and stream.get("keepCallAlive") is not True:
            c.warn(spath, f"{name} drives the call; without keepCallAlive: true Plivo moves "
                   "on to the next element while it runs", "pipeline.keep-call-alive", key=True)
        out.append((name, _with_defaults(spec.settings_schema, settings)))
    return out


def _render(c: Compiler, settings: dict[str, Any], path: Path) -> dict[str, Any]:
    """Render templated string settings now, with vars only (no request parameters)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, str) and is_template(value):
            rendered = c.template(value, (*path, key), allow_params=False)
            if isinstance(rendered, str):
                out[key] = rendered
                continue
            try:
                out[key] = rendered.render({})  # type: ignore[union-attr]
            except Exception as exc:
                c.error((*path, key), f"template failed: {exc}", "template.render")
                out[key] = value
        else:
            out[key] = value
    return out


def _coerce_booleans(c: Compiler, schema: Any, settings: dict[str, Any], path: Path) -> None:
    from flowc.compile.loader import BOOL_LIKE

    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    for key, value in list(settings.items()):
        prop = properties.get(key)
        if isinstance(prop, dict) and prop.get("type") == "boolean" and isinstance(value, str):
            pos = c.positions.node((*path, key))
            if pos is not None and pos.bool_like:
                settings[key] = BOOL_LIKE[value]
                c.warn((*path, key), f"{key}: {value!r} is a string in YAML 1.2; read as "
                       f"{str(BOOL_LIKE[value]).lower()}", "yaml.boolean-like")


def _with_defaults(schema: Any, settings: dict[str, Any]) -> dict[str, Any]:
    out = dict(settings)
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    for key, prop in properties.items():
        if key not in out and isinstance(prop, dict) and "default" in prop:
            out[key] = prop["default"]
    return out
