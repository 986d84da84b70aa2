"""Hand-written pairs for the lease tests, where the sync and async flavours really differ.

``tests/_async/test_storage_leases.py`` uses the ``Async*`` names; ``scripts/unasync.py``
rewrites them to the plain names in the generated ``tests/_sync`` copy: a crowd of tasks
becomes a crowd of threads, an async pause a blocking one.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio

__all__ = ["AsyncCrowd", "AsyncPoll", "Crowd", "Poll", "run_to_end"]

_T = TypeVar("_T")


def run_to_end(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn``; run its result to completion on a new event loop if it is a coroutine."""
    result = fn(*args)
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    return result


class AsyncCrowd:
    """``size`` tasks that call one function at the same moment (released by one event)."""

    def __init__(self, size: int) -> None:
        self.size = size

    async def run(self, fn: Callable[[int], Awaitable[_T]]) -> list[_T]:
        """Run ``fn(index)`` in every task at once; return the results by index."""
        results: list[Any] = [None] * self.size
        ready = anyio.Event()

        async def one(index: int) -> None:
            await ready.wait()
            results[index] = await fn(index)

        async with anyio.create_task_group() as group:
            for index in range(self.size):
                group.start_soon(one, index)
            await anyio.sleep(0)  # let every task reach the event
            ready.set()
        return results


class Crowd:
    """``size`` threads that call one function at the same moment (released by a barrier)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def run(self, fn: Callable[[int], _T]) -> list[_T]:
        """Run ``fn(index)`` on every thread at once; return the results by index."""
        barrier = threading.Barrier(self.size)

        def one(index: int) -> _T:
            barrier.wait(timeout=30)
            return fn(index)

        with ThreadPoolExecutor(max_workers=self.size) as pool:
            return list(pool.map(one, range(self.size)))


class AsyncPoll:
    """Call a function until it returns something other than ``None``, within a deadline."""

    def __init__(self, deadline: float = 5.0, every: float = 0.01) -> None:
        self.deadline = deadline
        self.every = every

    async def until(self, fn: Callable[..., Awaitable[_T | None]], *args: Any) -> _T | None:
        """Return the first result of ``fn(*args)`` that is not ``None`` (``None``: timed out)."""
        end = time.monotonic() + self.deadline
        while True:
            result = await fn(*args)
            if result is not None or time.monotonic() > end:
                return result
            await anyio.sleep(self.every)


class Poll:
    """The blocking twin of :class:`AsyncPoll`."""

    def __init__(self, deadline: float = 5.0, every: float = 0.01) -> None:
        self.deadline = deadline
        self.every = every

    def until(self, fn: Callable[..., _T | None], *args: Any) -> _T | None:
        """Return the first result of ``fn(*args)`` that is not ``None`` (``None``: timed out)."""
        end = time.monotonic() + self.deadline
        while True:
            result = fn(*args)
            if result is not None or time.monotonic() > end:
                return result
            time.sleep(self.every)
