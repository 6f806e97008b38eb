"""The default engine: pocketsphinx streaming, with partial hypotheses.

pocketsphinx's bundled US English model is trained on 16 kHz features, so telephone
audio (8 kHz) is upsampled to 16 kHz (soxr, streaming) and decoded with a cepstral mean
(``cmninit``) calibrated for band-limited speech: with the default mean, streaming
recognition of upsampled 8 kHz audio starts far off and is about twice as bad
(``/work/shared/audio.md`` §1). Utterances are cut by Silero VAD
(:class:`~flowc_transcriber.segment.UtteranceSegmenter`); audio is fed in 20 ms chunks,
partials come from ``hyp()`` and the final from ``end_utt()``.

Search settings (``SEARCH_8K``, ``SEARCH_16K``; the user's ``options`` override any key):
about 60 % of the CPU is the tree search and 40 % the Gaussians of the senones it keeps
alive. At 16 kHz the defaults prune harder than pocketsphinx's own, for about half the
CPU and 1-2 points of WER: a heavier phone-loop lookahead (``pl_weight`` 7 over
``pl_window`` 10 frames), at most 3000 active HMMs per frame (``maxhmmpf``), word-exit
beams of 1e-20 (``wbeam``, ``lponlybeam``) and top Gaussians re-ranked every second frame
(``ds`` 2). At 8 kHz they stay pocketsphinx's own: upsampled telephone speech scores
poorly against the wideband model, so every cut costs words sooner there (the same
settings: +7 points of WER; a milder set, ``pl_weight`` 5, ``maxhmmpf`` 5000 and the
1e-20 word beams, a quarter less CPU for +3 points, more through the server).
``bench/sphinx_tuning.py`` measures CPU and WER per setting; the cepstral mean is a
front-end matter and needs no recalibration for any of them.

``Decoder()`` takes about 0.3-0.5 s and 120 MB to load, so decoders are pooled: a track
takes one when its first audio arrives and gives it back when the track ends; the next
call reuses it warm, its front end reset (``reinit_feat``: the noise floor the model's
``-remove_noise`` tracked on the previous call is forgotten) and its cepstral mean set to
``cmninit``, so a call's words do not depend on which call the decoder served before.

pocketsphinx holds the GIL while decoding, so the registered ``pocketsphinx`` engine runs
this class in a worker process (:mod:`flowc_transcriber.isolate`), not in the server's.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from flowc.runtime.codec import StreamResampler
from flowc.runtime.frames import PCM
from flowc_transcriber.engine import EngineError, EngineResult
from flowc_transcriber.segment import (
    SegmentEvent,
    UtteranceAudio,
    UtteranceEnd,
    UtteranceSegmenter,
    UtteranceStart,
)
from flowc_transcriber.settings import check_language, segmenter_options

DECODER_RATE = 16000
CHUNK = DECODER_RATE // 50
"""20 ms at 16 kHz: the size ``process_raw`` gets."""

CMNINIT_16K = "40,3,-1"
"""pocketsphinx's own default, right for wideband (16 kHz) speech."""

CMNINIT_8K = "50.43,32.55,-35.98,45.50,-16.15,-2.97,12.26,-26.07,18.37,-8.83,2.97,9.81,-17.32"
"""Cepstral mean of telephone speech upsampled to 16 kHz.

Computed once, offline, by ``plugins/flowc-transcriber/scripts/calibrate_cmninit.py``:
six sentences (none of them in the test fixtures) spoken by the piper voice, resampled to
8 kHz, G.711 μ-law encoded and decoded, upsampled to 16 kHz and batch-decoded; the value
is ``Decoder.get_cmn(update=True)`` after that pass. Rerun the script to recalibrate.
"""

SEARCH_8K: dict[str, Any] = {}
"""Decoder settings for 8 kHz tracks: pocketsphinx's own (see the module docstring)."""

SEARCH_16K: dict[str, Any] = {
    "pl_weight": 7.0, "pl_window": 10, "maxhmmpf": 3000, "wbeam": 1e-20, "lponlybeam": 1e-20,
    "ds": 2,
}
"""Decoder settings for 16 kHz tracks: wideband speech takes harder pruning (see the
module docstring)."""


