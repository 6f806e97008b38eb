"""``flowc plugins``: installed plugins, versions, hooks, processors (and broken ones)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowc.plugins import PluginHost


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``flowc plugins``."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def describe(host: PluginHost | None = None) -> list[dict[str, Any]]:
    """Every plugin with its version, hooks, processors and engines, or its error."""
    from flowc.plugins import load_plugins

    host = host or load_plugins()
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


def format_text(plugins: list[dict[str, Any]]) -> str:
    """The human-readable listing."""
    if not plugins:
        return "no plugins installed\n"
    lines = []
    for plugin in plugins:
        lines.append(f"{plugin['name']} ({plugin['distribution']} {plugin['version']})")
        if plugin["error"]:
            lines.append(f"  BROKEN: {plugin['error']}")
            continue
        lines.append(f"  hooks: {', '.join(plugin['hooks']) or '-'}")
        for proc in plugin["processors"]:
            extra = " [plays audio]" if proc["plays_audio"] else ""
            rates = "/".join(str(r // 1000) for r in proc["sample_rates"])
            about = f": {proc['description']}" if proc["description"] else ""
            lines.append(f"  processor {proc['name']} ({proc['kind']}, {rates} kHz){extra}{about}")
        lines.extend(f"  engine {engine}" for engine in plugin["engines"])
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Print the list; exit 1 if a plugin is broken."""
    plugins = describe()
    print(json.dumps(plugins, indent=2) if args.json else format_text(plugins), end="\n"
          if args.json else "")
    return 1 if any(p["error"] for p in plugins) else 0
