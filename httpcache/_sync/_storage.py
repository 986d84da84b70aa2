"""The storage contract: what the cache transport needs from a backend.

A storage is any object with these methods; no subclassing is required. Entries
are grouped by primary key (one URI); each key holds any number of variants
(Vary), told apart by ``Entry.variant``. Storages only move bytes: every
decision is made by the policy before a storage is called.

Invariants every backend keeps:

* An entry becomes visible only when its writer commits; an aborted writer
  leaves no trace.
* Bodies move in chunks, never wholly in memory unless the backend is memory.
* ``close()`` may be called any number of times.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from .._models import Entry, StorageStats

__all__ = ["EntryWriter", "LeasingStorage", "ManagedStorage", "Storage"]


@runtime_checkable
class EntryWriter(Protocol):
    """Receives one response body in chunks and makes the entry visible on commit."""

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the body being stored."""
        ...

    def commit(self) -> Entry:
        """Make the entry visible, replacing any entry with the same key and variant."""
        ...

    def abort(self) -> None:
        """Discard everything written; the entry never becomes visible."""
        ...


@runtime_checkable
class Storage(Protocol):
    """The methods the cache transport calls."""

    def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired stored variant of ``key`` (an empty list when none)."""
        ...

    def open_writer(self, entry: Entry) -> EntryWriter:
        """Start storing ``entry``; its body follows through the writer."""
        ...

    def open_body(self, entry: Entry) -> Iterator[bytes] | None:
        """Return the stored body of ``entry`` as chunks, or ``None`` if it is gone."""
        ...

    def update_entry(self, entry: Entry) -> None:
        """Replace the head and metadata of a stored variant; its body stays. No-op if gone."""
        ...

    def record_hit(self, entry: Entry) -> None:
        """Count one more use of ``entry`` (best effort)."""
        ...

    def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them when ``variants`` is None."""
        ...

    def close(self) -> None:
        """Release the storage's resources; safe to call more than once."""
        ...


@runtime_checkable
class ManagedStorage(Storage, Protocol):
    """A storage that can also be inspected and pruned (what the CLI uses)."""

    def iter_entries(self, pattern: str | None = None) -> Iterator[Entry]:
        """Yield stored entries, optionally only those whose URL matches a glob ``pattern``."""
        ...

    def delete_expired(self) -> int:
        """Remove entries past their storage lifetime; return how many were removed."""
        ...

    def clear(self) -> None:
        """Remove every entry of this storage (never anything outside its namespace)."""
        ...

    def stats(self) -> StorageStats:
        """Return entry and byte counts."""
        ...

    def health(self) -> bool:
        """Tell whether the backend is reachable."""
        ...


@runtime_checkable
class LeasingStorage(Storage, Protocol):
    """A storage that can also lend a key to one holder at a time, across processes.

    The optional capability behind cross-process request collapsing: the request
    that holds a key's lease goes to the origin, requests elsewhere wait for the
    lease to come back and then look in the storage again. A storage without it
    still works; requests then collapse within one process only.

    A lease is advisory and short: it lapses by itself ``ttl`` seconds after it was
    taken, so a holder that crashed or hung never blocks the others for longer.
    Leases live apart from entries: taking or dropping one never changes an entry,
    and ``clear()`` may drop them.
    """

    def acquire_lease(self, key: str, ttl: float) -> str | None:
        """Take the lease of ``key`` for ``ttl`` seconds and return its token.

        Return ``None`` when another holder has it and it has not lapsed. A lapsed
        lease is taken over. Never waits for the lease.
        """
        ...

    def release_lease(self, key: str, token: str) -> None:
        """Give the lease of ``key`` back, if ``token`` still holds it (else do nothing)."""
        ...
