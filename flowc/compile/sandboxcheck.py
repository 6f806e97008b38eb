"""Static refusals of template code that reaches for objects rather than values.

The sandbox already blocks ``_``-attributes at render time; these checks refuse at compile
time what would otherwise render Python internals or fail only per request: the name
``self`` (Jinja's template reference), using a global function (``range``, ``dict``,
``namespace``) other than by calling it, attribute access on such a function, a method
named but not called (``From.upper``), and ``_`` names given to filters as strings
(``attr('__class__')``, ``map(attribute='__class__')``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import Undefined, nodes

from flowc.compile.params import REQUEST_PARAMETERS

_METHOD_TYPES: tuple[type, ...] = (str, dict, list, int, float)
_ANY_METHOD = frozenset(name for kind in _METHOD_TYPES for name in dir(kind)
                        if not name.startswith("_") and callable(getattr(kind, name)))


def _methods(value: Any) -> frozenset[str]:
    return frozenset(name for name in dir(value)
                     if not name.startswith("_") and callable(getattr(value, name, None)))


def _called(tree: nodes.Node) -> set[int]:
    """ids of the nodes that are the callee of a call."""
    return {id(call.node) for call in tree.find_all(nodes.Call)}


def misuse(tree: nodes.Template, functions: Mapping[str, Any],
           variables: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(message, needle) for every refused construct in ``tree``."""
    called = _called(tree)
    for name in tree.find_all(nodes.Name):
        if name.ctx != "load":
            continue
        if name.name == "self":
            yield "name 'self' is not allowed in templates", "self"
        elif name.name in functions and name.name not in variables and id(name) not in called:
            yield (f"function {name.name!r} can only be called in templates "
                   f"({name.name}(...))", name.name)
    for node in tree.find_all(nodes.Getattr):
        base = node.node
        if isinstance(base, nodes.Name) and base.name in functions \
                and base.name not in variables:
            yield f"attribute access on function {base.name!r} is not allowed", node.attr
            continue
        if id(node) in called:
            continue
        methods: frozenset[str] = frozenset()
        if (isinstance(base, nodes.Const) and isinstance(base.value, str)) or (
                isinstance(base, nodes.Name) and base.name in REQUEST_PARAMETERS
                and base.name not in variables):
            methods = _methods(str)
        elif isinstance(base, nodes.Name) and base.name in variables:
            methods = _methods(variables[base.name])
        if node.attr in methods:
            yield (f"method {node.attr!r} is named but not called "
                   f"(use {node.attr}(...))", node.attr)
    for call in tree.find_all((nodes.Filter, nodes.Test)):
        strings = [a.value for a in call.args if isinstance(a, nodes.Const)]
        strings += [k.value.value for k in call.kwargs if isinstance(k.value, nodes.Const)]
        for value in strings:
            if not isinstance(value, str):
                continue
            if any(part.startswith("_") for part in value.split(".")):
                yield f"attribute {value!r} is not allowed in templates", value
            elif call.name == "attr" and value in _ANY_METHOD:
                yield f"attr({value!r}) names a method, not a value", value


def refuse_callables(value: Any) -> Any:
    """``finalize`` for the sandbox: a function or method never renders as text."""
    if callable(value) and not isinstance(value, Undefined):
        raise TypeError(f"a template rendered a function ({type(value).__name__}), "
                        "not a value")
    return value
