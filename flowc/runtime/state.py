"""Server-wide state shared by every request of one app: flows, plugins, metrics, the
thread limiter, live sessions and the drain switch."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import anyio

from flowc.model import CompiledFlow
from flowc.plugins import PluginHost
from flowc.runtime.callparams import CallParams
from flowc.runtime.metrics import Metrics
from flowc.runtime.observers import Observers
from flowc.runtime.settings import ServeSettings

if TYPE_CHECKING:
    from flowc.runtime.session import Session

log = logging.getLogger("flowc.serve")



class Runtime:
    """What the routes of one app share; reachable as ``app.state.flowc``."""

    def __init__(self, flows: Mapping[str, CompiledFlow], host: PluginHost,
                 settings: ServeSettings) -> None:
        self.flows = dict(flows)
        self.host = host
        self.settings = settings
        self.metrics = Metrics()
        self.observers = Observers(host.manager, self.metrics)
        self.limiter = anyio.CapacityLimiter(max(1, settings.worker_threads))
        self.sessions: set[Session] = set()
        self.draining = False
        self._idle: anyio.Event | None = None
        self.calls = CallParams(settings.call_params_dir)

    # ------------------------------------------------------------ call parameters

    def remember_call(self, params: Mapping[str, str]) -> None:
        """Keep the answer request's parameters so the call's stream sees them."""
        self.calls.remember(params)

    def call_params(self, call_id: str) -> dict[str, str]:
        """Parameters remembered for ``call_id`` (by any worker sharing the directory)."""
        return self.calls.get(call_id)

    # ------------------------------------------------------------------- sessions

    def session_started(self, session: Session) -> None:
        self.sessions.add(session)
        self.metrics.active_streams = len(self.sessions)
        self.metrics.streams_total += 1

    def session_ended(self, session: Session) -> None:
        self.sessions.discard(session)
        self.metrics.active_streams = len(self.sessions)
        if not self.sessions and self._idle is not None:
            self._idle.set()

    # ---------------------------------------------------------------------- drain

    def begin_drain(self) -> None:
        """Refuse new streams and fail ``/readyz`` from now on."""
        if not self.draining:
            log.warning("draining: refusing new streams, %d active", len(self.sessions))
        self.draining = True
        self.metrics.draining = True

    async def drain(self, grace_s: float) -> int:
        """Let active streams end for up to ``grace_s`` s, then cut the rest.

        Returns how many streams were cut. Every cut stream's processors are closed
        before this returns (bounded by ``close_timeout``).
        """
        self.begin_drain()
        cut = 0
        if self.sessions:
            self._idle = anyio.Event()
            with anyio.move_on_after(grace_s):
                await self._idle.wait()
        if self.sessions:
            cut = len(self.sessions)
            log.warning("drain timeout: cutting %d stream(s)", cut)
            self._idle = anyio.Event()
            for session in list(self.sessions):
                session.scope.cancel()
            with anyio.move_on_after(self.settings.close_timeout + 5):
                await self._idle.wait()
        log.warning("drained")
        return cut
