"""Denoiser engines: fixed-size frame in, same-size frame out, at the engine's own rate.

An engine is what a ``register_engines`` hook registers under kind ``"denoiser"``:
``EngineSpec(kind="denoiser", name=..., factory=factory)`` where ``factory(sample_rate)``
returns a :class:`DenoiserEngine` for a stream at ``sample_rate`` Hz. The engine may run
at another rate (RNNoise runs at 48 kHz); the processor resamples, frames, mixes and
keeps the latency constant around it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from flowc.runtime.frames import PCM


class DenoiserEngine(Protocol):
    """One stream's noise suppressor."""

    rate: int
    """Sample rate the engine works at (Hz)."""
    frame_size: int
    """Samples per frame at ``rate``; :meth:`process` gets exactly this many."""
    delay: int
    """Samples by which the output lags the input at ``rate`` (for the dry path)."""
    # Optional: ``heavy = True`` runs the engine in worker threads, off the event loop.
    # Optional: ``process_into(frames, out)`` (see :class:`BlockEngine`) denoises several
    # frames per call in float32; the stage then skips the per-frame int16 round trip.

    def process(self, frame: PCM) -> PCM:
        """Denoise one frame of ``frame_size`` int16 samples."""
        ...

    def close(self) -> None:
        """Free native state."""
        ...


class BlockEngine(DenoiserEngine, Protocol):
    """An engine that also takes several frames at once, in float32."""

    def process_into(self, frames: npt.NDArray[np.float32],
                     out: npt.NDArray[np.float32]) -> None:
        """Denoise consecutive frames (float32 on the int16 scale, a whole number of
        frames, C-contiguous) into ``out`` (same length); the stage rounds ``out`` to
        int16 values, so this must give what :meth:`process` gives before rounding."""
        ...


class SpeexEngine:
    """speexdsp's preprocessor noise suppression at the stream's own rate (10 ms frames).

    Its output lags the input by one frame (measured by cross-correlation).
    """

    def __init__(self, sample_rate: int) -> None:
        from speexdsp_ns import NoiseSuppression

        self.rate = sample_rate
        self.frame_size = sample_rate // 100
        self.delay = self.frame_size
        self._ns = NoiseSuppression.create(self.frame_size, sample_rate)

    def process(self, frame: PCM) -> PCM:
        out: bytes = self._ns.process(frame.astype("<i2", copy=False).tobytes())
        return np.frombuffer(out, dtype="<i2").astype(np.int16)

    def close(self) -> None:
        self._ns = None
