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

from flowc_agent.brains import Message, ReplyPart, Say, UserTurn
from flowc_agent.text import SentenceSplitter

log = logging.getLogger("flowc.agent.openai")


def api_key(config: Mapping[str, Any]) -> str | None:
    """The key from ``api_key``, else from the ``api_key_env`` variable (None: no auth)."""
    if config.get("api_key"):
        return str(config["api_key"])
    return os.environ.get(str(config.get("api_key_env") or "OPENAI_API_KEY")) or None


def sse_content(line: str) -> str | None:
    """Text delta in one SSE ``data:`` line; ``""`` for none; None at ``[DONE]``."""
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    if not data:
        return ""
    event = orjson.loads(data)
    if event.get("error"):
        raise RuntimeError(f"model error: {event['error']}")
    parts = []
    for choice in event.get("choices") or ():
        content = (choice.get("delta") or {}).get("content")
        if content:
            parts.append(str(content))
    return "".join(parts)


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

    async def stream_text(self, turn: UserTurn, history: Sequence[Message]
                          ) -> AsyncIterator[str]:
        """Raw text deltas from the server."""
        body = {
            "model": self.model,
            "messages": self.messages(turn, history),
            "stream": True,
            "temperature": self.config.get("temperature", 0.7),
            "max_tokens": self.config.get("max_tokens", 200),
        }
        async with self._client.stream("POST", "chat/completions", json=body) as response:
            if response.status_code != 200:
                detail = (await response.aread())[:300].decode("utf-8", "replace")
                raise RuntimeError(f"HTTP {response.status_code}: {detail}")
            async for line in response.aiter_lines():
                content = sse_content(line)
                if content is None:
                    return
                if content:
                    yield content

    async def reply(self, turn: UserTurn, history: Sequence[Message]
                    ) -> AsyncGenerator[ReplyPart, None]:
        splitter = SentenceSplitter()
        said_any = False
        try:
            async for delta in self.stream_text(turn, history):
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

    async def aclose(self) -> None:
        await self._client.aclose()
