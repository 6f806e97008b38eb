"""Bounded memory channels that join pipeline stages: one frame per 20 ms per stream.

:func:`open_channel` returns a send and a receive stream with anyio's object-stream
interface (``send``/``send_nowait``, ``receive``/``receive_nowait``, ``aclose``, ``async
for``; ``WouldBlock``, ``EndOfStream``, ``ClosedResourceError``, ``BrokenResourceError``
as anyio's memory object streams raise them). The difference is the cost of a hand-off:
an item waits in a deque and the one waiting receiver is woken through a bare asyncio
future, so a hop costs one task wake-up. anyio's memory streams hand each item to the
receiver through an ``Event`` and check its cancel scopes on every send; in
``bench/streams.py`` that hop alone cost 25-35 µs per frame on a 2-vCPU VM, more than
the whole ASGI stack's share of the decoding path.

What that buys is bounded by design: one receiver (a stage reads its own inbox); items
are never lost to cancellation (a cancelled receiver leaves them queued, a cancelled
sender gives its turn to the next); ``receive`` and ``send`` return without yielding to
the event loop when they need not wait (the reader of a stream yields on the socket).
The run wing runs on asyncio (uvicorn), so the channel uses asyncio futures directly.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

T = TypeVar("T")

__all__ = ["ChannelReceiveStream", "ChannelSendStream", "open_channel"]


class _State(Generic[T]):
    __slots__ = ("buffer", "handed", "receive_closed", "receiver", "send_closed", "senders",
                 "size")

    def __init__(self, size: int) -> None:
        self.buffer: deque[T] = deque()
        self.size = size
        self.handed = 0
        """1 while the buffer's first item was sent to a waiting receiver (it is that
        receiver's, not the buffer's: anyio's capacity rule)."""
        self.receiver: asyncio.Future[None] | None = None
        self.senders: deque[asyncio.Future[None]] = deque()
        self.send_closed = False
        self.receive_closed = False

    def wake_receiver(self) -> bool:
        waiter = self.receiver
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
            return True
        return False

    def wake_sender(self) -> None:
        while self.senders:
            waiter = self.senders.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


def open_channel(size: int) -> tuple[ChannelSendStream[T], ChannelReceiveStream[T]]:
    """A channel that holds ``size`` items (``size`` ≥ 1), plus the one handed to a
    waiting receiver, as anyio's memory object streams count."""
    if size < 1:
        raise ValueError("a channel holds at least one item")
    state: _State[T] = _State(size)
    return ChannelSendStream(state), ChannelReceiveStream(state)


class ChannelSendStream(ObjectSendStream[T]):
    """The sending end of :func:`open_channel`."""

    def __init__(self, state: _State[T]) -> None:
        self._state = state
        self._closed = False

    def send_nowait(self, item: T) -> None:
        """Queue ``item`` or raise ``WouldBlock`` when the channel is full."""
        state = self._state
        if self._closed:
            raise anyio.ClosedResourceError
        if state.receive_closed:
            raise anyio.BrokenResourceError
        if len(state.buffer) - state.handed >= state.size:
            raise anyio.WouldBlock
        state.buffer.append(item)
        if state.wake_receiver():
            state.handed = 1

    async def send(self, item: T) -> None:
        """Queue ``item``, waiting while the channel is full."""
        state = self._state
        while True:
            try:
                self.send_nowait(item)
                return
            except anyio.WouldBlock:
                pass
            waiter = asyncio.get_running_loop().create_future()
            state.senders.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    state.wake_sender()  # the turn it was given goes to the next sender
                raise
            finally:
                if waiter in state.senders:
                    state.senders.remove(waiter)

    def close(self) -> None:
        """No more items: the receiver gets the queued ones, then ``EndOfStream``."""
        if self._closed:
            return
        self._closed = True
        self._state.send_closed = True
        self._state.wake_receiver()

    async def aclose(self) -> None:
        self.close()


class ChannelReceiveStream(ObjectReceiveStream[T]):
    """The receiving end of :func:`open_channel` (one task receives)."""

    def __init__(self, state: _State[T]) -> None:
        self._state = state
        self._closed = False

    def receive_nowait(self) -> T:
        """The next item, ``WouldBlock`` if none is queued, ``EndOfStream`` after the last."""
        state = self._state
        if self._closed:
            raise anyio.ClosedResourceError
        if state.buffer:
            item = state.buffer.popleft()
            state.handed = 0
            if state.senders:
                state.wake_sender()
            return item
        if state.send_closed:
            raise anyio.EndOfStream
        raise anyio.WouldBlock

    async def receive(self) -> T:
        """The next item, waiting for one; ``EndOfStream`` once the sender closed."""
        state = self._state
        while True:
            try:
                return self.receive_nowait()
            except anyio.WouldBlock:
                pass
            if state.receiver is not None:
                raise anyio.BusyResourceError("receiving")
            waiter = state.receiver = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                state.receiver = None

    def close(self) -> None:
        """Stop receiving: queued items are dropped, senders get ``BrokenResourceError``."""
        if self._closed:
            return
        self._closed = True
        state = self._state
        state.receive_closed = True
        state.buffer.clear()
        state.wake_receiver()
        while state.senders:
            state.wake_sender()

    async def aclose(self) -> None:
        self.close()
