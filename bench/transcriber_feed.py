"""Does feeding pocketsphinx bigger batches make it cheaper? CPU per audio second by feed size.

The transcriber's lane hands its engine whatever audio has queued (20 ms at real time, up
to 1 s when behind). This feeds the nine fixture sentences (1 s of silence after each),
8 kHz μ-law, to the pocketsphinx engine in batches of 20, 100, 200 and 1000 ms, both in
this process and through the worker process the server uses
(:class:`flowc_transcriber.isolate.ProcessEngine`), and prints CPU s per audio s of this
process and of the worker (psutil), with the ratio to the 20 ms feed measured in the same
run. The engine always decodes 20 ms per ``process_raw``, so the words do not change.

    nice -n 19 .venv/bin/python bench/transcriber_feed.py [--repeat N]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import psutil
from flowc_transcriber.isolate import ProcessEngine
from flowc_transcriber.settings import with_defaults
from flowc_transcriber.sphinx import SphinxEngine
from plugins_transcriber import at_rate, conversation

from flowc.runtime.codec import pcm_to_ulaw, ulaw_to_pcm

BATCHES_MS = (20, 100, 200, 1000)


def _children_cpu() -> float:
    return sum(sum(child.cpu_times()[:2]) for child in psutil.Process().children())


def feed_all(engine: Any, pcm: np.ndarray, batch_ms: int) -> tuple[float, float, int]:
    """CPU s of this process and of its children while ``engine`` takes ``pcm`` in batches;
    the number of results."""
    step = 8000 * batch_ms // 1000
    own, children = time.process_time(), _children_cpu()
    results = 0
    for offset in range(0, len(pcm), step):
        results += len(engine.feed(pcm[offset : offset + step]))
    results += len(engine.finish())
    return time.process_time() - own, _children_cpu() - children, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs per setting (fastest kept)")
    args = parser.parse_args()
    pcm16, _ = conversation()
    pcm = ulaw_to_pcm(pcm_to_ulaw(at_rate(pcm16, 8000)))
    seconds = len(pcm) / 8000
    settings = with_defaults({})
    print(f"audio: {seconds:.1f} s, 8 kHz μ-law; CPU s per audio s (fastest of {args.repeat})")
    print(f"{'where':<16} {'feed':>7} {'this process':>12} {'worker':>7} {'total':>7} "
          f"{'x 20 ms':>7} {'results':>7}")
    for where in ("in process", "worker process"):
        best: dict[int, tuple[float, float, int]] = {}
        for _ in range(args.repeat):
            for batch in BATCHES_MS:  # interleaved: drift hits every size alike
                engine: Any = (SphinxEngine(settings, 8000) if where == "in process" else
                               ProcessEngine("flowc_transcriber.sphinx:create", settings, 8000))
                try:
                    run = feed_all(engine, pcm, batch)
                finally:
                    engine.close()
                if batch not in best or sum(run[:2]) < sum(best[batch][:2]):
                    best[batch] = run
        base = sum(best[BATCHES_MS[0]][:2])
        for batch in BATCHES_MS:
            own, child, results = best[batch]
            print(f"{where:<16} {batch:>4} ms {own / seconds:>12.3f} {child / seconds:>7.3f} "
                  f"{(own + child) / seconds:>7.3f} {(own + child) / base:>7.2f} {results:>7}")


if __name__ == "__main__":
    main()
