"""Plugin loading and the registry of processors and engines.

Shared by both wings: the compile wing reads :class:`ProcessorSpec` metadata (settings
schemas, audio needs); the run wing calls the factories. Built-in plugins register
through the same ``flowc`` entry-point group as third-party ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal

import pluggy

from flowc import hookspecs

log = logging.getLogger("flowc.plugins")

ENTRY_POINT_GROUP = "flowc"

JsonSchema = Mapping[str, Any]


@dataclass(frozen=True)
class ProcessorSpec:
    """What a plugin declares about one pipeline processor.

    ``factory(settings, context)`` returns a :class:`flowc.runtime.processor.Processor`
    for one stream; ``settings`` has been validated against ``settings_schema`` and has
    the schema's defaults filled in by the caller where it chooses to.
    """

    name: str
    factory: Callable[..., Any]
    settings_schema: JsonSchema = field(
        default_factory=lambda: {"type": "object", "additionalProperties": False}
    )
    description: str = ""
    kind: Literal["stage", "tap"] = "stage"
    """``tap`` processors watch the stream without being in the live path (recorder)."""
    plays_audio: bool = False
    """Sends audio back to the caller: the Stream needs ``bidirectional: true``."""
    sample_rates: tuple[int, ...] = (8000, 16000)
    """Stream sample rates the processor accepts (``contentType`` must fit)."""
    wants_keep_call_alive: bool = False
    """Warn when the Stream lacks ``keepCallAlive: true`` (agents that own the call)."""
    plugin: str = ""
    """Name of the distribution/plugin that registered it (filled in by the host)."""


@dataclass(frozen=True)
class EngineSpec:
    """A named engine (speech recognizer, TTS, denoiser...) that processors look up."""

    kind: str
    name: str
    factory: Callable[..., Any]
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class PluginInfo:
    """One loaded (or broken) plugin, for ``flowc plugins``."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]
    error: str | None = None


@dataclass
class PluginHost:
    """A plugin manager with every installed plugin loaded, plus its registries."""

    manager: pluggy.PluginManager
    plugins: list[PluginInfo]
    processors: dict[str, ProcessorSpec]
    engines: dict[tuple[str, str], EngineSpec]

    def engines_of(self, kind: str) -> dict[str, EngineSpec]:
        """Engines registered under ``kind``, by name."""
        return {name: spec for (k, name), spec in self.engines.items() if k == kind}


def new_manager() -> pluggy.PluginManager:
    """A fresh plugin manager that knows flowc's hookspecs and no plugins."""
    manager = pluggy.PluginManager("flowc")
    manager.add_hookspecs(hookspecs)
    return manager


def _load_entry_point(manager: pluggy.PluginManager, ep: EntryPoint) -> PluginInfo:
    dist = ep.dist
    dist_name = dist.name if dist is not None else "?"
    dist_version = dist.version if dist is not None else "?"
    try:
        plugin = ep.load()
        manager.register(plugin, name=ep.name)
    except Exception as exc:  # a broken plugin must not take flowc down
        log.error("plugin %r (%s) failed to load: %s", ep.name, dist_name, exc)
        error = f"{type(exc).__name__}: {exc}"
        return PluginInfo(ep.name, dist_name, dist_version, (), error=error)
    hooks = tuple(sorted(h.name for h in manager.get_hookcallers(plugin) or ()))
    return PluginInfo(ep.name, dist_name, dist_version, hooks)


def load_plugins(extra: Iterable[object] = (), *, entry_points_enabled: bool = True) -> PluginHost:
    """Build a :class:`PluginHost`: load every ``flowc`` entry point, each on its own.

    ``extra`` plugin objects (modules or instances) are registered too; tests use it.
    A plugin that fails to import is reported in ``plugins`` with its error instead
    of crashing; a hook implementation with a misspelled name fails loudly.
    """
    manager = new_manager()
    infos: list[PluginInfo] = []
    if entry_points_enabled:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if manager.has_plugin(ep.name):
                continue
            infos.append(_load_entry_point(manager, ep))
    for index, plugin in enumerate(extra):
        name = getattr(plugin, "__name__", None) or f"extra-{index}"
        manager.register(plugin, name=name)
        hooks = tuple(sorted(h.name for h in manager.get_hookcallers(plugin) or ()))
        infos.append(PluginInfo(name, "(in-process)", "-", hooks))
    manager.check_pending()

    processors: dict[str, ProcessorSpec] = {}
    engines: dict[tuple[str, str], EngineSpec] = {}

    for info in infos:
        if info.error is not None:
            continue
        loaded: Any = manager.get_plugin(info.name)
        hook_impls = {h.name for h in manager.get_hookcallers(loaded) or ()}

        def add_processor(spec: ProcessorSpec, _plugin: str = info.name) -> None:
            if spec.name in processors:
                log.warning("processor %r registered twice; keeping %s's", spec.name,
                            processors[spec.name].plugin)
                return
            processors[spec.name] = _with_plugin(spec, _plugin)

        def add_engine(spec: EngineSpec, _plugin: str = info.name) -> None:
            engines.setdefault((spec.kind, spec.name), _with_plugin(spec, _plugin))

        try:
            if "register_processors" in hook_impls:
                loaded.register_processors(register=add_processor)
            if "register_engines" in hook_impls:
                loaded.register_engines(register=add_engine)
        except Exception as exc:
            log.error("plugin %r failed while registering: %s", info.name, exc)
            infos[infos.index(info)] = PluginInfo(
                info.name, info.distribution, info.version, info.hooks,
                error=f"{type(exc).__name__}: {exc}")
    return PluginHost(manager, infos, processors, engines)


def _with_plugin(spec: Any, plugin: str) -> Any:
    if spec.plugin:
        return spec
    from dataclasses import replace

    return replace(spec, plugin=plugin)


def processor_schemas(host: PluginHost) -> Mapping[str, JsonSchema]:
    """Settings schema of every registered processor, by processor name."""
    return {name: spec.settings_schema for name, spec in host.processors.items()}