def decoder_config(rate: int, options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Decoder`` configuration for a track at ``rate``: the engine's defaults for the
    rate, overridden by the user's ``options`` (without ``cmninit``, set per call)."""
    return {**(SEARCH_8K if rate == 8000 else SEARCH_16K), **options}


class DecoderPool:
    """Idle pocketsphinx decoders, by configuration (thread-safe)."""

    def __init__(self, max_idle: int = 4) -> None:
        self.max_idle = max_idle
        self._idle: dict[tuple[tuple[str, Any], ...], list[Any]] = {}
        self._lock = threading.Lock()
        self.created = 0

    def acquire(self, config: Mapping[str, Any]) -> Any:
        """A decoder built with ``config`` (reused when one is idle)."""
        key = tuple(sorted(config.items()))
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop()
        from pocketsphinx import Decoder

        try:
            decoder = Decoder(loglevel="FATAL", **config)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise EngineError(f"pocketsphinx rejected options {dict(config)!r}: {exc}") from exc
        with self._lock:
            self.created += 1
        return decoder

    def release(self, config: Mapping[str, Any], decoder: Any) -> None:
        """Give ``decoder`` back (dropped when the pool is full)."""
        key = tuple(sorted(config.items()))
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.max_idle:
                idle.append(decoder)

    def prewarm(self, count: int = 1, rate: int = 8000,
                options: Mapping[str, Any] | None = None) -> None:
        """Load ``count`` decoders for tracks at ``rate`` ahead of the first call
        (blocking; run it in a thread)."""
        config = decoder_config(rate, options or {})
        decoders = [self.acquire(config) for _ in range(count)]
        for decoder in decoders:
            self.release(config, decoder)


POOL = DecoderPool()


class SphinxEngine:
    """Streaming pocketsphinx for one track (see the module docstring)."""

    name = "pocketsphinx"

    def __init__(self, settings: Mapping[str, Any], rate: int, *, pool: DecoderPool = POOL):
        check_language(settings, self.name)
        if rate not in (8000, 16000):
            raise EngineError(f"pocketsphinx engine: unsupported sample rate {rate}")
        options = dict(settings.get("options") or {})
        default_cmn = CMNINIT_8K if rate == 8000 else CMNINIT_16K
        self._cmninit = str(options.pop("cmninit", default_cmn))
        self._config = decoder_config(rate, options)
        self._pool = pool
        self._decoder: Any = pool.acquire(self._config)
        self._decoder.reinit_feat()  # 0.1 ms; the previous call's noise estimate goes
        self._decoder.set_cmn(self._cmninit)
        self._resampler = StreamResampler(rate, DECODER_RATE)
        self._segmenter = UtteranceSegmenter(DECODER_RATE, **segmenter_options(settings))
        self._partials = bool(settings.get("partials", True))
        self._partial_every = int(settings.get("partial_interval_ms", 250))
        self._in_utt = False
        self._utt_start = 0
        self._utt_ms = 0
        self._last_partial = ""
        self._last_partial_at = 0
        self._rest: PCM = np.zeros(0, np.int16)

    def feed(self, pcm: PCM) -> list[EngineResult]:
        return self._handle(self._segmenter.feed(self._resampler.process(pcm)))

    def finish(self) -> list[EngineResult]:
        events = self._segmenter.feed(self._resampler.flush())
        return self._handle([*events, *self._segmenter.finish()])

    def close(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is None:
            return
        if self._in_utt:
            try:
                decoder.end_utt()
            except RuntimeError:
                return  # a decoder in an unknown state is not pooled
            self._in_utt = False
        self._pool.release(self._config, decoder)

    def _handle(self, events: list[SegmentEvent]) -> list[EngineResult]:
        results: list[EngineResult] = []
        for event in events:
            if isinstance(event, UtteranceStart):
                self._decoder.start_utt()
                self._in_utt = True
                self._utt_start = event.at_ms
                self._utt_ms = 0
                self._last_partial = ""
                self._last_partial_at = 0
            elif isinstance(event, UtteranceAudio):
                # Exactly 20 ms per process_raw, whatever the batching upstream: the live
                # cepstral mean then evolves the same way, so results do not depend on
                # how far behind the lane was.
                pcm = np.concatenate([self._rest, event.pcm])
                whole = len(pcm) - len(pcm) % CHUNK
                for offset in range(0, whole, CHUNK):
                    self._decoder.process_raw(pcm[offset : offset + CHUNK].tobytes(), False, False)
                self._rest = pcm[whole:]
                self._utt_ms += len(event.pcm) * 1000 // DECODER_RATE
                partial = self._partial()
                if partial is not None:
                    results.append(partial)
            elif isinstance(event, UtteranceEnd):
                final = self._final(event.at_ms)
                if final is not None:
                    results.append(final)
        return results

    def _partial(self) -> EngineResult | None:
        if not self._partials or self._utt_ms - self._last_partial_at < self._partial_every:
            return None
        self._last_partial_at = self._utt_ms
        hyp = self._decoder.hyp()
        text = hyp.hypstr.strip() if hyp is not None else ""
        if not text or text == self._last_partial:
            return None
        self._last_partial = text
        return EngineResult(text, False, self._utt_start, self._utt_start + self._utt_ms)

    def _final(self, end_ms: int) -> EngineResult | None:
        if len(self._rest):
            self._decoder.process_raw(self._rest.tobytes(), False, False)
            self._rest = self._rest[:0]
        self._decoder.end_utt()
        self._in_utt = False
        hyp = self._decoder.hyp()
        text = hyp.hypstr.strip() if hyp is not None else ""
        if not text and not self._last_partial:
            return None
        return EngineResult(text, True, self._utt_start, max(end_ms, self._utt_start))


def create(settings: Mapping[str, Any], rate: int) -> SphinxEngine:
    """The ``pocketsphinx`` engine factory (``register_engines``)."""
    return SphinxEngine(settings, rate)
