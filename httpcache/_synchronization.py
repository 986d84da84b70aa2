"""Every real difference between the sync and async code lives here (DESIGN §2).

The async source calls ``await arun_blocking(fn, *args)`` to run blocking I/O
(file system, sqlite3) in a worker thread; ``scripts/unasync.py`` rewrites that
to ``run_blocking(fn, *args)``, a plain call, in the generated sync code.
Likewise ``AsyncSignal`` (an anyio event) becomes ``Signal`` (a threading event), and
``asleep`` (anyio's) becomes ``sleep`` (``time.sleep``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

__all__ = ["AsyncSignal", "Signal", "arun_blocking", "asleep", "run_blocking", "sleep"]

_T = TypeVar("_T")


async def arun_blocking(fn: Callable[..., _T], *args: object) -> _T:
    """Run a blocking call in a worker thread without blocking the event loop."""
    return await anyio.to_thread.run_sync(fn, *args)


def run_blocking(fn: Callable[..., _T], *args: object) -> _T:
    """Run a blocking call (the sync twin of :func:`arun_blocking`)."""
    return fn(*args)


async def asleep(seconds: float) -> None:
    """Pause this task for ``seconds``."""
    await anyio.sleep(seconds)


def sleep(seconds: float) -> None:
    """Pause this thread for ``seconds`` (the sync twin of :func:`asleep`)."""
    time.sleep(seconds)


class AsyncSignal:
    """A one-shot signal that tasks wait for, with a timeout.

    The event is made on first use, inside the running event loop; it is set once.
    """

    __slots__ = ("_event", "_set")

    def __init__(self) -> None:
        self._event: anyio.Event | None = None
        self._set = False

    def _get(self) -> anyio.Event:
        if self._event is None:
            self._event = anyio.Event()
            if self._set:
                self._event.set()
        return self._event

    def set(self) -> None:
        """Wake every waiter, now and later."""
        self._set = True
        if self._event is not None:
            self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Wait until set, or ``timeout`` seconds; tell whether it was set."""
        if self._set:
            return True
        with anyio.move_on_after(timeout):
            await self._get().wait()
        return self._set


class Signal:
    """A one-shot signal that threads wait for, with a timeout (twin of :class:`AsyncSignal`)."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Wake every waiter, now and later."""
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Wait until set, or ``timeout`` seconds; tell whether it was set."""
        return self._event.wait(timeout)
