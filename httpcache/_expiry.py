"""Storage-level expiry arithmetic shared by every backend (pure; ``now`` passed in).

A storage's ``ttl`` (or an entry's own ``ttl``) bounds how long an entry is kept,
counted from its last write: storing it or freshening it with a 304. This is
independent of HTTP freshness: an expired-by-HTTP entry is still kept so that it
can be revalidated.
"""

from __future__ import annotations

from ._models import Entry

__all__ = ["expires_at", "is_expired"]


def expires_at(entry: Entry, storage_ttl: float | None) -> float | None:
    """Return when ``entry`` leaves storage, or ``None`` when it never expires."""
    ttl = entry.ttl if entry.ttl is not None else storage_ttl
    if ttl is None:
        return None
    return max(entry.created_at, entry.response_time) + ttl


def is_expired(entry: Entry, storage_ttl: float | None, now: float) -> bool:
    """Tell whether ``entry`` has outlived its storage lifetime at ``now``."""
    deadline = expires_at(entry, storage_ttl)
    return deadline is not None and now >= deadline
