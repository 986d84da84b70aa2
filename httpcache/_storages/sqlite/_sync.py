"""SQLite storage over the standard library's :mod:`sqlite3` (hand-written; DESIGN §2).

Its async twin is ``sqlite._async.AsyncSQLiteStorage`` over ``aiosqlite``. The two are
written by hand because the libraries differ too much for ``scripts/unasync.py``; every
statement and the schema live in ``_sql``, the row mapping and body buffering in ``_rows``,
the hit bookkeeping in ``_pending``, so they cannot drift, and one contract suite runs
against both.

Invariants:

* One connection per storage tree (the storage and every :meth:`SQLiteStorage.with_namespace`
  child), opened lazily with ``check_same_thread=False`` and used only under one
  :class:`threading.Lock`, so one object serves many threads. The lock is never held while
  the caller's code runs (large bodies and listings are fetched a chunk or a page at a time).
* A hit is one SELECT and no write: hits are buffered in the tree's ``HitLog`` and written
  back as one ``executemany`` when a batch is due, and on close. A store of a small body is
  one UPSERT; a write is committed before the lock is released.
* ``close()`` flushes pending hits, then closes only a connection the storage opened itself;
  the next call opens a new one.
"""

from __future__ import annotations

import logging
import operator
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from ..._exceptions import ConfigurationError, SerializationError, StorageError
from ..._models import Entry, StorageStats
from ..._serializers import JSONSerializer, Serializer
from .._expiry import Lifetime, StorageLifetime
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
from ._sync_shared import Shared

__all__ = ["SQLiteStorage", "SQLiteWriter"]

logger = logging.getLogger("httpcache.storage")

_row_id = operator.itemgetter(0)


