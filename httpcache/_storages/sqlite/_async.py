"""SQLite storage over ``aiosqlite`` (hand-written; DESIGN §2).

Its sync twin is ``sqlite._sync.SQLiteStorage`` over :mod:`sqlite3`. The two are written by
hand because the libraries differ too much for ``scripts/unasync.py``; every statement and
the schema live in ``_sql``, the row mapping and body buffering in ``_rows``, the hit
bookkeeping in ``_pending``, so they cannot drift, and one contract suite runs against both.
This module lives outside ``_async/`` so that the script neither generates nor checks a sync
copy of it.

Invariants:

* One ``aiosqlite`` connection per storage tree (the storage and every
  :meth:`AsyncSQLiteStorage.with_namespace` child), opened lazily. ``aiosqlite`` runs its
  calls one at a time on its own thread, and every statement is a single statement (see
  ``_sql``), so no lock is held across an ``await`` except while opening.
* One ``aiosqlite`` call (one hop to its thread) per storage operation: ``execute_fetchall``
  for a query, ``execute`` or ``executemany`` for a write (a caller's connection that
  opens transactions implicitly adds a ``commit``). A hit is one SELECT and no write; hits
  are written back in batches as one ``executemany``.
* Nothing holds the connection while the caller's code runs (large bodies and listings are
  fetched a chunk or a page at a time).
* ``aclose()`` flushes pending hits, then closes only a connection the storage opened
  itself; the next call reopens.
"""

from __future__ import annotations

import logging
import operator
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import anyio

from ..._exceptions import ConfigurationError, SerializationError, StorageError
from ..._models import Entry, StorageStats
from ..._serializers import JSONSerializer, Serializer
from .._expiry import Lifetime, StorageLifetime
from ._async_shared import Shared, aiosqlite_module
from ._rows import (
    BodyBuffer,
    Row,
    complete_first_chunk,
    decode_row,
    new_body_id,
    parse_body_ref,
    stats_from_row,
    update_params,
    upsert_params,
)
from ._sql import (
    DEFAULT_TABLE_NAME,
    DEFAULT_TIMEOUT,
    MEMORY,
    PAGE_SIZE,
    STAGING_GRACE,
    check_settings,
    child_namespace,
)

if TYPE_CHECKING:
    import aiosqlite

__all__ = ["AsyncSQLiteStorage", "AsyncSQLiteWriter"]

logger = logging.getLogger("httpcache.storage")

_row_id = operator.itemgetter(0)


async def _one(body: bytes) -> AsyncIterator[bytes]:
    """Yield an inline body as its only chunk (nothing for an empty one)."""
    if body:
        yield body


