"""Rows <-> entries, write-back parameters and body buffering for the SQLite storages (pure).

The counterpart of ``_sql``: what goes into each statement's parameters and how a selected
row becomes an :class:`Entry`. Nothing here touches a connection or reads the clock.

Invariants:

* A row decodes to an entry whose ``hits``, ``size`` and ``accessed_at`` come from their
  columns (plus this process's pending hits); an inline body becomes ``Entry.body``, a
  chunked one ``Entry.body_ref`` (see :func:`body_ref`).
* :class:`HeadMemo` maps a row to its decoded head only while the row still holds the
  very same head bytes, so serving a memoised head is serving what is stored.
* :class:`BodyBuffer` holds at most :data:`INLINE_LIMIT` bytes while a body may still go
  inline, then at most :data:`CHUNK_SIZE` plus one incoming write.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import replace

from ..._exceptions import SerializationError
from ..._models import Entry, StorageStats
from ..._serializers import Serializer
from .._expiry import Lifetime, expires_at
from .._hits import PendingHit
from ._sql import CHUNK_SIZE, INLINE_LIMIT

__all__ = [
    "MEMO_SIZE",
    "BodyBuffer",
    "HeadMemo",
    "Pending",
    "Row",
    "body_ref",
    "complete_first_chunk",
    "decode_row",
    "hit_params",
    "new_body_id",
    "parse_body_ref",
    "stats_from_row",
    "update_params",
    "upsert_params",
]

Row = tuple[object, ...]
"""A row as selected: ``(id, cache_key, variant, head, hits, size, accessed_at)``, and for a
lookup also ``(body, body_id, chunks)``."""

Pending = Mapping[tuple[str, str, float], tuple[int | None, int]]
"""This process's unwritten hits of one namespace: ``(key, variant, created_at)`` to
``(size, count)`` (see ``_pending.HitLog``)."""

MEMO_SIZE = 1024
"""Decoded heads kept per storage tree (the oldest is forgotten first)."""


def new_body_id() -> str:
    """Return a fresh staging id, unique across threads and processes."""
    return uuid.uuid4().hex


def body_ref(body_id: str, chunks: int) -> str:
    """Return the ``Entry.body_ref`` of a chunked body: ``"<chunks>:<body_id>"``."""
    return f"{chunks}:{body_id}"


def parse_body_ref(ref: str | None) -> tuple[str, int] | None:
    """Return ``(body_id, chunks)`` of a :func:`body_ref`, or ``None`` for anything else."""
    if ref is None:
        return None
    count, sep, body_id = ref.partition(":")
    if not sep or not body_id or not count.isdigit():
        return None
    return body_id, int(count)


class HeadMemo:
    """Decoded heads by row id, reused while the row holds the same bytes (bounded FIFO).

    Decoding is deterministic (the same bytes give the same entry), and :class:`Entry` is
    immutable, so a memoised head is shared safely between threads and namespaces of one
    storage tree. A lookup compares the row's key, variant and head bytes.
    """

    __slots__ = ("_heads", "_size")

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self._size = size
        self._heads: dict[object, tuple[object, object, bytes, Entry]] = {}

    def get(self, row_id: object, key: object, variant: object, head: bytes) -> Entry | None:
        """Return the entry decoded from exactly this row content, or ``None``."""
        found = self._heads.get(row_id)
        if found is None or found[2] != head or found[0] != key or found[1] != variant:
            return None
        return found[3]

    def put(self, row_id: object, key: object, variant: object, head: bytes, entry: Entry) -> None:
        """Remember ``entry`` as the decoding of this row content."""
        heads = self._heads
        if len(heads) >= self._size and row_id not in heads:
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):  # a racing thread
                del heads[next(iter(heads))]
        heads[row_id] = (key, variant, head, entry)

    def clear(self) -> None:
        """Forget every head."""
        self._heads.clear()


def decode_row(
    serializer: Serializer, row: Row, memo: HeadMemo | None = None, pending: Pending | None = None
) -> Entry:
    """Rebuild the entry of a row; raise :class:`SerializationError` if it is unreadable.

    A record that decodes but names another key or variant than its row (a foreign or
    tampered record) is unreadable too, and so is a row whose body columns disagree with
    its size. ``hits``, ``size`` and ``accessed_at`` come from their columns; ``pending``
    adds to ``hits`` the hits this process has not written back yet.
    """
    row_id, key, variant, head, hits, size, accessed_at = row[:7]
    if not isinstance(head, bytes):
        raise SerializationError(f"the stored head is {type(head).__name__}, not a BLOB")
    if not isinstance(hits, int) or not isinstance(size, int) or hits < 0 or size < 0:
        raise SerializationError("the stored hits or size column is not a non-negative integer")
    if accessed_at is not None and not isinstance(accessed_at, float):
        raise SerializationError("the stored accessed_at column is not a number")
    body: bytes | None = None
    ref: str | None = None
    if len(row) > 7:
        body, ref = _body_columns(row[7], row[8], row[9], size)
    entry = memo.get(row_id, key, variant, head) if memo is not None else None
    if entry is None:
        entry = serializer.loads(head)
        if entry.key != key or entry.variant != variant:
            raise SerializationError("the stored record belongs to another key or variant")
        if memo is not None:
            memo.put(row_id, key, variant, head, entry)
    unwritten = pending.get((entry.key, entry.variant, entry.created_at)) if pending else None
    if unwritten is not None and unwritten[0] == size:
        hits += unwritten[1]  # accessed_at stays as written: sliding renewal is due from it
    if (
        body is not None
        or ref is not None
        or entry.hits != hits
        or entry.size != size
        or entry.accessed_at != accessed_at
    ):
        entry = replace(
            entry, hits=hits, size=size, accessed_at=accessed_at, body=body, body_ref=ref
        )
    return entry


def _body_columns(
    body: object, body_id: object, chunks: object, size: int
) -> tuple[bytes | None, str | None]:
    """Return ``(inline body, body_ref)`` of a row's body columns; refuse inconsistent ones."""
    if body is not None:
        if not isinstance(body, bytes) or len(body) != size:
            raise SerializationError("the stored inline body does not match its size")
        return body, None
    if not isinstance(body_id, str) or not isinstance(chunks, int) or chunks < 1:
        raise SerializationError("the stored row names neither an inline nor a chunked body")
    return None, body_ref(body_id, chunks)


