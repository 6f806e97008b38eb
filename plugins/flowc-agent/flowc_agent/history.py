"""Heard context: the conversation as the caller heard it.

Each agent sentence is sent with a checkpoint; it enters the history only when Plivo
confirms that checkpoint played (``playedStream``). A barge-in cuts the reply: sentences
not confirmed by the time the playback is cleared are never added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowc_agent.brains import Message, Role


@dataclass
class _Entry:
    role: Role
    turn: int
    parts: list[str] = field(default_factory=list)
    interrupted: bool = False


class HeardHistory:
    """Caller turns as recognised, agent turns as confirmed played."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._pending: dict[str, tuple[int, str]] = {}

    def user(self, turn: int, text: str) -> None:
        """The caller's words (or keys) for ``turn``."""
        self._entries.append(_Entry("user", turn, [text]))

    def correct_user(self, turn: int, text: str) -> None:
        """Replace the caller's words for ``turn`` (a final result after a partial)."""
        for entry in self._entries:
            if entry.role == "user" and entry.turn == turn:
                entry.parts = [text]

    def sent(self, name: str, turn: int, sentence: str) -> None:
        """``sentence`` of ``turn`` was queued, followed by checkpoint ``name``."""
        self._pending[name] = (turn, sentence)

    def played(self, name: str) -> bool:
        """Plivo confirmed checkpoint ``name``: its sentence was heard."""
        found = self._pending.pop(name, None)
        if found is None:
            return False
        turn, sentence = found
        entry = next((e for e in reversed(self._entries)
                      if e.role == "assistant" and e.turn == turn), None)
        if entry is None:
            entry = _Entry("assistant", turn)
            # keep turn order: after the user entry of the same turn, before later turns
            later = [i for i, e in enumerate(self._entries) if e.turn > turn]
            self._entries.insert(later[0] if later else len(self._entries), entry)
        entry.parts.append(sentence)
        return True

    def interrupted(self, turn: int) -> None:
        """The caller barged in on ``turn``."""
        for entry in self._entries:
            if entry.role == "assistant" and entry.turn == turn:
                entry.interrupted = True

    def cleared(self) -> list[str]:
        """The playback was cleared: what was pending was not heard. Returns it."""
        dropped = [sentence for _, sentence in self._pending.values()]
        self._pending.clear()
        return dropped

    @property
    def pending(self) -> int:
        """Sentences queued but not confirmed yet."""
        return len(self._pending)

    def messages(self) -> list[Message]:
        """The heard conversation, oldest first (empty agent turns left out)."""
        return [Message(e.role, " ".join(e.parts)) for e in self._entries if e.parts]

    def transcript(self) -> list[dict[str, Any]]:
        """Entries with turn numbers and interruption marks (logs, tests)."""
        return [{"role": e.role, "turn": e.turn, "text": " ".join(e.parts),
                 "interrupted": e.interrupted} for e in self._entries]
