"""Codec tables against CPython's audioop (still present, deprecated, on 3.11)."""

import sys
import warnings

import numpy as np
import pytest

from flowc.runtime import codec

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    audioop = pytest.importorskip("audioop") if sys.version_info < (3, 13) else None


@pytest.mark.skipif(audioop is None, reason="audioop removed in Python 3.13")
def test_ulaw_decode_is_bit_exact_for_all_codes() -> None:
    codes = bytes(range(256))
    expected = np.frombuffer(audioop.ulaw2lin(codes, 2), np.int16)
    assert np.array_equal(codec.ulaw_to_pcm(codes), expected)


@pytest.mark.skipif(audioop is None, reason="audioop removed in Python 3.13")
def test_ulaw_encode_is_bit_exact_for_all_samples() -> None:
    pcm = np.arange(-32768, 32768, dtype=np.int16)
    assert codec.pcm_to_ulaw(pcm) == audioop.lin2ulaw(pcm.tobytes(), 2)


def test_l16_is_little_endian_and_ignores_odd_byte() -> None:
    assert codec.l16_to_pcm(b"\x01\x00\xff\x7f\x00").tolist() == [1, 32767]
    assert codec.pcm_to_l16(np.array([1, -2], np.int16)) == b"\x01\x00\xfe\xff"


def test_decode_rejects_unknown_encoding() -> None:
    with pytest.raises(ValueError, match="unsupported encoding"):
        codec.decode(b"\x00", "audio/opus")


def test_stream_resampler_is_steady_and_complete() -> None:
    tone = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000) * 10000).astype(np.int16)
    resampler = codec.StreamResampler(8000, 16000)
    outputs = [resampler.process(tone[i : i + 160]) for i in range(0, 8000, 160)]
    total = sum(len(o) for o in outputs) + len(resampler.flush())
    assert total == 16000
    # after the fixed start-up delay every 20 ms chunk yields 20 ms: no bursts
    assert {len(o) for o in outputs[2:]} == {320}


def test_stream_resampler_is_repeatable() -> None:
    rng = np.random.default_rng(7)
    speechlike = rng.normal(0, 3000, 8000).astype(np.int16)

    def run() -> np.ndarray:
        resampler = codec.StreamResampler(8000, 16000)
        parts = [resampler.process(speechlike[i : i + 160]) for i in range(0, 8000, 160)]
        return np.concatenate([*parts, resampler.flush()])

    assert np.array_equal(run(), run())
