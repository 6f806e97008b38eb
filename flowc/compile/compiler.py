"""The compile pipeline: text -> positions -> schema -> rules -> :class:`CompiledFlow`.

Every stage reports to one :class:`Sink`; a stage skips what an earlier stage already
reported instead of piling up follow-on errors. The flow is produced only when no error
was found.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from flowc.compile import rules
from flowc.compile.catalog import ELEMENTS, AttributeSpec, ElementSpec
from flowc.compile.diagnostics import Diagnostic, Sink, did_you_mean
from flowc.compile.loader import BOOL_LIKE, Path, Pos, Positions, Source, load
from flowc.compile.schema import (
    CONTENT_KEY,
    SSML_KEY,
    STEPS_KEY,
    STREAM_DEFAULT_CONTENT_TYPE,
    VAR_NAME_PATTERN,
)
from flowc.compile.templates import TemplateRenderError, Templates, is_template
from flowc.model import (
    CompiledFlow,
    Document,
    Element,
    PipelineStep,
    RouteRef,
    StreamRoute,
    Value,
    document_path,
    status_path,
    stream_path,
)

if TYPE_CHECKING:
    from flowc.plugins import PluginHost

MAX_DOCUMENT_BYTES = 100_000
"""Plivo's limit on one XML document (100 KB), checked on the rendered XML."""
STATUS_REF = "#stream-status"
_REF = re.compile(r"#([a-z0-9][a-z0-9-]*)\Z")


@dataclass
class CompileResult:
    """What :func:`compile_text` returns: the flow (None on any error) and diagnostics."""

    flow: CompiledFlow | None
    diagnostics: list[Diagnostic]
    source: str = ""
    filename: str = ""
    route_positions: dict[str, tuple[int, int, int | None]] = field(default_factory=dict)
    """Per document, where its first reference to a flowc route is (for build errors)."""

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not any(d.is_error for d in self.diagnostics)


@dataclass
class _Ref:
    target: str
    path: Path
    document: str


@dataclass
class _State:
    flow: str
    document: str = ""
    refs: list[_Ref] = field(default_factory=list)
    streams: dict[str, StreamRoute] = field(default_factory=dict)
    stream_paths: dict[str, Path] = field(default_factory=dict)
    stream_count: int = 0
    uses_status: bool = False
    pipelines: list[tuple[Path, dict[str, Any], list[Any]]] = field(default_factory=list)


