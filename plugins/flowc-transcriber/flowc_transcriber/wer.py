"""Word error rate with the normalisation the tests and the bench use."""

from __future__ import annotations

import re
from collections.abc import Sequence

_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def normalize(text: str) -> list[str]:
    """Lower-case words, punctuation dropped, every digit spelled out on its own."""
    text = re.sub(r"\d", lambda m: f" {_DIGITS[int(m.group())]} ", text.lower())
    text = re.sub(r"[^a-z' ]+", " ", text).replace("'", "")
    return text.split()


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Word-level Levenshtein distance."""
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, start=1):
        prev, row[0] = row[0], i
        for j, other in enumerate(hyp, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (word != other))
    return row[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Errors (substitutions, insertions, deletions) per reference word."""
    ref = normalize(reference)
    if not ref:
        raise ValueError("empty reference")
    return edit_distance(ref, normalize(hypothesis)) / len(ref)
