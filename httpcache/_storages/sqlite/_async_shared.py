"""The ``aiosqlite`` connection an :class:`AsyncSQLiteStorage` tree shares (hand-written).

Split out of ``sqlite._async``; its sync counterpart is ``Shared`` in ``sqlite._sync_shared``.

Event loops (see :mod:`.._loops`): an ``aiosqlite`` connection is not bound to a loop
(each call resolves a future of the caller's loop from the connection's thread), so the
connection is kept when the running loop changes; the lock that guards opening it is
made again for the new loop. Two hazards are handled here:

* A call whose result arrives after its loop closed kills ``aiosqlite``'s thread (it
  cannot hand over the result, nor the error about that). As each loop ends, the
  storage therefore waits (at most :data:`_DRAIN_SECONDS`) for the calls already queued,
  with one cheap ``SELECT 1``; should the thread have died anyway, a connection of the
  storage's own is dropped and reopened, and a caller's raises :class:`StorageError`.
* ``aiosqlite`` starts a non-daemon thread per connection, which kept the interpreter
  from exiting when a storage was never closed. The storage marks the thread of every
  connection it opens as a daemon before it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio

from ..._exceptions import ConfigurationError, StorageError
from ..._synchronization import arun_blocking
from .._expiry import Lifetime
from .._loops import LoopBinding
from ._errors import storage_errors
from ._files import create_private_file
from ._pending import HitLog
from ._rows import HeadMemo, Row, hit_params
from ._sql import (
    RETIRED_LINGER,
    STAGING_GRACE,
    is_memory,
    queries,
    schema_action,
    schema_state,
)

if TYPE_CHECKING:
    import aiosqlite

__all__ = ["Shared", "aiosqlite_module"]

logger = logging.getLogger("httpcache.storage")

_DRAIN_SECONDS = 1.0  # how long a loop's end waits for the calls it queued


def aiosqlite_module() -> ModuleType:
    """Return :mod:`aiosqlite`, or raise a :class:`ConfigurationError` naming the extra."""
    try:
        import aiosqlite
    except ImportError as exc:  # pragma: no cover - exercised with the extra missing
        raise ConfigurationError(
            "AsyncSQLiteStorage needs aiosqlite: pip install 'httpcache[sqlite]'"
        ) from exc
    return aiosqlite


def _in_transaction(conn: aiosqlite.Connection) -> bool:
    """Tell whether ``conn`` has a transaction open (no hop: a plain attribute read)."""
    try:
        return conn.in_transaction
    except ValueError:  # aiosqlite: "no active connection"
        return False


def _write(raw: sqlite3.Connection, sql: str, params: Sequence[object]) -> int:
    cursor = raw.execute(sql, params)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def _write_many(raw: sqlite3.Connection, sql: str, params: Iterable[Sequence[object]]) -> int:
    cursor = raw.executemany(sql, params)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


async def _on_thread(
    conn: aiosqlite.Connection,
    fn: Callable[[sqlite3.Connection, str, Any], int],
    sql: str,
    params: Any,
) -> int:
    """Run a write and close its cursor on ``conn``'s own thread, in one hop.

    ``conn.execute()`` and ``conn.executemany()`` hand the sqlite3 cursor back to the event
    loop's thread, where it is finalised later. Finalising resets the cursor's statement,
    which sqlite3's statement cache may meanwhile have lent to a statement running on
    aiosqlite's thread: that races (CPython issue 118172) and fails as ``bad parameter or
    other API misuse``. Nothing of sqlite3's is touched here off that thread but the
    connection object itself, handed over untouched.
    """
    run = getattr(conn, "_execute", None)  # aiosqlite's own queueing, stable since 0.11
    if run is None:  # pragma: no cover - another aiosqlite: two hops, cursor closed there
        cursor = await (
            conn.execute(sql, params) if fn is _write else conn.executemany(sql, params)
        )
        try:
            return int(cursor.rowcount)
        finally:
            await cursor.close()
    return int(await run(fn, conn._conn, sql, params))


def _worker(conn: aiosqlite.Connection) -> threading.Thread | None:
    """Return the thread that runs ``conn``'s calls (aiosqlite < 0.21: the connection itself)."""
    if isinstance(conn, threading.Thread):
        return conn
    thread = getattr(conn, "_thread", None)
    return thread if isinstance(thread, threading.Thread) else None


def _daemonize(conn: aiosqlite.Connection) -> None:
    """Mark ``conn``'s not yet started thread as a daemon: it never blocks the exit."""
    thread = _worker(conn)
    if thread is not None and thread.ident is None:
        thread.daemon = True


