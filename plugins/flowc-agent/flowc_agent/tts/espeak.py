"""espeak-ng through the library bundled in ``espeakng-loader`` (ctypes, no system package).

libespeak-ng keeps process-global state (one voice, one callback), so there is one
library per process and every synthesis holds :data:`_LOCK`. Synchronous mode: the
callback collects 22 050 Hz int16 samples and ``espeak_Synth`` returns when done.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from flowc.runtime.frames import PCM

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3

_SYNTH_CB = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_LOCK = threading.Lock()
_LIB: _Library | None = None


class EspeakError(RuntimeError):
    """The espeak-ng library failed (bad voice name, initialisation error)."""


class _Library:
    """The process's one libespeak-ng, initialised in synchronous mode."""

    def __init__(self) -> None:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CB]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        data = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed ({rate})")
        self.rate = int(rate)
        self._lib = lib
        self._chunks: list[PCM] = []
        self._callback = _SYNTH_CB(self._on_audio)  # referenced for the process lifetime
        lib.espeak_SetSynthCallback(self._callback)
        self._settings: tuple[str, int, int, int] | None = None

    def _on_audio(self, wav: Any, count: int, events: Any) -> int:
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).astype(np.int16))
        return 0

    def configure(self, voice: str, wpm: int, pitch: int, volume: int) -> None:
        settings = (voice, wpm, pitch, volume)
        if settings == self._settings:
            return
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            self._settings = None
            raise EspeakError(f"unknown espeak voice {voice!r}")
        self._lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
        self._lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        self._lib.espeak_SetParameter(_PARAM_VOLUME, volume, 0)
        self._settings = settings

    def synth(self, text: str) -> PCM:
        data = text.encode("utf-8") + b"\0"
        self._chunks = []
        status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                        None, None)
        if status != 0:
            raise EspeakError(f"espeak_Synth failed ({status})")
        chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


def _library() -> _Library:
    global _LIB
    if _LIB is None:
        _LIB = _Library()
    return _LIB


class EspeakEngine:
    """espeak-ng voice ``voice`` (``en-us``, ``en-us+f2``...) at ``wpm`` words a minute."""

    name = "espeak"

    def __init__(self, voice: str = "en-us", wpm: int = 170, pitch: int = 50,
                 volume: int = 100) -> None:
        with _LOCK:
            lib = _library()
            lib.configure(voice, wpm, pitch, volume)  # fail early on a bad voice
        self.voice, self.wpm, self.pitch, self.volume = voice, wpm, pitch, volume
        self.rate = lib.rate

    def synthesize(self, text: str) -> tuple[PCM, int]:
        """Speak ``text``: int16 PCM at 22 050 Hz."""
        if not text.strip():
            return np.zeros(0, np.int16), self.rate
        with _LOCK:
            lib = _library()
            lib.configure(self.voice, self.wpm, self.pitch, self.volume)
            return lib.synth(text), self.rate

    def sentences(self, text: str) -> Iterator[tuple[str, PCM]]:
        from flowc_agent.text import split_sentences

        for sentence in split_sentences(text):
            yield sentence, self.synthesize(sentence)[0]


def factory(**options: Any) -> EspeakEngine:
    """EngineSpec factory: ``voice``, ``wpm``, ``pitch`` (0-99), ``volume`` (0-200)."""
    return EspeakEngine(**options)
