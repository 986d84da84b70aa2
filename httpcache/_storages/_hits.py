"""Hit bookkeeping kept in memory and written back in batches (DESIGN §3: a hit never writes).

A persistent storage answers ``record_hit`` by adding to a :class:`HitBuffer`; the
buffer says when a batch is due and hands it over as :class:`PendingHit` values,
one per stored response, which the storage writes with one cheap statement (or one
pipeline, or one file rewrite per entry). A batch is due

* once ``interval`` seconds have passed since the last one (so at most one write
  per key per interval, however hot the key), or
* at once, when the hit must renew a sliding lifetime (:meth:`Lifetime.renewal_due`),
  which happens at most ten times per ``ttl``; or
* when the storage is closed (:meth:`HitBuffer.drain` with nothing due).

Counts are therefore eventually consistent: another process (the CLI) sees a hit
at most ``interval`` seconds late, or never if the process dies first. Nothing
here performs I/O; ``now`` is passed in. The buffer is safe to share between
threads: each call holds a short lock and nothing inside it waits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .._models import Entry
from ._expiry import Lifetime

__all__ = ["FLUSH_INTERVAL", "HitBuffer", "PendingHit"]

FLUSH_INTERVAL = 1.0
"""Seconds between two write-backs of buffered hits."""


@dataclass(frozen=True, slots=True)
class PendingHit:
    """Hits on one stored response not yet written back.

    ``created_at`` (with ``size``) tells the stored response apart from a newer one
    stored under the same key and variant since: a storage applies the hits only
    if they still match.
    """

    key: str
    variant: str
    created_at: float
    size: int | None
    count: int
    accessed_at: float
    renew: bool  # the batch includes a sliding renewal: write it back now
    entry: Entry  # the entry last counted: its ttl and times give a renewed deadline


class HitBuffer:
    """Accumulate hits per stored response; tell when a write-back is due."""

    def __init__(self, lifetime: Lifetime, *, interval: float = FLUSH_INTERVAL) -> None:
        self._lifetime = lifetime
        self._interval = interval
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, float], PendingHit] = {}
        self._next: float | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, entry: Entry, now: float) -> bool:
        """Count one hit on ``entry`` at ``now``; return whether a batch is due."""
        slot = (entry.key, entry.variant, entry.created_at)
        renew = self._lifetime.renewal_due(entry, now)
        with self._lock:
            pending = self._pending.get(slot)
            if pending is None:
                pending = PendingHit(
                    entry.key, entry.variant, entry.created_at, entry.size, 1, now, renew, entry
                )
            else:
                pending = PendingHit(
                    entry.key,
                    entry.variant,
                    entry.created_at,
                    entry.size,
                    pending.count + 1,
                    max(now, pending.accessed_at),
                    renew or pending.renew,
                    entry,
                )
            self._pending[slot] = pending
            if self._next is None:
                self._next = now + self._interval
            return renew or now >= self._next

    def pending(self, key: str, variant: str, created_at: float) -> PendingHit | None:
        """Return the hits on one stored response not yet written back, if any.

        A storage adds them to what it reads, so this process sees its own hits
        before they are written back.
        """
        with self._lock:
            return self._pending.get((key, variant, created_at))

    def drain(self, now: float | None = None) -> list[PendingHit]:
        """Return every pending hit and forget it; ``now`` starts the next interval."""
        with self._lock:
            batch = list(self._pending.values())
            self._pending.clear()
            self._next = None if now is None else now + self._interval
        return batch

    def discard(self, key: str, variants: set[str] | None = None) -> None:
        """Forget pending hits of ``key`` (only ``variants``, when given): they were deleted."""
        with self._lock:
            for slot in [s for s in self._pending if s[0] == key]:
                if variants is None or slot[1] in variants:
                    del self._pending[slot]

    def clear(self) -> None:
        """Forget every pending hit (the storage was cleared)."""
        with self._lock:
            self._pending.clear()
            self._next = None
