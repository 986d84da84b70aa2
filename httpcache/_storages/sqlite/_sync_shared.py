"""The ``sqlite3`` connection a :class:`SQLiteStorage` tree shares (hand-written).

Split out of ``sqlite._sync``; its async counterpart is ``Shared`` in
``sqlite._async_shared``. One connection, opened lazily with ``check_same_thread=False``,
is used only under one :class:`threading.Lock`, which a call waits for no longer than the
busy timeout (so a call waits at most twice that: ``SQLiteStorage.max_wait``).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence

from ..._exceptions import StorageError
from .._expiry import Lifetime
from ._errors import storage_errors
from ._files import create_private_file
from ._pending import HitLog
from ._rows import (
    HeadMemo,
    Row,
    hit_params,
)
from ._sql import (
    RETIRED_LINGER,
    STAGING_GRACE,
    is_memory,
    queries,
    schema_action,
    schema_state,
)

__all__ = ["Shared"]

logger = logging.getLogger("httpcache.storage")


_WAL_RETRY = 0.01
"""Seconds between two tries to switch a database to WAL while another process does."""


def enter_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch ``conn``'s database to WAL, retrying for up to ``timeout`` seconds.

    Two processes that open a new database at once both read its header and then both
    ask for the exclusive lock the switch needs; SQLite answers one of them "database is
    locked" at once, without waiting (its busy timeout does not apply to a deadlock).
    Trying again is harmless: a database already in WAL stays so without a lock.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(_WAL_RETRY)


class Shared:
    """The connection, its lock, settings and bookkeeping shared by a storage tree."""

    def __init__(
        self,
        database: str,
        connection: sqlite3.Connection | None,
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
        self.lock = threading.Lock()
        self.ready = False  # schema checked (and a caller's connection tuned) on this connection
        self.memo = HeadMemo()
        self.hits = HitLog(lifetime)
        self.next_sweep = 0.0  # wall clock: when retired bodies are next swept

    def _connect(self) -> sqlite3.Connection:
        """Return the connection, opening it (and the schema) first if needed. Lock held."""
        conn = self.connection
        if conn is not None and self.ready:
            return conn
        if conn is None:
            create_private_file(self.database)
            conn = sqlite3.connect(
                self.database,
                timeout=self.timeout,
                isolation_level=None,  # autocommit: every statement is its own transaction
                check_same_thread=False,  # guarded by self.lock instead
            )
            try:
                if self.wal and not is_memory(self.database):
                    enter_wal(conn, self.timeout)
                    conn.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                conn.close()
                raise
            self.connection = conn
            self.ready = False
        if not self.owned and self.wal:
            self._tune(conn)
        self._prepare(conn)
        self.ready = True
        return conn

    @staticmethod
    def _tune(conn: sqlite3.Connection) -> None:
        """Put a caller's connection in WAL mode with ``synchronous=NORMAL`` (``wal=True``)."""
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError as exc:  # e.g. inside the caller's transaction
            logger.warning("could not put the SQLite connection in WAL mode: %s", exc)

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check the entry table's schema; create it, or rebuild an old one (``create_table``)."""
        q = self.queries
        columns = {row[1] for row in conn.execute(q.table_info).fetchall()}
        triggers = {row[0] for row in conn.execute(q.triggers, (q.table,)).fetchall()}
        state = schema_state(columns, triggers, q.table)
        if not schema_action(state, create_table=self.create_table, table=q.table):
            return
        self._commit(conn)
        conn.execute("BEGIN IMMEDIATE")  # one process rebuilds; the others then see it done
        try:
            rows = conn.execute(q.table_info).fetchall()
            if schema_state({row[1] for row in rows}) == "old":
                for statement in q.drop:
                    conn.execute(statement)
                logger.warning(
                    "rebuilt the SQLite cache table %r in the current layout;"
                    " its old entries were dropped",
                    q.table,
                )
            for statement in q.schema:
                conn.execute(statement)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the connection's lock, waiting no longer than the busy timeout for it.

        With the busy timeout inside, a call then waits at most twice the timeout
        (``SQLiteStorage.max_wait``): another thread's statement, then its own lock wait.
        """
        if not self.lock.acquire(timeout=self.timeout):
            raise StorageError(
                f"SQLite storage busy: its connection was in use for over {self.timeout:g} s"
            )
        try:
            yield
        finally:
            self.lock.release()

    @staticmethod
    def _commit(conn: sqlite3.Connection) -> None:
        # A connection we opened is in autocommit mode; a caller's may open transactions
        # implicitly (sqlite3's default isolation level), so commit what we just wrote.
        if conn.in_transaction:
            conn.commit()

    def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run a query and return its rows."""
        with self.locked(), storage_errors:
            rows: list[Row] = self._connect().execute(sql, params).fetchall()
        if rows and type(rows[0]) is not tuple:  # a caller's row_factory
            rows = [tuple(row) for row in rows]
        return rows

    def fetchone(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        """Run a query and return its first row, or ``None``."""
        with self.locked(), storage_errors:
            row: Row | None = self._connect().execute(sql, params).fetchone()
        return None if row is None else tuple(row)

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one write statement, commit it, and return how many rows it changed."""
        with self.locked(), storage_errors:
            conn = self._connect()
            try:
                return conn.execute(sql, params).rowcount
            finally:
                # SQLite has undone a failed statement itself; never leave a transaction open.
                # Not rollback(): on a caller's connection in sqlite3's default mode, the
                # caller's own statements may share the implicit transaction.
                self._commit(conn)

    def executemany(self, sql: str, params: Iterable[Sequence[object]]) -> None:
        """Run one write statement over every parameter row, and commit."""
        with self.locked(), storage_errors:
            conn = self._connect()
            try:
                conn.executemany(sql, params)
            finally:
                self._commit(conn)

    def sweep_retired(self) -> None:
        """Remove bodies retired over ``RETIRED_LINGER`` seconds ago; at most once per linger.

        Best effort: run after a large body is stored (the only writes that retire bodies
        besides deletions), so retired bodies never pile up; ``delete_expired`` always sweeps.
        """
        now = time.time()
        if now < self.next_sweep:
            return
        self.next_sweep = now + RETIRED_LINGER
        try:
            self.execute(self.queries.sweep_staged, (now - STAGING_GRACE,))
        except StorageError as exc:
            logger.debug("could not sweep retired SQLite bodies: %s", exc)

    def flush_hits(self, now: float | None = None) -> None:
        """Write back every pending hit of the tree as one ``executemany``."""
        batches = self.hits.drain(now)
        if not batches:
            return
        lifetime = self.lifetime
        params = [row for ns, batch in batches for row in hit_params(ns, batch, lifetime)]
        if params:
            self.executemany(self.queries.add_hits(lifetime), params)

    def close(self) -> None:
        try:
            self.flush_hits()
        except StorageError as exc:  # bookkeeping only: never keep the connection open for it
            logger.warning("could not write back SQLite cache hits on close: %s", exc)
        with self.lock:
            self.ready = False
            conn = self.connection
            if conn is None or not self.owned:
                return  # a caller's connection is theirs to close
            self.connection = None
            with storage_errors:
                conn.close()
