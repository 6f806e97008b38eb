"""The agent's settings: JSON Schema (draft 2020-12) with defaults, and default filling."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

_STR_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}

_ACTION = {
    "enum": ["end", "hangup", "transfer"],
    "description": "After the reply has played: `end` closes the stream (the flow's next "
    "XML runs with keepCallAlive), `hangup` ends the call and `transfer` redirects it to "
    "`transfer_url` (both through Plivo's REST API when credentials are configured, "
    "otherwise they fall back to `end`).",
}

_INTENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reply"],
    "properties": {
        "name": {"type": "string", "description": "Intent name (logs and metrics)."},
        "keywords": {**_STR_LIST, "description":
                     "Matches when any keyword (a word or phrase, case-insensitive, "
                     "whole words) is in the caller's words."},
        "patterns": {"type": "array", "items": {"type": "string", "minLength": 1,
                                                "format": "regex"}, "description":
                     "Python regular expressions searched case-insensitively; named "
                     "groups `(?P<slot>...)` fill slots."},
        "dtmf": {"type": "string", "pattern": "^[0-9A-D*#]+$",
                 "description": "Matches when the caller presses any of these keys."},
        "reply": {"type": "string", "description":
                  "What the agent says; `{slot}` is replaced by a slot value "
                  "(rules.slots, captured groups, `text`, `digits`, call parameters)."},
        "action": _ACTION,
        "transfer_url": {"type": "string", "format": "uri",
                         "description": "Absolute URL of the XML to transfer the call to."},
        "set": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "Slots to set when the intent matches."},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "agent",
    "description": "A voice agent on a bidirectional stream: greeting, turn-taking, "
    "barge-in, replies from a rule brain or an OpenAI-compatible model, spoken offline.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "greeting": {"type": "string", "default": "Hello! How can I help you?",
                     "description": "Said when the stream starts; empty for none."},
        "tts": {
            "type": "object",
            "additionalProperties": False,
            "default": {"engine": "espeak"},
            "description": "Text-to-speech engine (EngineSpec kind `tts`) and its options.",
            "properties": {
                "engine": {"type": "string", "default": "espeak",
                           "description": "`espeak` (built in), `piper` (natural voice, "
                           "needs flowc-agent[piper]) or a plugin's engine."},
                "options": {"type": "object", "default": {},
                            "description": "Keyword options for the engine factory: espeak "
                            "`voice`, `wpm`, `pitch`; piper `model`, `config`, "
                            "`length_scale`."},
            },
        },
        "brain": {"enum": ["rules", "openai"], "default": "rules",
                  "description": "Who writes the replies."},
        "rules": {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": "The embedded rule brain: first matching intent wins.",
            "properties": {
                "intents": {"type": "array", "items": _INTENT, "default": []},
                "slots": {"type": "object", "additionalProperties": {"type": "string"},
                          "default": {}, "description": "Initial slot values."},
                "fallback": {"type": "string",
                             "default": "Sorry, I did not catch that. Could you say it again?",
                             "description": "Reply when no intent matches."},
            },
        },
        "openai": {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": "An OpenAI-compatible chat-completions server (OpenAI, vLLM, "
            "Ollama, llama.cpp server), streamed so speech starts on the first sentence.",
            "properties": {
                "base_url": {"type": "string", "default": "https://api.openai.com/v1",
                             "description": "Base URL; `/chat/completions` is appended."},
                "model": {"type": "string", "default": "gpt-4o-mini"},
                "api_key": {"type": "string", "description": "API key (prefer api_key_env)."},
                "api_key_env": {"type": "string", "default": "OPENAI_API_KEY",
                                "description": "Environment variable holding the API key."},
                "system_prompt": {"type": "string", "default":
                                  "You are a helpful phone agent. Answer in one or two "
                                  "short spoken sentences, without markup."},
                "temperature": {"type": "number", "minimum": 0, "maximum": 2, "default": 0.7},
                "max_tokens": {"type": "integer", "minimum": 1, "default": 200},
                "timeout_s": {"type": "number", "exclusiveMinimum": 0, "default": 20},
                "actions": {"type": "array", "uniqueItems": True, "default": [],
                            "items": {"enum": ["end", "hangup", "transfer"]},
                            "description": "Actions the model may take through function "
                            "tools (`end_call`, `hang_up`, `transfer_call`); they run once "
                            "the reply has played. Empty: no tools are sent."},
                "transfer_url": {"type": "string", "format": "uri",
                                 "description": "Where `transfer_call` sends the caller."},
                "error_reply": {"type": "string",
                                "default": "Sorry, I am having trouble right now.",
                                "description": "Said when the model cannot be reached."},
            },
        },
        "vad": {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": "Silero speech detection on the caller's audio.",
            "properties": {
                "threshold": {"type": "number", "minimum": 0.05, "maximum": 0.95,
                              "default": 0.5, "description": "Speech probability to start."},
                "min_speech_ms": {"type": "number", "minimum": 32, "default": 128,
                                  "description": "Speech needed before it counts (also "
                                  "before a barge-in), filtering clicks and noise."},
                "end_silence_ms": {"type": "number", "minimum": 100, "maximum": 3000,
                                   "default": 500, "description":
                                   "Silence that ends the caller's turn."},
            },
        },
        "barge_in": {"type": "boolean", "default": True,
                     "description": "Caller speech (or a key) while the agent talks clears "
                     "the playback and stops the reply."},
        "transcript_wait_ms": {"type": "number", "minimum": 0, "maximum": 5000,
                               "default": 1500, "description":
                               "After the caller stops, how long to wait for the "
                               "transcriber's final result."},
        "reply_on_partial": {"type": "boolean", "default": True, "description":
                             "At the end of speech, answer the transcriber's latest partial "
                             "result when it covers the speech (within partial_lag_ms) "
                             "instead of waiting for its final: faster, may miss a last "
                             "word. The final still replaces the words in the history."},
        "partial_lag_ms": {"type": "number", "minimum": 0, "maximum": 2000, "default": 300,
                           "description": "How far a partial's end may lag the end of "
                           "speech for reply_on_partial."},
        "played_timeout_s": {"type": "number", "exclusiveMinimum": 0, "default": 3,
                             "description": "Grace after a reply's audio duration for Plivo "
                             "to confirm it played before ending the stream anyway."},
        "plivo": {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": "Plivo REST API for hangup/transfer. Credentials fall back to "
            "PLIVO_AUTH_ID / PLIVO_AUTH_TOKEN.",
            "properties": {
                "auth_id": {"type": "string"},
                "auth_token": {"type": "string"},
                "api_base": {"type": "string", "default": "https://api.plivo.com",
                             "description": "API base URL (`/v1/Account/...` is appended)."},
            },
        },
    },
}


def with_defaults(settings: Mapping[str, Any],
                  schema: Mapping[str, Any] = SCHEMA) -> dict[str, Any]:
    """A copy of ``settings`` with the schema's defaults filled in, recursively."""
    out: dict[str, Any] = copy.deepcopy(dict(settings))
    for key, sub in schema.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if sub.get("type") == "object" and isinstance(out.get(key), Mapping):
            out[key] = with_defaults(out[key], sub)
    return out
