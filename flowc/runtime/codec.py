"""Audio codecs of Plivo streams and a streaming resampler.

G.711 μ-law uses 256/65 536-entry lookup tables, bit-exact with CPython's ``audioop``
(removed in Python 3.13). L16 on Plivo streams is little-endian signed 16-bit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from flowc.runtime.frames import PCM

MULAW = "audio/x-mulaw"
L16 = "audio/x-l16"


def _build_ulaw_decode_table() -> npt.NDArray[np.int16]:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code >> 4) & 7)
    return np.where(code & 0x80, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


def _build_ulaw_encode_table() -> npt.NDArray[np.uint8]:
    # Sun's g711.c on the 14-bit value, as audioop.lin2ulaw does it.
    value = np.arange(-32768, 32768, dtype=np.int32) >> 2
    negative = value < 0
    magnitude = np.minimum(np.where(negative, -value, value), 8159) + 0x21
    segment_ends = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    segment = np.searchsorted(segment_ends, magnitude)
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0xF))
    return (code ^ np.where(negative, 0x7F, 0xFF)).astype(np.uint8)


_ULAW_DECODE = _build_ulaw_decode_table()
_ULAW_ENCODE = _build_ulaw_encode_table()


def ulaw_to_pcm(data: bytes) -> PCM:
    """Decode G.711 μ-law bytes to PCM16."""
    return _ULAW_DECODE[np.frombuffer(data, np.uint8)]


def pcm_to_ulaw(pcm: PCM) -> bytes:
    """Encode PCM16 to G.711 μ-law bytes."""
    encoded: bytes = _ULAW_ENCODE[pcm.view(np.uint16) ^ 0x8000].tobytes()
    return encoded


def l16_to_pcm(data: bytes) -> PCM:
    """Decode little-endian L16. A trailing odd byte is ignored."""
    usable = len(data) - (len(data) % 2)
    return np.frombuffer(data[:usable], dtype="<i2").astype(np.int16, copy=False)


def pcm_to_l16(pcm: PCM) -> bytes:
    """Encode PCM16 as little-endian L16."""
    return pcm.astype("<i2", copy=False).tobytes()


def decode(payload: bytes, encoding: str) -> PCM:
    """Decode a ``media.payload`` in ``encoding`` (``audio/x-mulaw`` or ``audio/x-l16``)."""
    if encoding == MULAW:
        return ulaw_to_pcm(payload)
    if encoding == L16:
        return l16_to_pcm(payload)
    raise ValueError(f"unsupported encoding {encoding!r}")


def encode(pcm: PCM, encoding: str) -> bytes:
    """Encode PCM16 for a ``playAudio`` in ``encoding``."""
    if encoding == MULAW:
        return pcm_to_ulaw(pcm)
    if encoding == L16:
        return pcm_to_l16(pcm)
    raise ValueError(f"unsupported encoding {encoding!r}")


def bytes_per_sample(encoding: str) -> int:
    """1 for μ-law, 2 for L16."""
    return 1 if encoding == MULAW else 2


def to_float(pcm: PCM) -> npt.NDArray[np.float32]:
    """PCM16 to float32 in [-1, 1)."""
    return pcm.astype(np.float32) / 32768.0


def to_pcm(samples: npt.NDArray[np.floating]) -> PCM:
    """float in [-1, 1] to PCM16, clipped."""
    pcm: PCM = np.clip(np.rint(samples * 32768.0), -32768, 32767).astype(np.int16)
    return pcm


class StreamResampler:
    """Chunk-by-chunk resampling with steady output (soxr ``ResampleStream``, ``vr=True``).

    Without ``vr`` soxr releases audio in bursts (30-120 ms of buffering); with it, each
    20 ms chunk in gives about 20 ms out after a fixed 15-30 ms delay. It works in float32:
    soxr's int16 output is dithered at random, so the same input would not give the same
    output twice.
    """

    def __init__(self, in_rate: int, out_rate: int, *, quality: str = "HQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=quality,
                                     vr=True)
        )

    def process(self, pcm: PCM) -> PCM:
        """Resample one chunk; may return fewer or more samples than the ratio suggests."""
        if self._stream is None:
            return pcm
        return to_pcm(self._stream.resample_chunk(to_float(pcm)))

    def flush(self) -> PCM:
        """Return what is still buffered at the end of the stream."""
        if self._stream is None:
            return np.zeros(0, np.int16)
        return to_pcm(self._stream.resample_chunk(np.zeros(0, np.float32), last=True))

    def clear(self) -> None:
        """Forget buffered audio (after a barge-in)."""
        if self._stream is not None:
            self._stream.clear()


def resample(pcm: PCM, in_rate: int, out_rate: int) -> PCM:
    """Resample a whole signal at once (files, TTS output)."""
    if in_rate == out_rate:
        return pcm
    out: PCM = soxr.resample(pcm, in_rate, out_rate, quality="HQ")
    return out
