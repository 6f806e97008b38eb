"""The optimized denoiser path gives the reference pipeline's output sample for sample.

:mod:`flowc_denoiser.reference` is the denoiser as first written (int16 between every
step, new arrays per call, one engine call per frame); the stage's
:class:`~flowc_denoiser.stream.StreamDenoiser` keeps buffers per stream, stays in floating
point between the steps and hands RNNoise whole blocks. Real speech with white noise,
real engines, 20 ms chunks and irregular ones.
"""

from __future__ import annotations

import functools
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from flowc_denoiser.engines import SpeexEngine
from flowc_denoiser.polyphase import IntegerResampler
from flowc_denoiser.reference import ReferenceDenoiser, ReferenceResampler
from flowc_denoiser.rnnoise import FRAME, RNNoiseEngine
from flowc_denoiser.stream import StreamDenoiser

from flowc.runtime import codec

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
PCM = npt.NDArray[np.int16]
ENGINES = {"rnnoise": RNNoiseEngine, "speex": SpeexEngine}


@functools.cache
def noisy_speech(rate: int, seconds: float = 4.0) -> PCM:
    """Two piper sentences at ``rate`` with white noise at about 10 dB SNR."""
    parts = []
    for name in ("s06.wav", "s07.wav"):
        with wave.open(str(SPEECH / name)) as w:
            parts.append(np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16))
    clean = codec.resample(np.concatenate(parts), 16000, rate)[: int(seconds * rate)]
    noise = np.random.default_rng(5).standard_normal(len(clean)) * 600
    noisy: PCM = np.clip(np.rint(clean + noise), -32768, 32767).astype(np.int16)
    return noisy


def chunks_of(pcm: PCM, sizes: list[int]) -> list[PCM]:
    out, position = [], 0
    for size in sizes:
        if position >= len(pcm):
            break
        out.append(pcm[position : position + size])
        position += size
    return out


def regular(pcm: PCM, rate: int) -> list[PCM]:
    return chunks_of(pcm, [rate // 50] * (len(pcm) // (rate // 50)))


def irregular(pcm: PCM) -> list[PCM]:
    # from 1 sample (shorter than the resamplers' history) to 50 ms
    return chunks_of(pcm, [int(s) for s in np.random.default_rng(3).integers(1, 400, 2000)])


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("engine", ["rnnoise", "speex"])
@pytest.mark.parametrize("chunking", ["20 ms", "irregular"])
def test_stream_denoiser_matches_the_reference(engine: str, rate: int, chunking: str) -> None:
    pcm = noisy_speech(rate)
    chunks = regular(pcm, rate) if chunking == "20 ms" else irregular(pcm)
    optimized = StreamDenoiser(ENGINES[engine](rate), rate, 85)
    reference = ReferenceDenoiser(ENGINES[engine](rate), rate, 85)
    for k, chunk in enumerate(chunks):
        got, want = optimized.process(chunk), reference.process(chunk)
        assert got.dtype == np.int16 and len(got) == len(chunk)
        assert np.array_equal(got, want), f"chunk {k} differs"
    # the denoiser did something: the output is not the input delayed
    assert not np.array_equal(np.concatenate([reference.process(c) for c in chunks[:50]]),
                              np.concatenate(chunks[:50]))
    optimized.close()
    reference.close()


@pytest.mark.parametrize("level", [60, 100])
def test_every_level_matches_the_reference(level: int) -> None:
    pcm = noisy_speech(8000, 2.0)
    optimized = StreamDenoiser(RNNoiseEngine(), 8000, level)
    reference = ReferenceDenoiser(RNNoiseEngine(), 8000, level)
    got = np.concatenate([optimized.process(c) for c in regular(pcm, 8000)])
    want = np.concatenate([reference.process(c) for c in regular(pcm, 8000)])
    assert np.array_equal(got, want)


@pytest.mark.parametrize(("in_rate", "out_rate"), [(8000, 48000), (16000, 48000),
                                                   (48000, 8000), (48000, 16000)])
def test_resampler_matches_the_reference(in_rate: int, out_rate: int) -> None:
    pcm = noisy_speech(in_rate if in_rate < 48000 else 16000)
    if in_rate == 48000:
        pcm = codec.resample(pcm, 16000, 48000)
        # down-sampling chunks: whole 10 ms frames, as the stage gives them, and odd ones
        sizes = [int(s) * 480 for s in np.random.default_rng(4).integers(1, 4, 400)]
        sizes[5:9] = [7, 1, 950, 100]
    else:
        sizes = [int(s) for s in np.random.default_rng(4).integers(1, 400, 2000)]
    optimized = IntegerResampler(in_rate, out_rate, half_taps=16)
    reference = ReferenceResampler(in_rate, out_rate, half_taps=16)
    for chunk in chunks_of(pcm, sizes):
        assert np.array_equal(optimized.process(chunk), reference.process(chunk))


def test_rnnoise_block_call_is_the_per_frame_call() -> None:
    pcm = codec.resample(noisy_speech(16000, 1.0), 16000, 48000)[: 20 * FRAME]
    per_frame, block = RNNoiseEngine(), RNNoiseEngine()
    want = np.concatenate([per_frame.process(pcm[i : i + FRAME])
                           for i in range(0, len(pcm), FRAME)])
    out = np.empty(len(pcm), np.float32)
    block.process_into(pcm.astype(np.float32), out)
    assert np.array_equal(np.clip(np.rint(out), -32768, 32767).astype(np.int16), want)
    assert block.voice_probability == per_frame.voice_probability


def test_rnnoise_block_call_rejects_bad_buffers() -> None:
    engine = RNNoiseEngine()
    good = np.zeros(2 * FRAME, np.float32)
    read_only = np.zeros(2 * FRAME, np.float32)
    read_only.setflags(write=False)
    bad = [
        (np.zeros(2 * FRAME, np.float64), good),  # wrong dtype
        (np.zeros(FRAME + 1, np.float32), np.zeros(FRAME + 1, np.float32)),  # not whole frames
        (good, np.zeros(FRAME, np.float32)),  # lengths differ
        (np.zeros(4 * FRAME, np.float32)[::2], good),  # not contiguous
        (good, read_only),  # output not writable
    ]
    for frames, out in bad:
        with pytest.raises(ValueError, match="C-contiguous float32"):
            engine.process_into(frames, out)
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        engine.process_into(good, good.copy())
