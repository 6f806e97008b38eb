"""Jinja templates and ``if:`` conditions: sandboxed, strict, statically checked.

Values are rendered by :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` with
:class:`~jinja2.StrictUndefined` and no autoescaping (the model escapes on output).
Before anything renders, every template is parsed and its free names checked against
the flow's variables, ``env`` (when enabled) and :data:`REQUEST_PARAMETERS`; names and
attributes that start with ``_`` are refused (sandbox escapes such as ``__class__``).
The render context is ``{absent params: "", **request params, **flow variables}``:
variables win, so a caller posting ``company=...`` cannot override ``vars``.
"""

from __future__ import annotations

import operator
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from flowc.compile import fastpath, sandboxcheck
from flowc.compile.params import PARAMETER_DEFAULTS, REQUEST_PARAMETERS
from flowc.model import Condition, Template

MAX_REPEAT = 100_000
"""Longest string or list a template may build with ``*`` (sandbox resource limit)."""

MAX_OUTPUT = 1_000_000
"""Most characters one template may render (Plivo documents stop at 100 KB anyway)."""
MAX_RANGE = 10_000
"""Longest ``range()`` a template may iterate."""

_MARKERS = ("{{", "{%", "{#")


def is_template(text: str) -> bool:
    """True if ``text`` contains Jinja syntax."""
    return any(marker in text for marker in _MARKERS)


class TemplateRenderError(ValueError):
    """A template failed while rendering one request (position in ``where``)."""

    def __init__(self, where: tuple[str, int, int], message: str) -> None:
        self.file, self.line, self.col = where
        self.message = message
        super().__init__(f"{self.file}:{self.line}:{self.col}: {message}")


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent too large in a template")
            return operator.pow(left, right)
        size = 0
        if isinstance(right, int) and isinstance(left, str | list | tuple):
            size = len(left) * right
        elif isinstance(left, int) and isinstance(right, str | list | tuple):
            size = len(right) * left
        if size > MAX_REPEAT:
            raise SecurityError("template repetition too large")
        return operator.mul(left, right)


def new_environment() -> ImmutableSandboxedEnvironment:
    """The sandbox every flow template runs in (only ``range``/``dict``/``namespace``)."""
    env = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True,
                       finalize=sandboxcheck.refuse_callables)
    env.globals = {k: v for k, v in env.globals.items() if k in ("dict", "namespace")}
    env.globals["range"] = _range
    return env


def _range(*args: int) -> range:
    """``range`` limited to :data:`MAX_RANGE` items."""
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range() is limited to {MAX_RANGE} items in templates")
    return rng


@dataclass(frozen=True)
class Issue:
    """A static problem in one template: ``code``, message, and where inside the source."""

    code: str
    message: str
    needle: str | None = None
    """A word to find in the source to point at (an undefined name)."""
    template_line: int = 1


