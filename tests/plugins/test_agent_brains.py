"""The agent's brains and call control: rule brain, OpenAI-compatible streaming client
against a real chat-completions server on 127.0.0.1, Plivo REST against a local server."""

from __future__ import annotations

import base64
import json
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from flowc_agent.agent import AgentProcessor
from flowc_agent.brains import Act, Message, Say, UserTurn
from flowc_agent.brains.openai import OpenAIBrain, api_key, sse_content
from flowc_agent.brains.rules import RuleBrain, fill
from flowc_agent.loopback import Loopback, stream_context
from flowc_agent.plivo_rest import PlivoRest
from flowc_agent.settings import SCHEMA, with_defaults

from flowc.runtime.processor import StreamContext

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


def speech(name: str) -> np.ndarray:
    with wave.open(str(SPEECH / name)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16)


def context() -> StreamContext:
    return stream_context()

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- a small HTTP server on 127.0.0.1 ----------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """Records requests; ``respond(handler, request)`` writes the response."""

    respond: Any
    requests: list[Request] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def http_server() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(respond: Any) -> Server:
        state = Server(respond)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, dict(self.headers),
                                  self.rfile.read(length))
                state.requests.append(request)
                state.respond(self, request)

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        state.url = f"http://127.0.0.1:{server.server_address[1]}"
        return state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def sse_respond(chunks: list[str | dict[str, Any]], gate: threading.Event | None = None,
                gate_after: int = 1) -> Any:
    """A chat-completions streaming responder: one SSE event per chunk, then [DONE].
    With ``gate``, it stops after ``gate_after`` chunks until the gate is set."""

    def respond(handler: BaseHTTPRequestHandler, request: Request) -> None:
        if request.path != "/v1/chat/completions":
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        for i, chunk in enumerate(chunks):
            if gate is not None and i == gate_after:
                gate.wait(10)
            delta = chunk if isinstance(chunk, dict) else {"content": chunk}
            event = {"id": "x", "object": "chat.completion.chunk", "model": "test",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            handler.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            handler.wfile.flush()
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
        handler.close_connection = True

    return respond


def status_respond(status: int, body: bytes = b"") -> Any:
    def respond(handler: BaseHTTPRequestHandler, request: Request) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return respond


# -- rule brain ----------------------------------------------------------------------------


async def _collect(brain: Any, turn: UserTurn) -> list[Any]:
    return [part async for part in brain.reply(turn, [])]


async def test_rules_keywords_patterns_dtmf_and_fallback() -> None:
    brain = RuleBrain({
        "slots": {"company": "Acme"},
        "intents": [
            {"name": "order", "patterns": [r"order (number )?(?P<order>\d+)"],
             "reply": "Order {order} is on its way. Anything else at {company}?"},
            {"name": "agent", "keywords": ["human", "real person"], "dtmf": "0",
             "reply": "Transferring you now.", "action": "transfer",
             "transfer_url": "https://example.com/agent.xml"},
            {"name": "bye", "keywords": ["bye"], "reply": "Bye {From}!", "action": "end"},
        ],
        "fallback": "Sorry, say that again?",
    }, params={"From": "+15550001"})
    assert await _collect(brain, UserTurn("where is order number 42")) == [
        Say("Order 42 is on its way."), Say("Anything else at Acme?")]
    assert brain.last_intent == "order"
    assert await _collect(brain, UserTurn("can I talk to a REAL person")) == [
        Say("Transferring you now."), Act("transfer", "https://example.com/agent.xml")]
    assert await _collect(brain, UserTurn(digits="0")) == [
        Say("Transferring you now."), Act("transfer", "https://example.com/agent.xml")]
    assert await _collect(brain, UserTurn("ok bye")) == [Say("Bye +15550001!"), Act("end")]
    assert await _collect(brain, UserTurn("byelaw question")) == [Say("Sorry, say that again?")]
    assert brain.last_intent is None
    assert brain.slots["order"] == "42"  # slots persist over the call


def test_fill_leaves_unknown_slots_and_stray_braces() -> None:
    assert fill("Hi {name}, {unknown}", {"name": "Ann"}) == "Hi Ann, {unknown}"
    assert fill("a { b", {}) == "a { b"


def test_rules_reject_bad_patterns_and_transfer_without_url() -> None:
    with pytest.raises(ValueError, match="bad pattern"):
        RuleBrain({"intents": [{"name": "x", "patterns": ["(unclosed"], "reply": "r"}]})
    with pytest.raises(ValueError, match="transfer_url"):
        RuleBrain({"intents": [{"keywords": ["a"], "reply": "r", "action": "transfer"}]})


def test_settings_schema_defaults_and_validation() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    full = with_defaults({})
    assert list(validator.iter_errors(full)) == []
    assert full["tts"]["engine"] == "espeak" and full["vad"]["end_silence_ms"] == 500
    assert full["brain"] == "rules" and full["barge_in"] is True
    assert with_defaults({"vad": {"threshold": 0.7}})["vad"] == {
        "threshold": 0.7, "min_speech_ms": 128, "end_silence_ms": 500}
    bad = {"brain": "gpt", "vad": {"end_silence_ms": 10}, "greting": "typo",
           "rules": {"intents": [{"keywords": ["x"]}]}}
    paths = sorted("/".join(map(str, e.absolute_path)) for e in validator.iter_errors(bad))
    assert paths == ["", "brain", "rules/intents/0", "vad/end_silence_ms"]


# -- OpenAI-compatible client -----------------------------------------------------------


def test_sse_lines() -> None:
    assert sse_content('data: {"choices":[{"delta":{"content":"Hi"}}]}') == "Hi"
    assert sse_content('data: {"choices":[{"delta":{"role":"assistant"}}]}') == ""
    assert sse_content(": keep-alive") == ""
    assert sse_content("data: [DONE]") is None
    with pytest.raises(RuntimeError, match="model error"):
        sse_content('data: {"error": {"message": "overloaded"}}')


def test_api_key_from_settings_or_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "from-env")
    assert api_key({"api_key_env": "MY_LLM_KEY"}) == "from-env"
    assert api_key({"api_key": "direct", "api_key_env": "MY_LLM_KEY"}) == "direct"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert api_key({}) is None


