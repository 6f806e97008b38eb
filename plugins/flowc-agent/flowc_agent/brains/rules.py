"""The embedded rule brain: intents by keywords, regex patterns or DTMF, templated replies."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from flowc_agent.brains import Act, ActionKind, Message, ReplyPart, Say, UserTurn
from flowc_agent.text import split_sentences


class _Slots(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, slots: Mapping[str, str]) -> str:
    """``template`` with ``{slot}`` replaced; unknown slots and stray braces stay as written."""
    try:
        return template.format_map(_Slots(slots))
    except (ValueError, IndexError, AttributeError, KeyError):
        return template


@dataclass(frozen=True)
class Intent:
    name: str
    reply: str
    keywords: tuple[re.Pattern[str], ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    dtmf: str = ""
    action: ActionKind | None = None
    transfer_url: str | None = None
    sets: Mapping[str, str] = field(default_factory=dict)

    def match(self, turn: UserTurn) -> dict[str, str] | None:
        """Captured slots if the intent matches ``turn``, else None."""
        if turn.digits and self.dtmf and any(d in self.dtmf for d in turn.digits):
            return {}
        if not turn.text:
            return None
        for pattern in self.patterns:
            found = pattern.search(turn.text)
            if found:
                return {k: v for k, v in found.groupdict().items() if v is not None}
        if any(k.search(turn.text) for k in self.keywords):
            return {}
        return None


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"agent rules: {where}: bad pattern {pattern!r}: {exc}") from exc


def parse_intents(config: Sequence[Mapping[str, Any]]) -> list[Intent]:
    """Intents from the ``rules.intents`` settings (ValueError on a bad pattern)."""
    intents = []
    for index, raw in enumerate(config):
        name = str(raw.get("name") or f"intent-{index + 1}")
        keywords = tuple(
            _compile(r"(?<!\w)" + re.escape(k.strip()) + r"(?!\w)", name)
            for k in raw.get("keywords", ())
        )
        patterns = tuple(_compile(p, name) for p in raw.get("patterns", ()))
        action = raw.get("action")
        if action == "transfer" and not raw.get("transfer_url"):
            raise ValueError(f"agent rules: {name}: action transfer needs transfer_url")
        intents.append(Intent(
            name=name, reply=str(raw["reply"]), keywords=keywords, patterns=patterns,
            dtmf=str(raw.get("dtmf", "")), action=cast("ActionKind | None", action),
            transfer_url=raw.get("transfer_url"), sets=dict(raw.get("set", {})),
        ))
    return intents


class RuleBrain:
    """First matching intent wins; otherwise the fallback. Slots persist over the call."""

    def __init__(self, config: Mapping[str, Any], params: Mapping[str, str] | None = None
                 ) -> None:
        self.intents = parse_intents(config.get("intents", ()))
        self.fallback = str(config.get("fallback", ""))
        self.slots: dict[str, str] = {**(params or {}), **config.get("slots", {})}
        self.last_intent: str | None = None

    def decide(self, turn: UserTurn) -> tuple[str, Act | None]:
        """The reply text and action for ``turn`` (updates slots and ``last_intent``)."""
        self.slots.update(text=turn.text, digits=turn.digits)
        for intent in self.intents:
            captured = intent.match(turn)
            if captured is None:
                continue
            self.slots.update(captured)
            self.slots.update({k: fill(v, self.slots) for k, v in intent.sets.items()})
            self.last_intent = intent.name
            act = Act(intent.action, intent.transfer_url) if intent.action else None
            return fill(intent.reply, self.slots), act
        self.last_intent = None
        return fill(self.fallback, self.slots), None

    async def reply(self, turn: UserTurn, history: Sequence[Message]
                    ) -> AsyncGenerator[ReplyPart, None]:
        text, act = self.decide(turn)
        for sentence in split_sentences(text):
            yield Say(sentence)
        if act is not None:
            yield act

    async def aclose(self) -> None:
        pass
