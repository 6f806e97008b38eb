"""The example flows, compiled and rendered the way their golden XML files are (test helper).

Goldens are rendered with the public URL ``https://flowc.example.com`` and the fixed
request parameters in :data:`PARAMS`. Pipelines use the installed processor plugins;
a processor no installed plugin provides yet is registered as a permissive stand-in,
so the examples compile before every plugin has landed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import flowc
from flowc.model import CompiledFlow
from flowc.plugins import PluginHost, ProcessorSpec, load_plugins

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = ROOT / "examples" / "flows"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))
PUBLIC_URL = "https://flowc.example.com"
PARAMS: Mapping[str, str] = {
    "CallUUID": "5f2d1c8e-3b7a-4c1e-9f0a-6d2b8e4c1a90",
    "From": "14155550123",
    "To": "14155550199",
    "Direction": "inbound",
    "CallStatus": "in-progress",
    "Digits": "1",
}
"""Request parameters Plivo would post, fixed so the goldens are deterministic."""

PIPELINE_PROCESSORS = ("recorder", "denoiser", "transcriber", "agent")

_STAND_INS: dict[str, dict[str, Any]] = {
    "recorder": {"kind": "tap"},
    "denoiser": {},
    "transcriber": {},
    "agent": {"plays_audio": True, "wants_keep_call_alive": True},
}


class _StandIns:
    """Registers permissive stand-ins for processors no installed plugin provides."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    @flowc.hookimpl
    def register_processors(self, register: Callable[[ProcessorSpec], None]) -> None:
        for name in sorted(self.names):
            register(ProcessorSpec(name=name, factory=lambda s, c: None,
                                   settings_schema={"type": "object"},
                                   description="stand-in", **_STAND_INS[name]))


_HOST: PluginHost | None = None


def example_host() -> PluginHost:
    """Installed plugins, plus stand-ins for pipeline processors not installed yet."""
    global _HOST
    if _HOST is None:
        host = load_plugins()
        missing = set(PIPELINE_PROCESSORS) - set(host.processors)
        _HOST = load_plugins([_StandIns(missing)]) if missing else host
    return _HOST


def stand_ins_in_use() -> list[str]:
    """Processors currently served by stand-ins (empty once every plugin is installed)."""
    host = example_host()
    return sorted(n for n in PIPELINE_PROCESSORS if host.processors[n].description == "stand-in")


def compile_example(path: Path) -> tuple[CompiledFlow | None, list[Any]]:
    """Compile one example with :func:`example_host`; (flow, diagnostics)."""
    from flowc.compile import compile_file  # the compiler lands in parallel

    result = compile_file(path, host=example_host())
    return result.flow, list(result.diagnostics)


def render_context(flow: CompiledFlow) -> dict[str, Any]:
    """Template variables for one golden request: the flow's vars, then the request."""
    return {**flow.variables, **PARAMS}


def render_documents(flow: CompiledFlow, *, pretty: bool = True) -> dict[str, str]:
    """Every document of ``flow`` rendered for the golden request."""
    context = render_context(flow)
    return {name: doc.render(context, PUBLIC_URL, pretty=pretty)
            for name, doc in flow.documents.items()}


def golden_path(example: Path, document: str) -> Path:
    """``<stem>.xml`` for ``answer``, ``<stem>.<document>.xml`` for the others."""
    suffix = ".xml" if document == "answer" else f".{document}.xml"
    return example.with_name(example.stem + suffix)