class Templates:
    """Compiles and checks the templates of one flow."""

    def __init__(
        self,
        variables: Mapping[str, Any],
        *,
        env_enabled: bool,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.env = new_environment()
        self.variables = dict(variables)
        self.env_enabled = env_enabled
        self.environ = environ or {}
        self.known = set(self.variables) | set(REQUEST_PARAMETERS) | set(self.env.globals)
        self._top: dict[str, Any] = dict(self.variables)
        if env_enabled:
            self.known.add("env")
            self._top["env"] = dict(self.environ)
        self._bottom: dict[str, Any] = {**PARAMETER_DEFAULTS, **self.env.globals}

    # ------------------------------------------------------------------ static checks

    def check(self, source: str, *, expression: bool = False,
              allow_params: bool = True) -> tuple[nodes.Template | None, list[Issue]]:
        """Parse ``source`` and list its problems (syntax, undefined names, escapes)."""
        try:
            if expression:
                parser = Parser(self.env, source, state="variable")
                expr = parser.parse_expression()
                if not parser.stream.eos:
                    parser.fail("unexpected text after the expression")
                tree = nodes.Template([nodes.Output([expr])], lineno=1)
                tree.set_environment(self.env)
            else:
                tree = self.env.parse(source)
        except TemplateSyntaxError as exc:
            return None, [Issue("template.syntax", f"template syntax: {exc.message}",
                                template_line=exc.lineno or 1)]
        issues: list[Issue] = []
        known = self.known if allow_params else self.known - set(REQUEST_PARAMETERS)
        for name in sorted(meta.find_undeclared_variables(tree)):
            if name.startswith("_"):
                issues.append(Issue("template.unsafe", f"name {name!r} is not allowed in "
                                    "templates", needle=name))
            elif name not in known:
                hint = ""
                if name == "env":
                    hint = " (environment variables need --env)"
                elif name in REQUEST_PARAMETERS:
                    hint = " (request parameters are not available here)"
                issues.append(Issue("template.undefined", f"undefined name {name!r}{hint}",
                                    needle=name))
        for message, needle in sandboxcheck.misuse(tree, self.env.globals, self.variables):
            issues.append(Issue("template.unsafe", message, needle=needle))
        for stmt in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport,
                                   nodes.Extends)):
            kind = type(stmt).__name__.lower().replace("fromimport", "import")
            issues.append(Issue("template.unsupported", f"{{% {kind} %}} is not supported in "
                                "flow templates", needle=kind))
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            if isinstance(node, nodes.Getattr):
                attr: Any = node.attr
            else:
                arg = getattr(node, "arg", None)
                attr = arg.value if isinstance(arg, nodes.Const) else None
            if isinstance(attr, str) and attr.startswith("_"):
                issues.append(Issue("template.unsafe",
                                    f"attribute {attr!r} is not allowed in templates",
                                    needle=attr))
            elif (isinstance(node, nodes.Getattr) and self.env_enabled
                  and isinstance(node.node, nodes.Name) and node.node.name == "env"
                  and isinstance(attr, str) and attr not in self.environ):
                issues.append(Issue("template.undefined",
                                    f"environment variable {attr!r} is not set", needle=attr))
        return tree, issues

    def fold(self, source: str) -> str | None:
        """``source`` rendered now, when it is a template that uses no request parameter
        and has no problem; else ``None`` (it is compiled and checked as a template)."""
        if not is_template(source):
            return None
        tree, issues = self.check(source, allow_params=False)
        if tree is None or issues:
            return None
        try:  # the same guarded render as per request (output and range limits)
            return self.template(source, ("", 0, 0)).render({})
        except TemplateRenderError:
            return None  # left as a template: it fails per request, where it is reported

    # -------------------------------------------------------------------- compiling

    def context(self, params: Mapping[str, Any]) -> ChainMap[str, Any]:
        """The render context for one request: variables over params over defaults.

        A chain of mappings, not a copy: rendering a document costs no dict building.
        """
        return ChainMap(self._top, params, self._bottom)  # type: ignore[arg-type]

    def resolve(self, params: Mapping[str, Any], name: str) -> Any:
        """One name's value for a request: variables, then params, then defaults."""
        if name in self._top:
            return self._top[name]
        if name in params:
            return params[name]
        return self._bottom[name]

    def template(self, source: str, where: tuple[str, int, int]) -> Template:
        """A model :class:`Template` whose ``render`` raises :class:`TemplateRenderError`."""
        fast = fastpath.template(self.env.parse(source), self.resolve)
        if fast is not None:
            simple = fast

            def render_simple(params: Mapping[str, Any]) -> str:
                try:
                    return simple(params)
                except Exception as exc:
                    raise TemplateRenderError(where, f"{type(exc).__name__}: {exc}") from exc

            return Template(source, render_simple)
        compiled = self.env.from_string(source)
        root, new_context = compiled.root_render_func, compiled.new_context
        top, bottom = self._top, self._bottom

        def render(params: Mapping[str, Any]) -> str:
            try:
                chain = ChainMap(top, params, bottom)  # type: ignore[arg-type]
                parts: list[str] = []
                size = 0
                for chunk in root(new_context(chain, shared=True)):  # type: ignore[arg-type]
                    size += len(chunk)
                    if size > MAX_OUTPUT:
                        raise SecurityError(f"template output exceeds {MAX_OUTPUT} characters")
                    parts.append(chunk)
                return "".join(parts)
            except Exception as exc:
                raise TemplateRenderError(where, f"{type(exc).__name__}: {exc}") from exc

        return Template(source, render)

    def condition(self, source: str, where: tuple[str, int, int]) -> Condition:
        """A model :class:`Condition` for an ``if:`` expression (checked already)."""
        parser = Parser(self.env, source, state="variable")
        expr = parser.parse_expression()
        fast = fastpath.expression(expr, self.resolve)
        if fast is not None:
            simple = fast

            def evaluate_simple(params: Mapping[str, Any]) -> bool:
                try:
                    return bool(simple(params))
                except Exception as exc:
                    raise TemplateRenderError(where, f"{type(exc).__name__}: {exc}") from exc

            return Condition(source, evaluate_simple)
        body = nodes.Template([nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)],
                              lineno=1)
        compiled = self.env.from_string(body)
        root, new_context = compiled.root_render_func, compiled.new_context
        top, bottom = self._top, self._bottom

        def evaluate(params: Mapping[str, Any]) -> bool:
            try:
                context = new_context(ChainMap(top, params, bottom), shared=True)  # type: ignore[arg-type]
                for _ in root(context):
                    pass
                return bool(context.vars["result"])
            except Exception as exc:
                raise TemplateRenderError(where, f"{type(exc).__name__}: {exc}") from exc

        return Condition(source, evaluate)


RenderFn = Callable[[Mapping[str, Any]], str]
