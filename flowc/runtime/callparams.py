"""Remember each call's answer-request parameters until its streams start.

Plivo posts ``From``, ``To``... to the answer URL, but a stream's ``start`` event carries
only the call id. The parameters are kept here, keyed by ``CallUUID``, so processors see
them (``StreamContext.params``). With ``--workers N`` the answer request and the stream
may reach different processes, so the store also writes each call to a directory the
workers share (one small JSON file per call, pruned by age).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger("flowc.runtime")

_SAFE_CALL_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class CallParams:
    """A bounded in-memory map of call id -> parameters, shared through ``directory``."""

    def __init__(self, directory: str | None = None, *, kept: int = 10_000,
                 max_age_s: float = 6 * 3600) -> None:
        self.directory = Path(directory) if directory else None
        self.kept = kept
        self.max_age_s = max_age_s
        self._memory: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._writes = 0

    def remember(self, params: Mapping[str, str]) -> None:
        """Keep the answer request's parameters for its ``CallUUID``."""
        call_id = params.get("CallUUID")
        if not call_id:
            return
        self._memory[call_id] = dict(params)
        self._memory.move_to_end(call_id)
        while len(self._memory) > self.kept:
            self._memory.popitem(last=False)
        if self.directory is not None and _SAFE_CALL_ID.match(call_id):
            self._write(call_id, params)

    def get(self, call_id: str) -> dict[str, str]:
        """Parameters remembered for ``call_id`` here or by another worker (else empty)."""
        known = self._memory.get(call_id)
        if known is not None:
            return dict(known)
        if self.directory is None or not _SAFE_CALL_ID.match(call_id):
            return {}
        try:
            data = json.loads((self.directory / f"{call_id}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write(self, call_id: str, params: Mapping[str, str]) -> None:
        assert self.directory is not None
        target = self.directory / f"{call_id}.json"
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        try:
            partial.write_text(json.dumps(dict(params)), "utf-8")
            os.replace(partial, target)
        except OSError as exc:
            log.warning("cannot share call parameters in %s: %s", self.directory, exc)
            return
        self._writes += 1
        if self._writes % 256 == 0:
            self._prune()

    def _prune(self) -> None:
        assert self.directory is not None
        cutoff = time.time() - self.max_age_s
        for path in self.directory.glob("*.json"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                continue
