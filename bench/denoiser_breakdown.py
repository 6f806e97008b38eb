"""Where the denoiser's CPU goes per 20 ms chunk (RNNoise engine), optimized vs reference.

For 8 and 16 kHz noisy speech (the piper fixtures with white noise at 5 dB SNR, as in
``bench/plugins_audio.py``), in 20 ms chunks, two pipelines are measured in the same run:

* ``reference``: :class:`flowc_denoiser.reference.ReferenceDenoiser`, the pipeline as first
  written (int16 between every step, new arrays per call, one engine call per 10 ms
  frame) and the sample-for-sample specification of the optimized one;
* ``optimized``: :class:`flowc_denoiser.stream.StreamDenoiser` as the stage runs it.

The measurement is paired: chunk by chunk, every stage of both pipelines runs on the
input it gets in a full run (recorded beforehand; the mix with an engine that replays
recorded output), then a full ``process`` call of each, then the bare library call, in
alternating order, each timed with ``time.thread_time_ns``. A neighbour loading the
machine (RNNoise streams ~11 MB of weights per frame, so it is sensitive to the shared
cache) then weighs on both sides alike. Stages:

* ``up`` / ``down``: the polyphase resamplers (stream rate <-> 48 kHz);
* ``engine``: two RNNoise frames through the engine's Python path (reference: int16 in
  and out per frame; optimized: ``process_into`` on the 960-sample float32 block);
* ``C floor``: ``rnnoise_process_frame`` twice from the tightest ctypes loop (fixed
  addresses): the library's own cost, the part no Python change can remove;
* ``mix``: wet/dry mix, delay line, rounding (optimized: also rounding the engine's
  output, which the reference does in its engine stage);
* ``glue``: the rest of a full ``process`` call (framing, output queue, calls): the total
  less the stages, so negative when the stages, timed one by one right after RNNoise
  has swept the caches, ran colder than they do inside one call.

Then the stage as a server runs it, in one anyio loop, the modes taking turns in bursts
of 25 chunks: the :class:`DenoiserProcessor` (the engine in the plugin's worker threads,
one hop per chunk), the reference denoiser hopping through ``anyio.to_thread`` as the
stage first did, the same stage calling the engine in place on the event loop, and bare
hops of both kinds (``process_time``, all threads).

Usage: ``python bench/denoiser_breakdown.py [--seconds S]`` (run it under ``nice``: CPU
time stays valid).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread
import numpy as np
import numpy.typing as npt
from flowc_denoiser.plugin import make_denoiser
from flowc_denoiser.polyphase import IntegerResampler
from flowc_denoiser.reference import ReferenceDenoiser, ReferenceResampler
from flowc_denoiser.rnnoise import FRAME, RNNoiseEngine, load_library
from flowc_denoiser.stream import StreamDenoiser
from flowc_denoiser.workers import workers
from plugins_audio import speech, to_pcm, with_noise

from flowc.runtime.frames import AudioIn, Frame
from flowc.runtime.processor import StreamContext

PCM = npt.NDArray[np.int16]
F32 = npt.NDArray[np.float32]
STAGES = ("up", "engine", "mix", "down")
SERVED = ("reference stage", "stage", "inline", "anyio hop", "workers hop")
BURST = 25


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


Step = Callable[[int], object]


def reference_steps(rate: int, chunks: list[PCM]) -> dict[str, Step]:
    """Per stage, a call that runs it on chunk ``k``'s recorded input."""
    up = ReferenceResampler(rate, 48000)
    ups = [up.process(c) for c in chunks]
    engine = RNNoiseEngine()
    frames = [[u[:FRAME], u[FRAME:]] for u in ups]
    wets = [[engine.process(f) for f in pair] for pair in frames]
    mixing = ReferenceDenoiser(ReplayEngine([w for pair in wets for w in pair]), rate)
    mixed = [mixing._mix(u) for u in ups]
    up, down, engine = ReferenceResampler(rate, 48000), ReferenceResampler(48000, rate), \
        RNNoiseEngine()
    mixing = ReferenceDenoiser(ReplayEngine([w for pair in wets for w in pair]), rate)
    full = ReferenceDenoiser(RNNoiseEngine(), rate)
    return {
        "up": lambda k: up.process(chunks[k]),
        "engine": lambda k: [engine.process(f) for f in frames[k]],
        "mix": lambda k: mixing._mix(ups[k]),
        "down": lambda k: down.process(mixed[k]),
        "total": lambda k: full.process(chunks[k]),
    }


