"""Brains: who writes the agent's replies.

A brain turns the caller's turn (words and/or keys) and the heard conversation into reply
parts: :class:`Say` (one sentence, spoken as soon as it arrives) and at most one
:class:`Act` (what to do once the reply has played).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Role = Literal["user", "assistant"]
ActionKind = Literal["end", "hangup", "transfer"]


@dataclass(frozen=True, slots=True)
class Message:
    """One entry of the heard conversation."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class UserTurn:
    """What the caller said (``text``) or pressed (``digits``) this turn."""

    text: str = ""
    digits: str = ""


@dataclass(frozen=True, slots=True)
class Say:
    """One sentence of the reply."""

    text: str


@dataclass(frozen=True, slots=True)
class Act:
    """An action to take after the reply has played."""

    kind: ActionKind
    url: str | None = None


ReplyPart = Say | Act


class Brain(Protocol):
    """Writes replies. ``reply`` is an async generator; it may be closed early (barge-in)."""

    last_intent: str | None

    def reply(self, turn: UserTurn, history: Sequence[Message]) -> AsyncGenerator[ReplyPart, None]:
        """Reply parts for ``turn`` given what was heard so far (oldest first)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
