"""The bounded channel that joins pipeline stages: anyio memory-stream semantics."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from flowc.runtime.channel import ChannelReceiveStream, ChannelSendStream, open_channel

pytestmark = pytest.mark.anyio


def channel(size: int) -> tuple[ChannelSendStream[Any], ChannelReceiveStream[Any]]:
    return open_channel(size)


async def test_items_arrive_in_order_then_end_of_stream() -> None:
    send, receive = channel(4)
    for item in range(3):
        send.send_nowait(item)
    await send.aclose()
    assert [item async for item in receive] == [0, 1, 2]
    with pytest.raises(anyio.EndOfStream):
        receive.receive_nowait()


async def test_a_full_channel_refuses_send_nowait_and_send_waits_for_room() -> None:
    send, receive = channel(2)
    send.send_nowait("a")
    send.send_nowait("b")
    with pytest.raises(anyio.WouldBlock):
        send.send_nowait("c")
    async with anyio.create_task_group() as tg:
        tg.start_soon(send.send, "c")
        await anyio.wait_all_tasks_blocked()
        assert receive.receive_nowait() == "a"  # makes room: the waiting send completes
    assert [receive.receive_nowait(), receive.receive_nowait()] == ["b", "c"]


async def test_an_item_sent_to_a_waiting_receiver_does_not_take_buffer_room() -> None:
    send, receive = channel(1)
    got: list[str] = []

    async def take() -> None:
        got.append(await receive.receive())

    async with anyio.create_task_group() as tg:
        tg.start_soon(take)
        await anyio.wait_all_tasks_blocked()
        send.send_nowait("handed")
        send.send_nowait("buffered")  # room for one more, as with anyio's streams
        with pytest.raises(anyio.WouldBlock):
            send.send_nowait("too many")
    assert got == ["handed"]
    assert receive.receive_nowait() == "buffered"


async def test_a_cancelled_receiver_loses_nothing() -> None:
    send, receive = channel(4)
    with anyio.move_on_after(0.01):
        await receive.receive()
    send.send_nowait(1)
    with anyio.CancelScope() as scope:
        scope.cancel()
        await anyio.lowlevel.checkpoint()
    assert await receive.receive() == 1


async def test_a_sender_cancelled_after_its_turn_came_passes_it_on() -> None:
    send, receive = channel(1)
    send.send_nowait(0)
    first = asyncio.create_task(send.send(1))
    second = asyncio.create_task(send.send(2))
    await anyio.wait_all_tasks_blocked()
    assert receive.receive_nowait() == 0  # room: the first sender's turn...
    first.cancel()  # ...but it is cancelled before it runs: the turn goes to the second
    with anyio.fail_after(5):
        await second
    assert first.cancelled()
    assert receive.receive_nowait() == 2


async def test_closing_the_receiver_breaks_senders_and_closing_twice_is_fine() -> None:
    send, receive = channel(1)
    send.send_nowait(0)
    failures: list[type[BaseException]] = []

    async def blocked_send() -> None:
        try:
            await send.send(1)
        except anyio.BrokenResourceError as exc:
            failures.append(type(exc))

    async with anyio.create_task_group() as tg:
        tg.start_soon(blocked_send)
        await anyio.wait_all_tasks_blocked()
        await receive.aclose()
        await receive.aclose()
    assert failures == [anyio.BrokenResourceError]
    with pytest.raises(anyio.BrokenResourceError):
        send.send_nowait(2)
    with pytest.raises(anyio.ClosedResourceError):
        receive.receive_nowait()


async def test_a_closed_sender_cannot_send_and_wakes_the_receiver() -> None:
    send, receive = channel(1)
    ended: list[bool] = []

    async def wait_for_end() -> None:
        try:
            await receive.receive()
        except anyio.EndOfStream:
            ended.append(True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_for_end)
        await anyio.wait_all_tasks_blocked()
        send.close()
    assert ended == [True]
    with pytest.raises(anyio.ClosedResourceError):
        send.send_nowait(1)


async def test_one_receiver_at_a_time_and_size_at_least_one() -> None:
    send, receive = channel(1)
    with pytest.raises(ValueError):
        open_channel(0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(receive.receive)
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(anyio.BusyResourceError):
            await receive.receive()
        send.send_nowait(1)
