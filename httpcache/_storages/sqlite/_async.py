"""SQLite storage over ``aiosqlite`` (hand-written; DESIGN §2).

Its sync twin is ``sqlite._sync.SQLiteStorage`` over :mod:`sqlite3`. The two are written by
hand because the libraries differ too much for ``scripts/unasync.py``; every statement, the
schema and the row mapping live in ``_sqlite_common`` so they cannot drift, and one contract
suite runs against both. This module lives outside ``_async/`` so that the script neither
generates nor checks a sync copy of it.

Invariants:

* One ``aiosqlite`` connection per storage tree (the storage and every
  :meth:`AsyncSQLiteStorage.with_namespace` child), opened lazily. ``aiosqlite`` runs its
  calls one at a time on its own thread, and every statement is a single statement (see
  ``_sqlite_common``), so no lock is held across an ``await`` except while opening.
* Nothing holds the connection while the caller's code runs (bodies and listings are
  fetched a chunk or a page at a time).
* ``aclose()`` closes only a connection the storage opened itself; the next call reopens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING

import anyio

from ..._exceptions import ConfigurationError, SerializationError, StorageError
from ..._models import Entry, StorageStats
from ..._serializers import JSONSerializer, Serializer
from ..._synchronization import arun_blocking
from .._expiry import Lifetime, StorageLifetime
from ._sql import (
    DEFAULT_TABLE_NAME,
    MEMORY,
    PAGE_SIZE,
    STAGING_GRACE,
    Chunker,
    Row,
    check_settings,
    child_namespace,
    decode_row,
    hit_statement,
    is_memory,
    new_body_id,
    queries,
    stats_from_row,
    update_params,
    upsert_params,
)

if TYPE_CHECKING:
    import aiosqlite

__all__ = ["AsyncSQLiteStorage", "AsyncSQLiteWriter"]

logger = logging.getLogger("httpcache.storage")


def _aiosqlite() -> ModuleType:
    try:
        import aiosqlite
    except ImportError as exc:  # pragma: no cover - exercised with the extra missing
        raise ConfigurationError(
            "AsyncSQLiteStorage needs aiosqlite: pip install 'httpcache[sqlite]'"
        ) from exc
    return aiosqlite


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageError(f"SQLite storage failed: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"SQLite storage could not open its database: {exc}") from exc


def _create_private_file(database: str) -> None:
    """Create ``database`` readable by its owner only (0600) unless it exists (DESIGN §5)."""
    if is_memory(database):
        return
    try:
        fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class _Shared:
    """The connection and settings shared by a storage and its namespaces."""

    def __init__(
        self,
        database: str,
        connection: aiosqlite.Connection | None,
        table_name: str,
        create_table: bool,
        timeout: float,
    ) -> None:
        self.database = database
        self.owned = connection is None
        self.connection = connection
        self.queries = queries(table_name)
        self.create_table = create_table
        self.timeout = timeout
        self.opening = asyncio.Lock()  # aiosqlite is asyncio-only
        self.ready = False  # schema checked on the current connection

    async def _connect(self) -> aiosqlite.Connection:
        """Return the connection, opening it (and the schema) first if needed."""
        conn = self.connection
        if conn is not None and self.ready:
            return conn
        async with self.opening:
            conn = self.connection
            if conn is None:
                await arun_blocking(_create_private_file, self.database)
                conn = await _aiosqlite().connect(
                    self.database,
                    timeout=self.timeout,
                    isolation_level=None,  # autocommit: every statement is its own transaction
                )
                try:
                    if not is_memory(self.database):
                        await conn.execute_fetchall("PRAGMA journal_mode=WAL")
                        await conn.execute_fetchall("PRAGMA synchronous=NORMAL")
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await conn.close()
                    raise
                self.connection = conn
                self.ready = False
            if not self.ready:
                if self.create_table:
                    for statement in self.queries.schema:
                        await conn.execute_fetchall(statement)
                    await self._commit(conn)
                self.ready = True
            return conn

    @staticmethod
    async def _commit(conn: aiosqlite.Connection) -> None:
        # A connection we opened is in autocommit mode; a caller's may open transactions
        # implicitly (sqlite3's default isolation level), so commit what we just wrote.
        with contextlib.suppress(ValueError):  # aiosqlite: "no active connection"
            if conn.in_transaction:
                await conn.commit()

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run a query and return its rows."""
        with _storage_errors():
            conn = await self._connect()
            rows = await conn.execute_fetchall(sql, params)
            return [tuple(row) for row in rows]

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        """Run a query and return its first row, or ``None``."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one write statement, commit it, and return how many rows it changed."""
        with _storage_errors():
            conn = await self._connect()
            try:
                async with conn.execute(sql, params) as cursor:
                    return cursor.rowcount
            finally:
                # SQLite has undone a failed statement itself; never leave a transaction open.
                # Not rollback(): on a caller's connection in sqlite3's default mode, other
                # tasks' statements may share the implicit transaction.
                with anyio.CancelScope(shield=True):
                    await self._commit(conn)

    async def aclose(self) -> None:
        async with self.opening:
            self.ready = False
            conn = self.connection
            if conn is None or not self.owned:
                return  # a caller's connection is theirs to close
            self.connection = None
            with _storage_errors(), anyio.CancelScope(shield=True):
                await conn.close()


