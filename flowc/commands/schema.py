"""``flowc schema``: print the flow language's JSON Schema (draft 2020-12)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``flowc schema``."""
    parser.description = (
        "Print the JSON Schema (draft 2020-12) of flow files, for editors "
        "(# yaml-language-server: $schema=...) and other tools. The base schema accepts "
        "any pipeline processor; --plugins adds the settings schemas of the installed ones."
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--plugins", action="store_true",
                        help="include installed processors' settings schemas")


def run(args: argparse.Namespace) -> int:
    """Print or write the schema."""
    from flowc.compile.schema import base_schema, dumps, with_processors

    schema = base_schema()
    if args.plugins:
        from flowc.plugins import load_plugins, processor_schemas

        schema = with_processors(schema, processor_schemas(load_plugins()))
    text = dumps(schema)
    from flowc.compile.output import emit

    return emit(text, args.output, "schema")
