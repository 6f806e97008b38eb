"""The compile wing: YAML flow -> diagnostics -> :class:`flowc.model.CompiledFlow` -> XML.

Public API (used by ``flowc.commands`` and tests)::

    compile_file(path, *, variables=None, host=None, env=False) -> CompileResult
    compile_text(text, *, filename, variables=None, host=None, env=False) -> CompileResult

``CompileResult.flow`` is None when any error was found; ``CompileResult.diagnostics``
lists every problem, sorted. Heavy modules (jinja2, jsonschema) load on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowc.compile.diagnostics import Diagnostic

if TYPE_CHECKING:
    from flowc.compile.compiler import CompileResult
    from flowc.plugins import PluginHost

__all__ = ["CompileResult", "Diagnostic", "compile_file", "compile_text"]


def compile_text(
    text: str,
    *,
    filename: str,
    variables: Mapping[str, Any] | None = None,
    host: PluginHost | None = None,
    env: bool = False,
    environ: Mapping[str, str] | None = None,
) -> CompileResult:
    """Compile flow source ``text`` (``filename`` names it in diagnostics)."""
    from flowc.compile.compiler import compile_text as _compile

    return _compile(text, filename=filename, variables=variables, host=host, env=env,
                    environ=environ)


def compile_file(
    path: str | Path,
    *,
    variables: Mapping[str, Any] | None = None,
    host: PluginHost | None = None,
    env: bool = False,
    environ: Mapping[str, str] | None = None,
) -> CompileResult:
    """Read and compile one flow file; an unreadable file is a ``file.read`` diagnostic."""
    from flowc.compile.compiler import CompileResult

    name = str(path)
    try:
        raw = Path(path).read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return CompileResult(None, [Diagnostic(name, 1, 1, "error",
                                               f"file is not UTF-8: {exc.reason}",
                                               "file.encoding")], "", name)
    except OSError as exc:
        return CompileResult(None, [Diagnostic(name, 1, 1, "error",
                                               f"cannot read file: {exc.strerror or exc}",
                                               "file.read")], "", name)
    return compile_text(text, filename=name, variables=variables, host=host, env=env,
                        environ=environ)


def __getattr__(name: str) -> Any:
    if name == "CompileResult":
        from flowc.compile.compiler import CompileResult

        return CompileResult
    raise AttributeError(name)
