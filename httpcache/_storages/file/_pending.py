"""Hits buffered in this process, shown on the entries it reads back (pure, thread-safe).

A hit is written back in batches (:mod:`httpcache._storages._hits`), so the record on
disk lags behind this process's own hits by up to one flush interval. Entries this
process reads back carry their stored count plus the hits still pending here, so a
process always sees its own hits; other processes see them after the next flush.
"""

from __future__ import annotations

from dataclasses import replace

from ..._models import Entry
from .._hits import HitBuffer

__all__ = ["PendingHits"]


class PendingHits(HitBuffer):
    """A :class:`HitBuffer` that can tell how many hits on an entry are not written yet."""

    # Reads HitBuffer's slots directly: HitBuffer has no lookup of its own (yet).

    def pending(self, entry: Entry) -> int:
        """Return how many hits on ``entry`` (this stored response) are not written back."""
        if not self._pending:
            return 0
        with self._lock:
            hit = self._pending.get((entry.key, entry.variant, entry.created_at))
        return 0 if hit is None else hit.count

    def show(self, entries: list[Entry]) -> list[Entry]:
        """Return ``entries`` with their pending hits added to ``hits``."""
        if not self._pending:
            return entries
        shown = []
        for entry in entries:
            count = self.pending(entry)
            shown.append(entry if count == 0 else replace(entry, hits=entry.hits + count))
        return shown
