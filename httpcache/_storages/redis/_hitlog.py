"""Hits counted in this process and not yet written back (pure; shared by sync and async).

:class:`HitLog` wraps the shared :class:`~httpcache._storages._hits.HitBuffer`, which
decides when a batch is due, and keeps beside it what the Redis storage needs that the
buffer does not expose:

* the hits still pending per stored response, so that this process's own reads (and
  the CLI run in-process) count them before they are written back; and
* the last entry hit per stored response, whose per-entry ``ttl``, ``response_time``
  and ``created_at`` give the native expiry a sliding hit pushes back.

Nothing here performs I/O or reads the clock; the log is safe to share between
threads (one short lock per call).
"""

from __future__ import annotations

import threading

from ..._models import Entry
from .._expiry import Lifetime
from .._hits import FLUSH_INTERVAL, HitBuffer, PendingHit

__all__ = ["HitLog"]

Slot = tuple[str, str, float]  # (key, variant, created_at): one stored response


class HitLog:
    """Pending hits per stored response, and when a write-back is due."""

    def __init__(self, lifetime: Lifetime, *, interval: float = FLUSH_INTERVAL) -> None:
        self._buffer = HitBuffer(lifetime, interval=interval)
        self._lock = threading.Lock()
        self.pending: dict[Slot, tuple[int, float]] = {}
        """Hits not yet written back: slot to (count, last hit). Read it, never change it."""
        self._entries: dict[Slot, Entry] = {}

    def __len__(self) -> int:
        return len(self._buffer)

    def add(self, entry: Entry, now: float) -> bool:
        """Count one hit on ``entry`` at ``now``; return whether a write-back is due."""
        slot = (entry.key, entry.variant, entry.created_at)
        with self._lock:
            count, last = self.pending.get(slot, (0, now))
            self.pending[slot] = (count + 1, max(last, now))
            self._entries[slot] = entry
            return self._buffer.add(entry, now)

    def drain(self, now: float | None = None) -> list[tuple[PendingHit, Entry]]:
        """Return every pending hit with the last entry it was counted on, and forget them."""
        with self._lock:
            batch = self._buffer.drain(now)
            entries = self._entries
            self._entries = {}
            self.pending = {}
        return [(hit, entries[(hit.key, hit.variant, hit.created_at)]) for hit in batch]

    def discard(self, key: str, variants: set[str] | None = None) -> None:
        """Forget pending hits of ``key`` (only ``variants``, when given): they were deleted."""
        with self._lock:
            self._buffer.discard(key, variants)
            for slot in [s for s in self._entries if s[0] == key]:
                if variants is None or slot[1] in variants:
                    del self._entries[slot]
                    self.pending.pop(slot, None)

    def clear(self) -> None:
        """Forget every pending hit (the storage was cleared)."""
        with self._lock:
            self._buffer.clear()
            self._entries = {}
            self.pending = {}