class AsyncSQLiteStorage(StorageLifetime):
    """Keep entries in an SQLite database through ``aiosqlite``; the async ``SQLiteStorage``.

    Needs the ``sqlite`` extra (``pip install 'httpcache[sqlite]'``). It behaves exactly like
    :class:`~httpcache.SQLiteStorage` (small bodies inline so a hit is one ``SELECT``, large
    ones in 1 MiB chunks, hits written back in batches, WAL mode), and the two share one file
    across processes. Every storage operation is one call to aiosqlite's thread.

    Args:
        path: Database file (created 0600 if missing); neither ``path`` nor ``connection``:
            a private in-memory database, discarded by ``aclose()``.
        connection: An open ``aiosqlite.Connection`` to use instead, switched to WAL mode
            unless ``wal=False``; never closed by the storage.
        serializer: How heads are encoded; ``None`` means :class:`JSONSerializer`.
        ttl: Seconds an entry is kept after it was stored or last freshened.
        sliding: A hit renews ``ttl`` (needs a ``ttl``).
        max_lifetime: Seconds an entry is kept at most after it was first stored.
        table_name: The entry table; bodies go to ``<table_name>_bodies``.
        create_table: Create missing tables (and rebuild, empty, an older httpcache's);
            with ``False`` every call raises :class:`StorageError` unless they exist.
        timeout: Seconds a connection the storage opens waits for another connection's
            write lock before the call fails (SQLite's busy timeout; 0.25 by default,
            below the transport's storage deadline). A ``connection`` keeps its own.
        wal: Put the database in WAL mode with ``synchronous=NORMAL`` (a crash may lose the
            last writes, a miss for a cache, but never corrupts the file); ``False`` leaves
            both as configured.
        clock: Source of the current time for ``ttl``.

    Raises:
        ConfigurationError: Both ``path`` and ``connection`` given, an invalid value, or
            ``aiosqlite`` is not installed.
    """

    def __init__(
        self,
        *,
        path: str | os.PathLike[str] | None = None,
        connection: aiosqlite.Connection | None = None,
        serializer: Serializer | None = None,
        ttl: float | None = None,
        sliding: bool = False,
        max_lifetime: float | None = None,
        table_name: str = DEFAULT_TABLE_NAME,
        create_table: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        wal: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if path is not None and connection is not None:
            raise ConfigurationError("give AsyncSQLiteStorage a path or a connection, not both")
        check_settings(table_name=table_name, timeout=timeout)
        lifetime = Lifetime(ttl, sliding, max_lifetime)
        aiosqlite_module()  # fail early, naming the extra
        database = MEMORY if path is None else os.fspath(path)
        self._lifetime = lifetime
        self.table_name = table_name
        self._serializer: Serializer = serializer if serializer is not None else JSONSerializer()
        self._clock = clock
        self._shared = Shared(
            database, connection, table_name, create_table, timeout, wal, lifetime
        )
        self._queries = self._shared.queries
        self._namespace = ""

    @property
    def namespace(self) -> str:
        """This storage's namespace (``""`` for the root)."""
        return self._namespace

    def with_namespace(self, name: str) -> AsyncSQLiteStorage:
        """Return a child storage whose entries live under namespace ``name``.

        The child shares this storage's connection and hit buffer; its :meth:`clear`
        touches only its own namespace and its children's.
        """
        namespace = child_namespace(self._namespace, name)
        child = AsyncSQLiteStorage(
            serializer=self._serializer,
            ttl=self.ttl,
            sliding=self.sliding,
            max_lifetime=self.max_lifetime,
            table_name=self.table_name,
            clock=self._clock,
        )
        child._shared = self._shared
        child._namespace = namespace
        return child

    # -- private hooks (also used by the tests) -------------------------------------

    async def _execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one write statement on the storage's connection; return the rows changed."""
        return await self._shared.execute(sql, params)

    async def _fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run one query on the storage's connection and return its rows."""
        return await self._shared.fetchall(sql, params)

    async def _drop(self, row: Row, exc: SerializationError) -> None:
        """Delete an unreadable row (a logged miss), unless a writer replaced it meanwhile."""
        logger.warning("dropping an unreadable SQLite cache record: %s", exc)
        await self._shared.execute(self._queries.delete_unreadable, (row[0], row[3]))

    # -- the storage contract ------------------------------------------------------------

    async def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key``, small bodies inline (one SELECT)."""
        shared = self._shared
        rows = await shared.fetchall(
            self._queries.select_variants, (self._namespace, key, self._clock())
        )
        if len(rows) > 1:
            rows.sort(key=_row_id)
        pending = shared.hits.pending(self._namespace)
        found: list[Entry] = []
        for row in rows:
            try:
                found.append(decode_row(self._serializer, row, shared.memo, pending))
            except SerializationError as exc:
                await self._drop(row, exc)
        return found

    async def open_writer(self, entry: Entry) -> AsyncSQLiteWriter:
        """Start storing ``entry``; it becomes visible when the writer commits."""
        return AsyncSQLiteWriter(self, entry)

    async def open_body(self, entry: Entry) -> AsyncIterator[bytes] | None:
        """Return the body of ``entry`` as chunks of at most 1 MiB, or ``None`` if it is gone.

        An entry :meth:`get_entries` returned with a large body names its chunks
        (``body_ref``), so no second lookup of the row is needed. Chunks are fetched one at
        a time as the iterator is consumed. A body replaced or deleted after it was opened
        stays readable for a minute (``RETIRED_LINGER``), so a reader finishes it; one
        slower than that gets :class:`StorageError`, never a body ended short.
        """
        ref = parse_body_ref(entry.body_ref)
        if ref is None:
            row = await self._shared.fetchone(
                self._queries.select_body, (self._namespace, entry.key, entry.variant)
            )
            if row is None:
                return None
            body, body_id, chunks = row
            if isinstance(body, bytes):
                return _one(body)
            if not isinstance(body_id, str) or not isinstance(chunks, int):
                return None
            ref = body_id, chunks
        body_id, count = ref
        row = await self._shared.fetchone(self._queries.first_chunk, (body_id,))
        first = complete_first_chunk(row, count, entry.size)
        if first is None:  # replaced or deleted since it was looked up, or incomplete
            # Still naming these chunks, the row's body is incomplete: drop it (a miss).
            dropped = await self._shared.execute(
                self._queries.delete_broken, (self._namespace, entry.key, entry.variant, body_id)
            )
            if dropped:
                logger.warning("dropped an SQLite cache entry whose body is incomplete")
            return None
        return self._chunks(body_id, count, first)

    async def _chunks(self, body_id: str, count: int, first: bytes) -> AsyncIterator[bytes]:
        yield first
        for seq in range(1, count):
            row = await self._shared.fetchone(self._queries.select_chunk, (body_id, seq))
            if row is None or not isinstance(row[0], bytes):
                raise StorageError("the stored body was replaced or removed while being read")
            yield row[0]

    async def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head and metadata, keeping its body (one UPDATE).

        Nothing changes if the variant now holds another response than ``entry``'s
        (another ``created_at`` or ``size``). Hits and the last access stay as counted.
        """
        head = self._serializer.dumps(entry)
        await self._shared.execute(
            self._queries.update_head, update_params(self._namespace, entry, head, self._lifetime)
        )

    async def record_hit(self, entry: Entry) -> None:
        """Count one more use of ``entry``: in memory, written back in a batch when due.

        A batch is due once a second, or at once when the hit renews a sliding lifetime;
        it is one ``executemany`` of one ``UPDATE``.
        """
        now = self._clock()
        if self._shared.hits.add(self._namespace, entry, now):
            await self._shared.flush_hits(now)

    async def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them (one statement)."""
        shared = self._shared
        if variants is None:
            shared.hits.discard(self._namespace, key)
            await shared.execute(self._queries.delete_key, (self._namespace, key))
            return
        shared.hits.discard(self._namespace, key, set(variants))
        await shared.executemany(
            self._queries.delete_variant, [(self._namespace, key, v) for v in variants]
        )

    async def acquire_lease(self, key: str, ttl: float) -> str | None:
        """Take the lease of ``key`` for ``ttl`` seconds (one UPSERT); return its token.

        ``None`` when another holder has it and it has not lapsed. A lease is a row of
        ``<table_name>_leases`` under this namespace, timed by the wall clock
        (:func:`time.time`, shared by every process); a lapsed row is taken over by the
        same statement. Waits at most the busy ``timeout`` for another writer.
        """
        token = secrets.token_hex(16)
        now = time.time()
        taken = await self._shared.execute(
            self._queries.acquire_lease, (self._namespace, key, token, now + ttl, now)
        )
        return token if taken else None

    async def release_lease(self, key: str, token: str) -> None:
        """Give the lease of ``key`` back if ``token`` still holds it (one DELETE)."""
        await self._shared.execute(self._queries.release_lease, (self._namespace, key, token))

    async def aclose(self) -> None:
        """Write back pending hits and close the connection if the storage opened it.

        Safe to call more than once. A caller's ``connection`` is never closed. Using the
        storage again reopens.
        """
        await self._shared.aclose()

    # -- management -------------------------------------------------------------------

    async def iter_entries(self, pattern: str | None = None) -> AsyncIterator[Entry]:
        """Yield unexpired entries of this namespace tree whose URL matches the glob ``pattern``.

        Pending hits are written back first. Rows are fetched a page at a time (heads
        only); the connection is free between pages.
        """
        await self._shared.flush_hits()  # so that the listing counts this process's hits too
        now = self._clock()
        after = 0
        while True:
            sql, params = self._queries.page(self._namespace, after, now, pattern)
            rows = await self._shared.fetchall(sql, params)
            for row in rows:
                try:
                    entry = decode_row(self._serializer, row)
                except SerializationError as exc:
                    await self._drop(row, exc)
                    continue
                yield entry
            if len(rows) < PAGE_SIZE:
                return
            last = rows[-1][0]
            assert isinstance(last, int)
            after = last

    async def delete_expired(self) -> int:
        """Remove entries of this namespace tree past their deadline; return how many.

        Also removes body chunks that no entry names: retired over a minute ago (replaced
        or deleted), or staged more than a day ago (left by a writer that crashed).
        """
        sql, params = self._queries.delete_expired(self._namespace, self._clock())
        removed = await self._shared.execute(sql, params)
        await self._shared.execute(self._queries.sweep_staged, (time.time() - STAGING_GRACE,))
        return removed

    async def clear(self) -> None:
        """Remove every entry and lease of this namespace and its children, bodies included."""
        self._shared.hits.clear(self._namespace)
        sql, params = self._queries.clear(self._namespace)
        await self._shared.execute(sql, params)
        sql, params = self._queries.clear_leases(self._namespace)
        await self._shared.execute(sql, params)

    async def stats(self) -> StorageStats:
        """Return this namespace tree's stored entries, body bytes and expired entries."""
        sql, params = self._queries.stats(self._namespace, self._clock())
        return stats_from_row(await self._shared.fetchone(sql, params))

    async def health(self) -> bool:
        """Tell whether the database can be opened and holds the storage's tables."""
        try:
            await self._shared.fetchone(self._queries.probe)
        except StorageError as exc:
            logger.debug("SQLite storage is unhealthy: %s", exc)
            return False
        return True

    async def __aenter__(self) -> AsyncSQLiteStorage:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"AsyncSQLiteStorage(database={self._shared.database!r},"
            f" table_name={self.table_name!r}, namespace={self._namespace!r})"
        )


