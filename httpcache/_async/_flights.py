"""Request collapsing within one process: one origin request per key at a time.

When a request finds no usable stored response, it asks :meth:`AsyncFlights.lead` to
become the key's *leader*. If another request already leads, it gets that flight and
waits for it to land, then looks in the storage again (and usually finds the leader's
response there). A flight lands when the leader's response is stored, or is known not to
be: not storable, failed, aborted, or (for a body the user streams) committed or dropped.
Waiters never wait longer than ``CacheOptions.collapse_timeout``; after that, or when
the second look finds nothing usable, they go to the origin themselves.

A request that looked in the storage before a flight of its key landed and asks to lead
only afterwards must look again rather than make a second origin request: every landing
takes a number from one counter, and :meth:`lead` compares it with the number the request
read before its lookup (:meth:`mark`).
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict

from .._synchronization import AsyncSignal

__all__ = ["AsyncFlight", "AsyncFlights"]

_LANDINGS_KEPT = 1024


class AsyncFlight:
    """One origin request in flight for a key, that other requests may wait for."""

    __slots__ = ("_flights", "_landed", "key", "signal")

    def __init__(self, flights: AsyncFlights, key: str) -> None:
        self._flights = flights
        self._landed = False
        self.key = key
        self.signal = AsyncSignal()

    def land(self) -> None:
        """End the flight (once; later calls do nothing) and wake its waiters."""
        if self._landed:
            return
        self._landed = True
        self._flights._landed(self)
        self.signal.set()


class AsyncFlights:
    """The flights of one transport, by cache key. Safe across threads and tasks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flying: dict[str, AsyncFlight] = {}
        self._counter = itertools.count(1)
        self._last = 0
        self._landings: OrderedDict[str, int] = OrderedDict()

    def mark(self) -> int:
        """The landing number to pass to :meth:`lead` (read it before looking up)."""
        return self._last

    def lead(self, key: str, mark: int) -> tuple[AsyncFlight | None, AsyncFlight | None]:
        """Return ``(mine, theirs)``: a new flight to lead, or the one to wait for.

        Both are ``None`` when a flight of ``key`` landed since ``mark``: look again.
        """
        with self._lock:
            theirs = self._flying.get(key)
            if theirs is not None:
                return None, theirs
            if self._landings.get(key, 0) > mark:
                return None, None
            mine = self._flying[key] = AsyncFlight(self, key)
            return mine, None

    def _landed(self, flight: AsyncFlight) -> None:
        with self._lock:
            if self._flying.get(flight.key) is flight:
                del self._flying[flight.key]
            number = self._last = next(self._counter)
            self._landings[flight.key] = number
            self._landings.move_to_end(flight.key)
            while len(self._landings) > _LANDINGS_KEPT:
                self._landings.popitem(last=False)
