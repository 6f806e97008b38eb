"""Calling observer hooks so that one plugin's failure touches nobody else.

pluggy stops at the first implementation that raises; here each implementation is called
on its own, and a failure is logged with the plugin's name and counted in the metrics.
Hooks run on the event loop: they must be quick.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pluggy

from flowc.runtime.metrics import Metrics

log = logging.getLogger("flowc.observers")


class Observers:
    """Calls the observer hooks of every loaded plugin, each isolated."""

    def __init__(self, manager: pluggy.PluginManager, metrics: Metrics) -> None:
        self._manager = manager
        self._metrics = metrics
        self._cache: dict[str, list[Any]] = {}

    def _impls(self, hook: str) -> list[Any]:
        impls = self._cache.get(hook)
        if impls is None:
            caller = getattr(self._manager.hook, hook, None)
            found = [] if caller is None else caller.get_hookimpls()
            impls = self._cache[hook] = [
                i for i in found if not (i.hookwrapper or getattr(i, "wrapper", False))]
        return impls

    def wanted(self, hook: str) -> bool:
        """True if any plugin implements ``hook`` (skip building arguments otherwise)."""
        return bool(self._impls(hook))

    def notify(self, hook: str, kwargs: Mapping[str, Any]) -> None:
        """Call ``hook`` on every plugin that implements it; failures are contained."""
        for impl in self._impls(hook):
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception:
                log.exception("plugin %r failed in hook %s", impl.plugin_name, hook)
                self._metrics.plugin_error(impl.plugin_name)