class SQLiteStorage(StorageLifetime):
    """Keep entries in an SQLite database: one file, shared by threads and processes.

    Heads are serialized into one row per variant. A body of up to 64 KiB is kept in the
    same row, so a hit is one ``SELECT``; a larger one is stored beside it as chunks of at
    most 1 MiB, written and read one chunk at a time, so it never sits in memory. An entry
    becomes visible only when its writer commits (one statement for a small body). Hits are
    counted in memory and written back in batches (at most once a second, and on close).
    The database is put in WAL mode (readers never wait for the writer) with
    ``synchronous=NORMAL`` and the busy timeout ``timeout``, so several processes can share
    one file.

    Args:
        path: Database file to open (created 0600 if missing). Without ``path`` or
            ``connection`` the storage opens a private in-memory database, which
            ``close()`` discards.
        connection: An open :class:`sqlite3.Connection` to use instead; it must have been
            opened with ``check_same_thread=False`` to be used from several threads. It
            is switched to WAL mode and ``synchronous=NORMAL`` (unless ``wal=False``) and
            never closed by the storage.
        serializer: How heads are encoded; ``None`` means :class:`JSONSerializer`.
        ttl: Seconds an entry is kept after it was stored or last freshened. The
            deadline is computed on write and kept in the indexed ``expires_at`` column.
        sliding: A hit renews ``ttl`` (needs a ``ttl``).
        max_lifetime: Seconds an entry is kept at most after it was first stored.
        table_name: The entry table; bodies go to ``<table_name>_bodies``. Letters,
            digits and ``_`` only.
        create_table: Create the tables, index and triggers if they are missing (and
            rebuild, empty, a table an older httpcache laid out). With ``False`` they must
            already exist, or every call raises :class:`StorageError` (and :meth:`health`
            is false).
        timeout: Seconds a connection the storage opens waits for another connection's
            write lock before the call fails (SQLite's busy timeout; 0.25 by default,
            below the transport's storage deadline). A ``connection`` keeps its own.
        wal: Put the database in WAL mode with ``synchronous=NORMAL``. A crash can then lose
            the last transactions but never corrupts the database, and for a cache a lost
            write is just a miss. ``False`` leaves both as configured (SQLite's defaults
            for a database the storage opens, yours for your ``connection``).
        clock: Source of the current time for ``ttl``.

    Raises:
        ConfigurationError: Both ``path`` and ``connection`` given, or an invalid value.
    """

    def __init__(
        self,
        *,
        path: str | os.PathLike[str] | None = None,
        connection: sqlite3.Connection | None = None,
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
            raise ConfigurationError("give SQLiteStorage a path or a connection, not both")
        check_settings(table_name=table_name, timeout=timeout)
        lifetime = Lifetime(ttl, sliding, max_lifetime)
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
    def max_wait(self) -> float | None:
        """The longest a call can wait, when the storage opened its connection itself.

        Twice the busy ``timeout`` (another thread's statement holding the connection,
        then SQLite's own lock); within the transport's deadline (0.25 s busy timeout,
        0.5 s deadline by default) the transport calls this storage directly, with no
        worker thread. ``None`` for a connection you passed: its settings are yours.
        """
        shared = self._shared
        return 2 * shared.timeout if shared.owned else None

    @property
    def namespace(self) -> str:
        """This storage's namespace (``""`` for the root)."""
        return self._namespace

    def with_namespace(self, name: str) -> SQLiteStorage:
        """Return a child storage whose entries live under namespace ``name``.

        The child shares this storage's connection and hit buffer; its :meth:`clear`
        touches only its own namespace and its children's.
        """
        namespace = child_namespace(self._namespace, name)
        child = SQLiteStorage(
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

    def _execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one write statement on the storage's connection; return the rows changed."""
        return self._shared.execute(sql, params)

    def _fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run one query on the storage's connection and return its rows."""
        return self._shared.fetchall(sql, params)

    def _drop(self, row: Row, exc: SerializationError) -> None:
        """Delete an unreadable row (a logged miss), unless a writer replaced it meanwhile."""
        logger.warning("dropping an unreadable SQLite cache record: %s", exc)
        self._shared.execute(self._queries.delete_unreadable, (row[0], row[3]))

    # -- the storage contract ------------------------------------------------------------

    def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key``, small bodies inline (one SELECT)."""
        shared = self._shared
        rows = shared.fetchall(self._queries.select_variants, (self._namespace, key, self._clock()))
        if len(rows) > 1:
            rows.sort(key=_row_id)
        pending = shared.hits.pending(self._namespace)
        found: list[Entry] = []
        for row in rows:
            try:
                found.append(decode_row(self._serializer, row, shared.memo, pending))
            except SerializationError as exc:
                self._drop(row, exc)
        return found

    def open_writer(self, entry: Entry) -> SQLiteWriter:
        """Start storing ``entry``; it becomes visible when the writer commits."""
        return SQLiteWriter(self, entry)

    def open_body(self, entry: Entry) -> Iterator[bytes] | None:
        """Return the body of ``entry`` as chunks of at most 1 MiB, or ``None`` if it is gone.

        An entry :meth:`get_entries` returned with a large body names its chunks
        (``body_ref``), so no second lookup of the row is needed. Chunks are fetched one at
        a time as the iterator is consumed. A body replaced or deleted after it was opened
        stays readable for a minute (``RETIRED_LINGER``), so a reader finishes it; one
        slower than that gets :class:`StorageError`, never a body ended short.
        """
        ref = parse_body_ref(entry.body_ref)
        if ref is None:
            row = self._shared.fetchone(
                self._queries.select_body, (self._namespace, entry.key, entry.variant)
            )
            if row is None:
                return None
            body, body_id, chunks = row
            if isinstance(body, bytes):
                return iter((body,) if body else ())
            if not isinstance(body_id, str) or not isinstance(chunks, int):
                return None
            ref = body_id, chunks
        body_id, count = ref
        row = self._shared.fetchone(self._queries.first_chunk, (body_id,))
        first = complete_first_chunk(row, count, entry.size)
        if first is None:  # replaced or deleted since it was looked up, or incomplete
            # Still naming these chunks, the row's body is incomplete: drop it (a miss).
            dropped = self._shared.execute(
                self._queries.delete_broken, (self._namespace, entry.key, entry.variant, body_id)
            )
            if dropped:
                logger.warning("dropped an SQLite cache entry whose body is incomplete")
            return None
        return self._chunks(body_id, count, first)

    def _chunks(self, body_id: str, count: int, first: bytes) -> Iterator[bytes]:
        yield first
        for seq in range(1, count):
            row = self._shared.fetchone(self._queries.select_chunk, (body_id, seq))
            if row is None or not isinstance(row[0], bytes):
                raise StorageError("the stored body was replaced or removed while being read")
            yield row[0]

    def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head and metadata, keeping its body (one UPDATE).

        Nothing changes if the variant now holds another response than ``entry``'s
        (another ``created_at`` or ``size``). Hits and the last access stay as counted.
        """
        head = self._serializer.dumps(entry)
        self._shared.execute(
            self._queries.update_head, update_params(self._namespace, entry, head, self._lifetime)
        )

    def record_hit(self, entry: Entry) -> None:
        """Count one more use of ``entry``: in memory, written back in a batch when due.

        A batch is due once a second, or at once when the hit renews a sliding lifetime;
        it is one ``executemany`` of one ``UPDATE``.
        """
        now = self._clock()
        if self._shared.hits.add(self._namespace, entry, now):
            self._shared.flush_hits(now)

    def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them (one statement)."""
        shared = self._shared
        if variants is None:
            shared.hits.discard(self._namespace, key)
            shared.execute(self._queries.delete_key, (self._namespace, key))
            return
        shared.hits.discard(self._namespace, key, set(variants))
        shared.executemany(
            self._queries.delete_variant, [(self._namespace, key, v) for v in variants]
        )

    def acquire_lease(self, key: str, ttl: float) -> str | None:
        """Take the lease of ``key`` for ``ttl`` seconds (one UPSERT); return its token.

        ``None`` when another holder has it and it has not lapsed. A lease is a row of
        ``<table_name>_leases`` under this namespace, timed by the wall clock
        (:func:`time.time`, shared by every process); a lapsed row is taken over by the
        same statement. Waits at most the busy ``timeout`` for another writer.
        """
        token = secrets.token_hex(16)
        now = time.time()
        taken = self._shared.execute(
            self._queries.acquire_lease, (self._namespace, key, token, now + ttl, now)
        )
        return token if taken else None

    def release_lease(self, key: str, token: str) -> None:
        """Give the lease of ``key`` back if ``token`` still holds it (one DELETE)."""
        self._shared.execute(self._queries.release_lease, (self._namespace, key, token))

    def close(self) -> None:
        """Write back pending hits and close the connection if the storage opened it.

        Safe to call more than once. A caller's ``connection`` is never closed. Using the
        storage again reopens.
        """
        self._shared.close()

    # -- management -------------------------------------------------------------------

    def iter_entries(self, pattern: str | None = None) -> Iterator[Entry]:
        """Yield unexpired entries of this namespace tree whose URL matches the glob ``pattern``.

        Pending hits are written back first. Rows are fetched a page at a time (heads
        only); the connection is free between pages.
        """
        self._shared.flush_hits()  # so that the listing counts this process's hits too
        now = self._clock()
        after = 0
        while True:
            sql, params = self._queries.page(self._namespace, after, now, pattern)
            rows = self._shared.fetchall(sql, params)
            for row in rows:
                try:
                    entry = decode_row(self._serializer, row)
                except SerializationError as exc:
                    self._drop(row, exc)
                    continue
                yield entry
            if len(rows) < PAGE_SIZE:
                return
            last = rows[-1][0]
            assert isinstance(last, int)
            after = last

    def delete_expired(self) -> int:
        """Remove entries of this namespace tree past their deadline; return how many.

        Also removes body chunks that no entry names: retired over a minute ago (replaced
        or deleted), or staged more than a day ago (left by a writer that crashed).
        """
        sql, params = self._queries.delete_expired(self._namespace, self._clock())
        removed = self._shared.execute(sql, params)
        self._shared.execute(self._queries.sweep_staged, (time.time() - STAGING_GRACE,))
        return removed

    def clear(self) -> None:
        """Remove every entry and lease of this namespace and its children, bodies included."""
        self._shared.hits.clear(self._namespace)
        sql, params = self._queries.clear(self._namespace)
        self._shared.execute(sql, params)
        sql, params = self._queries.clear_leases(self._namespace)
        self._shared.execute(sql, params)

    def stats(self) -> StorageStats:
        """Return this namespace tree's stored entries, body bytes and expired entries."""
        sql, params = self._queries.stats(self._namespace, self._clock())
        return stats_from_row(self._shared.fetchone(sql, params))

    def health(self) -> bool:
        """Tell whether the database can be opened and holds the storage's tables."""
        try:
            self._shared.fetchone(self._queries.probe)
        except StorageError as exc:
            logger.debug("SQLite storage is unhealthy: %s", exc)
            return False
        return True

    def __enter__(self) -> SQLiteStorage:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"SQLiteStorage(database={self._shared.database!r},"
            f" table_name={self.table_name!r}, namespace={self._namespace!r})"
        )


class SQLiteWriter:
    """Buffers a small body for a one-statement commit; stages a large one as chunks.

    A body of up to 64 KiB is held in memory and written with its head by :meth:`commit`
    (one UPSERT). A larger one is written as 1 MiB chunks under a fresh id as they fill,
    invisible until :meth:`commit` swaps them in.
    """

    def __init__(self, storage: SQLiteStorage, entry: Entry) -> None:
        self._storage = storage
        self._entry = entry
        self._namespace = storage.namespace
        self._buffer = BodyBuffer()
        self._body_id: str | None = None
        self._seq = 0
        self._done = False

    def _put(self, chunk: bytes) -> None:
        storage = self._storage
        if self._body_id is None:
            self._body_id = new_body_id()
        storage._shared.execute(
            storage._queries.insert_chunk, (self._body_id, self._seq, chunk, time.time())
        )
        self._seq += 1

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; past 64 KiB, full 1 MiB chunks are written as they fill."""
        if self._done:
            raise RuntimeError("writer already finished")
        for full in self._buffer.feed(chunk):
            self._put(full)

    def commit(self) -> Entry:
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
                    self._put(rest)
                params = upsert_params(
                    self._namespace, entry, head, None, self._body_id, self._seq, storage._lifetime
                )
            else:
                params = upsert_params(
                    self._namespace, entry, head, rest, None, 0, storage._lifetime
                )
            storage._shared.execute(storage._queries.upsert, params)
        except BaseException:
            self._discard()
            raise
        if buffer.spilled:
            storage._shared.sweep_retired()
        return entry

    def abort(self) -> None:
        """Discard the buffered or staged body; nothing becomes visible. A no-op once finished."""
        if self._done:
            return
        self._done = True
        self._buffer.finish()
        self._discard()

    def _discard(self) -> None:
        if self._body_id is None:
            return
        try:
            self._storage._shared.execute(
                self._storage._queries.delete_chunks, (self._body_id, self._body_id)
            )
        except StorageError as exc:  # delete_expired() sweeps what is left
            logger.debug("could not discard a staged SQLite body: %s", exc)
