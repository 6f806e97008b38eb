"""Sentence splitting, for whole replies and for text that arrives token by token."""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr", "vs", "etc", "e.g", "i.e", "a.m",
     "p.m", "approx", "inc", "ltd"]
)
# A terminator run, optional closing quotes/brackets, then whitespace.
_BOUNDARY = re.compile(r"([.!?…]+[\"')\]]*)(\s+)|(\n+)")


def _is_abbreviation(before: str) -> bool:
    words = before.rsplit(None, 1)
    last = words[-1].lower().rstrip(".") if words else ""
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


class SentenceSplitter:
    """Cut streamed text into sentences as soon as each one is complete.

    ``feed`` returns the sentences completed by the new text (a sentence is complete when
    its terminator is followed by whitespace); ``flush`` returns the rest.
    """

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        out: list[str] = []
        start = 0
        for match in _BOUNDARY.finditer(self._buffer):
            if match.group(1) is not None:
                end = match.end(1)
                if match.group(1) == "." and _is_abbreviation(self._buffer[start : match.start(1)]):
                    continue
            else:
                end = match.start(3)
            sentence = self._buffer[start:end].strip()
            if sentence:
                out.append(sentence)
            start = match.end()
        self._buffer = self._buffer[start:]
        return out

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []


def split_sentences(text: str) -> list[str]:
    """All sentences of a complete text."""
    splitter = SentenceSplitter()
    return splitter.feed(text) + splitter.flush()
