"""A brain on any OpenAI-compatible chat-completions server, streamed (SSE).

Tokens are cut into sentences as they arrive, so the agent starts speaking once the
first sentence is complete instead of waiting for the whole answer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any

import httpx
import orjson

from flowc_agent.brains import Act, ActionKind, Message, ReplyPart, Say, UserTurn
from flowc_agent.text import SentenceSplitter

log = logging.getLogger("flowc.agent.openai")


def api_key(config: Mapping[str, Any]) -> str | None:
    """The key from ``api_key``, else from the ``api_key_env`` variable (None: no auth)."""
    if config.get("api_key"):
        return str(config["api_key"])
    return os.environ.get(str(config.get("api_key_env") or "OPENAI_API_KEY")) or None


TOOLS: dict[str, tuple[ActionKind, str]] = {
    "end_call": ("end", "End the conversation once you have said goodbye."),
    "hang_up": ("hangup", "Hang up the call once you have said goodbye."),
    "transfer_call": ("transfer", "Transfer the caller to a human colleague."),
}
"""Function tools offered to the model for the ``actions`` it may take."""


def sse_event(line: str) -> dict[str, Any] | None:
    """The JSON event in one SSE line (``{}`` for comments and blanks); None at ``[DONE]``."""
    if not line.startswith("data:"):
        return {}
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    if not data:
        return {}
    event = orjson.loads(data)
    if not isinstance(event, dict):
        raise ValueError("SSE data is not a JSON object")
    if event.get("error"):
        raise RuntimeError(f"model error: {event['error']}")
    return event


def sse_content(line: str) -> str | None:
    """Text delta in one SSE ``data:`` line; ``""`` for none; None at ``[DONE]``."""
    event = sse_event(line)
    if event is None:
        return None
    parts = []
    for choice in event.get("choices") or ():
        content = (choice.get("delta") or {}).get("content")
        if content:
            parts.append(str(content))
    return "".join(parts)


def tool_names(event: dict[str, Any]) -> list[str]:
    """Names of the tool calls that start in a streamed event."""
    names = []
    for choice in event.get("choices") or ():
        for call in (choice.get("delta") or {}).get("tool_calls") or ():
            name = (call.get("function") or {}).get("name")
            if name:
                names.append(str(name))
    return names


class OpenAIBrain:
    """Chat completions with ``stream: true`` on ``base_url`` (OpenAI, vLLM, Ollama...)."""

    def __init__(self, config: Mapping[str, Any], *, client: httpx.AsyncClient | None = None
                 ) -> None:
        self.config = config
        self.model = str(config.get("model", "gpt-4o-mini"))
        self.system_prompt = str(config.get("system_prompt", ""))
        self.error_reply = str(config.get("error_reply", ""))
        headers = {"Accept": "text/event-stream"}
        key = api_key(config)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        base_url = str(config.get("base_url", "https://api.openai.com/v1")).rstrip("/") + "/"
        self._client = client or httpx.AsyncClient(
            base_url=base_url, headers=headers,
            timeout=httpx.Timeout(float(config.get("timeout_s", 20)), connect=5.0),
        )
        self.last_intent: str | None = None

    def messages(self, turn: UserTurn, history: Sequence[Message]) -> list[dict[str, str]]:
        """The request's ``messages``: system prompt, heard history, this turn."""
        out = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        out += [{"role": m.role, "content": m.content} for m in history]
        said = turn.text or (f"(The caller pressed {turn.digits} on the keypad.)"
                             if turn.digits else "")
        out.append({"role": "user", "content": said})
        return out

    def tools(self) -> list[dict[str, Any]]:
        """Function tools for the configured ``actions`` (none: no ``tools`` sent)."""
        allowed = set(self.config.get("actions") or ())
        return [{"type": "function", "function": {
                    "name": name, "description": description,
                    "parameters": {"type": "object", "properties": {}}}}
                for name, (kind, description) in TOOLS.items() if kind in allowed]

    async def stream(self, turn: UserTurn, history: Sequence[Message]
                     ) -> AsyncIterator[str | Act]:
        """Text deltas from the server, and an :class:`Act` for each action tool called."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages(turn, history),
            "stream": True,
            "temperature": self.config.get("temperature", 0.7),
            "max_tokens": self.config.get("max_tokens", 200),
        }
        tools = self.tools()
        if tools:
            body["tools"] = tools
        async with self._client.stream("POST", "chat/completions", json=body) as response:
            if response.status_code != 200:
                detail = (await response.aread())[:300].decode("utf-8", "replace")
                raise RuntimeError(f"HTTP {response.status_code}: {detail}")
            async for line in response.aiter_lines():
                event = sse_event(line)
                if event is None:
                    return
                content = sse_content(line) if event else ""
                if content:
                    yield content
                for name in tool_names(event):
                    if name in TOOLS and any(t["function"]["name"] == name for t in tools):
                        kind = TOOLS[name][0]
                        url = self.config.get("transfer_url") if kind == "transfer" else None
                        yield Act(kind, url)

    async def reply(self, turn: UserTurn, history: Sequence[Message]
                    ) -> AsyncGenerator[ReplyPart, None]:
        splitter = SentenceSplitter()
        said_any = False
        action: Act | None = None
        try:
            async for delta in self.stream(turn, history):
                if isinstance(delta, Act):
                    action = action or delta
                    continue
                for sentence in splitter.feed(delta):
                    said_any = True
                    yield Say(sentence)
        except (httpx.HTTPError, RuntimeError, ValueError) as exc:
            log.error("chat completion failed (%s): %s", self.model, exc)
            if not said_any and self.error_reply:
                yield Say(self.error_reply)
            return
        for sentence in splitter.flush():
            yield Say(sentence)
        if action is not None:
            self.last_intent = f"tool:{action.kind}"
            yield action
        else:
            self.last_intent = None

    async def aclose(self) -> None:
        await self._client.aclose()
