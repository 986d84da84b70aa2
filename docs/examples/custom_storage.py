"""A complete storage kept in a dict: the example of docs/custom-storage.md.

The storage contract suite (tests/_async/test_storage_contract.py and its generated
sync copy) runs every contract test against ``DictStorage`` and ``AsyncDictStorage``,
so this code is known to work. It uses public names of ``httpcache`` only.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from httpcache import Entry, JSONSerializer, SerializationError, Serializer, StorageStats

__all__ = ["AsyncDictStorage", "DictStorage"]

logger = logging.getLogger("custom_storage")

_Slot = tuple[str, str, str]  # (namespace, key, variant)


@dataclass
class _Record:
    head: bytes  # the serialized entry: head and metadata, never the body
    body: bytes


class DictStorage:
    """Keep entries in a dict, serialized, with a storage lifetime and namespaces.

    Implements ``httpcache.Storage`` and ``httpcache.ManagedStorage``.

    Args:
        ttl: Seconds an entry is kept after it was stored or freshened (an entry's
            own ``ttl`` overrides it); ``None`` keeps entries until deleted.
        sliding: Count ``ttl`` from the entry's last hit too.
        max_lifetime: Seconds an entry is kept at most after it was first stored.
        serializer: Turns each entry's head into bytes and back (JSON by default).
        clock: Source of the current time.
    """

    def __init__(
        self,
        *,
        ttl: float | None = None,
        sliding: bool = False,
        max_lifetime: float | None = None,
        serializer: Serializer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self.sliding = sliding
        self.max_lifetime = max_lifetime
        self.namespace = ""
        self._serializer = serializer or JSONSerializer()
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[_Slot, _Record] = {}

    def with_namespace(self, name: str) -> DictStorage:
        """Return a storage that shares this one's dict but keeps its entries apart."""
        child = DictStorage(
            ttl=self.ttl,
            sliding=self.sliding,
            max_lifetime=self.max_lifetime,
            serializer=self._serializer,
            clock=self._clock,
        )
        child.namespace = f"{self.namespace}/{name}" if self.namespace else name
        child._lock = self._lock
        child._records = self._records
        return child

    # -- helpers (called with the lock held) ------------------------------------------

    def _mine(self, slot: _Slot) -> bool:
        """Tell whether ``slot`` is in this namespace or one of its children."""
        ns = slot[0]
        return not self.namespace or ns == self.namespace or ns.startswith(self.namespace + "/")

    def _expired(self, entry: Entry, now: float) -> bool:
        ttl = entry.ttl if entry.ttl is not None else self.ttl
        deadline = None
        if ttl is not None:
            start = max(entry.created_at, entry.response_time)  # last stored or freshened
            if self.sliding and entry.accessed_at is not None:
                start = max(start, entry.accessed_at)
            deadline = start + ttl
        if self.max_lifetime is not None:
            cap = entry.created_at + self.max_lifetime
            deadline = cap if deadline is None else min(deadline, cap)
        return deadline is not None and now >= deadline

    def _load(self, slot: _Slot, now: float) -> Entry | None:
        """Return the live entry in ``slot``; drop it when unreadable or expired."""
        record = self._records.get(slot)
        if record is None:
            return None
        try:
            entry = self._serializer.loads(record.head)
        except SerializationError as exc:
            logger.warning("dropping an unreadable cache record: %s", exc)
            del self._records[slot]
            return None
        if self._expired(entry, now):
            del self._records[slot]
            return None
        return entry

    # -- Storage: what the cache transport calls ----------------------------------------

    def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key``."""
        now = self._clock()
        with self._lock:
            slots = [s for s in self._records if s[:2] == (self.namespace, key)]
            return [e for s in slots if (e := self._load(s, now)) is not None]

    def open_writer(self, entry: Entry) -> DictWriter:
        """Start storing ``entry``; nothing is visible until the writer commits."""
        return DictWriter(self, entry)

    def open_body(self, entry: Entry) -> Iterator[bytes] | None:
        """Return the body of ``entry`` as chunks, or ``None`` when it is gone."""
        with self._lock:
            record = self._records.get((self.namespace, entry.key, entry.variant))
        if record is None:
            return None
        body = record.body
        return (body[i : i + 65536] for i in range(0, len(body), 65536))

    def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head, keeping its body, hits and last hit.

        Only the response ``entry`` describes is changed: one stored since by
        another request (another ``created_at`` or size) is left alone.
        """
        slot = (self.namespace, entry.key, entry.variant)
        with self._lock:
            current = self._load(slot, self._clock())
            if current is None or current.created_at != entry.created_at:
                return
            if entry.size is not None and current.size != entry.size:
                return
            updated = replace(
                entry, size=current.size, hits=current.hits, accessed_at=current.accessed_at
            )
            self._records[slot].head = self._serializer.dumps(updated)

    def record_hit(self, entry: Entry) -> None:
        """Count one more use of ``entry`` and note when it happened."""
        slot = (self.namespace, entry.key, entry.variant)
        now = self._clock()
        with self._lock:
            current = self._load(slot, now)
            if current is not None:
                counted = current.counted(current.hits + 1, now)
                self._records[slot].head = self._serializer.dumps(counted)

    def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them when ``variants`` is None."""
        with self._lock:
            for slot in list(self._records):
                if slot[:2] == (self.namespace, key) and (variants is None or slot[2] in variants):
                    del self._records[slot]

    def close(self) -> None:
        """Release nothing: the dict lives as long as the object. Safe to call twice."""

    # -- ManagedStorage: what the CLI and maintenance use ---------------------------------

    def iter_entries(self, pattern: str | None = None) -> Iterator[Entry]:
        """Yield entries of this namespace (and its children) whose URL matches ``pattern``."""
        now = self._clock()
        with self._lock:
            slots = [s for s in self._records if self._mine(s)]
            entries = [e for s in slots if (e := self._load(s, now)) is not None]
        for entry in entries:
            if pattern is None or fnmatch.fnmatchcase(entry.request.url, pattern):
                yield entry

    def delete_expired(self) -> int:
        """Remove entries past their storage lifetime; return how many were removed."""
        now = self._clock()
        with self._lock:
            before = len(self._records)
            for slot in [s for s in self._records if self._mine(s)]:
                self._load(slot, now)  # drops the slot when expired (or unreadable)
            return before - len(self._records)

    def clear(self) -> None:
        """Remove every entry of this namespace and of its children."""
        with self._lock:
            for slot in [s for s in self._records if self._mine(s)]:
                del self._records[slot]

    def stats(self) -> StorageStats:
        """Return entry and byte counts (heads and bodies)."""
        with self._lock:
            mine = [r for s, r in self._records.items() if self._mine(s)]
            return StorageStats(
                entries=len(mine), bytes=sum(len(r.head) + len(r.body) for r in mine)
            )

    def health(self) -> bool:
        """A dict is always reachable."""
        return True


class DictWriter:
    """Collects a body; the entry becomes visible only on :meth:`commit`."""

    def __init__(self, storage: DictStorage, entry: Entry) -> None:
        self._storage = storage
        self._entry = entry
        self._chunks: list[bytes] = []

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the body."""
        self._chunks.append(chunk)

    def commit(self) -> Entry:
        """Store the entry and its body in one step, replacing the same variant."""
        body = b"".join(self._chunks)
        entry = replace(self._entry, size=len(body))
        storage = self._storage
        slot = (storage.namespace, entry.key, entry.variant)
        head = storage._serializer.dumps(entry)
        with storage._lock:
            storage._records[slot] = _Record(head, body)
        return entry

    def abort(self) -> None:
        """Forget the body; nothing was ever visible."""
        self._chunks = []


