"""Concurrent lookups share one worker-thread hop (async); the sync twin calls straight through.

A hop to a worker thread costs far more than reading a small record (tens of
microseconds against a few), so when many tasks look up keys at once, the first
becomes the leader of a batch: it lets the others join (one checkpoint), then runs
every lookup of the batch in a single hop and hands each task its own result or
error. The leader shields that short hop from cancellation, so a follower never
waits on a batch that will not run. ``scripts/unasync.py`` turns the storage's
``AsyncReadBatch`` into :class:`ReadBatch`, which has no batching to do.

A batch belongs to the event loop it gathers on (its event does): a lookup joins only a
batch of the running loop, so one left behind by a loop that ended never holds up the
next loop's lookups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

from ..._synchronization import arun_blocking
from .._loops import running_loop

__all__ = ["AsyncReadBatch", "ReadBatch"]

_A = TypeVar("_A")
_R = TypeVar("_R")


class _Batch(Generic[_A, _R]):
    def __init__(self) -> None:
        self.items: list[_A] = []
        self.results: list[tuple[bool, _R | BaseException]] = []
        self.done = anyio.Event()
        self.loop = running_loop()


class AsyncReadBatch(Generic[_A, _R]):
    """Run ``fn(item)`` for items submitted together in one worker-thread hop."""

    def __init__(self, fn: Callable[[_A], _R]) -> None:
        self._fn = fn
        self._open: _Batch[_A, _R] | None = None

    def _run_all(self, items: list[_A]) -> list[tuple[bool, _R | BaseException]]:
        results: list[tuple[bool, _R | BaseException]] = []
        for item in items:
            try:
                results.append((True, self._fn(item)))
            except Exception as exc:  # handed to the task that asked for this item
                results.append((False, exc))
        return results

    async def run(self, item: _A) -> _R:
        """Return ``fn(item)``, computed in a worker thread with whatever else is asked now."""
        batch = self._open
        if batch is not None and batch.loop is running_loop():  # a batch is gathering: join it
            index = len(batch.items)
            batch.items.append(item)
            await batch.done.wait()
        else:
            batch = self._open = _Batch()
            index = 0
            batch.items.append(item)
            try:
                with anyio.CancelScope(shield=True):
                    await anyio.lowlevel.checkpoint()  # let the other tasks join
                    self._open = None
                    batch.results = await arun_blocking(self._run_all, batch.items)
            finally:
                if self._open is batch:
                    self._open = None
                batch.done.set()
        if len(batch.results) <= index:
            raise RuntimeError("file storage lookup did not run")
        ok, value = batch.results[index]
        if not ok:
            assert isinstance(value, BaseException)
            raise value
        return value  # type: ignore[return-value]


class ReadBatch(Generic[_A, _R]):
    """The sync twin: each lookup runs at once, in the caller's thread."""

    run: Callable[[_A], _R]
    """Return ``fn(item)`` (``fn`` itself: no call in between)."""

    def __init__(self, fn: Callable[[_A], _R]) -> None:
        self.run = fn
