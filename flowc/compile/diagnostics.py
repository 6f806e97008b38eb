"""Diagnostics: one problem in a flow file, and their text and JSON renderings.

Every stage of the compiler appends :class:`Diagnostic` objects to a :class:`Sink`
instead of raising, so one run lists every problem. Codes are stable dotted names
(``yaml.duplicate-key``, ``schema.enum``, ``stream.bidirectional-track``...).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at ``file:line:col`` (1-based); ``end_col`` marks the span's end."""

    file: str
    line: int
    col: int
    severity: Severity
    message: str
    code: str
    end_col: int | None = None

    @property
    def is_error(self) -> bool:
        """True for errors (which fail a build), false for warnings."""
        return self.severity == "error"

    def headline(self) -> str:
        """``FILE:LINE:COL: severity: message [code]``."""
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message} [{self.code}]"

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping (``column`` spelled out for tools)."""
        data = asdict(self)
        data["column"] = data.pop("col")
        data["end_column"] = data.pop("end_col")
        return data


class Sink:
    """Collects diagnostics for one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Diagnostic] = []

    def add(
        self,
        line: int,
        col: int,
        message: str,
        code: str,
        *,
        severity: Severity = "error",
        end_col: int | None = None,
    ) -> None:
        """Record one problem at 1-based ``line``/``col``."""
        self.items.append(
            Diagnostic(self.file, max(line, 1), max(col, 1), severity, message, code, end_col)
        )

    @property
    def has_errors(self) -> bool:
        """True once any error (not warning) was recorded."""
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        """Every diagnostic once, by position then code."""
        return sort_diagnostics(self.items)


def sort_diagnostics(items: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Deduplicated and sorted by file, line, column, severity and code."""
    return sorted(set(items), key=lambda d: (d.file, d.line, d.col, d.severity, d.code, d.message))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    options = list(choices)
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in options}
        if word.lower() in lowered:
            matches = [lowered[word.lower()]]
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def format_text(diagnostics: Sequence[Diagnostic], sources: dict[str, str]) -> str:
    """Headlines, each followed by the source line and a caret under the column."""
    lines_cache: dict[str, list[str]] = {}
    out: list[str] = []
    for diag in diagnostics:
        out.append(diag.headline())
        if diag.file not in lines_cache:
            lines_cache[diag.file] = sources.get(diag.file, "").splitlines()
        lines = lines_cache[diag.file]
        if 1 <= diag.line <= len(lines):
            text = lines[diag.line - 1].replace("\t", " ")
            gutter = f"{diag.line:>5} | "
            out.append(gutter + text)
            width = 1
            if diag.end_col is not None and diag.end_col > diag.col:
                width = min(diag.end_col, len(text) + 1) - diag.col
            caret = " " * (diag.col - 1) + "^" + "~" * max(width - 1, 0)
            out.append(" " * (len(gutter) - 2) + "| " + caret)
    return "\n".join(out) + ("\n" if out else "")


def format_json(diagnostics: Sequence[Diagnostic]) -> str:
    """A JSON array of diagnostics."""
    return json.dumps([d.to_json() for d in diagnostics], indent=2) + "\n"


def summary(diagnostics: Sequence[Diagnostic], files: int) -> str:
    """``2 errors, 1 warning in 3 files``."""
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"
    return f"{plural(errors, 'error')}, {plural(warnings, 'warning')} in {plural(files, 'file')}"
