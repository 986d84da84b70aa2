"""Request collapsing across processes: the storage's lease on a key.

In one process, :mod:`._flights` lets one request per key go to the origin. Across
processes that share a storage, the request that leads in its process also takes the
key's lease from the storage (:class:`~httpcache.AsyncLeasingStorage`, an optional
capability: File, SQLite and Redis storages have it). When another process holds it,
the leader polls for it (a few milliseconds apart at first, at most
:data:`_LAST_POLL`) until it is free, then looks in the storage again, usually finding
the other process's response there. It never waits past its flight's deadline
(``CacheOptions.collapse_timeout``): then it goes to the origin anyway. A lease lapses
by itself after ``collapse_timeout`` seconds, so a crashed holder blocks nobody for
longer.

Lease calls go through the storage guard like every other storage call: one that fails
or times out is no lease (the request goes on alone), never an error.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .._guard import FAILED, AsyncStorageGuard
from .._options import CacheOptions
from .._synchronization import AsyncSignal, asleep
from ._flights import AsyncFlight

__all__ = ["AsyncLanding", "AsyncLeases"]

logger = logging.getLogger("httpcache.transport")

_FIRST_POLL = 0.005
"""Seconds before the first look at a lease another process holds; doubled each time."""
_LAST_POLL = 0.04
"""Longest pause between two looks at a lease another process holds."""


class AsyncLeases:
    """The leases of one transport's storage, when it has them."""

    def __init__(self, storage: Any, guard: AsyncStorageGuard, options: CacheOptions) -> None:
        acquire = getattr(storage, "acquire_lease", None)
        release = getattr(storage, "release_lease", None)
        usable = (
            callable(acquire)
            and callable(release)
            and options.collapse_across_processes
            and options.collapse_timeout > 0
        )
        self._acquire = acquire if usable else None
        self._release: Any = release
        self._guard = guard
        self._ttl = options.collapse_timeout
        self._lock = threading.Lock()
        self._releasing: dict[str, AsyncSignal] = {}  # key -> ends when its release has run

    @property
    def supported(self) -> bool:
        """Tell whether the storage lends leases (and collapsing may wait at all)."""
        return self._acquire is not None

    async def take(self, key: str, deadline: float) -> tuple[str | None, bool]:
        """Take the lease of ``key``, waiting for another holder until ``deadline`` (monotonic).

        Return ``(token, waited)``: the lease's token, or ``None`` when there is no lease
        to hold (no capability, a storage failure, or the deadline passed); ``waited``
        tells whether another process held it meanwhile, so the storage may now hold its
        response and must be looked at again.
        """
        if self._acquire is None:
            return None, False
        pending = self._releasing.get(key)
        if pending is not None:  # this process's own lease of the key, still being given back
            await pending.wait(max(0.0, deadline - time.monotonic()))
        token = await self._guard.call("acquire_lease", self._acquire, key, self._ttl)
        if token is FAILED:
            return None, False
        if token is not None:
            return str(token), False
        logger.debug("waiting for another process's request of %s", key)
        pause = _FIRST_POLL
        while (remaining := deadline - time.monotonic()) > 0:
            await asleep(min(pause, remaining))
            pause = min(pause * 2, _LAST_POLL)
            token = await self._guard.call("acquire_lease", self._acquire, key, self._ttl)
            if token is FAILED:
                return None, True
            if token is not None:
                return str(token), True
        return None, True

    async def give_back(self, key: str, token: str | None) -> None:
        """Release the lease ``token`` of ``key`` (nothing when ``token`` is ``None``).

        Without waiting for it where the storage runs on worker threads (sync Redis, S3):
        the response is already stored, and :meth:`take` of the same key in this process
        waits for the release to have run.
        """
        if token is None:
            return
        done = AsyncSignal()
        with self._lock:
            self._releasing[key] = done

        def released() -> None:
            with self._lock:
                if self._releasing.get(key) is done:
                    del self._releasing[key]
            done.set()

        await self._guard.call_soon("release_lease", self._release, key, token, on_done=released)


class AsyncLanding:
    """Ends a flight once: wakes this process's waiters, then gives the lease back."""

    __slots__ = ("_done", "_flight", "_key", "_leases", "token")

    def __init__(self, flight: AsyncFlight, leases: AsyncLeases, key: str) -> None:
        self._flight = flight
        self._leases = leases
        self._key = key
        self._done = False
        self.token: str | None = None

    async def __call__(self) -> None:
        if self._done:
            return
        self._done = True
        self._flight.land()
        await self._leases.give_back(self._key, self.token)
