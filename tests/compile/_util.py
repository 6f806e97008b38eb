"""Helpers for the compile-wing unit tests."""

from __future__ import annotations

import textwrap
from typing import Any

from flowc.compile import compile_text
from flowc.compile.compiler import CompileResult
from flowc.model import CompiledFlow
from tests.compile.conftest import make_host

HOST = make_host()
BASE = "https://voice.example.com"


def compile_yaml(text: str, **kwargs: Any) -> CompileResult:
    """Compile dedented YAML with the test plugin host."""
    kwargs.setdefault("host", HOST)
    return compile_text(textwrap.dedent(text), filename="flow.yaml", **kwargs)


def compile_ok(text: str, **kwargs: Any) -> CompiledFlow:
    """Compile and assert there is no error."""
    result = compile_yaml(text, **kwargs)
    errors = [d.headline() for d in result.diagnostics if d.is_error]
    assert not errors, "\n".join(errors)
    assert result.flow is not None
    return result.flow


def codes(text: str, **kwargs: Any) -> list[tuple[int, int, str]]:
    """(line, col, code) of every diagnostic."""
    return [(d.line, d.col, d.code) for d in compile_yaml(text, **kwargs).diagnostics]


def render(flow: CompiledFlow, document: str = "answer", pretty: bool = False,
           **params: str) -> str:
    """Render one document with request parameters."""
    return flow.documents[document].render(params, BASE, pretty=pretty)
