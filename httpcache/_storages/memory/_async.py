"""In-process storage: a true LRU over variants, bounded by count and optionally bytes."""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace

from ..._exceptions import ConfigurationError, SerializationError
from ..._models import Entry, StorageStats
from ..._serializers import Serializer
from .._expiry import Lifetime, StorageLifetime, is_expired

__all__ = ["AsyncInMemoryStorage"]

logger = logging.getLogger("httpcache.storage")

_Slot = tuple[str, str, str]  # (namespace, key, variant)


@dataclass(slots=True)
class _Record:
    entry: Entry | bytes  # the entry itself, or its serialized form with a serializer
    body: bytes


class _Core:
    """State shared by a storage and every namespace made from it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: OrderedDict[_Slot, _Record] = OrderedDict()
        self.variants: dict[tuple[str, str], dict[str, None]] = {}
        self.bytes = 0


def _within(namespace: str, root: str) -> bool:
    return not root or namespace == root or namespace.startswith(root + "/")


def _same_response(stored: Entry, wanted: Entry) -> bool:
    """Tell whether ``stored`` is the response ``wanted`` describes (maybe updated since).

    A stored response keeps its ``created_at`` and body size through updates and hits;
    a new response stored under the same variant gets new ones.
    """
    if stored.created_at != wanted.created_at:
        return False
    return stored.size is None or wanted.size is None or stored.size == wanted.size


async def _single_chunk(body: bytes) -> AsyncIterator[bytes]:
    yield body


class AsyncInMemoryStorage(StorageLifetime):
    """Keep entries in this process's memory, least recently used evicted first.

    Safe to share between tasks and threads: every operation holds a short lock
    and nothing inside it waits. By default entries are kept as objects, not
    serialized, each carrying its body (``Entry.body``), so a hit is one dictionary
    lookup and the transport never calls :meth:`open_body`.

    Args:
        capacity: Most entries (variants) kept; the least recently used goes first.
        max_bytes: Optional budget for the bodies kept, in bytes.
        ttl: Seconds an entry is kept after it was stored or last freshened.
        sliding: Count ``ttl`` from an entry's last hit too.
        max_lifetime: Seconds an entry is kept at most after it was first stored.
        serializer: Serialize heads on the way in (to test a serializer, or to
            keep entries immutable across processes' expectations).
        clock: Source of the current time for ``ttl``.

    :meth:`with_namespace` makes a child that shares this storage's memory,
    capacity and lock; its ``clear()`` touches only its own namespace and its
    children's.
    """

    max_wait: float | None = 0.0
    """Calls never wait on I/O: the transport calls them directly (no deadline needed)."""

    def __init__(
        self,
        *,
        capacity: int = 128,
        max_bytes: int | None = None,
        ttl: float | None = None,
        sliding: bool = False,
        max_lifetime: float | None = None,
        serializer: Serializer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if capacity < 1:
            raise ConfigurationError("capacity must be at least 1")
        if max_bytes is not None and max_bytes < 0:
            raise ConfigurationError("max_bytes must not be negative")
        lifetime = Lifetime(ttl, sliding, max_lifetime)
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._lifetime = lifetime
        self._serializer = serializer
        self._clock = clock
        self._core = _Core()
        self._lock = self._core.lock
        self._namespace = ""

    @property
    def namespace(self) -> str:
        """This storage's namespace (``""`` for the root)."""
        return self._namespace

    def with_namespace(self, name: str) -> AsyncInMemoryStorage:
        """Return a child storage whose entries live under namespace ``name``."""
        if not name or "/" in name:
            raise ConfigurationError("a namespace name must be non-empty and contain no '/'")
        child = AsyncInMemoryStorage(
            capacity=self.capacity,
            max_bytes=self.max_bytes,
            ttl=self.ttl,
            sliding=self.sliding,
            max_lifetime=self.max_lifetime,
            serializer=self._serializer,
            clock=self._clock,
        )
        child._core = self._core
        child._lock = self._core.lock
        child._namespace = f"{self._namespace}/{name}" if self._namespace else name
        return child

    # -- helpers (called with the lock held) ------------------------------

    def _decode(self, record: _Record) -> Entry | None:
        if isinstance(record.entry, Entry):
            return record.entry
        assert self._serializer is not None
        try:
            return replace(self._serializer.loads(record.entry), body=record.body)
        except SerializationError as exc:
            logger.warning("dropping an unreadable cache record: %s", exc)
            return None

    def _slot(self, key: str, variant: str) -> _Slot:
        return (self._namespace, key, variant)

    def _drop(self, slot: _Slot) -> None:
        record = self._core.records.pop(slot, None)
        if record is None:
            return
        self._core.bytes -= len(record.body)
        variants = self._core.variants.get(slot[:2])
        if variants is not None:
            variants.pop(slot[2], None)
            if not variants:
                del self._core.variants[slot[:2]]

    def _keep(self, entry: Entry, body: bytes) -> Entry | bytes:
        """Return what a record holds for ``entry``: itself carrying its body, or its record."""
        if self._serializer is not None:
            return self._serializer.dumps(entry)
        return entry if entry.body is body else replace(entry, body=body, body_ref=None)

    def _insert(self, entry: Entry, body: bytes) -> None:
        slot = self._slot(entry.key, entry.variant)
        self._drop(slot)
        stored = self._keep(entry, body)
        self._core.records[slot] = _Record(stored, body)
        self._core.variants.setdefault(slot[:2], {})[entry.variant] = None
        self._core.bytes += len(body)
        while len(self._core.records) > self.capacity or (
            self.max_bytes is not None and self._core.bytes > self.max_bytes
        ):
            self._drop(next(iter(self._core.records)))

    def _live(self, slot: _Slot, now: float) -> tuple[_Record, Entry] | None:
        record = self._core.records.get(slot)
        if record is None:
            return None
        entry = self._decode(record)
        if entry is None or is_expired(entry, self._lifetime, now):
            self._drop(slot)
            return None
        return record, entry

    # -- the storage contract ----------------------------------------------

    async def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key``."""
        now = self._clock()
        found: list[Entry] = []
        with self._lock:
            for variant in list(self._core.variants.get((self._namespace, key), ())):
                live = self._live(self._slot(key, variant), now)
                if live is not None:
                    found.append(live[1])
        return found

    async def open_writer(self, entry: Entry) -> AsyncMemoryWriter:
        """Start storing ``entry``; it becomes visible when the writer commits."""
        return AsyncMemoryWriter(self, entry)

    async def open_body(self, entry: Entry) -> AsyncIterator[bytes] | None:
        """Return the body of ``entry`` as one chunk, or ``None`` if it is gone."""
        slot = self._slot(entry.key, entry.variant)
        with self._lock:
            record = self._core.records.get(slot)
            if record is None:
                return None
            self._core.records.move_to_end(slot)
            body = record.body
        return _single_chunk(body)

    async def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head and metadata, keeping its body, hits and last use.

        Only the stored response ``entry`` describes (same ``created_at`` and size) is
        changed: a newer response stored since (another request's) is left alone, so a
        304 never puts an old head over a newer body.
        """
        slot = self._slot(entry.key, entry.variant)
        with self._lock:
            record = self._core.records.get(slot)
            if record is None:
                return
            current = self._decode(record)
            if current is None or not _same_response(current, entry):
                return
            # Hits and the last use are the storage's bookkeeping, not the caller's copy's.
            updated = replace(
                entry,
                size=current.size,
                hits=current.hits,
                accessed_at=current.accessed_at,
                body=record.body,
                body_ref=None,
            )
            record.entry = self._keep(updated, record.body)
            self._core.records.move_to_end(slot)

    async def record_hit(self, entry: Entry) -> None:
        """Count a hit, note when it happened and mark the variant most recently used."""
        slot = self._slot(entry.key, entry.variant)
        now = self._clock()
        with self._lock:
            record = self._core.records.get(slot)
            if record is None:
                return
            current = self._decode(record)
            if current is not None:
                record.entry = self._keep(current.counted(current.hits + 1, now), record.body)
            self._core.records.move_to_end(slot)

    async def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them."""
        with self._lock:
            own = self._core.variants.get((self._namespace, key), {})
            names = list(own) if variants is None else list(variants)
            for variant in names:
                self._drop(self._slot(key, variant))

    async def aclose(self) -> None:
        """Release nothing: entries live as long as the object. Safe to call twice."""

    # -- management ---------------------------------------------------------

    async def iter_entries(self, pattern: str | None = None) -> AsyncIterator[Entry]:
        """Yield stored entries whose URL matches the glob ``pattern`` (all when None)."""
        now = self._clock()
        with self._lock:
            entries = [
                live[1]
                for slot in list(self._core.records)
                if _within(slot[0], self._namespace) and (live := self._live(slot, now))
            ]
        for entry in entries:
            if pattern is None or fnmatch.fnmatchcase(entry.request.url, pattern):
                yield entry

    async def delete_expired(self) -> int:
        """Remove entries past their storage lifetime; return how many."""
        now = self._clock()
        with self._lock:
            before = len(self._core.records)
            for slot in list(self._core.records):
                if _within(slot[0], self._namespace):
                    self._live(slot, now)
            return before - len(self._core.records)

    async def clear(self) -> None:
        """Remove every entry of this namespace and its children."""
        with self._lock:
            for slot in list(self._core.records):
                if _within(slot[0], self._namespace):
                    self._drop(slot)

    async def stats(self) -> StorageStats:
        """Return entry and byte counts."""
        with self._lock:
            mine = [
                r for slot, r in self._core.records.items() if _within(slot[0], self._namespace)
            ]
            return StorageStats(entries=len(mine), bytes=sum(len(r.body) for r in mine))

    async def health(self) -> bool:
        """Memory is always reachable."""
        return True

    async def __aenter__(self) -> AsyncInMemoryStorage:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncInMemoryStorage(capacity={self.capacity}, entries={len(self._core.records)})"


class AsyncMemoryWriter:
    """Collects a body in memory; nothing is visible until :meth:`commit`."""

    def __init__(self, storage: AsyncInMemoryStorage, entry: Entry) -> None:
        self._storage = storage
        self._entry = entry
        self._chunks: list[bytes] = []
        self._done = False

    async def write(self, chunk: bytes) -> None:
        if self._done:
            raise RuntimeError("writer already finished")
        self._chunks.append(chunk)

    async def commit(self) -> Entry:
        if self._done:
            raise RuntimeError("writer already finished")
        self._done = True
        body = b"".join(self._chunks)
        self._chunks = []
        entry = replace(self._entry, size=len(body), body=body, body_ref=None)
        with self._storage._lock:
            self._storage._insert(entry, body)
        return entry

    async def abort(self) -> None:
        self._done = True
        self._chunks = []
