"""flowc: one YAML flow -> validated Plivo XML and a streaming voice backend.

Public API for plugin authors: ``flowc.hookimpl`` (decorate hook implementations) and the
types in ``flowc.plugins`` (``ProcessorSpec``) and ``flowc.runtime.processor``
(``Processor``, ``StreamContext``) and ``flowc.runtime.frames``.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

try:
    __version__ = version("flowc")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

hookimpl = pluggy.HookimplMarker("flowc")
"""Marker for plugin hook implementations: ``@flowc.hookimpl``."""

__all__ = ["__version__", "hookimpl"]
