"""``flowc plugins``: installed plugins, versions, hooks, processors (and broken ones)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``flowc plugins``."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def describe() -> list[dict[str, Any]]:
    """Every plugin with its version, hooks, processors and engines, or its error."""
    from flowc.plugins import load_plugins

    host = load_plugins()
    out = []
    for info in host.plugins:
        processors = [
            {"name": spec.name, "kind": spec.kind, "description": spec.description,
             "plays_audio": spec.plays_audio, "sample_rates": list(spec.sample_rates)}
            for spec in host.processors.values() if spec.plugin == info.name
        ]
        engines = [f"{spec.kind}:{spec.name}" for spec in host.engines.values()
                   if spec.plugin == info.name]
        out.append({"name": info.name, "distribution": info.distribution,
                    "version": info.version, "hooks": list(info.hooks),
                    "processors": processors, "engines": engines, "error": info.error})
    return out


def run(args: argparse.Namespace) -> int:
    """Print the list; exit 1 if a plugin is broken."""
    plugins = describe()
    if args.json:
        print(json.dumps(plugins, indent=2))
    elif not plugins:
        print("no plugins installed")
    for plugin in plugins if not args.json else ():
        print(f"{plugin['name']} ({plugin['distribution']} {plugin['version']})")
        if plugin["error"]:
            print(f"  BROKEN: {plugin['error']}")
            continue
        print(f"  hooks: {', '.join(plugin['hooks']) or '-'}")
        for proc in plugin["processors"]:
            extra = " [plays audio]" if proc["plays_audio"] else ""
            rates = "/".join(str(r // 1000) for r in proc["sample_rates"])
            print(f"  processor {proc['name']} ({proc['kind']}, {rates} kHz){extra}"
                  f"{': ' + proc['description'] if proc['description'] else ''}")
        for engine in plugin["engines"]:
            print(f"  engine {engine}")
    return 1 if any(p["error"] for p in plugins) else 0
