"""The denoiser's worker threads: calls run off the event loop, errors come back, and a
cancelled stream still waits for the chunk in flight (its engine must not be closed
while a worker is inside it)."""

from __future__ import annotations

import threading
import time

import anyio
import anyio.to_thread
import pytest
from flowc_denoiser.workers import Workers, workers

pytestmark = pytest.mark.anyio


async def test_a_call_runs_in_a_worker_thread_and_returns_its_result() -> None:
    loop_thread = threading.get_ident()
    ran_in = await workers().run(lambda _: threading.get_ident(), None)
    assert ran_in != loop_thread
    assert await workers().run(sum, [1, 2, 3]) == 6


async def test_an_error_in_the_call_is_raised_in_the_caller() -> None:
    def fail(message: str) -> None:
        raise ValueError(message)

    with pytest.raises(ValueError, match="bad chunk"):
        await workers().run(fail, "bad chunk")
    assert await workers().run(len, "ok") == 2  # the worker survived


async def test_calls_from_many_tasks_share_the_threads() -> None:
    pool = Workers(2)
    seen: set[int] = set()
    results: list[int] = []

    def work(k: int) -> int:
        seen.add(threading.get_ident())
        return k * k

    async def one(k: int) -> None:
        results.append(await pool.run(work, k))

    async with anyio.create_task_group() as tg:
        for k in range(40):
            tg.start_soon(one, k)
    assert sorted(results) == [k * k for k in range(40)]
    assert 1 <= len(seen) <= 2


async def test_a_cancelled_caller_waits_for_the_call_in_flight() -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def work(_: None) -> None:
        started.set()
        release.wait(10)
        time.sleep(0.2)  # if the caller did not wait, the task group would be gone by now
        finished.append("done")

    async with anyio.create_task_group() as tg:
        tg.start_soon(workers().run, work, None)
        await anyio.to_thread.run_sync(started.wait)
        tg.cancel_scope.cancel()
        release.set()
    assert finished == ["done"]
