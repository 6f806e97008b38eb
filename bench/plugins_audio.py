"""Audio plugins benchmark: the denoiser and the recorder, measured in one run beside
baselines.

Rows:
* denoiser, per engine and stream rate: CPU seconds per audio second (``process_time``,
  all threads) over noisy speech (the piper fixtures with white noise at 5 dB SNR) in
  20 ms chunks; the delay it reports and the delay measured by cross-correlation; SNR
  in -> out on the noisy speech and SI-SDR on the clean speech;
* baselines: the per-chunk μ-law decode + encode every stream does anyway, and the soxr
  ``ResampleStream(vr=True)`` round trip 8/16 kHz -> 48 kHz -> back that the denoiser does
  *not* use (its delay and its SI-SDR with no denoising at all);
* recorder: CPU s/s (the stream's task and the writer thread) for a mono 8 kHz and a
  stereo 16 kHz stream, beside appending the same bytes to a file with no header upkeep;
* calls per core: 1 / (denoiser + recorder CPU s/s) at 8 kHz.

Usage: ``python bench/plugins_audio.py [--seconds S]`` (audio seconds per row, default 30).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "tests" / "fixtures" / "speech"

from flowc_denoiser.plugin import BUILTIN_ENGINES  # noqa: E402
from flowc_denoiser.stream import StreamDenoiser  # noqa: E402
from flowc_recorder.plugin import make_recorder  # noqa: E402

from flowc.runtime import codec  # noqa: E402
from flowc.runtime.frames import AudioIn  # noqa: E402
from flowc.runtime.processor import StreamContext  # noqa: E402

Signal = npt.NDArray[np.float64]
PCM = npt.NDArray[np.int16]


def speech(rate: int, seconds: float) -> Signal:
    parts = []
    for path in sorted(SPEECH.glob("s*.wav")):
        with wave.open(str(path)) as w:
            parts.append(np.frombuffer(w.readframes(w.getnframes()), "<i2"))
    pcm = codec.resample(np.concatenate(parts).astype(np.int16), 16000, rate)
    reps = int(np.ceil(seconds * rate / len(pcm)))
    out: Signal = np.tile(pcm, reps)[: int(seconds * rate)].astype(np.float64)
    return out


def with_noise(clean: Signal, rate: int, snr_db: float = 5.0) -> Signal:
    size = rate // 50
    energy = (clean[: len(clean) // size * size].reshape(-1, size) ** 2).mean(axis=1)
    level = np.sqrt(energy[energy > energy.max() * 1e-3].mean())
    noise = np.random.default_rng(1).standard_normal(len(clean)) * level / 10 ** (snr_db / 20)
    noisy: Signal = clean + noise
    return noisy


def to_pcm(x: Signal) -> PCM:
    pcm: PCM = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return pcm


def lag_of(out: Signal, ref: Signal, max_lag: int) -> int:
    size = len(out) + len(ref)
    corr = np.fft.irfft(np.fft.rfft(out, size) * np.conj(np.fft.rfft(ref, size)), size)
    return int(np.argmax(corr[:max_lag]))


def snr(ref: Signal, est: Signal) -> float:
    return float(10 * np.log10((ref**2).sum() / ((ref - est) ** 2).sum()))


def si_sdr(ref: Signal, est: Signal) -> float:
    target = (est @ ref) / (ref @ ref) * ref
    return float(10 * np.log10((target**2).sum() / ((est - target) ** 2).sum()))


def chunked(fn: Callable[[PCM], PCM], pcm: PCM, size: int) -> tuple[Signal, float]:
    """Run ``fn`` over 20 ms chunks; (output, CPU seconds)."""
    outs = []
    start = time.process_time()
    for i in range(0, len(pcm) - size + 1, size):
        outs.append(fn(pcm[i : i + size]))
    cpu = time.process_time() - start
    return np.concatenate(outs).astype(np.float64), cpu


def scores(out: Signal, ref: Signal, rate: int) -> tuple[int, Signal, Signal]:
    lag = lag_of(out, ref, rate // 5)
    est = out[lag:]
    return lag, ref[: len(est)], est


def bench_denoiser(seconds: float) -> dict[tuple[str, int], float]:
    cpu_per_s: dict[tuple[str, int], float] = {}
    print("\n## denoiser (20 ms chunks, one instance per stream)\n")
    print("| engine | rate | CPU s/s | delay reported / measured ms | SNR 5 dB white: in -> out"
          " dB | SI-SDR clean dB |")
    print("|---|---|---|---|---|---|")
    for rate in (8000, 16000):
        clean = speech(rate, seconds)
        noisy = to_pcm(with_noise(clean, rate))
        size = rate // 50
        for engine in ("rnnoise", "speex"):
            den = StreamDenoiser(BUILTIN_ENGINES[engine](rate), rate, 85)
            out, cpu = chunked(den.process, noisy, size)
            lag, ref, est = scores(out, clean, rate)
            clean_den = StreamDenoiser(BUILTIN_ENGINES[engine](rate), rate, 85)
            out_clean, _ = chunked(clean_den.process, to_pcm(clean), size)
            _, ref_c, est_c = scores(out_clean, clean, rate)
            cpu_per_s[engine, rate] = cpu / seconds
            print(f"| {engine} | {rate} | {cpu / seconds:.4f} | "
                  f"{1000 * den.latency / rate:.1f} / {1000 * lag / rate:.1f} | "
                  f"{snr(clean[: len(noisy)], noisy.astype(np.float64)):.1f} -> "
                  f"{snr(ref, est):.1f} | {si_sdr(ref_c, est_c):.1f} |")
    print("\nbaselines (same audio, same run):\n")
    print("| baseline | rate | CPU s/s | delay ms | SI-SDR clean dB |")
    print("|---|---|---|---|---|")
    for rate in (8000, 16000):
        clean = speech(rate, seconds)
        pcm = to_pcm(clean)
        size = rate // 50

        def ulaw(chunk: PCM) -> PCM:
            return codec.ulaw_to_pcm(codec.pcm_to_ulaw(chunk))

        _, cpu = chunked(ulaw, pcm, size)
        print(f"| μ-law decode + encode per chunk | {rate} | {cpu / seconds:.4f} | 0 | - |")
        up, down = codec.StreamResampler(rate, 48000), codec.StreamResampler(48000, rate)

        def round_trip(chunk: PCM, up: Any = up, down: Any = down) -> PCM:
            out: PCM = down.process(up.process(chunk))
            return out

        out, cpu = chunked(round_trip, pcm, size)
        lag, ref, est = scores(out, clean, rate)
        # count the output's missing start as delay, as a chunk-in/chunk-out stage must
        startup = len(pcm) - len(out)
        print(f"| soxr vr round trip via 48 kHz (not used) | {rate} | {cpu / seconds:.4f} | "
              f"{1000 * (lag + startup) / rate:.1f} | {si_sdr(ref, est):.1f} |")
    return cpu_per_s


async def _record(context: StreamContext, directory: str, frames: list[Any]) -> None:
    recorder = make_recorder({"directory": directory, "fsync": 1.0}, context)
    await recorder.start()
    for frame in frames:
        recorder.take(frame)
    await recorder.close()


def bench_recorder(seconds: float) -> dict[int, float]:
    print("\n## recorder (stream task + writer thread, fsync every 1 s)\n")
    print("| stream | CPU s/s | baseline: append the same bytes, CPU s/s |")
    print("|---|---|---|")
    cpu_per_s: dict[int, float] = {}
    cases = ((8000, ("inbound",)), (8000, ("inbound",)), (16000, ("inbound", "outbound")))
    for run, (rate, tracks) in enumerate(cases):  # the first run warms up (threads, imports)
        pcm = to_pcm(speech(rate, seconds))
        size = rate // 50
        frames = []
        for k, i in enumerate(range(0, len(pcm) - size + 1, size)):
            for track in tracks:
                frames.append(AudioIn(pcm[i : i + size], rate, track,  # type: ignore[arg-type]
                                      1_705_312_200_000 + 20 * k, k + 1, k + 1))
        context = StreamContext(
            flow="bench", flow_version="1", stream_key="s", call_id="c", stream_id="s",
            account_id="MA", content_type=f"audio/x-l16;rate={rate}", encoding="audio/x-l16",
            sample_rate=rate, tracks=tracks, bidirectional=False)
        with tempfile.TemporaryDirectory() as directory:
            start = time.process_time()
            anyio.run(_record, context, directory, frames)
            cpu = time.process_time() - start
            path = os.path.join(directory, "base.raw")
            start = time.process_time()
            with open(path, "wb") as f:
                for frame in frames:
                    f.write(frame.pcm.tobytes())
                f.flush()
                os.fsync(f.fileno())
            base = time.process_time() - start
        if run == 0:
            continue
        cpu_per_s[rate] = cpu / seconds
        label = f"{rate} Hz {'stereo' if len(tracks) == 2 else 'mono'}"
        print(f"| {label} | {cpu / seconds:.5f} | {base / seconds:.5f} |")
    return cpu_per_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    print(f"# flowc audio plugins, {args.seconds:.0f} s of audio per row, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    den = bench_denoiser(args.seconds)
    rec = bench_recorder(args.seconds)
    per_call = den["rnnoise", 8000] + rec[8000]
    print(f"\ndenoiser (rnnoise) + recorder, 8 kHz: {per_call:.4f} CPU s/s -> "
          f"{1 / per_call:.0f} real-time calls per core (speex: "
          f"{1 / (den['speex', 8000] + rec[8000]):.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