def _worker_alive(conn: aiosqlite.Connection) -> bool:
    thread = _worker(conn)
    return thread is None or thread.ident is None or thread.is_alive()


def _abandon(conn: aiosqlite.Connection) -> None:
    """Drop a connection whose thread died: close its sqlite3 handle from here."""
    raw = getattr(conn, "_connection", None)
    with contextlib.suppress(Exception):
        conn._connection = None  # nothing left to close it
        if isinstance(raw, sqlite3.Connection):
            raw.close()  # opened with check_same_thread=False


_WAL_RETRY = 0.01
"""Seconds between two tries to switch a database to WAL while another process does."""


async def enter_wal(conn: aiosqlite.Connection, timeout: float) -> None:
    """Switch ``conn``'s database to WAL, retrying for up to ``timeout`` seconds.

    The async twin of ``_sync_shared.enter_wal``: two processes that open a new database
    at once deadlock on the switch, and SQLite answers one "database is locked" at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            await conn.execute_fetchall("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        await anyio.sleep(_WAL_RETRY)


class Shared:
    """The connection, settings and bookkeeping shared by a storage tree."""

    def __init__(
        self,
        database: str,
        connection: aiosqlite.Connection | None,
        table_name: str,
        create_table: bool,
        timeout: float,
        wal: bool,
        lifetime: Lifetime,
    ) -> None:
        self.database = database
        self.owned = connection is None
        self.connection = connection
        self.queries = queries(table_name)
        self.create_table = create_table
        self.timeout = timeout
        self.wal = wal
        self.lifetime = lifetime
        self.opening = asyncio.Lock()  # aiosqlite is asyncio-only; one per event loop
        self.binding = LoopBinding()
        self.ready = False  # schema checked (and a caller's connection tuned) on this connection
        self.memo = HeadMemo()
        self.next_sweep = 0.0  # wall clock: when retired bodies are next swept
        self.hits = HitLog(lifetime)

    def _rebind(self) -> None:
        """Start using the storage under the running loop (see the module docstring)."""
        if self.binding.bound:
            self.opening = asyncio.Lock()  # the old one may be bound to, or held on, a dead loop
        conn = self.connection
        if conn is not None and not _worker_alive(conn):
            if not self.owned:
                raise StorageError(
                    "the aiosqlite connection's thread has stopped (a result arrived after"
                    " its event loop closed): pass a connection that is open, or let the"
                    " storage open its own"
                )
            logger.warning("reopening the SQLite cache: its aiosqlite thread had stopped")
            _abandon(conn)
            self.connection = None
            self.ready = False
        self.binding.bind()
        self.binding.at_end(self._drain)

    async def _drain(self) -> None:
        """Wait for the calls queued on this loop (run as the loop ends)."""
        conn = self.connection
        if conn is None or not _worker_alive(conn):
            return
        with anyio.move_on_after(_DRAIN_SECONDS), contextlib.suppress(Exception):
            await conn.execute_fetchall("SELECT 1")

    async def _connect(self) -> aiosqlite.Connection:
        """Return the connection, opening it (and the schema) first if needed."""
        if self.binding.changed():
            self._rebind()
        conn = self.connection
        if conn is not None and self.ready:
            return conn
        async with self.opening:
            conn = self.connection
            if conn is None:
                await arun_blocking(create_private_file, self.database)
                pending = aiosqlite_module().connect(
                    self.database,
                    timeout=self.timeout,
                    isolation_level=None,  # autocommit: every statement is its own transaction
                    check_same_thread=False,  # so a connection whose thread died can be closed
                )
                _daemonize(pending)  # an unclosed storage never keeps the interpreter alive
                conn = await pending
                try:
                    if self.wal and not is_memory(self.database):
                        await enter_wal(conn, self.timeout)
                        await conn.execute_fetchall("PRAGMA synchronous=NORMAL")
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await conn.close()
                    raise
                self.connection = conn
                self.ready = False
            if not self.ready:
                if not self.owned and self.wal:
                    await self._tune(conn)
                await self._prepare(conn)
                self.ready = True
            return conn

    @staticmethod
    async def _tune(conn: aiosqlite.Connection) -> None:
        """Put a caller's connection in WAL mode with ``synchronous=NORMAL`` (``wal=True``)."""
        try:
            await conn.execute_fetchall("PRAGMA journal_mode=WAL")
            await conn.execute_fetchall("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError as exc:  # e.g. inside the caller's transaction
            logger.warning("could not put the SQLite connection in WAL mode: %s", exc)

    async def _prepare(self, conn: aiosqlite.Connection) -> None:
        """Check the entry table's schema; create it, or rebuild an old one (``create_table``)."""
        q = self.queries
        columns = {row[1] for row in await conn.execute_fetchall(q.table_info)}
        triggers = {row[0] for row in await conn.execute_fetchall(q.triggers, (q.table,))}
        state = schema_state(columns, triggers, q.table)
        if not schema_action(state, create_table=self.create_table, table=q.table):
            return
        await self._commit(conn)
        await conn.execute_fetchall("BEGIN IMMEDIATE")  # one process rebuilds; others see it
        try:
            rows = await conn.execute_fetchall(q.table_info)
            if schema_state({row[1] for row in rows}) == "old":
                for statement in q.drop:
                    await conn.execute_fetchall(statement)
                logger.warning(
                    "rebuilt the SQLite cache table %r in the current layout;"
                    " its old entries were dropped",
                    q.table,
                )
            for statement in q.schema:
                await conn.execute_fetchall(statement)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await conn.rollback()
            raise
        await conn.commit()

    @staticmethod
    async def _commit(conn: aiosqlite.Connection) -> None:
        # A connection we opened is in autocommit mode; a caller's may open transactions
        # implicitly (sqlite3's default isolation level), so commit what we just wrote.
        if _in_transaction(conn):
            with contextlib.suppress(ValueError):  # aiosqlite: "no active connection"
                await conn.commit()

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run a query and return its rows (one hop)."""
        with storage_errors:
            conn = self.connection if self.ready and not self.binding.changed() else None
            if conn is None:
                conn = await self._connect()
            rows: list[Row] = list(await conn.execute_fetchall(sql, params))  # type: ignore[arg-type]
        if rows and type(rows[0]) is not tuple:  # a caller's row_factory
            rows = [tuple(row) for row in rows]
        return rows

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        """Run a query and return its first row, or ``None``."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one write statement, commit it, and return how many rows it changed."""
        with storage_errors:
            conn = self.connection if self.ready and not self.binding.changed() else None
            if conn is None:
                conn = await self._connect()
            try:
                return await _on_thread(conn, _write, sql, params)  # one hop
            finally:
                # SQLite has undone a failed statement itself; never leave a transaction open.
                # Not rollback(): on a caller's connection in sqlite3's default mode, other
                # tasks' statements may share the implicit transaction.
                if _in_transaction(conn):
                    with anyio.CancelScope(shield=True):
                        await self._commit(conn)

    async def executemany(self, sql: str, params: Iterable[Sequence[object]]) -> None:
        """Run one write statement over every parameter row, and commit (one hop)."""
        with storage_errors:
            conn = self.connection if self.ready and not self.binding.changed() else None
            if conn is None:
                conn = await self._connect()
            try:
                await _on_thread(conn, _write_many, sql, params)
            finally:
                if _in_transaction(conn):
                    with anyio.CancelScope(shield=True):
                        await self._commit(conn)

    async def sweep_retired(self) -> None:
        """Remove bodies retired over ``RETIRED_LINGER`` seconds ago; at most once per linger.

        Best effort: run after a large body is stored (the only writes that retire bodies
        besides deletions), so retired bodies never pile up; ``delete_expired`` always sweeps.
        """
        now = time.time()
        if now < self.next_sweep:
            return
        self.next_sweep = now + RETIRED_LINGER
        try:
            await self.execute(self.queries.sweep_staged, (now - STAGING_GRACE,))
        except StorageError as exc:
            logger.debug("could not sweep retired SQLite bodies: %s", exc)

    async def flush_hits(self, now: float | None = None) -> None:
        """Write back every pending hit of the tree as one ``executemany``."""
        batches = self.hits.drain(now)
        if not batches:
            return
        lifetime = self.lifetime
        params = [row for ns, batch in batches for row in hit_params(ns, batch, lifetime)]
        if params:
            await self.executemany(self.queries.add_hits(lifetime), params)

    async def aclose(self) -> None:
        if self.binding.changed():
            with contextlib.suppress(StorageError):  # a caller's dead connection: nothing to do
                self._rebind()
        try:
            with anyio.CancelScope(shield=True):
                await self.flush_hits()
        except StorageError as exc:  # bookkeeping only: never keep the connection open for it
            logger.warning("could not write back SQLite cache hits on close: %s", exc)
        async with self.opening:
            self.ready = False
            conn = self.connection
            if conn is None or not self.owned:
                return  # a caller's connection is theirs to close
            self.connection = None
            with storage_errors, anyio.CancelScope(shield=True):
                await conn.close()
