"""The storage contract: what the cache transport needs from a backend.

A storage is any object with these methods; no subclassing is required. Entries
are grouped by primary key (one URI); each key holds any number of variants
(Vary), told apart by ``Entry.variant``. Storages only move bytes: every
decision is made by the policy before a storage is called.

Invariants every backend keeps:

* An entry becomes visible only when its writer commits; an aborted writer
  leaves no trace.
* Bodies move in chunks, never wholly in memory unless the backend is memory.
* ``aclose()`` may be called any number of times.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from .._models import Entry, StorageStats

__all__ = ["AsyncEntryWriter", "AsyncManagedStorage", "AsyncStorage"]


@runtime_checkable
class AsyncEntryWriter(Protocol):
    """Receives one response body in chunks and makes the entry visible on commit."""

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the body being stored."""
        ...

    async def commit(self) -> Entry:
        """Make the entry visible, replacing any entry with the same key and variant."""
        ...

    async def abort(self) -> None:
        """Discard everything written; the entry never becomes visible."""
        ...


@runtime_checkable
class AsyncStorage(Protocol):
    """The methods the cache transport calls."""

    async def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired stored variant of ``key`` (an empty list when none)."""
        ...

    async def open_writer(self, entry: Entry) -> AsyncEntryWriter:
        """Start storing ``entry``; its body follows through the writer."""
        ...

    async def open_body(self, entry: Entry) -> AsyncIterator[bytes] | None:
        """Return the stored body of ``entry`` as chunks, or ``None`` if it is gone."""
        ...

    async def update_entry(self, entry: Entry) -> None:
        """Replace the head and metadata of a stored variant; its body stays. No-op if gone."""
        ...

    async def record_hit(self, entry: Entry) -> None:
        """Count one more use of ``entry`` (best effort)."""
        ...

    async def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them when ``variants`` is None."""
        ...

    async def aclose(self) -> None:
        """Release the storage's resources; safe to call more than once."""
        ...


@runtime_checkable
class AsyncManagedStorage(AsyncStorage, Protocol):
    """A storage that can also be inspected and pruned (what the CLI uses)."""

    def iter_entries(self, pattern: str | None = None) -> AsyncIterator[Entry]:
        """Yield stored entries, optionally only those whose URL matches a glob ``pattern``."""
        ...

    async def delete_expired(self) -> int:
        """Remove entries past their storage lifetime; return how many were removed."""
        ...

    async def clear(self) -> None:
        """Remove every entry of this storage (never anything outside its namespace)."""
        ...

    async def stats(self) -> StorageStats:
        """Return entry and byte counts."""
        ...

    async def health(self) -> bool:
        """Tell whether the backend is reachable."""
        ...
