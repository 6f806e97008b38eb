"""pocketsphinx decoder settings: CPU s per audio s and WER for candidate configurations.

Feeds the nine fixture sentences (``bench/plugins_transcriber.py``'s conversation: 1 s of
silence after each) through :class:`flowc_transcriber.sphinx.SphinxEngine` in 20 ms chunks,
as 8 kHz μ-law and as 16 kHz L16, once per candidate decoder configuration (the engine's
``options``), and prints per configuration and rate: CPU s per audio s (``process_time``;
fastest and median of ``--repeat`` runs, configurations interleaved so drift hits them
alike), the ratio of the fastest runs to the engine's current default measured in the same
run (on a shared machine interference only ever adds CPU time), and WER. With piper
installed, WER also on sixteen held-out sentences that no setting was tuned on (the same
voice, synthesized once and cached in the temp directory), so a configuration that only
fits the nine fixtures shows. Rows always there: ``default`` (the engine's defaults, no
options), ``stock`` (pocketsphinx's own settings, the engine's defaults before they were
tuned) and ``resample+VAD`` (what every configuration pays before decoding).

    nice -n 19 .venv/bin/python bench/sphinx_tuning.py [--repeat N] [--rates 8000 16000]
        [--only LABEL ...] [--extra 'label={"beam": 1e-30}' ...] [--batch MS]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from flowc_transcriber import sphinx
from flowc_transcriber.settings import with_defaults
from flowc_transcriber.wer import word_error_rate
from plugins_transcriber import SPEECH, Baseline, at_rate, conversation, run

from flowc.runtime.frames import PCM

STOCK: dict[str, Any] = {
    "beam": 1e-48, "wbeam": 7e-29, "pbeam": 1e-48, "lpbeam": 1e-40, "lponlybeam": 7e-29,
    "maxhmmpf": 30000, "maxwpf": -1, "topn": 4, "ds": 1, "pl_window": 5, "pl_weight": 3.0,
    "pl_beam": 1e-10, "pl_pbeam": 1e-10, "fwdflat": True, "bestpath": True,
}
"""pocketsphinx 5.1.1's own values of every key the candidates below change."""

MILD = {**STOCK, "pl_weight": 5.0, "maxhmmpf": 5000, "wbeam": 1e-20, "lponlybeam": 1e-20}
STRONG = {**STOCK, "pl_weight": 7.0, "pl_window": 10, "maxhmmpf": 3000, "wbeam": 1e-20,
          "lponlybeam": 1e-20}

CANDIDATES: dict[str, dict[str, Any]] = {
    "stock": STOCK,
    # one knob at a time, from stock
    "fwdflat off": {**STOCK, "fwdflat": False},
    "ds 2": {**STOCK, "ds": 2},
    "topn 3": {**STOCK, "topn": 3},
    "maxhmmpf 5000": {**STOCK, "maxhmmpf": 5000},
    "wbeam+lponlybeam 1e-20": {**STOCK, "wbeam": 1e-20, "lponlybeam": 1e-20},
    "pl_weight 5": {**STOCK, "pl_weight": 5.0},
    "beam+pbeam 1e-40": {**STOCK, "beam": 1e-40, "pbeam": 1e-40},
    # combinations
    "mild: the 3 above, pl_weight 5": MILD,
    "mild + ds 2": {**MILD, "ds": 2},
    "strong: pl_weight 7, window 10": STRONG,
    "strong + ds 2": {**STRONG, "ds": 2},
}
"""Candidate ``options`` by label (``cmninit`` stays the engine's default for the rate)."""

HELDOUT = [
    "I would like to speak to someone about a refund",
    "my credit card was charged twice for the same order",
    "the tracking number is four seven two nine one",
    "can I change my delivery date to next friday",
    "your website says the item is out of stock",
    "I forgot my password and cannot log in",
    "please call me back on my mobile phone",
    "how much does the premium plan cost per month",
    "the device stopped working after two weeks",
    "I am moving to a new apartment in june",
    "is it possible to pay with a bank transfer",
    "the order number is three three eight six zero",
    "nobody answered my email from last week",
    "I would like to add another user to my account",
    "the delivery driver left the box at the wrong house",
    "that is all for today thanks for your time",
]
"""Sentences for the held-out WER: not in the fixtures, not in the cmninit calibration."""

LEADS_S = (0.0, 0.13, 0.27)
"""Leading silence of each take of a corpus. Where the 10 ms frames fall changes 8 kHz
results by several points (stock settings, fixtures: 26.7, 32.6, 37.2 %), so WER is the
mean over takes; one take hides differences between settings or invents them."""


def takes(pcm16: PCM, rate: int, count: int) -> list[PCM]:
    """``count`` takes of ``pcm16`` at ``rate``, each after its own leading silence."""
    return [at_rate(np.concatenate([np.zeros(int(16000 * lead), np.int16), pcm16]), rate)
            for lead in LEADS_S[:count]]