def complete_first_chunk(row: Row | None, chunks: int, size: int | None) -> bytes | None:
    """Return the first chunk of a ``Queries.first_chunk`` row, if the body is whole.

    ``None`` when the body is gone, or when its chunks are not exactly ``0 .. chunks-1``
    adding up to ``size`` bytes (a chunk lost or cut short: serving it would end short).
    """
    if row is None:
        return None
    first, count, total, last = row
    if not isinstance(first, bytes) or count != chunks or last != chunks - 1:
        return None
    if size is not None and total != size:
        return None
    return first


def upsert_params(
    namespace: str,
    entry: Entry,
    head: bytes,
    body: bytes | None,
    body_id: str | None,
    chunks: int,
    lifetime: Lifetime,
) -> tuple[object, ...]:
    """Return the parameters of ``Queries.upsert`` for a committed ``entry``.

    ``body`` is the whole body when it is kept inline (then ``body_id`` is ``None`` and
    ``chunks`` 0), else ``None``.
    """
    return (
        namespace,
        entry.key,
        entry.variant,
        entry.request.url,
        head,
        body,
        entry.hits,
        entry.size if entry.size is not None else 0,
        body_id,
        chunks,
        float(entry.created_at),
        entry.ttl,
        expires_at(entry, lifetime),
        None if entry.accessed_at is None else float(entry.accessed_at),
    )


def update_params(
    namespace: str, entry: Entry, head: bytes, lifetime: Lifetime
) -> tuple[object, ...]:
    """Return the parameters of ``Queries.update_head`` for a freshened ``entry``."""
    return (
        entry.request.url,
        head,
        entry.ttl,
        expires_at(entry, lifetime),
        namespace,
        entry.key,
        entry.variant,
        float(entry.created_at),
        entry.size,
    )


def hit_params(
    namespace: str, batch: list[PendingHit], lifetime: Lifetime
) -> list[tuple[object, ...]]:
    """Return the ``executemany`` parameters of ``Queries.add_hits`` for ``batch``."""
    ttl, cap = lifetime.ttl, lifetime.max_lifetime
    return [
        (
            hit.count,
            float(hit.accessed_at),
            ttl,
            cap,
            namespace,
            hit.key,
            hit.variant,
            float(hit.created_at),
            hit.size,
        )
        for hit in batch
        if hit.size is not None
    ]


def stats_from_row(row: Row | None) -> StorageStats:
    """Return the :class:`StorageStats` of a ``Queries.stats`` row."""

    def count(value: object) -> int:
        # SUM over a column a foreign writer filled with text may come back as a float.
        return int(value) if isinstance(value, (int, float)) else 0

    entries, size, expired = row if row is not None else (0, 0, 0)
    return StorageStats(entries=count(entries), bytes=count(size), expired=count(expired))


class BodyBuffer:
    """Collect a body: inline up to ``inline_limit`` bytes, then cut into chunks.

    While the body fits inline nothing is handed out; once it outgrows the limit (it
    "spills") every full chunk of exactly ``chunk_size`` bytes is handed out as it fills.
    """

    __slots__ = ("_buffer", "_chunk_size", "_limit", "spilled", "total")

    def __init__(self, inline_limit: int = INLINE_LIMIT, chunk_size: int = CHUNK_SIZE) -> None:
        self._limit = inline_limit
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self.total = 0
        """Bytes fed so far."""
        self.spilled = False
        """Whether the body outgrew the inline limit (it is stored as chunks)."""

    def feed(self, data: bytes) -> list[bytes]:
        """Take ``data``; return the chunks that are now full and must be written, in order."""
        self.total += len(data)
        self._buffer += data
        if not self.spilled:
            if self.total <= self._limit:
                return []
            self.spilled = True
        size = self._chunk_size
        full: list[bytes] = []
        while len(self._buffer) >= size:
            full.append(bytes(self._buffer[:size]))
            del self._buffer[:size]
        return full

    def finish(self) -> bytes:
        """Return what is left (the whole body if it stays inline) and empty the buffer."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest
