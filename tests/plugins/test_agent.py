"""The agent stage driven directly, with an in-process Plivo side (flowc_agent.loopback).

Caller speech is real speech (the piper fixtures); replies are real espeak audio; the
Plivo side answers checkpoints only once the audio before them has played.
"""

from __future__ import annotations

import wave
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flowc_agent.agent import AgentProcessor
from flowc_agent.loopback import Loopback, stream_context

pytestmark = pytest.mark.anyio

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
SPEED = 4.0

RULES: dict[str, Any] = {
    "slots": {"hours": "nine to five"},
    "intents": [
        {"name": "hours", "keywords": ["hours", "open"], "reply": "We are open {hours}."},
        {"name": "order", "patterns": [r"order number (?P<order>\d+)"],
         "reply": "Order {order} ships today."},
        {"name": "story", "keywords": ["package"], "reply":
         "I am sorry about your package. Let me explain what usually happens with late "
         "deliveries in great detail. The courier scans every parcel twice a day. Then our "
         "team checks the scans every single morning. Finally we call you back."},
        {"name": "sales", "dtmf": "1", "reply": "You pressed one for sales."},
        {"name": "bye", "keywords": ["goodbye"], "reply": "Goodbye!", "action": "end"},
    ],
    "fallback": "Sorry?",
}


def speech(name: str) -> np.ndarray:
    with wave.open(str(SPEECH / name)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16)


def agent(settings: Mapping[str, Any] | None = None, **ctx: Any) -> AgentProcessor:
    base: dict[str, Any] = {"greeting": "Hello. How can I help?", "rules": RULES,
                            "transcript_wait_ms": 1500}
    base.update(settings or {})
    return AgentProcessor(base, stream_context(**ctx))


def heard(processor: AgentProcessor) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in processor.history.messages()]


async def test_greeting_is_spoken_sentence_by_sentence_and_confirmed() -> None:
    processor = agent()
    async with Loopback(processor, speed=SPEED) as call:
        await call.wait_for("played", 2)
        await call.wait_quiet()
    kinds = [k for k in call.kinds() if k in ("audio_out", "checkpoint", "said")]
    assert kinds == ["audio_out", "checkpoint", "said"] * 2
    assert [e.detail for e in call.events if e.kind == "said"] == ["Hello.", "How can I help?"]
    assert heard(processor) == [("assistant", "Hello. How can I help?")]
    assert sum(len(p) for p in call.heard) > 0.8 * 8000


async def test_spoken_turn_gets_a_reply_with_slots_and_metrics() -> None:
    processor = agent()
    async with Loopback(processor, speed=SPEED) as call:
        await call.wait_quiet()
        await call.say(speech("s06.wav"), 16000, text="what are your opening hours on saturday")
        await call.wait_for("played", 3)
        await call.wait_quiet()
    assert heard(processor) == [
        ("assistant", "Hello. How can I help?"),
        ("user", "what are your opening hours on saturday"),
        ("assistant", "We are open nine to five."),
    ]
    [turn] = processor.stats.turns
    assert (turn.trigger, turn.intent) == ("speech", "hours")
    assert turn.eou is not None and turn.transcript is not None
    assert turn.reply_text is not None and turn.first_audio is not None
    assert turn.speech_end < turn.eou <= turn.transcript <= turn.reply_text <= turn.first_audio
    assert processor.stats.barge_ins == 0


async def test_without_transcriber_speech_is_ignored_and_keys_still_work() -> None:
    processor = agent({"transcript_wait_ms": 200})
    async with Loopback(processor, speed=SPEED) as call:
        await call.wait_quiet()
        await call.say(speech("s02.wav"), 16000)  # no transcript follows
        await call.until(lambda: processor.stats.ignored_turns == 1)
        await call.wait_quiet()
        assert call.kinds().count("audio_out") == 2  # the greeting only
        await call.press("1")
        await call.wait_for("played", 3)
    assert heard(processor)[-2:] == [("user", "(pressed 1)"),
                                     ("assistant", "You pressed one for sales.")]
    assert processor.stats.turns[0].trigger == "dtmf"


async def test_barge_in_clears_playback_and_history_keeps_only_what_played() -> None:
    processor = agent({"greeting": ""})
    async with Loopback(processor, speed=SPEED) as call:
        await call.say(speech("s03.wav"), 16000, text="my package never came")
        first = await call.wait_for("played", 1)  # the first sentence has been heard
        await call.say(speech("s06.wav"), 16000)  # the caller talks over the agent
        clear = await call.wait_for("clear")
        await call.wait_quiet()
    after_clear = [e for e in call.events if e.t > clear.t]
    assert "audio_out" not in [e.kind for e in after_clear]
    assert "checkpoint" not in [e.kind for e in after_clear]
    assert first.t < clear.t
    history = processor.history.transcript()
    reply = [e for e in history if e["role"] == "assistant"]
    assert reply[0]["interrupted"] is True
    assert reply[0]["text"].startswith("I am sorry about your package.")
    assert "Finally we call you back." not in reply[0]["text"]
    played = [e.detail for e in call.events if e.kind == "played"]
    assert reply[0]["text"].count(".") == len(played)  # exactly the confirmed sentences
    assert processor.stats.barge_ins == 1
    assert len(processor.stats.barge_in_clear_ms) == len(processor.stats.barge_in_stop_ms) == 1


