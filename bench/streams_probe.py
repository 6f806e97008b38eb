"""Bench-only helpers for bench/streams.py: a send-time stamp carried inside the audio, and
a probe that records when each frame reached the processor.

The load process writes ``time.monotonic_ns()`` (the same clock in every process on Linux)
into the first 16 μ-law bytes of each 160-byte payload, one nibble per byte as the codes
0x10..0x1F (each decodes to a distinct PCM value). Whatever decodes the frame to PCM16 (the
floor server, or flowc's reader before the pipeline) hands the probe the samples, and the
stamp is read back from them after the run, so the hot path only appends a tuple.

Also a flowc plugin: ``register_processors`` adds the pass-through processor ``benchprobe``
(setting ``directory``), which records each ``AudioIn`` and passes every frame on, and
``benchpass``, which only passes frames on (for ``--stages``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import flowc
from flowc.plugins import ProcessorSpec
from flowc.runtime.codec import ulaw_to_pcm
from flowc.runtime.frames import AudioIn, Frame
from flowc.runtime.processor import Emit, Processor, StreamContext

STAMP_BYTES = 16
FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
_NIBBLE_CODES = np.arange(0x10, 0x20, dtype=np.uint8)
_NIBBLE_PCM = ulaw_to_pcm(_NIBBLE_CODES.tobytes())  # 16 distinct, strictly increasing values
_SHIFTS = np.arange(60, -4, -4, dtype=np.uint64)
_HEX_TO_CODE = bytes.maketrans(b"0123456789abcdef", _NIBBLE_CODES.tobytes())
_SILENCE = b"\xff" * (FRAME_BYTES - STAMP_BYTES)


def stamped_payload(ns: int) -> bytes:
    """160 bytes of μ-law: the stamp ``ns`` (0 <= ns < 2**64) in the first 16, silence after."""
    return ns.to_bytes(8, "big").hex().encode().translate(_HEX_TO_CODE) + _SILENCE


def read_stamps(heads: npt.NDArray[np.int16]) -> npt.NDArray[np.int64]:
    """Stamps from an ``(n, 16)`` array of the first PCM16 samples of each frame."""
    nibbles = np.searchsorted(_NIBBLE_PCM, heads).astype(np.uint64)
    stamps: npt.NDArray[np.int64] = np.bitwise_or.reduce(nibbles << _SHIFTS, axis=1).astype(
        np.int64
    )
    return stamps


class Probe:
    """Receive times of one stream's frames; ``dump`` writes them for the bench driver."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, bytes]] = []

    def record(self, sequence: int, pcm: npt.NDArray[np.int16]) -> None:
        """Note that frame ``sequence`` arrived now (call it first thing, it reads the clock)."""
        self.rows.append((time.monotonic_ns(), sequence, pcm[:STAMP_BYTES].tobytes()))

    def dump(self, directory: str | os.PathLike[str], stream_id: str) -> None:
        """Write ``<stream_id>.npy`` (columns: sequence, send ns, receive ns) atomically."""
        out = np.zeros((len(self.rows), 3), dtype=np.int64)
        if self.rows:
            recv, seq, heads = zip(*self.rows, strict=True)
            head_arr = np.frombuffer(b"".join(heads), dtype=np.int16).reshape(-1, STAMP_BYTES)
            out[:, 0] = seq
            out[:, 1] = read_stamps(head_arr)
            out[:, 2] = recv
        target = Path(directory) / f"{stream_id}.npy"
        tmp = target.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            np.save(fh, out)
        tmp.replace(target)


class ProbeProcessor(Processor):
    """Pass-through stage that records when each inbound audio frame reached it."""

    def __init__(self, settings: Mapping[str, Any], context: StreamContext) -> None:
        super().__init__(settings, context)
        self.probe = Probe()

    async def process(self, frame: Frame, emit: Emit) -> None:
        if isinstance(frame, AudioIn):
            self.probe.record(frame.sequence, frame.pcm)
        await emit(frame)

    async def close(self) -> None:
        self.probe.dump(self.settings["directory"], self.context.stream_id or "unknown")


@flowc.hookimpl
def register_processors(register: Callable[[ProcessorSpec], None]) -> None:
    """Register ``benchprobe`` and ``benchpass`` (a stage that only passes frames on)."""
    register(
        ProcessorSpec(
            name="benchpass",
            factory=Processor,
            description="bench: passes every frame on unchanged",
        )
    )
    register(
        ProcessorSpec(
            name="benchprobe",
            factory=ProbeProcessor,
            settings_schema={
                "type": "object",
                "properties": {"directory": {"type": "string"}},
                "required": ["directory"],
                "additionalProperties": False,
            },
            description="bench: records when each inbound frame reaches the pipeline",
        )
    )
