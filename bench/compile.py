"""Compile-wing benchmark: flowc beside the ``plivo`` SDK, measured in the same run.

Rows:
* cold ``flowc build``: a fresh process compiling one example and writing its XML,
  median of N runs, beside a fresh process that imports the SDK and builds the same
  document (and a bare ``python -c pass`` for the interpreter's own start-up);
* warm compile: flows compiled per second over the examples (YAML -> CompiledFlow),
  beside the SDK building every document of those flows per second;
* per-request render: one rendered document with request parameters, beside the SDK
  building and serializing the same document (flowc precompiles; the SDK rebuilds).

Targets (issue 2): render no slower than the SDK's build; cold build under 300 ms.
Usage: ``python bench/compile.py [--runs N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plivo import plivoxml  # noqa: E402

import flowc  # noqa: E402
from flowc.compile.catalog import ELEMENTS, SSML_TAGS  # noqa: E402
from flowc.model import CompiledFlow  # noqa: E402
from flowc.plugins import PluginHost, ProcessorSpec, load_plugins  # noqa: E402

EXAMPLES = sorted((ROOT / "examples" / "flows").glob("*.yaml"))
PUBLIC_URL = "https://flowc.example.com"
PARAMS = {
    "CallUUID": "5f2d1c8e-3b7a-4c1e-9f0a-6d2b8e4c1a90",
    "From": "14155550123",
    "To": "14155550199",
    "Direction": "inbound",
    "CallStatus": "in-progress",
    "Digits": "1",
}
PROCESSORS = ("recorder", "denoiser", "transcriber", "agent")
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SDK_UNSUPPORTED = {("Stream", "noiseCancellation"), ("Stream", "noiseCancellationLevel")}

# --------------------------------------------------------------------- plumbing


class _StandIns:
    """Permissive processors for pipeline steps no installed plugin provides yet."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    @flowc.hookimpl
    def register_processors(self, register: Callable[[ProcessorSpec], None]) -> None:
        for name in sorted(self.names):
            register(ProcessorSpec(name=name, factory=lambda s, c: None,
                                   settings_schema={"type": "object"}, description="stand-in",
                                   plays_audio=name == "agent"))


def plugin_host() -> tuple[PluginHost, set[str]]:
    host = load_plugins()
    missing = set(PROCESSORS) - set(host.processors)
    return (load_plugins([_StandIns(missing)]) if missing else host), missing


SdkPlan = tuple[Any, dict[str, Any], tuple[Any, ...]]


def sdk_plan(xml: str) -> list[SdkPlan]:
    """SDK classes and kwargs for a rendered document, resolved once (not timed)."""

    def plan(element: ET.Element) -> SdkPlan:
        spec = ELEMENTS.get(element.tag) or SSML_TAGS[element.tag]
        kwargs: dict[str, Any] = {}
        for key, value in element.attrib.items():
            name = "xml:lang" if key == XML_LANG else key
            if (element.tag, name) in SDK_UNSUPPORTED:
                continue
            attr = next(a for a in spec.attributes if a.name == name)
            kwargs[attr.sdk_kwarg] = (value == "true" if attr.type == "boolean" else
                                      int(value) if attr.type == "integer" else value)
        if spec.content != "none":
            kwargs["content"] = element.text or ""
        return (getattr(plivoxml, spec.sdk_class), kwargs, tuple(plan(c) for c in element))

    return [plan(child) for child in ET.fromstring(xml)]


def sdk_build(plan: list[SdkPlan]) -> str:
    """What an SDK user does per request: build the objects, then serialize."""

    def build(item: SdkPlan) -> Any:
        cls, kwargs, children = item
        element = cls(**kwargs)
        for child in children:
            element.add(build(child))
        return element

    response = plivoxml.ResponseElement()
    for item in plan:
        response.add(build(item))
    return str(response.to_string())


