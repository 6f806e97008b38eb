"""Caller inputs: DTMF specs, WAV files of every PCM width, TTS engine lookup."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from flowc.plugins import load_plugins
from flowc.simulator.caller import (
    CallerError,
    KeyPress,
    Voice,
    load_wav,
    parse_dtmf,
    silence,
    write_wav,
)


def test_parse_dtmf_timed_untimed_and_units() -> None:
    assert parse_dtmf("1@2.5s, 12#  5@800ms,9@3") == [
        KeyPress("1", 2.5), KeyPress("1", None), KeyPress("2", None), KeyPress("#", None),
        KeyPress("5", 0.8), KeyPress("9", 3.0),
    ]
    presses = parse_dtmf("12@1s")
    assert [p.digit for p in presses] == ["1", "2"]
    assert presses[1].at == pytest.approx(1.3)
    assert parse_dtmf("") == []


@pytest.mark.parametrize("bad", ["x", "1@", "1@2h", "@3s", "E"])
def test_parse_dtmf_rejects_bad_specs(bad: str) -> None:
    with pytest.raises(CallerError, match="bad DTMF"):
        parse_dtmf(bad)


def _write(path: Path, raw: bytes, width: int, channels: int, rate: int) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(raw)


def test_load_wav_every_width_to_int16(tmp_path: Path) -> None:
    values = np.array([0, 16384, -16384, 32767, -32768], np.int16)
    as32 = (values.astype(np.int32) << 16).astype("<i4").tobytes()
    as24 = b"".join((int(v) << 8).to_bytes(3, "little", signed=True) for v in values)
    as8 = ((values.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()
    for width, raw in ((4, as32), (3, as24), (2, values.astype("<i2").tobytes()), (1, as8)):
        path = tmp_path / f"w{width}.wav"
        _write(path, raw, width, 1, 22050)
        pcm, rate = load_wav(path)
        assert rate == 22050 and pcm.dtype == np.int16
        tolerance = 256 if width == 1 else 0
        assert np.abs(pcm.astype(np.int32) - values).max() <= tolerance, width


def test_load_wav_mixes_stereo_down(tmp_path: Path) -> None:
    frames = np.array([[1000, 3000], [-2000, 2000]], np.int16)
    path = tmp_path / "stereo.wav"
    _write(path, frames.astype("<i2").tobytes(), 2, 2, 8000)
    pcm, _ = load_wav(path)
    assert pcm.tolist() == [2000, 0]


def test_load_wav_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(CallerError, match="no such file"):
        load_wav(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav at all")
    with pytest.raises(CallerError, match="not a PCM WAV"):
        load_wav(junk)


def test_write_wav_pads_channels(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, [np.ones(10, np.int16), np.full(4, 7, np.int16)], 16000)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getnframes(), wav.getframerate()) == (2, 10, 16000)
        frames = np.frombuffer(wav.readframes(10), "<i2").reshape(-1, 2)
    assert frames[:, 0].tolist() == [1] * 10
    assert frames[:, 1].tolist() == [7] * 4 + [0] * 6


def test_silence_turn() -> None:
    turn = silence(0.5)
    assert turn.duration == pytest.approx(0.5) and not turn.pcm.any()


def test_voice_speaks_with_the_agents_espeak_engine() -> None:
    host = load_plugins()
    if "espeak" not in host.engines_of("tts"):
        pytest.skip("flowc-agent (espeak engine) not installed")
    turn = Voice(host, "espeak").turn("Hello there.")
    assert turn.text == "Hello there." and turn.rate > 0
    assert turn.duration > 0.3 and np.abs(turn.pcm).max() > 1000


def test_unknown_voice_lists_installed_engines() -> None:
    with pytest.raises(CallerError, match="no TTS engine 'nope'; installed: "):
        Voice(load_plugins(), "nope")


def test_scenario_schema_copies_match() -> None:
    root = Path(__file__).resolve().parents[2]
    repo = (root / "schemas" / "scenario.schema.json").read_text(encoding="utf-8")
    packaged = (root / "flowc" / "schemas" / "scenario.schema.json").read_text(encoding="utf-8")
    assert repo == packaged
