"""Direct evaluators for the simplest templates and conditions (per-request speed).

``Welcome to {{ company }}.`` and ``Digits == "1"`` are most of what flows hold. For
those, a closure over the parsed Jinja AST skips building a Jinja context per call.
Only names, constants, comparisons, ``in`` and boolean operators qualify: no attribute
access, calls or filters, so the sandbox has nothing to guard. Anything else returns
None and the caller uses Jinja. Names always resolve: the static check admits only
known names, and absent request parameters default to ``""``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import nodes

Lookup = Callable[[Mapping[str, Any]], Any]

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "gt": operator.gt,
    "lteq": operator.le, "gteq": operator.ge,
    "in": lambda a, b: a in b, "notin": lambda a, b: a not in b,
}


def expression(node: nodes.Expr, resolve: Callable[[Mapping[str, Any], str], Any]
               ) -> Lookup | None:
    """A closure computing ``node`` from request params, or None if not simple."""
    if isinstance(node, nodes.Const):
        value = node.value
        return lambda params: value
    if isinstance(node, nodes.Name):
        name = node.name
        return lambda params: resolve(params, name)
    if isinstance(node, nodes.List | nodes.Tuple):
        items = [expression(item, resolve) for item in node.items]
        if any(item is None for item in items) or not all(
                isinstance(item, nodes.Const) for item in node.items):
            return None
        constant = [item.value for item in node.items if isinstance(item, nodes.Const)]
        built = constant if isinstance(node, nodes.List) else tuple(constant)
        return lambda params: built
    if isinstance(node, nodes.Not):
        inner = expression(node.node, resolve)
        return None if inner is None else (lambda params: not inner(params))
    if isinstance(node, nodes.And | nodes.Or):
        left, right = expression(node.left, resolve), expression(node.right, resolve)
        if left is None or right is None:
            return None
        if isinstance(node, nodes.And):
            return lambda params: left(params) and right(params)
        return lambda params: left(params) or right(params)
    if isinstance(node, nodes.Compare):
        first = expression(node.expr, resolve)
        ops = [(_COMPARE.get(op.op), expression(op.expr, resolve)) for op in node.ops]
        if first is None or any(fn is None or rhs is None for fn, rhs in ops):
            return None
        chain = [(fn, rhs) for fn, rhs in ops if fn is not None and rhs is not None]

        def compare(params: Mapping[str, Any]) -> bool:
            left = first(params)
            for fn, rhs in chain:
                right = rhs(params)
                if not fn(left, right):
                    return False
                left = right
            return True

        return compare
    return None


def template(tree: nodes.Template, resolve: Callable[[Mapping[str, Any], str], Any]
             ) -> Callable[[Mapping[str, Any]], str] | None:
    """A closure rendering literal text and ``{{ name }}`` outputs, or None."""
    parts: list[str | Lookup] = []
    for stmt in tree.body:
        if not isinstance(stmt, nodes.Output):
            return None
        for node in stmt.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
            elif isinstance(node, nodes.Name):
                name = node.name
                parts.append(lambda params, name=name: resolve(params, name))  # type: ignore[misc]
            else:
                return None

    def render(params: Mapping[str, Any]) -> str:
        return "".join(p if isinstance(p, str) else str(p(params)) for p in parts)

    return render
