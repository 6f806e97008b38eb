"""``flowc build FLOW``: compile a flow and print one of its documents as Plivo XML."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from flowc.compile.options import add_format_option, add_variable_options, report, variables

if TYPE_CHECKING:
    from flowc.compile.diagnostics import Diagnostic


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``flowc build``."""
    parser.description = (
        "Validate FLOW and print one document (default: answer) as Plivo XML, rendered "
        "with the request parameters given by --param. References to the flow's own "
        "routes (#menu, streams without a URL, #stream-status) need --public-url. "
        "Diagnostics go to stderr; exit status 2 on any error."
    )
    parser.add_argument("flow", metavar="FLOW", help="the flow file ('-' reads stdin)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the XML to FILE (atomically) instead of stdout")
    parser.add_argument("--public-url", metavar="URL",
                        help="base URL where flowc serve is reachable, e.g. https://voice.example.com")
    parser.add_argument("--param", metavar="KEY=VALUE", action="append", default=[],
                        help="a request parameter as Plivo would post it (From, Digits...)")
    parser.add_argument("--document", metavar="NAME", default="answer",
                        help="which named document to render (default: answer)")
    parser.add_argument("--compact", action="store_true", help="no indentation or newlines")
    add_variable_options(parser)
    add_format_option(parser)



def run(args: argparse.Namespace) -> int:
    """Compile, render, write."""
    from flowc.compile import compile_file, compile_text
    from flowc.compile.diagnostics import Diagnostic, did_you_mean
    from flowc.compile.options import pairs

    values, problems, sources = variables(args)
    params, bad = pairs(args.param, "--param")
    problems.extend(bad)
    base_url = ""
    if args.public_url is not None:
        base_url = args.public_url.rstrip("/")
        if not base_url.startswith(("http://", "https://")) or "//" not in base_url or \
                len(base_url.split("//", 1)[1]) == 0:
            problems.append(Diagnostic("<--public-url>", 1, 1, "error",
                                       f"--public-url must be an http(s) URL, got "
                                       f"{args.public_url!r}", "cli.public-url"))
    if problems:
        report(problems, sources, args.format, 1, sys.stderr)
        return 2
    if args.flow == "-":
        result = compile_text(sys.stdin.read(), filename="<stdin>", variables=values,
                              env=args.env)
    else:
        result = compile_file(args.flow, variables=values, env=args.env)
    sources[result.filename] = result.source
    diagnostics: list[Diagnostic] = list(result.diagnostics)
    flow = result.flow
    xml = None
    if flow is not None:
        document = flow.documents.get(args.document)
        if document is None:
            diagnostics.append(Diagnostic(result.filename, 1, 1, "error",
                                          f"no document named {args.document!r}"
                                          + did_you_mean(args.document, flow.documents)
                                          + f"; the flow has: {', '.join(flow.documents)}",
                                          "build.unknown-document"))
        else:
            where = result.route_positions.get(document.name, (1, 1, None))
            xml = _render(document, params, base_url, args, result.filename, where, diagnostics)
    report(diagnostics, sources, args.format, 1, sys.stderr)
    if xml is None:
        return 2
    from flowc.compile.output import emit

    return emit(xml, args.output, "build")


def _render(document: object, params: dict[str, str], base_url: str, args: argparse.Namespace,
            filename: str, where: tuple[int, int, int | None],
            diagnostics: list[Diagnostic]) -> str | None:
    from flowc.compile.diagnostics import Diagnostic
    from flowc.compile.output import route_refs
    from flowc.compile.templates import TemplateRenderError
    from flowc.model import Document

    assert isinstance(document, Document)
    if not base_url:
        refs = route_refs(document.root)
        if refs:
            diagnostics.append(Diagnostic(
                filename, where[0], where[1], "error",
                f"document {document.name!r} uses flowc routes ({refs[0].path}"
                + (f" and {len(refs) - 1} more" if len(refs) > 1 else "")
                + "); pass --public-url https://your-host so they become absolute URLs",
                "build.public-url", where[2]))
            return None
    try:
        xml = document.render(params, base_url, pretty=not args.compact)
    except TemplateRenderError as exc:
        diagnostics.append(Diagnostic(exc.file, exc.line, exc.col, "error", exc.message,
                                      "template.render"))
        return None
    from flowc.compile.compiler import MAX_DOCUMENT_BYTES

    size = len(xml.encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        diagnostics.append(Diagnostic(filename, 1, 1, "error",
                                      f"document {document.name!r} rendered to {size} bytes for "
                                      f"this request; Plivo accepts at most {MAX_DOCUMENT_BYTES}",
                                      "doc.too-large"))
        return None
    return xml + "\n"