def optimized_steps(rate: int, chunks: list[PCM]) -> dict[str, Step]:
    """Per stage, a call that runs it on chunk ``k``'s recorded input; and the C floor."""
    up = IntegerResampler(rate, 48000, half_taps=16)
    blocks = [up.resample(c).astype(np.float32) for c in chunks]
    engine = RNNoiseEngine()
    wets = [np.empty_like(b) for b in blocks]
    for b, w in zip(blocks, wets, strict=True):
        engine.process_into(b, w)
    mixing = StreamDenoiser(ReplayEngine(wets), rate)
    mixed = [mixing._mix(b).copy() for b in blocks]
    up, down = IntegerResampler(rate, 48000, half_taps=16), IntegerResampler(48000, rate,
                                                                            half_taps=16)
    engine, out = RNNoiseEngine(), np.empty(2 * FRAME, np.float32)
    mixing = StreamDenoiser(ReplayEngine(wets), rate)
    full = StreamDenoiser(RNNoiseEngine(), rate)
    frame, state = load_library().rnnoise_process_frame, RNNoiseEngine()._state
    target = out.ctypes.data
    sources = [(b.ctypes.data, b.ctypes.data + 4 * FRAME) for b in blocks]

    def floor(k: int) -> None:
        first, second = sources[k]
        frame(state, target, first)
        frame(state, target, second)

    return {
        "up": lambda k: up.resample(chunks[k]),
        "engine": lambda k: engine.process_into(blocks[k], out),
        "mix": lambda k: mixing._mix(blocks[k]),
        "down": lambda k: down.resample(mixed[k]),
        "total": lambda k: full.process(chunks[k]),
        "C floor": floor,
    }


def paired(rate: int, chunks: list[PCM]) -> dict[str, dict[str, float]]:
    """Nanoseconds per stage and pipeline, summed over the chunks, measured in lockstep."""
    steps = {"reference": reference_steps(rate, chunks),
             "optimized": optimized_steps(rate, chunks)}
    spent = {name: dict.fromkeys(calls, 0.0) for name, calls in steps.items()}
    clock = time.thread_time_ns
    order = list(steps)
    for k in range(len(chunks)):
        for name in order if k % 2 else order[::-1]:
            for stage, step in steps[name].items():
                start = clock()
                step(k)
                spent[name][stage] += clock() - start
    # the timer itself, per reading pair, to be read against the per-chunk figures
    start = clock()
    for _ in range(1000):
        clock()
    spent["timer"] = {"per call": (clock() - start) / 1000}
    return spent


def _context(rate: int) -> StreamContext:
    return StreamContext(
        flow="bench", flow_version="1", stream_key="s", call_id="c", stream_id="s",
        account_id="MA", content_type=f"audio/x-l16;rate={rate}", encoding="audio/x-l16",
        sample_rate=rate, tracks=("inbound",), bidirectional=False)


