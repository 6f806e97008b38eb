"""SpeechDetector on real speech (piper fixtures): starts and ends where the speech is."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from flowc.runtime.codec import pcm_to_ulaw, resample, ulaw_to_pcm
from flowc.runtime.vad import SpeechDetector

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


def _read(name: str) -> np.ndarray:
    with wave.open(str(SPEECH / name)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16)


def _energy_bounds_ms(pcm: np.ndarray, rate: int) -> tuple[float, float]:
    """First and last 10 ms frame within 40 dB of the loudest frame."""
    step = rate // 100
    frames = pcm[: len(pcm) // step * step].reshape(-1, step).astype(np.float64)
    level = 10 * np.log10((frames**2).mean(axis=1) + 1e-9)
    active = np.flatnonzero(level > level.max() - 40)
    return 10.0 * active[0], 10.0 * (active[-1] + 1)


def _feed(detector: SpeechDetector, pcm: np.ndarray, rate: int) -> list[tuple[str, float]]:
    step = rate // 50  # 20 ms chunks, as Plivo sends them
    events: list[tuple[str, float]] = []
    for i in range(0, len(pcm), step):
        events += [(e.kind, e.at_ms) for e in detector.feed(pcm[i : i + step])]
    return events


@pytest.mark.parametrize("rate", [16000, 8000])
def test_two_utterances_give_two_starts_and_ends(rate: int) -> None:
    gap = np.zeros(int(1.5 * 16000), np.int16)
    parts = [gap, _read("s01.wav"), gap, _read("s06.wav"), gap]
    signal = np.concatenate(parts)
    truth = []
    offset = 0.0
    for part in parts:
        if part is not gap:
            start, end = _energy_bounds_ms(part, 16000)
            truth.append((offset + start, offset + end))
        offset += 1000 * len(part) / 16000
    if rate == 8000:  # the telephone case: 8 kHz through a G.711 round trip
        signal = ulaw_to_pcm(pcm_to_ulaw(resample(signal, 16000, 8000)))
    detector = SpeechDetector(rate, end_silence_ms=500)
    events = _feed(detector, signal, rate)
    assert [k for k, _ in events] == ["start", "end", "start", "end"]
    for (start, end), (_, at_start), (_, at_end) in zip(
        truth, events[0::2], events[1::2], strict=True
    ):
        assert abs(at_start - start) < 200
        assert abs(at_end - end) < 300


def test_silence_and_faint_noise_are_not_speech() -> None:
    rng = np.random.default_rng(7)
    noise = (rng.standard_normal(16000 * 3) * 60).astype(np.int16)  # about -55 dBFS
    detector = SpeechDetector(16000)
    assert _feed(detector, np.zeros(16000 * 2, np.int16), 16000) == []
    assert _feed(detector, noise, 16000) == []
    assert not detector.speaking


def test_end_waits_for_end_silence() -> None:
    speech = _read("s09.wav")
    short, long_ = SpeechDetector(16000, end_silence_ms=300), SpeechDetector(16000,
                                                                           end_silence_ms=900)
    tail = np.zeros(16000, np.int16)
    signal = np.concatenate([speech, tail])
    ends_short = [e for e in short.feed(signal) if e.kind == "end"]
    ends_long = [e for e in long_.feed(signal) if e.kind == "end"]
    assert len(ends_short) == 1 and len(ends_long) == 1
    assert ends_long[0].decided_ms - ends_short[0].decided_ms == pytest.approx(600, abs=70)
    assert ends_short[0].decided_ms - ends_short[0].at_ms >= 300
