"""Every real difference between the sync and async code lives here (DESIGN §2).

The async source calls ``await arun_blocking(fn, *args)`` to run blocking I/O
(file system, sqlite3) in a worker thread; ``scripts/unasync.py`` rewrites that
to ``run_blocking(fn, *args)``, a plain call, in the generated sync code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

__all__ = ["arun_blocking", "run_blocking"]

_T = TypeVar("_T")


async def arun_blocking(fn: Callable[..., _T], *args: object) -> _T:
    """Run a blocking call in a worker thread without blocking the event loop."""
    return await anyio.to_thread.run_sync(fn, *args)


def run_blocking(fn: Callable[..., _T], *args: object) -> _T:
    """Run a blocking call (the sync twin of :func:`arun_blocking`)."""
    return fn(*args)