class AsyncDictStorage:
    """The async twin of :class:`DictStorage`: the same methods, awaited.

    A dict never waits on I/O, so each method calls the sync storage directly. A
    storage over a network client would await that client here instead.
    Implements ``httpcache.AsyncStorage`` and ``httpcache.AsyncManagedStorage``.
    Takes the same arguments as :class:`DictStorage`.
    """

    def __init__(
        self,
        *,
        ttl: float | None = None,
        sliding: bool = False,
        max_lifetime: float | None = None,
        serializer: Serializer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = DictStorage(
            ttl=ttl, sliding=sliding, max_lifetime=max_lifetime, serializer=serializer, clock=clock
        )

    @property
    def ttl(self) -> float | None:
        """Seconds an entry is kept after it was stored or freshened."""
        return self._storage.ttl

    @property
    def sliding(self) -> bool:
        """Whether a hit renews an entry's ``ttl``."""
        return self._storage.sliding

    @property
    def max_lifetime(self) -> float | None:
        """Seconds an entry is kept at most after it was first stored."""
        return self._storage.max_lifetime

    def with_namespace(self, name: str) -> AsyncDictStorage:
        """Return a storage that shares this one's dict but keeps its entries apart."""
        child = AsyncDictStorage()
        child._storage = self._storage.with_namespace(name)
        return child

    async def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key``."""
        return self._storage.get_entries(key)

    async def open_writer(self, entry: Entry) -> AsyncDictWriter:
        """Start storing ``entry``; nothing is visible until the writer commits."""
        return AsyncDictWriter(self._storage.open_writer(entry))

    async def open_body(self, entry: Entry) -> AsyncIterator[bytes] | None:
        """Return the body of ``entry`` as chunks, or ``None`` when it is gone."""
        chunks = self._storage.open_body(entry)
        return None if chunks is None else _aiter(chunks)

    async def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head, keeping its body, hits and last hit."""
        self._storage.update_entry(entry)

    async def record_hit(self, entry: Entry) -> None:
        """Count one more use of ``entry`` and note when it happened."""
        self._storage.record_hit(entry)

    async def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them when ``variants`` is None."""
        self._storage.delete_entries(key, variants)

    async def aclose(self) -> None:
        """Release nothing. Safe to call twice."""
        self._storage.close()

    async def iter_entries(self, pattern: str | None = None) -> AsyncIterator[Entry]:
        """Yield entries of this namespace (and its children) whose URL matches ``pattern``."""
        for entry in self._storage.iter_entries(pattern):
            yield entry

    async def delete_expired(self) -> int:
        """Remove entries past their storage lifetime; return how many were removed."""
        return self._storage.delete_expired()

    async def clear(self) -> None:
        """Remove every entry of this namespace and of its children."""
        self._storage.clear()

    async def stats(self) -> StorageStats:
        """Return entry and byte counts (heads and bodies)."""
        return self._storage.stats()

    async def health(self) -> bool:
        """A dict is always reachable."""
        return True


class AsyncDictWriter:
    """The async twin of :class:`DictWriter`."""

    def __init__(self, writer: DictWriter) -> None:
        self._writer = writer

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the body."""
        self._writer.write(chunk)

    async def commit(self) -> Entry:
        """Store the entry and its body in one step, replacing the same variant."""
        return self._writer.commit()

    async def abort(self) -> None:
        """Forget the body; nothing was ever visible."""
        self._writer.abort()


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
