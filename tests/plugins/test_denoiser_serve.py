"""The denoiser through the real server: a flow compiled from YAML (``denoiser`` then a
``recorder`` tap), uvicorn on 127.0.0.1, the simulator's Plivo client speaking noisy
speech (white noise at 5 dB SNR). The recording holds what the denoiser passed on."""

from __future__ import annotations

import asyncio
import json
import time
import wave
from pathlib import Path
from typing import Any

import flowc_denoiser.plugin as denoiser_plugin
import flowc_recorder.plugin as recorder_plugin
import numpy as np
import numpy.typing as npt
import pytest

import flowc
from flowc.compile import compile_text
from flowc.plugins import load_plugins
from flowc.runtime import codec
from flowc.runtime.app import create_app
from flowc.runtime.settings import ServeSettings
from flowc.simulator.stream_client import PlivoStreamClient, StreamSpec

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
CONTENT_TYPES = ["audio/x-mulaw;rate=8000", "audio/x-l16;rate=16000"]
Signal = npt.NDArray[np.float64]


def speech(rate: int) -> npt.NDArray[np.int16]:
    parts = []
    for name in ("s04.wav", "s05.wav"):
        with wave.open(str(SPEECH / name)) as w:
            parts.append(np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16))
    return codec.resample(np.concatenate(parts), 16000, rate)


def noisy(clean: npt.NDArray[np.int16], rate: int) -> npt.NDArray[np.int16]:
    """White noise at 5 dB below the active speech level (20 ms frames within 30 dB)."""
    size = rate // 50
    x = clean.astype(np.float64)
    energy = (x[: len(x) // size * size].reshape(-1, size) ** 2).mean(axis=1)
    level = np.sqrt(energy[energy > energy.max() * 1e-3].mean())
    noise = np.random.default_rng(11).standard_normal(len(x)) * level / 10 ** (5 / 20)
    mixed: npt.NDArray[np.int16] = np.clip(np.rint(x + noise), -32768, 32767).astype(np.int16)
    return mixed


def snr_db(reference: Signal, estimate: Signal) -> float:
    return float(10 * np.log10((reference**2).sum() / ((reference - estimate) ** 2).sum()))


class Stopped:
    def __init__(self) -> None:
        self.ids: set[str] = set()

    @flowc.hookimpl
    def stream_stopped(self, stream: Any, statistics: Any) -> None:
        self.ids.add(stream["stream_id"])


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory, serve_app: Any) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("denoised")
    stopped = Stopped()
    host = load_plugins([denoiser_plugin, recorder_plugin, stopped], entry_points_enabled=False)
    rec = json.dumps({"directory": str(directory), "filename": "{flow}"})
    flows = []
    for index, content_type in enumerate(CONTENT_TYPES):
        text = f"""
flow: dn{index}
documents:
  answer:
    - Stream:
        name: s
        audioTrack: inbound
        contentType: {content_type}
        pipeline:
          - denoiser: {{engine: rnnoise, level: 85}}
          - recorder: {rec}
"""
        result = compile_text(text, filename=f"dn{index}.yaml", host=host)
        assert result.ok and result.flow is not None, result.diagnostics
        flows.append(result.flow)
    app = create_app(flows, host=host, settings=ServeSettings(close_timeout=10))

    async def one(port: int, index: int, content_type: str) -> PlivoStreamClient:
        spec = StreamSpec(f"ws://127.0.0.1:{port}/flows/dn{index}/streams/s",
                          content_type=content_type)
        client = PlivoStreamClient(spec, fast=True)
        async with client:
            await client.speak(noisy(speech(spec.sample_rate), spec.sample_rate),
                               spec.sample_rate)
        deadline = time.monotonic() + 30
        while client.stream_id not in stopped.ids:
            assert time.monotonic() < deadline, "the server did not stop the stream"
            await asyncio.sleep(0.05)
        return client

    async def both(port: int) -> list[PlivoStreamClient]:
        return list(await asyncio.gather(*(one(port, i, c)
                                           for i, c in enumerate(CONTENT_TYPES))))

    with serve_app(app) as port:
        clients = asyncio.run(both(port))
    return {"dir": directory, "clients": dict(zip(CONTENT_TYPES, clients, strict=True))}


@pytest.mark.parametrize("index", range(len(CONTENT_TYPES)), ids=["mulaw-8k", "l16-16k"])
def test_denoiser_in_a_served_pipeline_gains_6_db(recordings: Any, index: int) -> None:
    content_type = CONTENT_TYPES[index]
    client: PlivoStreamClient = recordings["clients"][content_type]
    rate = client.spec.sample_rate
    with wave.open(str(recordings["dir"] / f"dn{index}.wav")) as w:
        assert (w.getnchannels(), w.getframerate()) == (1, rate)
        out = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)
    sent, _ = client.caller_pcm()  # the noisy speech as sent, on the media clock
    wire = codec.decode(codec.encode(sent, client.spec.encoding), client.spec.encoding)
    clean = np.zeros(len(sent))
    clean[: len(speech(rate))] = speech(rate)[: len(sent)]
    size = len(out) + len(clean)
    corr = np.fft.irfft(np.fft.rfft(out, size) * np.conj(np.fft.rfft(clean, size)), size)
    lag = int(np.argmax(corr[: rate // 5]))
    aligned = out[lag : lag + len(clean)]
    reference = clean[: len(aligned)]
    before = snr_db(clean, wire.astype(np.float64))
    after = snr_db(reference, aligned)
    print(f"{content_type}: SNR {before:.1f} -> {after:.1f} dB, delay {1000 * lag / rate:.1f} ms")
    assert after - before >= 6.0
    assert lag <= 0.03 * rate  # the denoiser's constant delay, nothing more
