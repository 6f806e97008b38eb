"""Frames: the small immutable values that flow through a stream's pipeline.

Audio is mono PCM16 as a numpy ``int16`` array at ``rate`` Hz. Inbound frames come
from Plivo (the reader); a processor emits new frames downstream; the writer at the
end of the pipeline turns outbound frames into Plivo messages (``playAudio``,
``checkpoint``, ``clearAudio``, ``sendDTMF``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

PCM = npt.NDArray[np.int16]
Track = Literal["inbound", "outbound"]


@dataclass(frozen=True, slots=True)
class AudioIn:
    """Audio Plivo sent: ``inbound`` is the caller, ``outbound`` what the caller hears."""

    pcm: PCM
    rate: int
    track: Track
    timestamp_ms: int
    """Plivo's ``media.timestamp`` (milliseconds)."""
    chunk: int
    sequence: int


@dataclass(frozen=True, slots=True)
class AudioOut:
    """Audio for the caller to hear (bidirectional streams). Any rate; the writer
    resamples, encodes to the stream's ``contentType``, chunks and paces it."""

    pcm: PCM
    rate: int


@dataclass(frozen=True, slots=True)
class AudioSent:
    """A chunk the writer actually sent as ``playAudio`` (in the stream's rate).
    Given to taps, so a recorder can write the call as heard."""

    pcm: PCM
    rate: int
    stream_ms: float
    """Position on the stream clock (ms since ``start``) when it was sent."""


@dataclass(frozen=True, slots=True)
class Dtmf:
    """A key the caller pressed."""

    digit: str
    track: Track
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Transcript:
    """A speech recognition result."""

    text: str
    final: bool
    track: Track
    start_ms: int
    end_ms: int
    engine: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Outbound: ask Plivo to confirm once the audio queued before it has played."""

    name: str


@dataclass(frozen=True, slots=True)
class Played:
    """Inbound: Plivo confirmed checkpoint ``name`` played (``playedStream``)."""

    name: str


@dataclass(frozen=True, slots=True)
class ClearAudio:
    """Outbound: drop everything queued for playback (barge-in)."""


@dataclass(frozen=True, slots=True)
class Cleared:
    """Inbound: Plivo confirmed the buffer was cleared (``clearedAudio``)."""


@dataclass(frozen=True, slots=True)
class SendDtmf:
    """Outbound: play DTMF digits into the call (``sendDTMF``)."""

    digits: str


@dataclass(frozen=True, slots=True)
class EndStream:
    """Outbound: close the stream (so Plivo runs the next XML with keepCallAlive)."""

    reason: str = "ended by pipeline"


Frame = (
    AudioIn | AudioOut | AudioSent | Dtmf | Transcript | Checkpoint | Played | ClearAudio
    | Cleared | SendDtmf | EndStream
)