async def test_no_barge_in_when_disabled() -> None:
    processor = agent({"greeting": "", "barge_in": False})
    async with Loopback(processor, speed=SPEED) as call:
        await call.say(speech("s03.wav"), 16000, text="my package never came")
        await call.wait_for("playing")
        await call.say(speech("s06.wav"), 16000)
        await call.wait_quiet(quiet=0.8)
    assert "clear" not in call.kinds()
    assert processor.stats.barge_ins == 0
    reply = [e for e in processor.history.transcript() if e["role"] == "assistant"]
    assert reply[0]["text"].endswith("Finally we call you back.")


async def test_end_action_closes_the_stream_after_the_goodbye_played() -> None:
    processor = agent({"greeting": ""})
    async with Loopback(processor, speed=SPEED) as call:
        await call.say(speech("s09.wav"), 16000, text="thank you very much goodbye")
        await call.wait_ended()
    kinds = call.kinds()
    assert kinds[-2:] == ["played", "end"]
    assert call.ended_reason == "agent: end"
    assert heard(processor)[-1] == ("assistant", "Goodbye!")


async def test_agent_on_a_16k_stream() -> None:
    processor = agent(rate=16000)
    async with Loopback(processor, rate=16000, speed=SPEED) as call:
        await call.wait_quiet()
        await call.say(speech("s06.wav"), 16000, text="opening hours")
        await call.wait_for("played", 3)
    assert heard(processor)[-1] == ("assistant", "We are open nine to five.")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_plivo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLIVO_AUTH_ID", raising=False)
    monkeypatch.delenv("PLIVO_AUTH_TOKEN", raising=False)


async def test_reply_on_partial_answers_before_the_final_and_keeps_its_words() -> None:
    processor = agent({"greeting": "", "reply_on_partial": True})
    async with Loopback(processor, speed=SPEED) as call:
        await call.say(speech("s06.wav"), 16000, partial="what are your opening hours on",
                       text="what are your opening hours on saturday", transcript_delay=1.5)
        final = await call.wait_for("final")
        await call.wait_quiet()
    first_audio = next(e for e in call.events if e.kind == "audio_out")
    assert first_audio.t < final.t  # answered on the partial
    assert heard(processor) == [("user", "what are your opening hours on saturday"),
                                ("assistant", "We are open nine to five.")]
    assert len(processor.stats.turns) == 1  # the final did not start a second turn


async def test_without_reply_on_partial_the_final_is_awaited() -> None:
    processor = agent({"greeting": "", "reply_on_partial": False})
    async with Loopback(processor, speed=SPEED) as call:
        await call.say(speech("s06.wav"), 16000, partial="what are your opening hours on",
                       text="what are your opening hours on saturday", transcript_delay=1.5)
        final = await call.wait_for("final")
        await call.wait_quiet()
    first_audio = next(e for e in call.events if e.kind == "audio_out")
    assert first_audio.t > final.t
    assert heard(processor)[0] == ("user", "what are your opening hours on saturday")


async def test_caller_speech_pool_backlog_and_stream_clock() -> None:
    import anyio
    from flowc_agent.listen import CallerSpeech
    from flowc_agent.settings import with_defaults

    vad = with_defaults({"vad": {"threshold": 0.55}})["vad"]  # a pool key of its own
    pcm = np.concatenate([speech("s06.wav"), np.zeros(16000, np.int16)])
    first = CallerSpeech(vad)
    assert not first.take(16000)  # nothing pooled yet: it loads off the loop
    assert first.feed(pcm[:8000], 16000) == []  # kept until the model is ready
    await first.load(anyio.to_thread.run_sync)
    events = first.feed(pcm[8000:], 16000)
    first.release()
    second = CallerSpeech(vad)
    assert second.take(16000)  # the released detector, reset
    again = second.feed(pcm, 16000)
    assert [e.kind for e in events] == [e.kind for e in again] == ["start", "end"]
    for a, b in zip(events, again, strict=True):  # same times on each stream's own clock
        assert abs(a.at_ms - b.at_ms) <= 64
    assert 150 < events[0].at_ms < 500


def test_history_orders_late_confirmations_and_drops_cleared_sentences() -> None:
    from flowc_agent.history import HeardHistory

    history = HeardHistory()
    history.user(1, "hi")
    history.sent("a", 1, "Hello there.")
    history.sent("b", 1, "How can I help?")
    history.user(2, "my order")  # the caller went on before Plivo confirmed anything
    assert history.played("a") and not history.played("zzz")
    history.interrupted(1)
    assert history.cleared() == ["How can I help?"]
    assert not history.played("b")  # cleared: never heard
    history.correct_user(2, "my order please")
    assert [(m.role, m.content) for m in history.messages()] == [
        ("user", "hi"), ("assistant", "Hello there."), ("user", "my order please")]
    assert history.transcript()[1]["interrupted"] is True
    assert history.pending == 0
