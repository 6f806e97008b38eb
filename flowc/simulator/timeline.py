"""The call's clock and its timeline of events (what ``flowc call`` shows and reports)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class CallClock:
    """Seconds since the call was answered.

    In ``fast`` mode, :meth:`sleep` skips the wait and moves the clock forward instead
    (a 5 s ``<Wait>`` takes no wall time); everything that depends on the far end's real
    timing (streams, replies) still runs on the wall clock.
    """

    def __init__(self, *, fast: bool = False) -> None:
        self.fast = fast
        self._origin = time.monotonic()
        self._skipped = 0.0
        self._jumped = asyncio.Event()

    def restart(self) -> None:
        """Make now call time zero (when the call is placed)."""
        self._origin = time.monotonic()
        self._skipped = 0.0

    def __call__(self) -> float:
        return self.now()

    def now(self) -> float:
        """Call time in seconds."""
        return time.monotonic() - self._origin + self._skipped

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of call time pass (instantly when ``fast``)."""
        if seconds <= 0:
            return
        if self.fast:
            self._skipped += seconds
            self._jumped.set()
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(seconds)

    async def sleep_until(self, at: float) -> None:
        """Let call time reach ``at``."""
        await self.sleep(at - self.now())

    async def wait_until(self, at: float) -> None:
        """Wait (never skip) until call time reaches ``at``, by the wall clock or because a
        fast-mode :meth:`sleep` jumped past it."""
        while (delay := at - self.now()) > 0:
            self._jumped.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._jumped.wait(), delay)


@dataclass(frozen=True)
class Entry:
    """One line of the timeline.

    ``kind``: ``call``, ``document``, ``verb``, ``stream``, ``caller``, ``agent``,
    ``transcript``, ``dtmf``, ``event``, ``status``, ``latency``, ``warning``, ``error``.
    """

    time: float
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """As data for ``--json``."""
        return {**self.data, "t": round(self.time, 3), "kind": self.kind, "text": self.text}


class Timeline:
    """An append-only list of :class:`Entry`, with listeners for live display."""

    def __init__(self, clock: CallClock) -> None:
        self.clock = clock
        self.entries: list[Entry] = []
        self.listeners: list[Callable[[Entry], None]] = []

    def add(self, kind: str, text: str, /, *, at: float | None = None, **data: Any) -> Entry:
        """Record an entry now (or at call time ``at``) and tell the listeners."""
        entry = Entry(self.clock.now() if at is None else at, kind, text, data)
        self.entries.append(entry)
        for listener in self.listeners:
            listener(entry)
        return entry

    def of(self, kind: str) -> list[Entry]:
        """Entries of one kind, in order."""
        return [e for e in self.entries if e.kind == kind]
