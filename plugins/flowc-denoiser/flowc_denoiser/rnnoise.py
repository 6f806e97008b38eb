"""RNNoise through the ``librnnoise.so`` that ships inside the ``pyrnnoise`` wheel.

``pyrnnoise`` is installed with ``--no-deps`` (its Python wrapper pulls in PyAV and
matplotlib), so it is never imported: the library is located with
``importlib.util.find_spec`` and called with ctypes.

The frame function takes raw addresses (``c_void_p``): the caller passes the data
pointers of float32 buffers it keeps, so a call converts two Python ints and nothing
else.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
from pathlib import Path

import numpy as np
import numpy.typing as npt

from flowc.runtime.frames import PCM

RATE = 48000
FRAME = 480
_FLOAT_BYTES = 4


class RNNoiseUnavailable(RuntimeError):
    """librnnoise.so could not be found or loaded."""


def library_path() -> Path:
    """Where ``pyrnnoise``'s ``librnnoise.so`` is, without importing ``pyrnnoise``."""
    spec = importlib.util.find_spec("pyrnnoise")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / "librnnoise.so"
        if candidate.is_file():
            return candidate
    raise RNNoiseUnavailable(
        "RNNoise needs librnnoise.so from the pyrnnoise wheel: "
        "pip install --no-deps pyrnnoise==0.4.5 (see requirements-engines.txt)"
    )


@functools.cache
def load_library() -> ctypes.CDLL:
    """Load librnnoise.so once per process and declare the functions used."""
    path = library_path()
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise RNNoiseUnavailable(f"cannot load {path}: {exc}") from exc
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_create.argtypes = [ctypes.c_void_p]
    lib.rnnoise_destroy.restype = None
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    lib.rnnoise_process_frame.restype = ctypes.c_float
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.rnnoise_get_frame_size.restype = ctypes.c_int
    lib.rnnoise_get_frame_size.argtypes = []
    if lib.rnnoise_get_frame_size() != FRAME:
        raise RNNoiseUnavailable(f"{path}: frame size {lib.rnnoise_get_frame_size()}, "
                                 f"expected {FRAME}")
    return lib


class RNNoiseEngine:
    """One RNNoise state: 480-sample frames at 48 kHz; output lags input by 960 samples
    (20 ms, measured by cross-correlation)."""

    rate = RATE
    frame_size = FRAME
    delay = 2 * FRAME
    heavy = True

    def __init__(self, sample_rate: int = RATE) -> None:
        del sample_rate  # always runs at 48 kHz; the processor resamples
        self._lib = load_library()
        self._frame = self._lib.rnnoise_process_frame
        self._state: int | None = self._lib.rnnoise_create(None)
        if not self._state:
            raise RNNoiseUnavailable("rnnoise_create failed")
        self._in = np.zeros(FRAME, np.float32)
        self._out = np.zeros(FRAME, np.float32)
        self.voice_probability = 0.0

    def process(self, frame: PCM) -> PCM:
        self._in[:] = frame  # RNNoise takes floats on the int16 scale
        self.process_into(self._in, self._out)
        out: PCM = np.clip(np.rint(self._out), -32768, 32767).astype(np.int16)
        return out

    def process_into(self, frames: npt.NDArray[np.float32],
                     out: npt.NDArray[np.float32]) -> None:
        """Denoise ``len(frames) // 480`` consecutive frames of float32 samples on the
        int16 scale into ``out`` (unrounded), both C-contiguous float32 of the same
        length, a multiple of 480 (``out`` writable)."""
        state = self._state
        if state is None:
            raise RuntimeError("RNNoise engine is closed")
        if not (frames.dtype == out.dtype == np.float32 and len(frames) == len(out)
                and len(frames) % FRAME == 0 and frames.flags.c_contiguous
                and out.flags.c_contiguous and out.flags.writeable):
            raise ValueError("RNNoise needs C-contiguous float32 frames and output of the "
                             f"same length, a multiple of {FRAME}")
        step = FRAME * _FLOAT_BYTES
        source, target = frames.ctypes.data, out.ctypes.data
        frame = self._frame
        probability = self.voice_probability
        for offset in range(0, len(frames) * _FLOAT_BYTES, step):
            probability = frame(state, target + offset, source + offset)
        self.voice_probability = float(probability)

    def close(self) -> None:
        if self._state is not None:
            self._lib.rnnoise_destroy(self._state)
            self._state = None
