"""The ``denoiser`` pipeline stage: cleans the caller's audio, passes everything else on.

Engines marked ``heavy`` (RNNoise: about 0.8 ms of CPU per 20 ms chunk) run in worker
threads so that many streams do not queue on the event loop; their native code releases
the GIL, so streams denoise in parallel on several cores. The threads are the plugin's
own (:mod:`flowc_denoiser.workers`, a thread per CPU), not the server's ``run_sync``
pool, where a long speech-recognition pass would hold live audio up. One hop per chunk
costs far less than the chunk: running RNNoise inline would hold the event loop for
~0.8 ms per stream per 20 ms.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from flowc.runtime.frames import AudioIn, Frame
from flowc.runtime.processor import Emit, Processor, StreamContext
from flowc_denoiser.engines import DenoiserEngine
from flowc_denoiser.stream import StreamDenoiser
from flowc_denoiser.workers import workers

EngineFactory = Callable[[int], DenoiserEngine]


class DenoiserProcessor(Processor):
    """Replaces the ``pcm`` of inbound :class:`AudioIn` frames with denoised audio of
    the same length (delayed by :attr:`latency_ms`, constant); outbound audio and every
    other frame pass unchanged."""

    def __init__(self, settings: Mapping[str, Any], context: StreamContext,
                 engine_factory: EngineFactory) -> None:
        super().__init__(settings, context)
        self._engine_factory = engine_factory
        self._level = int(settings["level"])
        self._denoiser: StreamDenoiser | None = None
        self._closed_latency_ms = 0.0
        self.frames = 0

    @property
    def latency_ms(self) -> float:
        """Delay the denoiser adds to the caller's audio (known after the first frame)."""
        d = self._denoiser
        return self._closed_latency_ms if d is None else 1000.0 * d.latency / d.rate

    async def start(self) -> None:
        # create the engine up front so a missing library fails before audio flows
        self._denoiser = StreamDenoiser(
            self._engine_factory(self.context.sample_rate), self.context.sample_rate,
            self._level)

    def _for_rate(self, rate: int) -> StreamDenoiser:
        d = self._denoiser
        if d is None or d.rate != rate:
            if d is not None:
                d.close()
            d = self._denoiser = StreamDenoiser(self._engine_factory(rate), rate, self._level)
        return d

    async def process(self, frame: Frame, emit: Emit) -> None:
        if isinstance(frame, AudioIn) and frame.track == "inbound" and len(frame.pcm):
            d = self._for_rate(frame.rate)
            if getattr(d.engine, "heavy", False):
                cleaned = await workers().run(d.process, frame.pcm)
            else:
                cleaned = d.process(frame.pcm)
            self.frames += 1
            frame = dataclasses.replace(frame, pcm=cleaned)
        await emit(frame)

    async def close(self) -> None:
        d = self._denoiser
        if d is None:
            return
        self.context.logger.debug(
            "denoiser: %d frames, latency %.1f ms (%d samples of underrun)",
            self.frames, self.latency_ms, d.underrun)
        self._closed_latency_ms = self.latency_ms
        d.close()
        self._denoiser = None
