"""What one S3 storage keeps in memory between requests (pure: no I/O, no clock).

* :class:`RecordMemo`: the record last read or written per key, with its ETag. A store,
  a 304 freshening or a hit write-back that follows a read of the same key writes with
  ``If-Match: <etag>`` (or ``If-None-Match: *`` for a key known to be empty) without
  reading again; a stale memo only costs the conditional write's ``412`` and one read.

It is safe to share between threads: each call holds a short lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ._common import MEMO_BYTES, MEMO_SIZE
from ._record import Record

__all__ = ["Known", "RecordMemo"]

Known = tuple[str | None, Record | None]
"""(ETag, record) of a key; ``(None, None)``: the key had no record."""


class RecordMemo:
    """A bounded LRU of :data:`Known` records by key hash (count and byte budgets)."""

    def __init__(self, size: int = MEMO_SIZE, budget: int = MEMO_BYTES) -> None:
        self._size = size
        self._budget = budget
        self._bytes = 0
        self._items: OrderedDict[str, Known] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key_hash: str) -> Known | None:
        """Return what is remembered of ``key_hash``, or ``None`` if nothing is."""
        with self._lock:
            return self._items.get(key_hash)

    def put(self, key_hash: str, etag: str | None, record: Record | None) -> None:
        """Remember ``record`` (``None``: the key has none) as written with ``etag``."""
        cost = 0 if record is None else record.nbytes
        with self._lock:
            self._drop(key_hash)
            if cost > self._budget:
                return
            self._items[key_hash] = (etag, record)
            self._bytes += cost
            while len(self._items) > self._size or self._bytes > self._budget:
                self._drop(next(iter(self._items)))

    def forget(self, key_hash: str) -> None:
        """Forget ``key_hash`` (its record changed in a way this storage did not see)."""
        with self._lock:
            self._drop(key_hash)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def _drop(self, key_hash: str) -> None:
        known = self._items.pop(key_hash, None)
        if known is not None and known[1] is not None:
            self._bytes -= known[1].nbytes
