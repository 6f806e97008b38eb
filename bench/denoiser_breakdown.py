"""Where the denoiser's CPU goes per 20 ms chunk (RNNoise engine), optimized vs reference.

For 8 and 16 kHz noisy speech (the piper fixtures with white noise at 5 dB SNR, as in
``bench/plugins_audio.py``), in 20 ms chunks, two pipelines are measured in the same run,
interleaved, each the best of ``--repeat`` runs:

* ``reference``: :class:`flowc_denoiser.reference.ReferenceDenoiser`, the pipeline as first
  written (int16 between every step, new arrays per call, one engine call per 10 ms
  frame) and the sample-for-sample specification of the optimized one;
* ``optimized``: :class:`flowc_denoiser.stream.StreamDenoiser` as the stage runs it.

Each stage is timed alone over the inputs it gets in a full run (the mix with an engine
that replays recorded output), so no timer runs inside the loops being measured:

* ``up`` / ``down``: the polyphase resamplers (stream rate <-> 48 kHz);
* ``engine``: two RNNoise frames through the engine's Python path (reference: int16 in
  and out per frame; optimized: ``process_into`` on the 960-sample float32 block);
* ``C floor``: ``rnnoise_process_frame`` called on the same frames from the tightest
  ctypes loop (fixed addresses), i.e. the library's own cost plus ~1 µs of ctypes;
* ``mix``: wet/dry mix, delay line, rounding;
* ``glue``: the rest of a full ``process`` call (framing, output queue, calls).

Then the stage as a server runs it: the :class:`DenoiserProcessor` in an anyio loop with
the engine in the plugin's worker threads (one thread hop per chunk) against calling
``StreamDenoiser.process`` inline, and the bare cost of one ``anyio.to_thread`` hop.

CPU is ``time.thread_time`` (``process_time`` for the threaded rows), valid under
``nice``. Usage: ``python bench/denoiser_breakdown.py [--seconds S] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt
from flowc_denoiser.plugin import make_denoiser
from flowc_denoiser.polyphase import IntegerResampler
from flowc_denoiser.reference import ReferenceDenoiser, ReferenceResampler
from flowc_denoiser.rnnoise import FRAME, RNNoiseEngine, load_library
from flowc_denoiser.stream import StreamDenoiser
from plugins_audio import speech, to_pcm, with_noise

from flowc.runtime.frames import AudioIn, Frame
from flowc.runtime.processor import StreamContext

PCM = npt.NDArray[np.int16]
F32 = npt.NDArray[np.float32]
STAGES = ("up", "engine", "mix", "down", "glue")


def cpu(loop: Callable[[], Any], clock: Callable[[], float] = time.thread_time) -> float:
    start = clock()
    loop()
    return clock() - start


class ReplayEngine:
    """Gives back recorded engine output (int16 per frame, or float32 blocks)."""

    rate, frame_size, delay = 48000, FRAME, 2 * FRAME

    def __init__(self, frames: list[Any]) -> None:
        self._next: Iterator[Any] = iter(frames)

    def process(self, frame: PCM) -> PCM:
        out: PCM = next(self._next)
        return out

    def process_into(self, frames: F32, out: F32) -> None:
        np.copyto(out, next(self._next))

    def close(self) -> None:
        pass


def reference_stages(rate: int, chunks: list[PCM]) -> dict[str, float]:
    """CPU seconds per stage over ``chunks`` for the reference pipeline."""
    up, down = ReferenceResampler(rate, 48000), ReferenceResampler(48000, rate)
    ups = [up.process(c) for c in chunks]
    engine = RNNoiseEngine()
    frames = [u[i : i + FRAME] for u in ups for i in range(0, len(u), FRAME)]
    wets = [engine.process(f) for f in frames]
    den = ReferenceDenoiser(ReplayEngine(wets), rate)
    mixed = [den._mix(u) for u in ups]
    t: dict[str, float] = {}
    up = ReferenceResampler(rate, 48000)
    t["up"] = cpu(lambda: [up.process(c) for c in chunks])
    engine = RNNoiseEngine()
    t["engine"] = cpu(lambda: [engine.process(f) for f in frames])
    den = ReferenceDenoiser(ReplayEngine(wets), rate)
    t["mix"] = cpu(lambda: [den._mix(u) for u in ups])
    t["down"] = cpu(lambda: [down.process(m) for m in mixed])
    full = ReferenceDenoiser(RNNoiseEngine(), rate)
    t["total"] = cpu(lambda: [full.process(c) for c in chunks])
    t["glue"] = t["total"] - sum(t[s] for s in STAGES[:-1])
    return t


def optimized_stages(rate: int, chunks: list[PCM]) -> dict[str, float]:
    """CPU seconds per stage over ``chunks`` for the optimized pipeline."""
    up = IntegerResampler(rate, 48000, half_taps=16)
    blocks = [up.resample(c).astype(np.float32) for c in chunks]
    engine = RNNoiseEngine()
    wets = []
    for b in blocks:
        wets.append(np.empty_like(b))
        engine.process_into(b, wets[-1])
    den = StreamDenoiser(ReplayEngine(wets), rate)
    mixed = [den._mix(b).copy() for b in blocks]
    t: dict[str, float] = {}
    up = IntegerResampler(rate, 48000, half_taps=16)
    t["up"] = cpu(lambda: [up.resample(c) for c in chunks])
    engine, out = RNNoiseEngine(), np.empty(2 * FRAME, np.float32)
    t["engine"] = cpu(lambda: [engine.process_into(b, out) for b in blocks])
    den = StreamDenoiser(ReplayEngine(wets), rate)
    t["mix"] = cpu(lambda: [den._mix(b) for b in blocks])
    down = IntegerResampler(48000, rate, half_taps=16)
    t["down"] = cpu(lambda: [down.resample(m) for m in mixed])
    full = StreamDenoiser(RNNoiseEngine(), rate)
    t["total"] = cpu(lambda: [full.process(c) for c in chunks])
    t["glue"] = t["total"] - sum(t[s] for s in STAGES[:-1])
    lib, state = load_library(), RNNoiseEngine()._state
    frame, sink = lib.rnnoise_process_frame, np.empty(FRAME, np.float32)
    target = sink.ctypes.data
    sources = [b.ctypes.data + k * 4 * FRAME for b in blocks for k in range(len(b) // FRAME)]
    t["C floor"] = cpu(lambda: [frame(state, target, s) for s in sources])
    return t


def _context(rate: int) -> StreamContext:
    return StreamContext(
        flow="bench", flow_version="1", stream_key="s", call_id="c", stream_id="s",
        account_id="MA", content_type=f"audio/x-l16;rate={rate}", encoding="audio/x-l16",
        sample_rate=rate, tracks=("inbound",), bidirectional=False)


async def _served(rate: int, chunks: list[PCM], mode: str) -> float:
    """Process CPU seconds for the chunks through the stage (``threads``), the same loop
    calling the stream denoiser on the event loop (``inline``), or bare hops (``hop``)."""
    frames: list[Frame] = [AudioIn(c, rate, "inbound", 20 * k, k + 1, k + 1)  # type: ignore[arg-type]
                           for k, c in enumerate(chunks)]

    async def emit(frame: Frame) -> None:
        pass

    processor = make_denoiser({"engine": "rnnoise"}, _context(rate))
    await processor.start()
    denoiser = processor._denoiser
    assert denoiser is not None
    limiter = anyio.CapacityLimiter(os.cpu_count() or 1)
    start = time.process_time()
    for frame in frames:
        if mode == "threads":
            await processor.process(frame, emit)
        elif mode == "inline":
            denoiser.process(frame.pcm)  # type: ignore[attr-defined]
            await emit(frame)
        else:
            await anyio.to_thread.run_sync(len, frame.pcm,  # type: ignore[attr-defined]
                                           limiter=limiter)
    spent = time.process_time() - start
    await processor.close()
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is shown")
    args = parser.parse_args(argv)
    print(f"# denoiser (rnnoise) CPU breakdown, {args.seconds:.0f} s of audio, best of "
          f"{args.repeat}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for rate in (8000, 16000):
        clean = speech(rate, args.seconds)
        noisy = to_pcm(with_noise(clean, rate))
        size = rate // 50
        chunks = [noisy[i : i + size] for i in range(0, len(noisy) - size + 1, size)]
        # the same output, sample for sample, before measuring anything
        a, b = StreamDenoiser(RNNoiseEngine(), rate), ReferenceDenoiser(RNNoiseEngine(), rate)
        same = all(np.array_equal(a.process(c), b.process(c)) for c in chunks)
        best: dict[str, dict[str, float]] = {"reference": {}, "optimized": {}}
        served: dict[str, float] = {}
        for _ in range(args.repeat):
            for name, run in (("reference", reference_stages), ("optimized", optimized_stages)):
                for key, value in run(rate, chunks).items():
                    best[name][key] = min(best[name].get(key, value), value)
            for mode in ("threads", "inline", "hop"):
                value = anyio.run(_served, rate, chunks, mode)
                served[mode] = min(served.get(mode, value), value)
        n = len(chunks)
        ref, opt = best["reference"], best["optimized"]
        print(f"\n## {rate} Hz, {n} chunks of 20 ms; optimized output identical to the "
              f"reference: {'yes' if same else 'NO'}\n")
        print("| stage | reference µs/chunk | optimized µs/chunk | optimized / reference |")
        print("|---|---|---|---|")
        for stage in (*STAGES, "total"):
            r, o = 1e6 * ref[stage] / n, 1e6 * opt[stage] / n
            print(f"| {stage} | {r:.0f} | {o:.0f} | {o / r:.2f} |" if r > 0 else
                  f"| {stage} | {r:.0f} | {o:.0f} | - |")
        floor = 1e6 * opt["C floor"] / n
        print(f"| C floor (2 rnnoise_process_frame calls) | {floor:.0f} | {floor:.0f} | - |")
        over_r, over_o = 1e6 * ref["total"] / n - floor, 1e6 * opt["total"] / n - floor
        print(f"| total - C floor (Python/numpy) | {over_r:.0f} | {over_o:.0f} | "
              f"{over_o / over_r:.2f} |")
        seconds = n / 50
        print(f"\nCPU s per audio s, StreamDenoiser.process: reference "
              f"{ref['total'] / seconds:.4f}, optimized {opt['total'] / seconds:.4f} "
              f"({opt['total'] / ref['total']:.2f}x); C floor {opt['C floor'] / seconds:.4f}")
        print(f"the stage in an anyio loop (process CPU, all threads): worker thread per "
              f"chunk {1e6 * served['threads'] / n:.0f} µs/chunk "
              f"({served['threads'] / seconds:.4f} s/s), inline on the event loop "
              f"{1e6 * served['inline'] / n:.0f} µs/chunk; a bare anyio.to_thread hop "
              f"{1e6 * served['hop'] / n:.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