class Compiler:
    """Compiles one flow file; see :func:`compile_text`."""

    def __init__(self, text: str, filename: str, variables: Mapping[str, Any] | None,
                 host: PluginHost | None, env: bool, environ: Mapping[str, str] | None) -> None:
        self.text = text
        self.filename = filename
        self.source = Source(text)
        self.sink = Sink(filename)
        self.overrides = dict(variables or {})
        self.host = host
        self.env_enabled = env
        self.environ = dict(environ) if environ is not None else {}
        self.positions = Positions(None)
        self.failed: set[Path] = set()
        self.templates: Templates | None = None
        self.route_positions: dict[str, tuple[int, int, int | None]] = {}

    # --------------------------------------------------------------------- helpers

    def at(self, path: Path) -> tuple[str, int, int]:
        line, col, _ = self.positions.value(path)
        return self.filename, line, col

    def error(self, path: Path, message: str, code: str, *, key: bool = False,
              severity: str = "error") -> None:
        line, col, end = (self.positions.key if key else self.positions.value)(path)
        self.sink.add(line, col, message, code, end_col=end,
                      severity="warning" if severity == "warning" else "error")

    def warn(self, path: Path, message: str, code: str, *, key: bool = False) -> None:
        self.error(path, message, code, key=key, severity="warning")

    def is_failed(self, path: Path) -> bool:
        return any(path[: len(p)] == p or p[: len(path)] == path for p in self.failed)

    # ------------------------------------------------------------------------ run

    def run(self) -> CompileResult:
        loaded = load(self.text, self.sink)
        self.positions = loaded.positions
        data = loaded.data
        if data is None:
            return self.result(None)
        if isinstance(data, dict):
            variables = self.variables(data)
            self.templates = Templates(variables, env_enabled=self.env_enabled,
                                       environ=self.environ)
            self.normalize(data)
        from flowc.compile import schemacheck
        from flowc.compile.schema import cached_base_schema

        self.failed = schemacheck.check(data, cached_base_schema(), self.positions, self.sink)
        if not isinstance(data, dict):
            return self.result(None)
        flow_name = self.flow_name(data)
        state = _State(flow_name)
        documents: dict[str, Document] = {}
        docs = data.get("documents")
        if isinstance(docs, dict):
            for name, steps in docs.items():
                if not isinstance(steps, list):
                    continue
                state.document = name
                state.stream_count = 0
                path: Path = ("documents", name)
                children = self.steps(steps, path, "Response", state)
                rules.check_document(self, steps, path)
                documents[name] = Document(name, document_path(flow_name, name),
                                           Element("Response", children=children))
            self.check_refs(state, docs)
        self.check_pipelines(state)
        if self.sink.has_errors:
            return self.result(None)
        version = data.get("version")
        flow = CompiledFlow(
            name=flow_name,
            version=str(version) if version is not None else self.content_hash(),
            source=self.filename,
            documents=documents,
            streams=state.streams,
            variables=variables,
            status_paths=(status_path(flow_name),) if state.uses_status else (),
        )
        self.check_sizes(flow, docs if isinstance(docs, dict) else {})
        return self.result(None if self.sink.has_errors else flow)

    def content_hash(self) -> str:
        """Short hash of the source and the -D/--vars/--env values it was compiled with."""
        import json

        digest = hashlib.sha256(self.text.encode("utf-8", "surrogatepass"))
        extra = {"vars": self.overrides, "env": self.environ if self.env_enabled else None}
        digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
        return digest.hexdigest()[:12]

    def result(self, flow: CompiledFlow | None) -> CompileResult:
        return CompileResult(flow, self.sink.sorted(), self.text, self.filename,
                             self.route_positions)

    def route_at(self, state: _State, path: Path) -> None:
        """Remember the first flowc route a document uses."""
        if state.document not in self.route_positions:
            self.route_positions[state.document] = self.positions.value(path)

    # ----------------------------------------------------------------- top level

    def flow_name(self, data: dict[str, Any]) -> str:
        name = data.get("flow")
        if isinstance(name, str) and re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            return name
        stem = PurePath(self.filename).stem if self.filename not in ("-", "<stdin>") else ""
        slug = re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-")
        return slug or "flow"

    def variables(self, data: dict[str, Any]) -> dict[str, Any]:
        from flowc.compile.params import REQUEST_PARAMETERS

        file_vars = data.get("vars")
        merged: dict[str, Any] = dict(file_vars) if isinstance(file_vars, dict) else {}
        for name in merged:
            if name in REQUEST_PARAMETERS or name == "env":
                self.error(("vars", name), f"variable {name!r} would hide "
                           + ("the environment namespace" if name == "env" else
                              "the request parameter of that name"), "vars.reserved", key=True)
        for name, value in self.overrides.items():
            if not re.match(VAR_NAME_PATTERN, name):
                self.sink.add(1, 1, f"invalid variable name {name!r} given with -D/--vars",
                              "vars.invalid-name")
            merged[name] = value
        return merged

    # ---------------------------------------------------------------- normalizing

    def normalize(self, data: dict[str, Any]) -> None:
        """Fix up scalars before the schema sees them (the source stays as written).

        Numbers where text is expected become their source text (``+14155551234``);
        ``yes``/``no``/``on``/``off`` where a boolean is expected become booleans with a
        warning; case-insensitive enums take their canonical spelling; an empty
        settings value becomes ``{}``.
        """
        docs = data.get("documents")
        if not isinstance(docs, dict):
            return
        for name, steps in docs.items():
            if isinstance(steps, list):
                self.normalize_steps(steps, ("documents", name))

    def normalize_steps(self, steps: list[Any], path: Path) -> None:
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            for verb, value in step.items():
                spec = ELEMENTS.get(verb)
                if spec is None:
                    continue
                vpath = (*path, index, verb)
                if isinstance(value, dict):
                    for attr in spec.attributes:
                        if attr.name in value:
                            value[attr.name] = self.normalize_value(
                                attr, value[attr.name], (*vpath, attr.name))
                    if CONTENT_KEY in value:
                        value[CONTENT_KEY] = self.as_text(value[CONTENT_KEY], (*vpath, CONTENT_KEY))
                    if isinstance(value.get(STEPS_KEY), list):
                        self.normalize_steps(value[STEPS_KEY], (*vpath, STEPS_KEY))
                    pipeline = value.get("pipeline")
                    if isinstance(pipeline, list):
                        for item in pipeline:
                            if isinstance(item, dict):
                                for key, settings in item.items():
                                    if settings is None:
                                        item[key] = {}
                elif spec.content != "none" and value is not None:
                    step[verb] = self.as_text(value, vpath)

    def as_text(self, value: Any, path: Path) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            pos = self.positions.node(path)
            return pos.raw if pos is not None and pos.raw is not None else str(value)
        if isinstance(value, str) and self.templates is not None:
            # A template of constants renders the same for every request: render it now,
            # so the schema and the rules check it like the literal it stands for.
            folded = self.templates.fold(value)
            if folded is not None:
                return folded
        return value

    def normalize_value(self, attr: AttributeSpec, value: Any, path: Path) -> Any:
        if attr.type == "boolean" and isinstance(value, str):
            pos = self.positions.node(path)
            if pos is not None and pos.bool_like:
                meaning = BOOL_LIKE[value]
                self.warn(path, f"{attr.name}: {value!r} is a string in YAML 1.2; read as "
                          f"{str(meaning).lower()} — write {str(meaning).lower()}",
                          "yaml.boolean-like")
                return meaning
        if attr.type in ("string", "url"):
            value = self.as_text(value, path)
            if attr.case_insensitive and isinstance(value, str):
                for option in attr.enum:
                    if option.lower() == value.lower():
                        return option
        return value

    # ---------------------------------------------------------------------- steps

    def steps(self, steps: list[Any], path: Path, context: str, state: _State
              ) -> tuple[Element, ...]:
        out: list[Element] = []
        for index, step in enumerate(steps):
            element = self.step(step, (*path, index), context, state)
            if element is not None:
                out.append(element)
        return tuple(out)

    def step(self, step: Any, path: Path, context: str, state: _State) -> Element | None:
        if not isinstance(step, dict):
            return None
        verbs = [k for k in step if k != "if"]
        if len(verbs) != 1 or verbs[0] not in ELEMENTS:
            return None
        verb = verbs[0]
        spec = ELEMENTS[verb]
        vpath: Path = (*path, verb)
        raw = step[verb]
        mapping: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if not isinstance(raw, dict) and raw is not None:
            mapping = {CONTENT_KEY: raw}
            text_path: Path = vpath
        else:
            text_path = (*vpath, CONTENT_KEY)
        condition = None
        if isinstance(step.get("if"), str):
            condition = self.condition(step["if"], (*path, "if"))
        rules.check_element(self, spec, mapping, vpath)
        attributes = self.attributes(spec, mapping, vpath, state)
        text: Value | None = None
        children: tuple[Element, ...] = ()
        content = mapping.get(CONTENT_KEY)
        if spec.ssml and isinstance(mapping.get(SSML_KEY), str):
            text, children = self.ssml(mapping[SSML_KEY], (*vpath, SSML_KEY))
        elif isinstance(content, str):
            text = self.value(content, text_path, url=spec.content in ("url", "optional-url"),
                              state=state, ref_ok=verb == "Redirect")
        if spec.children and isinstance(mapping.get(STEPS_KEY), list):
            children = self.steps(mapping[STEPS_KEY], (*vpath, STEPS_KEY), verb, state)
        if verb == "Stream":
            text = self.stream(mapping, vpath, text, state)
        return Element(verb, attributes, text, children, None, condition)

    def attributes(self, spec: ElementSpec, mapping: dict[str, Any], path: Path,
                   state: _State) -> tuple[tuple[str, Value], ...]:
        out: list[tuple[str, Value]] = []
        for attr in spec.attributes:
            apath = (*path, attr.name)
            if attr.name in mapping:
                value = mapping[attr.name]
                if self.is_failed(apath) or value is None:
                    continue
                if isinstance(value, bool):
                    out.append((attr.name, "true" if value else "false"))
                elif isinstance(value, int | float):
                    out.append((attr.name, _number(value)))
                elif isinstance(value, str):
                    out.append((attr.name, self.value(
                        value, apath, url=attr.type == "url", state=state,
                        status_ok=spec.name == "Stream" and attr.name == "statusCallbackUrl")))
            elif spec.name == "Stream" and attr.name == "contentType":
                out.append((attr.name, STREAM_DEFAULT_CONTENT_TYPE))
            elif attr.always_emit and attr.default is not None:
                default = attr.default
                out.append((attr.name, ("true" if default else "false")
                            if isinstance(default, bool) else str(default)))
        return tuple(out)

    # --------------------------------------------------------------------- values

    def value(self, text: str, path: Path, *, url: bool = False, state: _State | None = None,
              ref_ok: bool = True, status_ok: bool = False) -> Value:
        """A constant, a template or a route reference."""
        if url and text.startswith("#") and state is not None:
            if text == STATUS_REF:
                if not status_ok:
                    self.error(path, "#stream-status is only valid as a Stream's "
                               "statusCallbackUrl", "ref.stream-status")
                state.uses_status = True
                self.route_at(state, path)
                return RouteRef("document", status_path(state.flow))
            match = _REF.match(text)
            if match is not None and ref_ok:
                state.refs.append(_Ref(match.group(1), path, state.document))
                self.route_at(state, path)
                return RouteRef("document", document_path(state.flow, match.group(1)))
        if is_template(text):
            return self.template(text, path)
        return text

    def template(self, text: str, path: Path, *, allow_params: bool = True) -> Value:
        assert self.templates is not None
        pos = self.positions.node(path)
        _tree, issues = self.templates.check(text, allow_params=allow_params)
        for issue in issues:
            self.template_issue(issue.code, issue.message, issue.needle, issue.template_line,
                                pos, path)
        if issues:
            return text
        return self.templates.template(text, self.at(path))

    def template_issue(self, code: str, message: str, needle: str | None, tline: int,
                       pos: Pos | None, path: Path) -> None:
        located = self.source.find(pos, needle) if pos is not None and needle else None
        if located is not None:
            line, col, end = located
            self.sink.add(line, col, message, code, end_col=end)
        elif pos is not None and tline > 1:
            line, col = self.source.template_line(pos, tline)
            self.sink.add(line, col, message, code)
        else:
            self.error(path, message, code)

    def condition(self, text: str, path: Path) -> Any:
        assert self.templates is not None
        _tree, issues = self.templates.check(text, expression=True)
        pos = self.positions.node(path)
        for issue in issues:
            self.template_issue(issue.code, issue.message.replace("template syntax",
                                                                  "`if` expression syntax"),
                                issue.needle, issue.template_line, pos, path)
        if issues:
            return None
        return self.templates.condition(text, self.at(path))

    def ssml(self, markup: str, path: Path) -> tuple[Value | None, tuple[Element, ...]]:
        from flowc.compile import ssml

        def value(text: str) -> Value:
            return self.template(text, path) if is_template(text) else text

        text, children, issues = ssml.parse(markup, value)
        pos = self.positions.node(path)
        for issue in issues:
            self.template_issue(issue.code, issue.message, issue.needle, issue.line, pos, path)
        return text, children

    # --------------------------------------------------------------------- streams

    def stream(self, mapping: dict[str, Any], path: Path, text: Value | None,
               state: _State) -> Value | None:
        state.stream_count += 1
        pipeline = mapping.get("pipeline")
        if text is not None:  # an external WebSocket: flowc serves nothing here
            if pipeline is not None:
                self.error((*path, "pipeline"), "a pipeline runs only on a stream flowc "
                           "serves; remove the Stream URL (text) to use one",
                           "stream.pipeline-external", key=True)
            if "name" in mapping:
                self.warn((*path, "name"), "`name` only applies to streams flowc serves",
                          "stream.name-external", key=True)
            return text
        name = mapping.get("name")
        key = name if isinstance(name, str) else f"{state.document}-{state.stream_count}"
        if key in state.streams:
            where = state.stream_paths[key]
            self.error((*path, "name") if isinstance(name, str) else path,
                       f"stream key {key!r} is already used at line "
                       f"{self.positions.value(where)[0]}", "stream.duplicate-name")
        route_path = stream_path(state.flow, key)
        self.route_at(state, path)
        content_type = mapping.get("contentType")
        timeout = mapping.get("streamTimeout")
        headers = mapping.get("extraHeaders")
        route = StreamRoute(
            key=key,
            path=route_path,
            document=state.document,
            content_type=content_type if isinstance(content_type, str)
            else STREAM_DEFAULT_CONTENT_TYPE,
            bidirectional=mapping.get("bidirectional") is True,
            audio_track=str(mapping.get("audioTrack") or "inbound"),
            keep_call_alive=mapping.get("keepCallAlive") is True,
            stream_timeout=timeout if isinstance(timeout, int) and not isinstance(timeout, bool)
            else 86400,
            pipeline=(),
            extra_headers=headers if isinstance(headers, str) else None,
        )
        state.streams[key] = route
        state.stream_paths[key] = path
        if isinstance(pipeline, list):
            state.pipelines.append(((*path, "pipeline"), mapping, pipeline))
        return RouteRef("stream", route_path)

    def check_pipelines(self, state: _State) -> None:
        from flowc.compile import pipeline as pipeline_checks

        if not state.pipelines:
            return
        if self.host is None:
            self.host = default_host()
        for path, mapping, items in state.pipelines:
            steps = pipeline_checks.check(self, self.host, path, mapping, items)
            key = mapping.get("name") if isinstance(mapping.get("name"), str) else None
            for route_key, stream_path_ in state.stream_paths.items():
                if stream_path_ == path[:-1]:
                    key = route_key
            if key is not None and key in state.streams:
                state.streams[key] = replace(state.streams[key], pipeline=tuple(
                    PipelineStep(name, settings) for name, settings in steps))

    # ------------------------------------------------------------------ references

    def check_refs(self, state: _State, docs: dict[str, Any]) -> None:
        names = [n for n in docs if isinstance(n, str)]
        edges: dict[str, set[str]] = {n: set() for n in names}
        for ref in state.refs:
            if ref.target not in docs:
                self.error(ref.path, f"unknown document '#{ref.target}'"
                           + did_you_mean(ref.target, names), "ref.unknown-document")
            else:
                edges.setdefault(ref.document, set()).add(ref.target)
        if "answer" not in docs:
            return
        seen = {"answer"}
        todo = ["answer"]
        while todo:
            for target in edges.get(todo.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        for name in names:
            if name not in seen:
                self.warn(("documents", name), f"document {name!r} is not referenced from "
                          "'answer' (directly or indirectly)", "ref.unreachable", key=True)

    # ----------------------------------------------------------------------- sizes

    def check_sizes(self, flow: CompiledFlow, docs: dict[str, Any]) -> None:
        """Render each document (all conditions true, no request parameters)."""
        for name, document in flow.documents.items():
            root = _without_conditions(document.root)
            try:
                xml = Document(name, document.path, root).render({}, "https://example.com",
                                                                  pretty=False)
            except TemplateRenderError as exc:
                self.sink.add(exc.line, exc.col, f"template fails without request "
                              f"parameters: {exc.message}", "template.render",
                              severity="warning")
                continue
            size = len(xml.encode("utf-8"))
            if size > MAX_DOCUMENT_BYTES:
                self.error(("documents", name), f"document {name!r} renders to {size} bytes; "
                           f"Plivo accepts at most {MAX_DOCUMENT_BYTES}", "doc.too-large",
                           key=True)


_HOSTS: list[PluginHost] = []


def default_host() -> PluginHost:
    """The installed plugins, loaded once per process (only when a flow has a pipeline)."""
    if not _HOSTS:
        from flowc.plugins import load_plugins

        _HOSTS.append(load_plugins())
    return _HOSTS[0]


def _without_conditions(element: Element) -> Element:
    return replace(element, condition=None,
                   children=tuple(_without_conditions(c) for c in element.children))


def _number(value: int | float) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def compile_text(
    text: str,
    *,
    filename: str,
    variables: Mapping[str, Any] | None = None,
    host: PluginHost | None = None,
    env: bool = False,
    environ: Mapping[str, str] | None = None,
) -> CompileResult:
    """Compile flow ``text``; never raises on bad input (internal errors become a
    ``internal`` diagnostic)."""
    if env and environ is None:
        import os

        environ = dict(os.environ)
    compiler = Compiler(text, filename, variables, host, env, environ)
    try:
        return compiler.run()
    except RecursionError:
        compiler.sink.add(1, 1, "the flow is nested too deeply", "yaml.too-deep")
    except Exception as exc:  # a compiler bug must still produce a diagnostic
        compiler.sink.add(1, 1, f"internal compiler error: {type(exc).__name__}: {exc} "
                          "(please report this)", "internal")
    return compiler.result(None)
