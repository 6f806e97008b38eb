"""flowc: one YAML flow -> validated Plivo XML and a streaming voice backend.

Public API for plugin authors: ``flowc.hookimpl`` (decorate hook implementations) and the
types in ``flowc.plugins`` (``ProcessorSpec``) and ``flowc.runtime.processor``
(``Processor``, ``StreamContext``) and ``flowc.runtime.frames``.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("flowc")
"""Marker for plugin hook implementations: ``@flowc.hookimpl``."""

__all__ = ["__version__", "hookimpl"]