async def test_openai_brain_streams_sentences_with_heard_history(http_server: Any,
                                                                 monkeypatch: Any) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test")
    server = http_server(sse_respond(["Sure", ", your order", " ships today.", " Anything",
                                      " else?"]))
    brain = OpenAIBrain({"base_url": server.url + "/v1", "model": "tiny",
                         "api_key_env": "TEST_LLM_KEY", "system_prompt": "Be brief."})
    history = [Message("assistant", "Hello."), Message("user", "hi")]
    parts = [p async for p in brain.reply(UserTurn("where is my order"), history)]
    await brain.aclose()
    assert parts == [Say("Sure, your order ships today."), Say("Anything else?")]
    [request] = server.requests
    assert request.headers["Authorization"] == "Bearer sk-test"
    body = json.loads(request.body)
    assert body["stream"] is True and body["model"] == "tiny"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "hi"}, {"role": "user", "content": "where is my order"}]


def _tool_call(name: str) -> dict[str, Any]:
    return {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                            "function": {"name": name, "arguments": ""}}]}


async def test_openai_brain_actions_through_function_tools(http_server: Any) -> None:
    server = http_server(sse_respond(["Goodbye, and thanks", " for calling.",
                                      _tool_call("end_call"), {"tool_calls": [
                                          {"index": 0, "function": {"arguments": "{}"}}]}]))
    brain = OpenAIBrain({"base_url": server.url + "/v1", "actions": ["end"]})
    parts = [p async for p in brain.reply(UserTurn("that's all, bye"), [])]
    assert parts == [Say("Goodbye, and thanks for calling."), Act("end")]
    assert brain.last_intent == "tool:end"
    tools = json.loads(server.requests[0].body)["tools"]
    assert [t["function"]["name"] for t in tools] == ["end_call"]
    # a tool the flow did not allow is ignored, and no tools are offered by default
    server.respond = sse_respond(["Transferring you.", _tool_call("transfer_call")])
    parts = [p async for p in brain.reply(UserTurn("a human please"), [])]
    assert parts == [Say("Transferring you.")]
    plain = OpenAIBrain({"base_url": server.url + "/v1"})
    assert [p async for p in plain.reply(UserTurn("hi"), [])] == [Say("Transferring you.")]
    assert "tools" not in json.loads(server.requests[-1].body)
    await brain.aclose()
    await plain.aclose()


async def test_agent_ends_the_stream_when_the_model_calls_end_call(http_server: Any) -> None:
    server = http_server(sse_respond(["Goodbye!", _tool_call("end_call")]))
    processor = AgentProcessor(
        {"greeting": "", "brain": "openai",
         "openai": {"base_url": server.url + "/v1", "actions": ["end"]}}, context())
    async with Loopback(processor, speed=4.0) as call:
        await call.press("9")
        await call.wait_ended()
    assert call.kinds()[-2:] == ["played", "end"]
    assert processor.history.messages()[-1] == Message("assistant", "Goodbye!")


