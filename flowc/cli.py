"""The ``flowc`` command line: one subcommand per module in ``flowc.commands``.

Each command module defines ``HELP`` (one line), ``configure(parser)`` and
``run(args) -> int``. Modules are imported only for the command being run, so
``flowc build`` does not pay for the server's imports.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from flowc import __version__

COMMANDS: dict[str, str] = {
    "validate": "Check flows and list every problem as FILE:LINE:COL.",
    "build": "Compile a flow to Plivo XML.",
    "schema": "Print the JSON Schema of the flow language.",
    "serve": "Serve flows: answer URLs, stream WebSockets and plugin pipelines.",
    "plugins": "List installed plugins, their versions, hooks and processors.",
    "call": "Simulate a Plivo call against a flow, offline.",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; subcommand options are added lazily in :func:`main`."""
    parser = argparse.ArgumentParser(
        prog="flowc",
        description="One YAML flow -> validated Plivo XML and a streaming voice backend.",
    )
    parser.add_argument("--version", action="version", version=f"flowc {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flowc`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    known, _rest = parser.parse_known_args(argv)
    if known.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(f"flowc.commands.{known.command}")
    command_parser = argparse.ArgumentParser(
        prog=f"flowc {known.command}", description=COMMANDS[known.command]
    )
    command_parser.add_argument("-v", "--verbose", action="count", default=known.verbose)
    module.configure(command_parser)
    index = argv.index(known.command)
    args = command_parser.parse_args(argv[:index] + argv[index + 1 :])
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug must still end with a message and status 2, no traceback
        logging.getLogger("flowc").debug("internal error", exc_info=True)
        print(f"flowc {known.command}: internal error: {type(exc).__name__}: {exc} "
              "(please report this; -vv shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
