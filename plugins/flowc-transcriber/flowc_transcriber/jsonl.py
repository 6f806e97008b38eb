"""One JSONL file of transcripts per call: ``<transcript_dir>/<call id>.jsonl``.

Lines are appended (a call with several streams, or a reconnect, adds to the same file)
and flushed one by one, so the file holds every result written before a crash.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import IO

import orjson

from flowc.runtime.frames import Transcript
from flowc.runtime.processor import StreamContext

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_name(call_id: str) -> str:
    """A safe file name for a call id (Plivo's UUIDs pass unchanged)."""
    return (_UNSAFE.sub("_", call_id).lstrip(".") or "unknown-call") + ".jsonl"


class TranscriptLog:
    """Appends results to the call's JSONL file (opened on the first result)."""

    def __init__(self, directory: str | Path, context: StreamContext) -> None:
        self.path = Path(directory) / file_name(context.call_id)
        self._context = context
        self._file: IO[bytes] | None = None
        self._failed = False
        self._closed = False
        self.lines = 0

    def write(self, result: Transcript) -> None:
        """Append one result; an unwritable file is logged once, never raised."""
        if self._failed:
            return
        ctx = self._context
        record = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "flow": ctx.flow, "flow_version": ctx.flow_version, "call_id": ctx.call_id,
            "stream_id": ctx.stream_id, "track": result.track, "final": result.final,
            "text": result.text, "start_ms": result.start_ms, "end_ms": result.end_ms,
            "engine": result.engine,
        }
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("ab")
            self._file.write(orjson.dumps(record) + b"\n")
            self._file.flush()
            self.lines += 1
            if self._closed:  # a result that came after close(): written, not left open
                self.close()
        except OSError as exc:
            self._failed = True
            logging.getLogger("flowc.transcriber").error(
                "transcripts: cannot write %s (%s); file output off for this stream",
                self.path, exc)

    def close(self) -> None:
        """Close the file (idempotent; a later result reopens it for its line)."""
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None