async def test_openai_brain_says_the_error_reply_when_the_server_fails(http_server: Any
                                                                        ) -> None:
    server = http_server(status_respond(500, b'{"error": "boom"}'))
    brain = OpenAIBrain({"base_url": server.url + "/v1", "error_reply": "Trouble here."})
    parts = [p async for p in brain.reply(UserTurn("hi"), [])]
    await brain.aclose()
    assert parts == [Say("Trouble here.")]


async def test_agent_speaks_the_first_sentence_before_the_model_finishes(http_server: Any
                                                                         ) -> None:
    gate = threading.Event()
    server = http_server(sse_respond(["Your order ships today. ", "It comes ", "Monday."],
                                     gate=gate, gate_after=1))
    processor = AgentProcessor(
        {"greeting": "", "brain": "openai", "transcript_wait_ms": 1500,
         "openai": {"base_url": server.url + "/v1", "model": "tiny"}}, context())
    async with Loopback(processor, speed=4.0) as call:
        await call.say(speech("s01.wav"), 16000, text="status of my order")
        first = await call.wait_for("audio_out")  # the model is still held at the gate
        assert not gate.is_set()
        gate.set()
        await call.wait_for("played", 2)
        await call.wait_quiet()
    assert first.t < [e for e in call.events if e.kind == "audio_out"][1].t
    sent = json.loads(server.requests[0].body)["messages"]
    assert sent[-1] == {"role": "user", "content": "status of my order"}
    assert [(m.role, m.content) for m in processor.history.messages()][-1] == (
        "assistant", "Your order ships today. It comes Monday.")
    [turn] = processor.stats.turns
    assert turn.reply_text is not None and turn.first_audio is not None


# -- Plivo REST ------------------------------------------------------------------------------


async def test_plivo_rest_hangup_and_transfer(http_server: Any) -> None:
    server = http_server(status_respond(204))
    rest = PlivoRest("MAID123", "tok", server.url)
    assert await rest.hangup("call-1")
    server.respond = status_respond(202, b'{"message": "call transferred"}')
    assert await rest.transfer("call-1", "https://example.com/next.xml")
    server.respond = status_respond(401, b"unauthorized")
    assert not await rest.hangup("call-1")
    await rest.aclose()
    delete, post, _ = server.requests
    assert (delete.method, delete.path) == ("DELETE", "/v1/Account/MAID123/Call/call-1/")
    expected = "Basic " + base64.b64encode(b"MAID123:tok").decode()
    assert delete.headers["Authorization"] == expected
    assert (post.method, post.path) == ("POST", "/v1/Account/MAID123/Call/call-1/")
    assert json.loads(post.body) == {"legs": "aleg", "aleg_url": "https://example.com/next.xml",
                                     "aleg_method": "POST"}


def test_plivo_credentials_from_settings_or_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLIVO_AUTH_ID", raising=False)
    monkeypatch.delenv("PLIVO_AUTH_TOKEN", raising=False)
    assert PlivoRest.from_settings({}) is None
    monkeypatch.setenv("PLIVO_AUTH_ID", "MAENV")
    monkeypatch.setenv("PLIVO_AUTH_TOKEN", "t")
    rest = PlivoRest.from_settings({"api_base": "http://127.0.0.1:9"})
    assert rest is not None and rest.auth_id == "MAENV"


@pytest.mark.parametrize("action", ["hangup", "transfer"])
async def test_agent_hangs_up_or_transfers_through_rest(http_server: Any, action: str) -> None:
    server = http_server(status_respond(204 if action == "hangup" else 202))
    intent = {"dtmf": "9", "reply": "One moment.", "action": action}
    if action == "transfer":
        intent["transfer_url"] = "https://example.com/queue.xml"
    processor = AgentProcessor(
        {"greeting": "", "rules": {"intents": [intent]},
         "plivo": {"auth_id": "MAID9", "auth_token": "secret", "api_base": server.url}},
        context())
    async with Loopback(processor, speed=4.0) as call:
        await call.press("9")
        await call.wait_ended()
    [request] = server.requests
    call_id = processor.context.call_id
    assert request.path == f"/v1/Account/MAID9/Call/{call_id}/"
    assert request.method == ("DELETE" if action == "hangup" else "POST")
    assert call.kinds()[-2:] == ["played", "end"]
    played_at = [e.t for e in call.events if e.kind == "played"][-1]
    assert played_at <= [e.t for e in call.events if e.kind == "end"][-1]


async def test_hangup_without_credentials_ends_the_stream() -> None:
    processor = AgentProcessor(
        {"greeting": "", "rules": {"intents": [{"dtmf": "9", "reply": "Bye.",
                                                "action": "hangup"}]}}, context())
    async with Loopback(processor, speed=4.0) as call:
        await call.press("9")
        await call.wait_ended()
    assert call.ended_reason == "agent: hangup"
