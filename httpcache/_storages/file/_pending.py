"""Hits buffered in this process, shown on the entries it reads back (pure, thread-safe).

A hit is written back in batches (:mod:`httpcache._storages._hits`), so the record on
disk lags behind this process's own hits by up to one flush interval. Entries this
process reads back carry their stored count plus the hits still pending here, so a
process always sees its own hits; other processes see them after the next flush.
"""

from __future__ import annotations

from ..._models import Entry
from .._hits import HitBuffer

__all__ = ["show_pending"]


def show_pending(hits: HitBuffer, entries: list[Entry]) -> list[Entry]:
    """Return ``entries`` with the hits still pending in ``hits`` added to their ``hits``."""
    if not len(hits):
        return entries
    shown = []
    for entry in entries:
        pending = hits.pending(entry.key, entry.variant, entry.created_at)
        shown.append(
            entry
            if pending is None
            else entry.counted(entry.hits + pending.count, entry.accessed_at)
        )
    return shown
