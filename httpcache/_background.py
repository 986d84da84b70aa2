"""Work that runs behind a served response: stale-while-revalidate refreshes (RFC 5861 §3).

A transport that serves a stale response hands the revalidation to its
:class:`AsyncBackground` (async) or :class:`Background` (sync), keyed by cache key:

* at most one refresh per key runs at a time, and at most ``limit`` keys at once
  (``start`` declines more; the next stale request after that tries again);
* the async runner owns its tasks: asyncio tasks, or trio system tasks, each inside
  its own cancel scope. ``aclose()`` cancels the refreshes of the running event loop
  and waits until they have stopped; those of an event loop that has ended ended
  with it;
* the sync runner uses a small pool of worker threads, made on first use.
  ``close()`` drops the refreshes not yet started and waits for the running ones to
  finish (each is bounded by the wrapped transport's own timeouts).

After closing, ``start`` declines everything. A refresh that raises is logged at
WARNING here; the transports log expected failures (an unreachable origin) themselves.

The two classes are written by hand, as the guard's are: threads and event loops have
nothing in common to generate from.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio

__all__ = ["AsyncBackground", "Background"]

logger = logging.getLogger("httpcache.transport")

_LIMIT = 16
"""Most keys refreshed at once by one transport."""
_WORKERS = 2
"""Threads of the sync runner's pool."""
_TASKS: set[asyncio.Task[None]] = set()
"""Strong references to running asyncio tasks (the loop keeps only weak ones)."""


def _current_loop() -> object:
    """The running event loop (asyncio's loop, or trio's token)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        trio = importlib.import_module("trio")
        return trio.lowlevel.current_trio_token()


def _spawn(fn: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Start ``fn(*args)`` as a task of the running event loop, owned by nobody else."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        coroutine: Any = fn(*args)
        task: asyncio.Task[None] = loop.create_task(coroutine)
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)
        return
    trio = importlib.import_module("trio")  # only reached under trio
    trio.lowlevel.spawn_system_task(fn, *args)


class _Run:
    """One refresh: its key, event loop, cancel scope and end."""

    __slots__ = ("done", "key", "loop", "scope")

    def __init__(self, key: str) -> None:
        self.key = key
        self.loop: object = None
        self.scope: anyio.CancelScope | None = None
        self.done: anyio.Event | None = None


class AsyncBackground:
    """Refreshes behind served responses, as tasks of the event loop they started on."""

    def __init__(self, limit: int = _LIMIT) -> None:
        self._limit = limit
        self._lock = threading.Lock()  # one transport may serve several event loops
        self._keys: set[str] = set()
        self._running: set[_Run] = set()
        self._closed = False

    def running(self, key: str) -> bool:
        """Tell whether a refresh of ``key`` is under way (or about to start)."""
        return key in self._keys

    def start(self, key: str, fn: Callable[..., Awaitable[None]], *args: Any) -> bool:
        """Run ``fn(*args)`` in the background unless ``key`` is already being refreshed.

        Return whether it was started: not when closed, already running for ``key``,
        at the limit, or outside a supported event loop (asyncio, trio).
        """
        with self._lock:
            if self._closed or key in self._keys or len(self._keys) >= self._limit:
                return False
            self._keys.add(key)
        try:
            _spawn(self._run, _Run(key), fn, args)
        except Exception:  # no event loop we can start a task on
            with self._lock:
                self._keys.discard(key)
            return False
        return True

    async def _run(
        self, run: _Run, fn: Callable[..., Awaitable[None]], args: tuple[Any, ...]
    ) -> None:
        try:
            with anyio.CancelScope() as scope:
                with self._lock:
                    if self._closed:
                        return
                    run.loop, run.scope, run.done = _current_loop(), scope, anyio.Event()
                    self._running.add(run)
                try:
                    await fn(*args)
                except Exception:
                    logger.warning("background revalidation failed", exc_info=True)
        finally:
            with self._lock:
                self._keys.discard(run.key)
                self._running.discard(run)
            if run.done is not None:
                run.done.set()

    async def aclose(self) -> None:
        """Decline new refreshes; cancel this event loop's running ones and wait for them."""
        loop = _current_loop()
        with self._lock:
            self._closed = True
            runs = [run for run in self._running if run.loop is loop]
        for run in runs:
            assert run.scope is not None
            run.scope.cancel()
        for run in runs:
            assert run.done is not None
            await run.done.wait()


class Background:
    """Refreshes behind served responses, on a small pool of worker threads."""

    def __init__(self, limit: int = _LIMIT, workers: int = _WORKERS) -> None:
        self._limit = limit
        self._workers = workers
        self._lock = threading.Lock()
        self._keys: set[str] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def running(self, key: str) -> bool:
        """Tell whether a refresh of ``key`` is under way (or queued)."""
        return key in self._keys

    def start(self, key: str, fn: Callable[..., None], *args: Any) -> bool:
        """Queue ``fn(*args)`` unless ``key`` is already being refreshed; tell whether queued."""
        with self._lock:
            if self._closed or key in self._keys or len(self._keys) >= self._limit:
                return False
            self._keys.add(key)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self._workers, thread_name_prefix="httpcache-refresh"
                )
            self._executor.submit(self._run, key, fn, args)
        return True

    def _run(self, key: str, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception:
            logger.warning("background revalidation failed", exc_info=True)
        finally:
            with self._lock:
                self._keys.discard(key)

    def close(self) -> None:
        """Decline new refreshes, drop queued ones and wait for the running ones to end."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
