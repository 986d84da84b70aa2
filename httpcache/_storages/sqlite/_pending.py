"""Hits counted in memory for a storage tree, with a view the storage reads them through (pure).

A :class:`HitLog` keeps one :class:`~httpcache._storages._hits.HitBuffer` per namespace (the
buffer's slots name a key, not a namespace) and, beside it, what those buffers hold, so that
``get_entries`` can add this process's unwritten hits to the counts the database holds: a
storage sees its own hits at once, other processes (the CLI) after the write-back, at most
``interval`` seconds later (or at close). The view holds counts only: an entry's
``accessed_at`` stays the last one written back, which is what a sliding renewal is due
from (:meth:`Lifetime.renewal_due`).

Invariants:

* Every change to the buffers and to the view happens under one lock, so the view is
  exactly the sum of what the buffers hold: a drained hit leaves both at once.
* Nothing here performs I/O or reads the clock; ``now`` is passed in.
"""

from __future__ import annotations

import threading

from ..._models import Entry
from .._expiry import Lifetime
from .._hits import FLUSH_INTERVAL, HitBuffer, PendingHit
from ._rows import Pending

__all__ = ["HitLog"]

_Slot = tuple[str, str, float]


class HitLog:
    """Hits not yet written back, per namespace of one storage tree."""

    def __init__(self, lifetime: Lifetime, *, interval: float = FLUSH_INTERVAL) -> None:
        self._lifetime = lifetime
        self._interval = interval
        self._lock = threading.Lock()
        self._buffers: dict[str, HitBuffer] = {}
        self._views: dict[str, dict[_Slot, tuple[int | None, int]]] = {}

    def __len__(self) -> int:
        return sum(len(view) for view in self._views.values())

    def add(self, namespace: str, entry: Entry, now: float) -> bool:
        """Count a hit on ``entry`` of ``namespace`` at ``now``; tell whether to write back."""
        slot = (entry.key, entry.variant, entry.created_at)
        with self._lock:
            buffer = self._buffers.get(namespace)
            if buffer is None:
                buffer = self._buffers[namespace] = HitBuffer(
                    self._lifetime, interval=self._interval
                )
                self._views[namespace] = {}
            due = buffer.add(entry, now)
            view = self._views[namespace]
            seen = view.get(slot)
            view[slot] = (entry.size, 1 if seen is None else seen[1] + 1)
            return due

    def pending(self, namespace: str) -> Pending | None:
        """Return the unwritten hits of ``namespace`` (``None`` when there are none).

        The mapping is live: read it at once, don't keep it.
        """
        return self._views.get(namespace) or None

    def drain(self, now: float | None = None) -> list[tuple[str, list[PendingHit]]]:
        """Return and forget every namespace's pending hits; ``now`` starts the next interval."""
        with self._lock:
            batches = [(ns, buffer.drain(now)) for ns, buffer in self._buffers.items()]
            for view in self._views.values():
                view.clear()
        return [(ns, batch) for ns, batch in batches if batch]

    def discard(self, namespace: str, key: str, variants: set[str] | None = None) -> None:
        """Forget pending hits of ``key`` in ``namespace`` (only ``variants``, when given)."""
        with self._lock:
            buffer = self._buffers.get(namespace)
            if buffer is None:
                return
            buffer.discard(key, variants)
            view = self._views[namespace]
            for slot in [s for s in view if s[0] == key]:
                if variants is None or slot[1] in variants:
                    del view[slot]

    def clear(self, namespace: str) -> None:
        """Forget every pending hit of ``namespace`` and the namespaces below it."""
        with self._lock:
            for ns, buffer in self._buffers.items():
                if not namespace or ns == namespace or ns.startswith(namespace + "/"):
                    buffer.clear()
                    self._views[ns].clear()