async def served(rate: int, chunks: list[PCM]) -> dict[str, float]:
    """Process CPU seconds per mode (see the module docstring), modes taking turns."""
    frames = [AudioIn(c, rate, "inbound", 20 * k, k + 1, k + 1)
              for k, c in enumerate(chunks)]

    async def emit(frame: Frame) -> None:
        pass

    processor = make_denoiser({"engine": "rnnoise"}, _context(rate))
    await processor.start()
    inline = make_denoiser({"engine": "rnnoise"}, _context(rate))
    await inline.start()
    inline._denoiser.engine.heavy = False  # the same stage, calling the engine in place
    reference = ReferenceDenoiser(RNNoiseEngine(), rate)
    limiter = anyio.CapacityLimiter(os.cpu_count() or 1)
    pool = workers()
    await pool.run(len, chunks[0])  # start the threads

    async def stage(frame: AudioIn) -> None:
        await processor.process(frame, emit)

    async def reference_stage(frame: AudioIn) -> None:
        await anyio.to_thread.run_sync(reference.process, frame.pcm, limiter=limiter)
        await emit(frame)

    async def on_loop(frame: AudioIn) -> None:
        await inline.process(frame, emit)

    async def anyio_hop(frame: AudioIn) -> None:
        await anyio.to_thread.run_sync(len, frame.pcm, limiter=limiter)

    async def workers_hop(frame: AudioIn) -> None:
        await pool.run(len, frame.pcm)

    modes: dict[str, Callable[[AudioIn], Awaitable[None]]] = dict(zip(
        SERVED, (reference_stage, stage, on_loop, anyio_hop, workers_hop), strict=True))
    spent = dict.fromkeys(modes, 0.0)
    for first in range(0, len(frames), BURST):
        for mode, run in modes.items():
            start = time.process_time()
            for frame in frames[first : first + BURST]:
                await run(frame)
            spent[mode] += time.process_time() - start
    await processor.close()
    await inline.close()
    reference.close()
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="audio per rate")
    args = parser.parse_args(argv)
    print(f"# denoiser (rnnoise) CPU breakdown, {args.seconds:.0f} s of audio per rate, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for rate in (8000, 16000):
        clean = speech(rate, args.seconds)
        noisy = to_pcm(with_noise(clean, rate))
        size = rate // 50
        chunks = [noisy[i : i + size] for i in range(0, len(noisy) - size + 1, size)]
        # the same output, sample for sample, before measuring anything
        a, b = StreamDenoiser(RNNoiseEngine(), rate), ReferenceDenoiser(RNNoiseEngine(), rate)
        same = all(np.array_equal(a.process(c), b.process(c)) for c in chunks)
        spent = paired(rate, chunks)
        n, seconds = len(chunks), len(chunks) / 50
        ref, opt = ({k: v / 1000 / n for k, v in spent[name].items()}  # µs per chunk
                    for name in ("reference", "optimized"))
        for side in (ref, opt):
            side["glue"] = side["total"] - sum(side[s] for s in STAGES)
        floor = opt["C floor"]
        print(f"\n## {rate} Hz, {n} chunks of 20 ms; optimized output identical to the "
              f"reference: {'yes' if same else 'NO'}\n")
        print("| stage | reference µs/chunk | optimized µs/chunk | optimized / reference |")
        print("|---|---|---|---|")
        for stage in (*STAGES, "glue", "total"):
            print(f"| {stage} | {ref[stage]:.0f} | {opt[stage]:.0f} | "
                  f"{opt[stage] / ref[stage]:.2f} |")
        print(f"| C floor (2 rnnoise_process_frame calls) | {floor:.0f} | {floor:.0f} | - |")
        print(f"| total - C floor (Python, numpy, ctypes) | {ref['total'] - floor:.0f} | "
              f"{opt['total'] - floor:.0f} | "
              f"{(opt['total'] - floor) / (ref['total'] - floor):.2f} |")
        print(f"\n(one timer reading: {spent['timer']['per call'] / 1000:.2f} µs, "
              "counted once per stage and chunk)")
        print(f"CPU s per audio s, StreamDenoiser.process: reference "
              f"{ref['total'] * n / 1e6 / seconds:.4f}, optimized "
              f"{opt['total'] * n / 1e6 / seconds:.4f} ({opt['total'] / ref['total']:.2f}x);"
              f" C floor {floor * n / 1e6 / seconds:.4f}")
        modes = anyio.run(served, rate, chunks)
        print("\nThe stage in an anyio loop (process CPU, all threads, modes taking turns):\n")
        print("| mode | µs per chunk | CPU s per audio s |")
        print("|---|---|---|")
        for mode in SERVED:
            print(f"| {mode} | {1e6 * modes[mode] / n:.0f} | {modes[mode] / seconds:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