def heldout() -> tuple[PCM, str] | None:
    """The held-out sentences as one 16 kHz conversation (None without piper)."""
    digest = hashlib.sha256("\n".join(HELDOUT).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"flowc-sphinx-heldout-{digest}.npy"
    if not cache.exists():
        spec = importlib.util.spec_from_file_location("make_fixtures",
                                                      SPEECH / "make_fixtures.py")
        assert spec is not None and spec.loader is not None
        fixtures = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fixtures)
        try:
            parts = [part for text in HELDOUT
                     for part in (fixtures.synthesize(text), np.zeros(16000, np.int16))]
        except ImportError:
            return None
        np.save(cache, np.concatenate(parts))
    return np.load(cache).astype(np.int16), " ".join(HELDOUT)


@contextmanager
def chunk_samples(samples: int) -> Iterator[None]:
    """Feed ``process_raw`` ``samples`` at a time instead of 20 ms (Python overhead)."""
    saved, sphinx.CHUNK = sphinx.CHUNK, samples
    try:
        yield
    finally:
        sphinx.CHUNK = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per configuration")
    parser.add_argument("--rates", type=int, nargs="+", default=[8000, 16000])
    parser.add_argument("--takes", type=int, default=len(LEADS_S), choices=[1, 2, 3],
                        help="takes of each corpus the WER is averaged over")
    parser.add_argument("--only", nargs="+", help="candidate labels to run (default: all)")
    parser.add_argument("--extra", nargs="+", default=[], metavar="LABEL=JSON",
                        help="more candidates: a label and its options as JSON")
    parser.add_argument("--batch", type=int, default=0, metavar="MS",
                        help="also run the default with MS of audio per process_raw")
    args = parser.parse_args()
    candidates = {k: v for k, v in CANDIDATES.items() if not args.only or k in args.only}
    for extra in args.extra:
        label, _, options = extra.partition("=")
        candidates[label] = json.loads(options)

    pcm16, reference = conversation()
    held = heldout()
    pool = sphinx.DecoderPool()  # decoders load once per configuration, outside the timing

    print(f"{'configuration':34} {'rate':>7} {'CPU s/s':>8} {'median':>7} {'x default':>9} "
          f"{'WER':>6} {'held-out':>8}")
    for rate in args.rates:
        fixture_takes = takes(pcm16, rate, args.takes)
        held_takes = takes(held[0], rate, args.takes) if held else []
        pcm = fixture_takes[0]
        seconds = len(pcm) / rate
        rows = ["resample+VAD", "default", *candidates]
        if args.batch:
            rows.append(f"default, {args.batch} ms per call")

        def make(label: str) -> Any:
            if label == "resample+VAD":
                return Baseline(rate)  # noqa: B023
            options = candidates.get(label, {})
            return sphinx.SphinxEngine(with_defaults({"options": options}), rate, pool=pool)  # noqa: B023

        def once(label: str, audio: PCM) -> dict[str, Any]:
            if label.startswith("default, "):
                with chunk_samples(sphinx.DECODER_RATE * args.batch // 1000):
                    return run(make(label), audio, rate)  # noqa: B023
            return run(make(label), audio, rate)  # noqa: B023

        def mean_wer(label: str, audios: list[PCM], reference: str, first: str | None) -> str:
            texts = [first if first is not None and i == 0 else once(label, audio)["text"]
                     for i, audio in enumerate(audios)]
            return f"{statistics.mean(word_error_rate(reference, t) for t in texts):.3f}"

        for label in rows:
            make(label).close()  # load each configuration's decoder into the pool
        cpu: dict[str, list[float]] = {label: [] for label in rows}
        text: dict[str, str] = {}
        for _ in range(args.repeat):
            for label in rows:
                result = once(label, pcm)
                cpu[label].append(result["cpu"] / seconds)
                text[label] = result["text"]
        default = min(cpu["default"])
        label_rate = "16k L16" if rate == 16000 else "8k ulaw"
        for label in rows:
            best, median = min(cpu[label]), statistics.median(cpu[label])
            wer = held_wer = "-"
            if label != "resample+VAD":
                wer = mean_wer(label, fixture_takes, reference, text[label])
                if held:
                    held_wer = mean_wer(label, held_takes, held[1], None)
            print(f"{label:34} {label_rate:>7} {best:8.3f} {median:7.3f} {best / default:9.2f} "
                  f"{wer:>6} {held_wer:>8}", flush=True)
        print()
    print(f"audio: {len(pcm16) / 16000:.1f} s per timed run (9 sentences, 82 words); WER: "
          f"mean of {args.takes} takes"
          + (f"; held-out {len(held[0]) / 16000:.1f} s ({len(held[1].split())} words)"
             if held else "; no held-out set (piper is not installed)"))


if __name__ == "__main__":
    main()
