"""``flowc validate FLOW...``: every problem in every flow, as FILE:LINE:COL."""

from __future__ import annotations

import argparse
import sys

from flowc.compile.options import add_format_option, add_variable_options, report, variables


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``flowc validate``."""
    parser.description = (
        "Check flow files (YAML syntax, schema, Plivo rules, templates, references, "
        "pipelines) and print every problem as FILE:LINE:COL: severity: message [code]. "
        "Exit status: 0 when there are no errors (warnings allowed), 2 otherwise."
    )
    parser.add_argument("flows", metavar="FLOW", nargs="+",
                        help="flow files or directories of *.yaml/*.yml ('-' reads stdin)")
    add_variable_options(parser)
    add_format_option(parser)
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print errors only, no warnings")


def run(args: argparse.Namespace) -> int:
    """Validate each flow; exit 2 on any error."""
    from flowc.compile import compile_file, compile_text

    values, problems, sources = variables(args)
    if problems:
        report(problems, sources, args.format, len(args.flows))
        return 2
    diagnostics = list(problems)
    names = _expand(args.flows)
    for name in names:
        if name == "-":
            text = sys.stdin.read()
            result = compile_text(text, filename="<stdin>", variables=values, env=args.env)
        else:
            result = compile_file(name, variables=values, env=args.env)
        sources[result.filename or name] = result.source
        diagnostics.extend(result.diagnostics)
    if args.quiet:
        diagnostics = [d for d in diagnostics if d.is_error]
    report(diagnostics, sources, args.format, len(names))
    return 2 if any(d.is_error for d in diagnostics) else 0


def _expand(flows: list[str]) -> list[str]:
    """Directories become their ``*.yaml``/``*.yml`` files (sorted, recursively)."""
    from pathlib import Path

    out: list[str] = []
    for name in flows:
        path = Path(name)
        if name != "-" and path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            out.extend(str(p) for p in found if p.is_file())
        else:
            out.append(name)
    return out