class AsyncSQLiteWriter:
    """Buffers a small body for a one-statement commit; stages a large one as chunks.

    A body of up to 64 KiB is held in memory and written with its head by :meth:`commit`
    (one UPSERT). A larger one is written as 1 MiB chunks under a fresh id as they fill,
    invisible until :meth:`commit` swaps them in.
    """

    def __init__(self, storage: AsyncSQLiteStorage, entry: Entry) -> None:
        self._storage = storage
        self._entry = entry
        self._namespace = storage.namespace
        self._buffer = BodyBuffer()
        self._body_id: str | None = None
        self._seq = 0
        self._done = False

    async def _put(self, chunk: bytes) -> None:
        storage = self._storage
        if self._body_id is None:
            self._body_id = new_body_id()
        await storage._shared.execute(
            storage._queries.insert_chunk, (self._body_id, self._seq, chunk, time.time())
        )
        self._seq += 1

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``; past 64 KiB, full 1 MiB chunks are written as they fill."""
        if self._done:
            raise RuntimeError("writer already finished")
        for full in self._buffer.feed(chunk):
            await self._put(full)

    async def commit(self) -> Entry:
        """Make the entry visible, replacing the same key and variant, in one statement."""
        if self._done:
            raise RuntimeError("writer already finished")
        self._done = True
        storage = self._storage
        buffer = self._buffer
        try:
            rest = buffer.finish()
            entry = replace(self._entry, size=buffer.total)
            head = storage._serializer.dumps(entry)
            if buffer.spilled:
                if rest:
                    await self._put(rest)
                params = upsert_params(
                    self._namespace, entry, head, None, self._body_id, self._seq, storage._lifetime
                )
            else:
                params = upsert_params(
                    self._namespace, entry, head, rest, None, 0, storage._lifetime
                )
            await storage._shared.execute(storage._queries.upsert, params)
        except BaseException:
            await self._discard()
            raise
        if buffer.spilled:
            await storage._shared.sweep_retired()
        return entry

    async def abort(self) -> None:
        """Discard the buffered or staged body; nothing becomes visible. A no-op once finished."""
        if self._done:
            return
        self._done = True
        self._buffer.finish()
        await self._discard()

    async def _discard(self) -> None:
        if self._body_id is None:
            return
        try:
            with anyio.CancelScope(shield=True):
                await self._storage._shared.execute(
                    self._storage._queries.delete_chunks, (self._body_id, self._body_id)
                )
        except StorageError as exc:  # delete_expired() sweeps what is left
            logger.debug("could not discard a staged SQLite body: %s", exc)
