"""Request collapsing within one process: one origin request per key at a time.

When a request finds no usable stored response, it asks :meth:`Flights.lead` to
become the key's *leader*. If another request already leads, it gets that flight and
waits for it to land, then looks in the storage again (and usually finds the leader's
response there). A flight lands when the leader's response is stored, or is known not to
be: not storable, failed, aborted, or (for a body the user streams) committed or dropped.
Waiters wait ``CacheOptions.collapse_timeout`` at most, counted from when the flight
started or, when its leader first waited for another process (:mod:`._leases`), from
when the leader went to the origin; after that, or when the second look finds nothing
usable, they go to the origin themselves.

A request that looked in the storage before a flight of its key landed and asks to lead
only afterwards must look again rather than make a second origin request: every landing
takes a number from one counter, and :meth:`lead` compares it with the number the request
read before its lookup (:meth:`mark`).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict

from .._synchronization import Signal

__all__ = ["Flight", "Flights"]

_LANDINGS_KEPT = 1024


class Flight:
    """One origin request in flight for a key, that other requests may wait for."""

    __slots__ = ("_flights", "_landed", "deadline", "key", "signal")

    def __init__(self, flights: Flights, key: str, timeout: float) -> None:
        self._flights = flights
        self._landed = False
        self.key = key
        self.signal = Signal()
        self.deadline = time.monotonic() + timeout
        """When waiters stop waiting (monotonic seconds); :meth:`extend` moves it."""

    def extend(self, timeout: float) -> None:
        """Let waiters wait until ``timeout`` seconds from now (the leader goes to the origin)."""
        self.deadline = max(self.deadline, time.monotonic() + timeout)

    def wait(self) -> bool:
        """Wait until the flight lands or its deadline passes; tell whether it landed."""
        while (remaining := self.deadline - time.monotonic()) > 0:
            if self.signal.wait(remaining):
                return True
        return self._landed

    def land(self) -> None:
        """End the flight (once; later calls do nothing) and wake its waiters."""
        if self._landed:
            return
        self._landed = True
        self._flights._landed(self)
        self.signal.set()


class Flights:
    """The flights of one transport, by cache key. Safe across threads and tasks."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._flying: dict[str, Flight] = {}
        self._counter = itertools.count(1)
        self._last = 0
        self._landings: OrderedDict[str, int] = OrderedDict()

    def mark(self) -> int:
        """The landing number to pass to :meth:`lead` (read it before looking up)."""
        return self._last

    def lead(self, key: str, mark: int) -> tuple[Flight | None, Flight | None]:
        """Return ``(mine, theirs)``: a new flight to lead, or the one to wait for.

        Both are ``None`` when a flight of ``key`` landed since ``mark``: look again.
        """
        with self._lock:
            theirs = self._flying.get(key)
            if theirs is not None:
                return None, theirs
            if self._landings.get(key, 0) > mark:
                return None, None
            mine = self._flying[key] = Flight(self, key, self._timeout)
            return mine, None

    def _landed(self, flight: Flight) -> None:
        with self._lock:
            if self._flying.get(flight.key) is flight:
                del self._flying[flight.key]
            number = self._last = next(self._counter)
            self._landings[flight.key] = number
            self._landings.move_to_end(flight.key)
            while len(self._landings) > _LANDINGS_KEPT:
                self._landings.popitem(last=False)
