"""Transcriber cost: CPU seconds per audio second for each engine and rate.

Feeds the nine fixture sentences (tests/fixtures/speech, 1 s of silence after each) to
each engine in 20 ms chunks, as the transcriber's lanes do, and prints per engine and
rate: CPU s per audio s (``process_time``, all threads), wall real-time factor, the
implied real-time tracks per core, the wall time of the ``feed`` that returns a final
(the end-of-utterance decode, i.e. latency added after the VAD's decision) and WER.
The baseline, measured in the same run, is what every engine pays before decoding:
streaming resampling to 16 kHz plus Silero VAD segmentation. Also: engine start cold
and warm (pocketsphinx decoder pool, shared Whisper model), and how long decoding stalls
the other threads of the process (pocketsphinx holds the GIL: hence its worker process).

    .venv/bin/python bench/plugins_transcriber.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from flowc_transcriber import isolate, sphinx, whisper
from flowc_transcriber.segment import UtteranceSegmenter
from flowc_transcriber.settings import with_defaults
from flowc_transcriber.wer import word_error_rate

from flowc.runtime.codec import StreamResampler, pcm_to_ulaw, resample, ulaw_to_pcm
from flowc.runtime.frames import PCM

SPEECH = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech"


def conversation() -> tuple[PCM, str]:
    parts, texts = [], []
    for line in (SPEECH / "references.txt").read_text().splitlines():
        name, text = line.split("\t")
        with wave.open(str(SPEECH / f"{name}.wav")) as w:
            parts.append(np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16))
        parts.append(np.zeros(16000, np.int16))
        texts.append(text)
    return np.concatenate(parts), " ".join(texts)


def at_rate(pcm16: PCM, rate: int) -> PCM:
    if rate == 16000:
        return pcm16
    return ulaw_to_pcm(pcm_to_ulaw(resample(pcm16, 16000, rate)))


class Baseline:
    """Resample to 16 kHz + VAD segmentation, no decoding."""

    def __init__(self, rate: int) -> None:
        self.resampler = StreamResampler(rate, 16000)
        self.segmenter = UtteranceSegmenter(16000)

    def feed(self, pcm: PCM) -> list[Any]:
        self.segmenter.feed(self.resampler.process(pcm))
        return []

    def finish(self) -> list[Any]:
        self.segmenter.feed(self.resampler.flush())
        self.segmenter.finish()
        return []

    def close(self) -> None:
        pass


def run(engine: Any, pcm: PCM, rate: int) -> dict[str, Any]:
    step = rate // 50
    finals, final_walls = [], []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(0, len(pcm), step):
        t = time.perf_counter()
        results = engine.feed(pcm[i:i + step])
        if any(r.final for r in results):
            final_walls.append(time.perf_counter() - t)
        finals += [r for r in results if r.final]
    finals += [r for r in engine.finish() if r.final]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    engine.close()
    return {"cpu": cpu, "wall": wall, "text": " ".join(r.text for r in finals),
            "final_ms": 1000 * statistics.median(final_walls) if final_walls else 0.0}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per engine and rate")
    args = parser.parse_args()
    pcm16, reference = conversation()
    settings = with_defaults({})
    wsettings = with_defaults({"engine": "whisper"})

    print("engine start (wall s)")
    _, cold = timed(lambda: sphinx.SphinxEngine(settings, 8000, pool=sphinx.DecoderPool()))
    pool = sphinx.DecoderPool()
    pool.prewarm(1)
    _, warm = timed(lambda: sphinx.SphinxEngine(settings, 8000, pool=pool))
    print(f"  pocketsphinx  cold {cold:6.3f}   warm (pooled decoder) {warm:6.3f}")
    _, wcold = timed(lambda: whisper.WhisperEngine(wsettings, 8000))
    _, wwarm = timed(lambda: whisper.WhisperEngine(wsettings, 8000))
    print(f"  whisper       cold {wcold:6.3f}   warm (shared model)   {wwarm:6.3f}")

    factories: dict[str, Callable[[int], Any]] = {
        "baseline (resample+VAD)": Baseline,
        "pocketsphinx": lambda rate: sphinx.SphinxEngine(settings, rate),
        "whisper": lambda rate: whisper.WhisperEngine(wsettings, rate),
    }
    print()
    print(f"{'engine':24} {'rate':>6} {'CPU s/s':>8} {'wall RTF':>9} {'tracks/core':>12} "
          f"{'final ms':>9} {'WER':>6}")
    for name, factory in factories.items():
        for rate in (16000, 8000):
            pcm = at_rate(pcm16, rate)
            seconds = len(pcm) / rate
            runs = [run(factory(rate), pcm, rate) for _ in range(args.repeat)]
            cpu = statistics.median(r["cpu"] for r in runs) / seconds
            wall = statistics.median(r["wall"] for r in runs) / seconds
            final_ms = statistics.median(r["final_ms"] for r in runs)
            wer = ("-" if name.startswith("baseline")
                   else f"{word_error_rate(reference, runs[0]['text']):.3f}")
            label = "16k L16" if rate == 16000 else "8k ulaw"
            print(f"{name:24} {label:>6} {cpu:8.3f} {wall:9.3f} {1 / cpu:12.1f} "
                  f"{final_ms:9.1f} {wer:>6}")
    print(f"\naudio: {len(pcm16) / 16000:.1f} s per run (9 sentences, 82 words)")

    # What decoding does to the rest of the process: a thread that wakes every 1 ms stands
    # for the server's event loop; its longest wait is how long a call's audio would stall.
    pcm8 = at_rate(pcm16, 8000)[: 8000 * 12]
    print("\nevent-loop stall while one 8 kHz track is decoded (longest wait of a 1 ms timer)")
    stalls: dict[str, Callable[[], Any]] = {
        "baseline (no decoding)": lambda: time.sleep(2.0),
        "pocketsphinx in a thread": lambda: run(
            sphinx.SphinxEngine(with_defaults({}), 8000), pcm8, 8000),
        "pocketsphinx in a worker process": lambda: run(
            isolate.ProcessEngine("flowc_transcriber.sphinx:create", with_defaults({}), 8000),
            pcm8, 8000),
        "whisper in a thread": lambda: run(whisper.WhisperEngine(wsettings, 8000), pcm8, 8000),
    }
    isolate.ProcessEngine("flowc_transcriber.sphinx:create", settings, 8000).close()  # warm
    for name, work in stalls.items():
        longest, p99 = stall(work)
        print(f"  {name:34} max {longest:7.1f} ms   p99 {p99:6.1f} ms")


def stall(work: Callable[[], Any]) -> tuple[float, float]:
    """Longest and p99 gap (ms) of a 1 ms timer thread while ``work`` runs."""
    gaps: list[float] = []
    done = threading.Event()

    def timer() -> None:
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    thread = threading.Thread(target=timer)
    thread.start()
    try:
        work()
    finally:
        done.set()
        thread.join()
    return 1000 * max(gaps), 1000 * float(np.percentile(gaps, 99))


if __name__ == "__main__":
    main()
