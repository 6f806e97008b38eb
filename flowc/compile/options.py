"""Command-line plumbing shared by ``flowc validate`` and ``flowc build``.

Variables: ``vars:`` in the file, then ``--vars FILE`` (YAML or JSON mapping), then
``-D key=value`` (strings), later ones winning; ``--env`` exposes the environment as
``env``. Diagnostics print as text (with snippets) or JSON.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from flowc.compile.diagnostics import Diagnostic, Sink, format_json, format_text, summary
from flowc.compile.schema import VAR_NAME_PATTERN


def add_variable_options(parser: argparse.ArgumentParser) -> None:
    """``-D``, ``--vars`` and ``--env``."""
    parser.add_argument("-D", "--define", metavar="KEY=VALUE", action="append", default=[],
                        help="set a template variable (a string); overrides vars: and --vars")
    parser.add_argument("--vars", metavar="FILE", action="append", default=[],
                        help="YAML or JSON file with a mapping of template variables")
    parser.add_argument("--env", action="store_true",
                        help="expose environment variables to templates as {{ env.NAME }}")


def add_format_option(parser: argparse.ArgumentParser) -> None:
    """``--format text|json`` for diagnostics."""
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="diagnostics as text with source snippets (default) or JSON")


def pairs(items: Sequence[str], what: str) -> tuple[dict[str, str], list[Diagnostic]]:
    """``KEY=VALUE`` strings -> mapping; malformed ones become diagnostics."""
    out: dict[str, str] = {}
    problems: list[Diagnostic] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            problems.append(Diagnostic(f"<{what}>", 1, 1, "error",
                                       f"expected KEY=VALUE, got {item!r}", "cli.option"))
            continue
        out[key] = value
    return out, problems


def variables(args: argparse.Namespace) -> tuple[dict[str, Any], list[Diagnostic], dict[str, str]]:
    """(variables, problems, sources of vars files) from ``--vars`` and ``-D``."""
    from flowc.compile.loader import load

    merged: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    sources: dict[str, str] = {}
    for path in args.vars:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Diagnostic(path, 1, 1, "error", f"cannot read vars file: {exc}",
                                       "file.read"))
            continue
        sources[path] = text
        sink = Sink(path)
        loaded = load(text, sink)
        problems.extend(sink.items)
        if loaded.data is None and not sink.items:
            continue
        if not isinstance(loaded.data, dict):
            if loaded.data is not None:
                problems.append(Diagnostic(path, 1, 1, "error",
                                           "a vars file holds one mapping of names to values",
                                           "vars.file"))
            continue
        merged.update(loaded.data)
    defined, bad = pairs(args.define, "-D")
    problems.extend(bad)
    for key, value in defined.items():
        if re.fullmatch(VAR_NAME_PATTERN, key) is None:
            problems.append(Diagnostic("<-D>", 1, 1, "error", f"invalid variable name {key!r}: "
                                       "use letters, digits and '_', starting with a letter",
                                       "cli.option"))
        merged[key] = value
    return merged, problems, sources


def report(diagnostics: Sequence[Diagnostic], sources: dict[str, str], fmt: str, files: int,
           stream: TextIO | None = None) -> None:
    """Print diagnostics (and, in text mode, a summary line when there are any)."""
    out = stream if stream is not None else sys.stdout
    if fmt == "json":
        out.write(format_json(diagnostics))
        return
    if diagnostics:
        out.write(format_text(diagnostics, sources))
        out.write(summary(diagnostics, files) + "\n")
    out.flush()
