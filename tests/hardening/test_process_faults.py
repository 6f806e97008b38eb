"""A worker process killed outright (issue 6, item 4): ``flowc serve --workers 2``.

Stated behaviour: the port keeps serving from the surviving worker, the supervisor starts a
replacement, and streams on the survivor are not disturbed.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import httpx
import psutil
import pytest

from . import kit


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kit.ServeProcess]:
    with kit.flowc_serve(tmp_path_factory.mktemp("workers"), "--workers", "2") as process:
        yield process


def _workers(serve: kit.ServeProcess) -> list[psutil.Process]:
    children = psutil.Process(serve.process.pid).children()
    return [c for c in children if "spawn_main" in " ".join(c.cmdline())]


def _wait(check: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def test_a_killed_worker_is_replaced_and_the_port_keeps_serving(
    serve: kit.ServeProcess,
) -> None:
    _wait(lambda: len(_workers(serve)) == 2
          and httpx.get(f"{serve.http}/healthz").status_code == 200)
    victim, survivor = _workers(serve)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    for _ in range(20):  # served by the survivor meanwhile
        assert httpx.get(f"{serve.http}/healthz").status_code == 200
    _wait(lambda: len(_workers(serve)) == 2 and victim.pid not in
          {w.pid for w in _workers(serve)})
    assert survivor.is_running()
    assert serve.process.poll() is None
