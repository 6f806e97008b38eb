"""Helpers for plugin tests: a stream context and a processor driven over frames."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import anyio
import pytest

from flowc.runtime.frames import Frame
from flowc.runtime.processor import Processor, StreamContext
from tests.servers import serve_in_thread


def _stream_context(**overrides: Any) -> StreamContext:
    """A StreamContext for one 8 kHz μ-law inbound stream; override any field."""
    fields: dict[str, Any] = {
        "flow": "test-flow",
        "flow_version": "v1",
        "stream_key": "answer-1",
        "call_id": "11111111-1111-1111-1111-111111111111",
        "stream_id": "22222222-2222-2222-2222-222222222222",
        "account_id": "MA0000000000000000",
        "content_type": "audio/x-mulaw;rate=8000",
        "encoding": "audio/x-mulaw",
        "sample_rate": 8000,
        "tracks": ("inbound",),
        "bidirectional": False,
    }
    fields.update(overrides)
    return StreamContext(**fields)


async def _run_processor(processor: Processor, frames: Iterable[Frame], *,
                        between: Callable[[int], Any] | None = None) -> list[Frame]:
    """Drive ``processor`` like a pipeline does: ``start``, ``run`` over ``frames`` fed
    through a memory stream, ``close``; returns what it emitted. ``between(i)`` (sync or
    async) runs after frame ``i`` has been consumed."""
    emitted: list[Frame] = []

    async def emit(frame: Frame) -> None:
        emitted.append(frame)

    send, receive = anyio.create_memory_object_stream[Frame](0)
    await processor.start()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(processor.run, receive, emit)
            async with send:
                for i, frame in enumerate(frames):
                    await send.send(frame)
                    if between is not None:
                        result = between(i)
                        if hasattr(result, "__await__"):
                            await result
    finally:
        await processor.close()
    return emitted


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def stream_context() -> Callable[..., StreamContext]:
    """``stream_context(**fields)``: a StreamContext for an 8 kHz μ-law inbound stream."""
    return _stream_context


@pytest.fixture(scope="session")
def run_processor() -> Callable[..., Any]:
    """``await run_processor(processor, frames)``: start, run over frames, close; returns
    the emitted frames."""
    return _run_processor


@contextlib.contextmanager
def _serve(app: Any) -> Iterator[int]:
    """uvicorn serving ``app`` on a free port of 127.0.0.1 in a background thread."""
    with serve_in_thread(app) as running:
        yield running.port


@pytest.fixture(scope="session")
def serve_app() -> Callable[[Any], contextlib.AbstractContextManager[int]]:
    """``with serve_app(app) as port:`` a real server on 127.0.0.1 for the block."""
    return _serve