def sdk_source(plan: list[SdkPlan], out: str) -> str:
    """A standalone script that builds the planned document with the SDK and writes it."""
    lines = ["from plivo import plivoxml", "r = plivoxml.ResponseElement()"]
    counter = iter(range(10**6))

    def emit(item: SdkPlan, parent: str) -> None:
        cls, kwargs, children = item
        var = f"e{next(counter)}"
        lines.append(f"{var} = plivoxml.{cls.__name__}(**{kwargs!r})")
        lines.append(f"{parent}.add({var})")
        for child in children:
            emit(child, var)

    for item in plan:
        emit(item, "r")
    lines.append(f"open({out!r}, 'w').write(r.to_string())")
    return "\n".join(lines) + "\n"


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` (median of 5 batches sized to ~seconds/5 each)."""
    fn()
    n, start = 1, time.perf_counter()
    while time.perf_counter() - start < 0.02:
        fn()
        n += 1
    per_call = (time.perf_counter() - start) / n
    batch = max(1, int(seconds / 5 / per_call))
    rates = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        rates.append(batch / (time.perf_counter() - t0))
    return statistics.median(rates)


def cold_ms(argv: list[str], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user+sys) of a fresh process, in ms.

    CPU time is what the process itself costs; wall time also counts waiting for a CPU,
    which grows when other work shares the machine.
    """
    walls, cpus = [], []
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    subprocess.run(argv, check=True, capture_output=True, env=env)  # warm the page cache
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env)
        walls.append((time.perf_counter() - t0) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def top_imports(argv: list[str], count: int) -> list[tuple[str, float]]:
    """The ``count`` slowest top-level imports of a fresh process (``-X importtime``), ms."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True,
                          text=True, check=True)
    found: list[tuple[str, float]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if name.startswith("  "):
            continue  # nested import: counted in its parent's cumulative time
        found.append((name.strip(), int(cumulative) / 1000))
    return sorted(found, key=lambda item: -item[1])[:count]


# ---------------------------------------------------------------------- report


def row(label: str, ours: str, sdk: str, ratio: str, target: str) -> str:
    return f"{label:<52}{ours:>14}{sdk:>14}{ratio:>9}  {target}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="cold process runs (median)")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per warm measure")
    args = parser.parse_args()

    from flowc.compile import compile_file

    host, missing = plugin_host()
    flows: list[tuple[Path, CompiledFlow]] = []
    for path in EXAMPLES:
        result = compile_file(path, host=host)
        if result.flow is None:
            print(f"skip {path.name}: " + "; ".join(d.message for d in result.diagnostics))
            continue
        flows.append((path, result.flow))

    stand_ins = f" · stand-ins for {sorted(missing)}" if missing else ""
    print(f"flowc {flowc.__version__} · python {sys.version.split()[0]} · "
          f"{len(flows)} example flows{stand_ins}")
    print(row("measure", "flowc", "plivo SDK", "ratio", "target   (ratio = flowc time / SDK time)"))
    print("-" * 110)

    # cold build: one example through the real CLI vs a fresh SDK process, same document
    cold_example = ROOT / "examples" / "flows" / "voice-agent.yaml"
    if missing:
        cold_example = ROOT / "examples" / "flows" / "ivr-menu.yaml"
    cold_flow = next(f for p, f in flows if p == cold_example)
    answer_xml = cold_flow.answer.render({**cold_flow.variables, **PARAMS}, PUBLIC_URL)
    python = sys.executable
    flowc_bin = str(Path(python).with_name("flowc"))
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "out.xml")
        sdk_script = Path(tmp) / "sdk_build.py"
        sdk_script.write_text(sdk_source(sdk_plan(answer_xml), out))
        base_wall, base_cpu = cold_ms([python, "-c", "pass"], args.runs)
        try:
            ours_cold, ours_cpu = cold_ms([flowc_bin, "build", str(cold_example),
                                           "--public-url", PUBLIC_URL, "-o", out], args.runs)
            ours_s = f"{ours_cold:.0f} ms"
        except (OSError, subprocess.CalledProcessError) as exc:
            ours_cold = ours_cpu = float("nan")
            ours_s = f"n/a ({type(exc).__name__})"
        sdk_cold, sdk_cpu = cold_ms([python, str(sdk_script)], args.runs)
    print(row(f"cold build wall, process ({cold_example.stem})", ours_s, f"{sdk_cold:.0f} ms",
              f"{ours_cold / sdk_cold:.2f}", "flowc < 300 ms"))
    print(row("cold build CPU (user+sys)", f"{ours_cpu:.0f} ms", f"{sdk_cpu:.0f} ms",
              f"{ours_cpu / sdk_cpu:.2f}", ""))
    print(row("  python -c pass (wall / CPU)", f"{base_wall:.0f} ms", f"{base_cpu:.0f} ms", "",
              "interpreter start-up"))
    if ours_s.endswith(" ms"):
        slowest = top_imports(["-m", "flowc", "build", str(cold_example), "--public-url",
                               PUBLIC_URL, "-o", os.devnull], 6)
        print(row("  slowest top-level imports of flowc build", "", "", "",
                  ", ".join(f"{name} {ms:.0f} ms" for name, ms in slowest)))

    # warm compile throughput over all examples
    def compile_all() -> None:
        for path, _ in flows:
            compile_file(path, host=host)

    plans = [(sdk_plan(doc.render({**f.variables, **PARAMS}, PUBLIC_URL)))
             for _, f in flows for doc in f.documents.values()]

    def sdk_all() -> None:
        for plan in plans:
            sdk_build(plan)

    compile_rate = rate(compile_all, args.seconds) * len(flows)
    sdk_rate = rate(sdk_all, args.seconds) * len(flows)
    print(row("warm compile, examples (flows/s)", f"{compile_rate:,.0f}", f"{sdk_rate:,.0f}",
              f"{sdk_rate / compile_rate:.2f}", "informative (SDK builds only)"))

    # per-request render vs SDK build of the same document
    worst = 0.0
    for path, flow in flows:
        for name, doc in flow.documents.items():
            context = {**flow.variables, **PARAMS}
            plan = sdk_plan(doc.render(context, PUBLIC_URL))
            ours_us = 1e6 / rate(functools.partial(doc.render, context, PUBLIC_URL),
                                 args.seconds / 4)
            sdk_us = 1e6 / rate(functools.partial(sdk_build, plan), args.seconds / 4)
            worst = max(worst, ours_us / sdk_us)
            print(row(f"render {path.stem}/{name} (µs/request)", f"{ours_us:.1f}",
                      f"{sdk_us:.1f}", f"{ours_us / sdk_us:.2f}", "ratio <= 1"))
    print("-" * 110)
    verdict_render = "PASS" if worst <= 1.0 else "FAIL"
    verdict_cold = "PASS" if ours_cold < 300 else "FAIL"
    print(f"render: worst ratio {worst:.2f} -> {verdict_render}; "
          f"cold build {ours_s} wall, {ours_cpu:.0f} ms CPU -> {verdict_cold}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
