"""In-process storage: a true LRU over variants, bounded by count and optionally bytes."""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Callable, Sequence
from dataclasses import dataclass, replace

from .._exceptions import ConfigurationError, SerializationError
from .._expiry import is_expired
from .._models import Entry, StorageStats
from .._serializers import Serializer

__all__ = ["InMemoryStorage"]

logger = logging.getLogger("httpcache.storage")

_Slot = tuple[str, str]


@dataclass(slots=True)
class _Record:
    entry: Entry | bytes  # the entry itself, or its serialized form with a serializer
    body: bytes


def _single_chunk(body: bytes) -> Iterator[bytes]:
    yield body


class InMemoryStorage:
    """Keep entries in this process's memory, least recently used evicted first.

    Safe to share between tasks and threads: every operation holds a short lock
    and nothing inside it waits. By default entries are kept as objects, not
    serialized, so a hit costs almost nothing.

    Args:
        capacity: Most entries (variants) kept; the least recently used goes first.
        max_bytes: Optional budget for the bodies kept, in bytes.
        ttl: Seconds an entry is kept after it was stored or last freshened.
        serializer: Serialize heads on the way in (to test a serializer, or to
            keep entries immutable across processes' expectations).
        clock: Source of the current time for ``ttl``.
    """

    def __init__(
        self,
        *,
        capacity: int = 128,
        max_bytes: int | None = None,
        ttl: float | None = None,
        serializer: Serializer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if capacity < 1:
            raise ConfigurationError("capacity must be at least 1")
        if max_bytes is not None and max_bytes < 0:
            raise ConfigurationError("max_bytes must not be negative")
        if ttl is not None and ttl < 0:
            raise ConfigurationError("ttl must not be negative")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._serializer = serializer
        self._clock = clock
        self._lock = threading.Lock()
        self._records: OrderedDict[_Slot, _Record] = OrderedDict()
        self._variants: dict[str, dict[str, None]] = {}
        self._bytes = 0

    # -- helpers (called with the lock held) ------------------------------

    def _decode(self, record: _Record) -> Entry | None:
        if isinstance(record.entry, Entry):
            return record.entry
        assert self._serializer is not None
        try:
            return self._serializer.loads(record.entry)
        except SerializationError as exc:
            logger.warning("dropping an unreadable cache record: %s", exc)
            return None

    def _drop(self, slot: _Slot) -> None:
        record = self._records.pop(slot, None)
        if record is None:
            return
        self._bytes -= len(record.body)
        variants = self._variants.get(slot[0])
        if variants is not None:
            variants.pop(slot[1], None)
            if not variants:
                del self._variants[slot[0]]

    def _insert(self, entry: Entry, body: bytes) -> None:
        slot = (entry.key, entry.variant)
        self._drop(slot)
        stored: Entry | bytes = entry if self._serializer is None else self._serializer.dumps(entry)
        self._records[slot] = _Record(stored, body)
        self._variants.setdefault(entry.key, {})[entry.variant] = None
        self._bytes += len(body)
        while len(self._records) > self.capacity or (
            self.max_bytes is not None and self._bytes > self.max_bytes
        ):
            self._drop(next(iter(self._records)))

    def _live(self, slot: _Slot, now: float) -> tuple[_Record, Entry] | None:
        record = self._records.get(slot)
        if record is None:
            return None
        entry = self._decode(record)
        if entry is None or is_expired(entry, self.ttl, now):
            self._drop(slot)
            return None
        return record, entry

    # -- the storage contract ----------------------------------------------

    def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key``."""
        now = self._clock()
        found: list[Entry] = []
        with self._lock:
            for variant in list(self._variants.get(key, ())):
                live = self._live((key, variant), now)
                if live is not None:
                    found.append(live[1])
        return found

    def open_writer(self, entry: Entry) -> MemoryWriter:
        """Start storing ``entry``; it becomes visible when the writer commits."""
        return MemoryWriter(self, entry)

    def open_body(self, entry: Entry) -> Iterator[bytes] | None:
        """Return the body of ``entry`` as one chunk, or ``None`` if it is gone."""
        slot = (entry.key, entry.variant)
        with self._lock:
            record = self._records.get(slot)
            if record is None:
                return None
            self._records.move_to_end(slot)
            body = record.body
        return _single_chunk(body)

    def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head and metadata, keeping its body."""
        slot = (entry.key, entry.variant)
        with self._lock:
            record = self._records.get(slot)
            if record is None:
                return
            record.entry = entry if self._serializer is None else self._serializer.dumps(entry)
            self._records.move_to_end(slot)

    def record_hit(self, entry: Entry) -> None:
        """Count a hit and mark the variant most recently used."""
        slot = (entry.key, entry.variant)
        with self._lock:
            record = self._records.get(slot)
            if record is None:
                return
            current = self._decode(record)
            if current is not None:
                updated = replace(current, hits=current.hits + 1)
                record.entry = (
                    updated if self._serializer is None else self._serializer.dumps(updated)
                )
            self._records.move_to_end(slot)

    def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them."""
        with self._lock:
            names = list(self._variants.get(key, ())) if variants is None else list(variants)
            for variant in names:
                self._drop((key, variant))

    def close(self) -> None:
        """Release nothing: entries live as long as the object. Safe to call twice."""

    # -- management ---------------------------------------------------------

    def iter_entries(self, pattern: str | None = None) -> Iterator[Entry]:
        """Yield stored entries whose URL matches the glob ``pattern`` (all when None)."""
        now = self._clock()
        with self._lock:
            entries = [live[1] for slot in list(self._records) if (live := self._live(slot, now))]
        for entry in entries:
            if pattern is None or fnmatch.fnmatchcase(entry.request.url, pattern):
                yield entry

    def delete_expired(self) -> int:
        """Remove entries past their storage lifetime; return how many."""
        now = self._clock()
        with self._lock:
            before = len(self._records)
            for slot in list(self._records):
                self._live(slot, now)
            return before - len(self._records)

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._records.clear()
            self._variants.clear()
            self._bytes = 0

    def stats(self) -> StorageStats:
        """Return entry and byte counts."""
        with self._lock:
            return StorageStats(entries=len(self._records), bytes=self._bytes)

    def health(self) -> bool:
        """Memory is always reachable."""
        return True

    def __enter__(self) -> InMemoryStorage:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"InMemoryStorage(capacity={self.capacity}, entries={len(self._records)})"


class MemoryWriter:
    """Collects a body in memory; nothing is visible until :meth:`commit`."""

    def __init__(self, storage: InMemoryStorage, entry: Entry) -> None:
        self._storage = storage
        self._entry = entry
        self._chunks: list[bytes] = []
        self._done = False

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise RuntimeError("writer already finished")
        self._chunks.append(chunk)

    def commit(self) -> Entry:
        if self._done:
            raise RuntimeError("writer already finished")
        self._done = True
        body = b"".join(self._chunks)
        self._chunks = []
        entry = replace(self._entry, size=len(body))
        with self._storage._lock:
            self._storage._insert(entry, body)
        return entry

    def abort(self) -> None:
        self._done = True
        self._chunks = []