class AsyncSQLiteStorage(StorageLifetime):
    """Keep entries in an SQLite database through ``aiosqlite``; the async ``SQLiteStorage``.

    Needs the ``sqlite`` extra (``pip install 'httpcache[sqlite]'``). Heads are serialized
    into one row per variant; bodies are stored beside them as chunks of at most 1 MiB,
    written and read one chunk at a time, so a large body never sits in memory. An entry
    becomes visible only when its writer commits. A database the storage opens itself is
    put in WAL mode with ``synchronous=NORMAL`` and the busy timeout ``timeout``, so several
    processes (sync or async) can share one file.

    Args:
        path: Database file to open (created 0600 if missing). Without ``path`` or
            ``connection`` the storage opens a private in-memory database, which
            ``aclose()`` discards.
        connection: An open ``aiosqlite.Connection`` to use instead. It is used as
            configured (no PRAGMAs are changed) and never closed by the storage.
        serializer: How heads are encoded; ``None`` means :class:`JSONSerializer`.
        ttl: Seconds an entry is kept after it was stored or last freshened. The
            deadline is computed on write and kept in the indexed ``expires_at`` column.
        table_name: The entry table; bodies go to ``<table_name>_bodies``. Letters,
            digits and ``_`` only.
        create_table: Create the tables, index and triggers if they are missing. With
            ``False`` they must already exist, or every call raises
            :class:`StorageError` (and :meth:`health` is false).
        timeout: Seconds to wait for another connection's lock before failing.
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
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if path is not None and connection is not None:
            raise ConfigurationError("give AsyncSQLiteStorage a path or a connection, not both")
        check_settings(table_name=table_name, timeout=timeout)
        lifetime = Lifetime(ttl, sliding, max_lifetime)
        _aiosqlite()  # fail early, naming the extra
        database = MEMORY if path is None else os.fspath(path)
        self._lifetime = lifetime
        self.table_name = table_name
        self._serializer: Serializer = serializer if serializer is not None else JSONSerializer()
        self._clock = clock
        self._shared = _Shared(database, connection, table_name, create_table, timeout)
        self._queries = self._shared.queries
        self._namespace = ""

    @property
    def namespace(self) -> str:
        """This storage's namespace (``""`` for the root)."""
        return self._namespace

    def with_namespace(self, name: str) -> AsyncSQLiteStorage:
        """Return a child storage whose entries live under namespace ``name``.

        The child shares this storage's connection; its :meth:`clear` touches only its own
        namespace and its children's.
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

    async def _decode(self, row: Row) -> Entry | None:
        """Return the entry of ``row``; drop an unreadable row (a logged miss)."""
        try:
            return decode_row(self._serializer, row)
        except SerializationError as exc:
            logger.warning("dropping an unreadable SQLite cache record: %s", exc)
            await self._shared.execute(self._queries.delete_unreadable, (row[0], row[3]))
            return None

    # -- the storage contract ------------------------------------------------------------

    async def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key``."""
        rows = await self._shared.fetchall(
            self._queries.select_variants, (self._namespace, key, self._clock())
        )
        found: list[Entry] = []
        for row in rows:
            entry = await self._decode(row)
            if entry is not None:
                found.append(entry)
        return found

    async def open_writer(self, entry: Entry) -> AsyncSQLiteWriter:
        """Start storing ``entry``; it becomes visible when the writer commits."""
        return AsyncSQLiteWriter(self, entry)

    async def open_body(self, entry: Entry) -> AsyncIterator[bytes] | None:
        """Return the body of ``entry`` as chunks of at most 1 MiB, or ``None`` if it is gone.

        Chunks are fetched one at a time as the iterator is consumed. Should the entry be
        replaced or deleted meanwhile, the iterator raises :class:`StorageError` rather than
        end a body short.
        """
        row = await self._shared.fetchone(
            self._queries.select_body, (self._namespace, entry.key, entry.variant)
        )
        if row is None or not isinstance(row[0], str) or not isinstance(row[1], int):
            return None
        return self._chunks(row[0], row[1])

    async def _chunks(self, body_id: str, count: int) -> AsyncIterator[bytes]:
        for seq in range(count):
            row = await self._shared.fetchone(self._queries.select_chunk, (body_id, seq))
            if row is None or not isinstance(row[0], bytes):
                raise StorageError("the stored body was replaced or removed while being read")
            yield row[0]

    async def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head and metadata, keeping its body."""
        head = self._serializer.dumps(entry)
        await self._shared.execute(
            self._queries.update_head, update_params(self._namespace, entry, head, self._lifetime)
        )

    async def record_hit(self, entry: Entry) -> None:
        """Count one more use of ``entry`` (one atomic ``UPDATE``; sliding: renew its expiry)."""
        sql, params = hit_statement(
            self._queries, self._namespace, entry, self._lifetime, self._clock()
        )
        await self._shared.execute(sql, params)

    async def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them."""
        if variants is None:
            await self._shared.execute(self._queries.delete_key, (self._namespace, key))
            return
        for variant in variants:
            await self._shared.execute(
                self._queries.delete_variant, (self._namespace, key, variant)
            )

    async def aclose(self) -> None:
        """Close the connection if the storage opened it; safe to call more than once.

        A caller's ``connection`` is never closed. Using the storage again reopens.
        """
        await self._shared.aclose()

    # -- management -------------------------------------------------------------------

    async def iter_entries(self, pattern: str | None = None) -> AsyncIterator[Entry]:
        """Yield unexpired entries of this namespace tree whose URL matches the glob ``pattern``.

        Rows are fetched a page at a time; the connection is free between pages.
        """
        now = self._clock()
        after = 0
        while True:
            sql, params = self._queries.page(self._namespace, after, now, pattern)
            rows = await self._shared.fetchall(sql, params)
            for row in rows:
                entry = await self._decode(row)
                if entry is not None:
                    yield entry
            if len(rows) < PAGE_SIZE:
                return
            last = rows[-1][0]
            assert isinstance(last, int)
            after = last

    async def delete_expired(self) -> int:
        """Remove entries of this namespace tree past their deadline; return how many.

        Also removes body chunks that no entry names and that were staged more than a day
        ago (left by a writer that crashed).
        """
        sql, params = self._queries.delete_expired(self._namespace, self._clock())
        removed = await self._shared.execute(sql, params)
        await self._shared.execute(self._queries.sweep_staged, (time.time() - STAGING_GRACE,))
        return removed

    async def clear(self) -> None:
        """Remove every entry of this namespace and its children, bodies included."""
        sql, params = self._queries.clear(self._namespace)
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
    """Stages a body as chunks under a fresh id; :meth:`commit` swaps it in atomically."""

    def __init__(self, storage: AsyncSQLiteStorage, entry: Entry) -> None:
        self._storage = storage
        self._entry = entry
        self._namespace = storage.namespace
        self._body_id = new_body_id()
        self._chunker = Chunker()
        self._seq = 0
        self._done = False

    async def _put(self, chunk: bytes) -> None:
        storage = self._storage
        await storage._shared.execute(
            storage._queries.insert_chunk, (self._body_id, self._seq, chunk, time.time())
        )
        self._seq += 1

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``; full 1 MiB chunks are written to the database as they fill."""
        if self._done:
            raise RuntimeError("writer already finished")
        for full in self._chunker.feed(chunk):
            await self._put(full)

    async def commit(self) -> Entry:
        """Make the entry visible, replacing the same key and variant, in one statement."""
        if self._done:
            raise RuntimeError("writer already finished")
        self._done = True
        storage = self._storage
        try:
            rest = self._chunker.flush()
            if rest:
                await self._put(rest)
            entry = replace(self._entry, size=self._chunker.total)
            head = storage._serializer.dumps(entry)
            await storage._shared.execute(
                storage._queries.upsert,
                upsert_params(
                    self._namespace, entry, head, self._body_id, self._seq, storage._lifetime
                ),
            )
        except BaseException:
            await self._discard()
            raise
        return entry

    async def abort(self) -> None:
        """Discard the staged chunks; nothing becomes visible. A no-op once finished."""
        if self._done:
            return
        self._done = True
        self._chunker.flush()
        await self._discard()

    async def _discard(self) -> None:
        if not self._seq:
            return
        try:
            with anyio.CancelScope(shield=True):
                await self._storage._shared.execute(
                    self._storage._queries.delete_chunks, (self._body_id, self._body_id)
                )
        except StorageError as exc:  # delete_expired() sweeps what is left
            logger.debug("could not discard a staged SQLite body: %s", exc)
