"""The schema and every SQL statement of the two SQLite storages (pure).

``SQLiteStorage`` (stdlib :mod:`sqlite3`) and ``AsyncSQLiteStorage`` (``aiosqlite``) are
written by hand (DESIGN §2): the two libraries do not line up closely enough for code
generation. Everything that decides lives in this module and in ``_rows``, so the two shells
cannot drift: the schema and how an old one is recognised, every statement, the namespace
and URL filters. Nothing here touches a connection or a file, or reads the clock.

The schema (version :data:`SCHEMA_VERSION`), for ``table_name`` ``t``::

    t          one row per stored variant
               id INTEGER PRIMARY KEY, namespace TEXT, cache_key TEXT, variant TEXT,
               url TEXT, head BLOB (the serialized entry), body BLOB (a body of at most
               INLINE_LIMIT bytes; NULL: chunked), hits INTEGER, size INTEGER,
               body_id TEXT (names the chunks; NULL: inline), chunks INTEGER,
               created_at REAL, ttl REAL (the entry's own; NULL: the storage's),
               expires_at REAL (NULL: never), accessed_at REAL (last hit; NULL: none yet)
               UNIQUE (namespace, cache_key, variant); partial indexes (non-NULL values
               only) t_expires_at (expires_at) and UNIQUE t_body_id (body_id)
    t_bodies   the chunks of large bodies: body_id TEXT, seq INTEGER, chunk BLOB,
               staged_at REAL; PRIMARY KEY (body_id, seq)
    t_leases   the leases of cross-process collapsing, one row per held key:
               namespace TEXT, cache_key TEXT, token TEXT, expires REAL (wall clock);
               PRIMARY KEY (namespace, cache_key), WITHOUT ROWID. A row whose ``expires``
               has passed is a lapsed lease: the next :attr:`Queries.acquire_lease` takes
               it over in the same statement. (Added after schema 2 was first released: a
               table without it is ``stale``, and the missing table is created on open.)
    triggers   t_retire_body: deleting a row retires its chunks;
               t_retire_swapped: pointing a row at another body (or inline) retires the
               old chunks. A retired chunk's ``staged_at`` is set so that the sweep of
               staged chunks (:attr:`Queries.sweep_staged`) removes it
               :data:`RETIRED_LINGER` seconds later; until then a reader that opened the
               body reads it to the end. (Schema 2 as first released deleted the chunks at
               once, in triggers t_drop_body and t_swap_body; they are replaced on open.)

Invariants:

* Every statement is a single statement, prepared from a constant string (sqlite3 caches
  prepared statements per connection by their text), so no transaction spans two calls
  (nor an ``await``). A commit is one UPSERT: the row swaps to the new body and the trigger
  retires the old chunks inside that statement's own transaction.
* A hit is one SELECT (:attr:`Queries.select_variants`) returning every live variant's
  head with its inline body; only a large body needs :attr:`Queries.first_chunk` (which
  also checks that every chunk is there and the lengths add up) and
  :attr:`Queries.select_chunk`.
* A large body is written under a fresh ``body_id`` before any row names it: chunks ``0 ..
  chunks-1`` exist before the commit and are invisible until then.
* ``hits``, ``size`` and ``accessed_at`` live in columns; the serialized head's copies are
  overridden on read. Buffered hits are written back as one ``executemany`` of
  :meth:`Queries.add_hits`, each row applied only while the stored response is still the
  one that was hit (same ``created_at`` and ``size``).
* ``body_id`` is NULL for inline bodies, so every test on it is NULL-safe (``IS NOT``,
  ``NOT EXISTS``; never ``NOT IN`` over the column).
* The namespace tree of ``ns`` is ``ns`` itself plus every ``ns/...``; the root ``""`` is
  everything. It is selected with an index range (``'/'`` + 1 is ``'0'``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from ..._exceptions import ConfigurationError, StorageError
from .._expiry import Lifetime

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_TABLE_NAME",
    "DEFAULT_TIMEOUT",
    "INLINE_LIMIT",
    "MEMORY",
    "PAGE_SIZE",
    "RETIRED_LINGER",
    "SCHEMA_VERSION",
    "STAGING_GRACE",
    "Queries",
    "SchemaState",
    "check_settings",
    "child_namespace",
    "is_memory",
    "queries",
    "schema_action",
    "schema_state",
    "sqlite_glob",
]

DEFAULT_TABLE_NAME = "httpcache"
"""Table used when the caller names none (the body table is ``<name>_bodies``)."""

DEFAULT_TIMEOUT = 0.25
"""Seconds a connection the storage opens waits for another's write lock (busy timeout).

Small on purpose: a cache call that would wait longer is better failed (the request goes
to the network) than queued behind, and aiosqlite runs a connection's calls one at a
time, so one long wait would delay every call after it."""

CHUNK_SIZE = 1024 * 1024
"""Largest body chunk stored in one row, in bytes."""

INLINE_LIMIT = 64 * 1024
"""Largest body kept inline, in the entry's own row; a larger one is stored as chunks."""

PAGE_SIZE = 100
"""Rows fetched per query when listing entries (the connection is free between pages)."""

STAGING_GRACE = 24 * 3600.0
"""Seconds after which unreferenced staged chunks count as left by a crashed writer."""

RETIRED_LINGER = 60.0
"""Seconds a replaced or deleted large body stays readable, for readers that opened it."""

_WALL_NOW = "((julianday('now') - 2440587.5) * 86400.0)"  # time.time(), in SQL

MEMORY = ":memory:"
"""The database used when neither ``path`` nor ``connection`` is given."""

SCHEMA_VERSION = 2
"""Layout of the entry table. 1: bodies only as chunks, no ``created_at``/``ttl`` columns.
2: small bodies inline (``body``), ``created_at`` and ``ttl`` columns, nullable ``body_id``."""

_COLUMNS = frozenset(
    {"id", "namespace", "cache_key", "variant", "url", "head", "body", "hits", "size"}
    | {"body_id", "chunks", "created_at", "ttl", "expires_at", "accessed_at"}
)
_OLD_COLUMNS = frozenset(
    {"id", "namespace", "cache_key", "variant", "url", "head", "hits", "size", "body_id"}
    | {"chunks", "expires_at"}
)  # version 1 (``accessed_at`` came late in it); nothing else shares this core

SchemaState = Literal["missing", "current", "stale", "old", "foreign"]

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

ENTRY_COLUMNS = "id, cache_key, variant, head, hits, size, accessed_at"
"""The head columns every listing selects; a lookup adds ``body, body_id, chunks``."""
_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def check_settings(*, table_name: str, timeout: float) -> None:
    """Raise :class:`ConfigurationError` for a table name or number SQLite cannot take."""
    if not isinstance(table_name, str) or not _TABLE_NAME.match(table_name):
        raise ConfigurationError(
            "table_name must be a letter or '_' followed by letters, digits or '_'"
        )
    if timeout < 0:
        raise ConfigurationError("timeout must not be negative")


def child_namespace(parent: str, name: str) -> str:
    """Return the namespace of child ``name`` under ``parent``; refuse empty or nested names."""
    if not name or "/" in name:
        raise ConfigurationError("a namespace name must be non-empty and contain no '/'")
    return f"{parent}/{name}" if parent else name


def is_memory(database: str) -> bool:
    """Tell whether ``database`` names SQLite's private in-memory database."""
    return database == MEMORY


def sqlite_glob(pattern: str) -> str:
    """Translate an :mod:`fnmatch` glob to SQLite ``GLOB`` (``[!...]`` becomes ``[^...]``).

    Both are case-sensitive and share ``*``, ``?`` and ``[...]``; ``*`` also matches ``/``.
    """
    return pattern.replace("[!", "[^")


def trigger_names(table: str) -> frozenset[str]:
    """Return the names of the triggers (and side tables) the current schema gives ``table``.

    The lease table is listed with the triggers: :attr:`Queries.triggers` finds both, so an
    entry table of the current layout without it is ``stale`` and gets it on open.
    """
    return frozenset({f"{table}_retire_body", f"{table}_retire_swapped", f"{table}_leases"})


def schema_state(
    columns: set[str], triggers: set[str] | None = None, table: str = ""
) -> SchemaState:
    """Classify the entry table from its column names (``PRAGMA table_info``).

    ``old`` is an httpcache table of an earlier :data:`SCHEMA_VERSION`, which the storage
    may drop and recreate; ``foreign`` is a table it must never touch. Given the names of
    the table's ``triggers`` (:attr:`Queries.triggers`: its triggers and lease table), a
    current table without the current triggers or without its lease table is ``stale``:
    its triggers are replaced and the lease table created, its rows kept.
    """
    if not columns:
        return "missing"
    if columns >= _COLUMNS:
        if triggers is not None and not trigger_names(table) <= triggers:
            return "stale"
        return "current"
    if columns >= _OLD_COLUMNS and "created_at" not in columns:
        return "old"
    return "foreign"


def schema_action(state: SchemaState, *, create_table: bool, table: str) -> bool:
    """Tell whether the storage must (re)create its tables; raise if it may not use them.

    Raises:
        StorageError: The table is not an httpcache table (never touched), or it has an old
            layout and ``create_table`` is false, so it may not be rebuilt.
    """
    if state == "foreign":
        raise StorageError(
            f"the SQLite table {table!r} is not an httpcache cache table; pass another table_name"
        )
    if state == "old" and not create_table:
        raise StorageError(
            f"the SQLite table {table!r} has the layout of an older httpcache; drop it (and its"
            " _bodies table), or open it once with create_table=True, which rebuilds it empty"
        )
    # missing and create_table=False: every statement fails with a StorageError
    return create_table and state != "current"


def _tree(namespace: str) -> tuple[str, tuple[object, ...]]:
    """Return a WHERE fragment selecting ``namespace`` and its descendants."""
    if not namespace:
        return "1", ()
    return (
        "(namespace = ? OR (namespace >= ? AND namespace < ?))",
        (namespace, namespace + "/", namespace + "0"),
    )


class Queries:
    """Every statement for one table, built once (see :func:`queries`).

    Fixed statements are attributes; the ones scoped to a namespace tree are methods
    returning ``(sql, params)``. Treat an instance as immutable.
    """

    __slots__ = (
        "_add_hits",
        "acquire_lease",
        "bodies",
        "delete_broken",
        "delete_chunks",
        "delete_key",
        "delete_unreadable",
        "delete_variant",
        "drop",
        "entries",
        "first_chunk",
        "insert_chunk",
        "leases",
        "probe",
        "release_lease",
        "schema",
        "select_body",
        "select_chunk",
        "select_variants",
        "sweep_staged",
        "table",
        "table_info",
        "triggers",
        "update_head",
        "upsert",
    )

    def __init__(self, table: str) -> None:
        t, b, lease = f'"{table}"', f'"{table}_bodies"', f'"{table}_leases"'
        # A retired body counts as staged STAGING_GRACE - RETIRED_LINGER seconds ago.
        retire = (
            f"UPDATE {b} SET staged_at = {_WALL_NOW} - {STAGING_GRACE - RETIRED_LINGER!r}"
            " WHERE body_id = OLD.body_id;"
        )
        self.table = table
        self.entries = t
        self.bodies = b
        self.leases = lease

        self.schema: tuple[str, ...] = (
            f"CREATE TABLE IF NOT EXISTS {t} ("
            " id INTEGER PRIMARY KEY,"
            " namespace TEXT NOT NULL,"
            " cache_key TEXT NOT NULL,"
            " variant TEXT NOT NULL,"
            " url TEXT NOT NULL,"
            " head BLOB NOT NULL,"
            " body BLOB,"
            " hits INTEGER NOT NULL DEFAULT 0,"
            " size INTEGER NOT NULL,"
            " body_id TEXT,"
            " chunks INTEGER NOT NULL DEFAULT 0,"
            " created_at REAL NOT NULL,"
            " ttl REAL,"
            " expires_at REAL,"
            " accessed_at REAL,"
            " UNIQUE (namespace, cache_key, variant))",
            # Partial indexes: a row with an inline body, or that never expires, costs
            # no index write when it is stored.
            f'CREATE INDEX IF NOT EXISTS "{table}_expires_at" ON {t} (expires_at)'
            " WHERE expires_at IS NOT NULL",
            f'CREATE UNIQUE INDEX IF NOT EXISTS "{table}_body_id" ON {t} (body_id)'
            " WHERE body_id IS NOT NULL",
            f"CREATE TABLE IF NOT EXISTS {b} ("
            " body_id TEXT NOT NULL,"
            " seq INTEGER NOT NULL,"
            " chunk BLOB NOT NULL,"
            " staged_at REAL NOT NULL,"
            " PRIMARY KEY (body_id, seq))",
            f'DROP TRIGGER IF EXISTS "{table}_drop_body"',  # schema 2 as first released
            f'DROP TRIGGER IF EXISTS "{table}_swap_body"',
            f'CREATE TRIGGER IF NOT EXISTS "{table}_retire_body" AFTER DELETE ON {t}'
            f" WHEN OLD.body_id IS NOT NULL BEGIN {retire} END",
            f'CREATE TRIGGER IF NOT EXISTS "{table}_retire_swapped" AFTER UPDATE OF body_id'
            f" ON {t} WHEN OLD.body_id IS NOT NULL AND OLD.body_id IS NOT NEW.body_id"
            f" BEGIN {retire} END",
            f"CREATE TABLE IF NOT EXISTS {lease} ("
            " namespace TEXT NOT NULL,"
            " cache_key TEXT NOT NULL,"
            " token TEXT NOT NULL,"
            " expires REAL NOT NULL,"
            " PRIMARY KEY (namespace, cache_key)) WITHOUT ROWID",
        )
        """``CREATE ... IF NOT EXISTS`` statements; each is safe to run concurrently."""

        self.table_info = f"PRAGMA table_info({t})"
        """Rows whose second column is a column name; none when the table is missing."""

        self.triggers = (
            "SELECT name FROM sqlite_master WHERE (type = 'trigger' AND tbl_name = ?1)"
            " OR (type = 'table' AND name = ?1 || '_leases')"
        )
        """Params ``(table,)``; rows ``(name,)`` of the entry table's triggers and lease table."""

        self.drop: tuple[str, ...] = (f"DROP TABLE IF EXISTS {t}", f"DROP TABLE IF EXISTS {b}")
        """Drop an old-schema table pair (its index and triggers go with it)."""

        self.probe = f"SELECT (SELECT 1 FROM {t} LIMIT 1), (SELECT 1 FROM {b} LIMIT 1)"
        """Health check: fails unless both tables exist. No params."""

        self.select_variants = (
            f"SELECT {ENTRY_COLUMNS}, body, body_id, chunks FROM {t}"
            f" WHERE namespace = ? AND cache_key = ? AND {_LIVE}"
        )
        """Params ``(namespace, key, now)``; rows are ``_rows.Row`` with the body columns.

        Unordered (an ``ORDER BY id`` would cost a sort per hit): sort several variants by id.
        """

        self.select_body = (
            f"SELECT body, body_id, chunks FROM {t}"
            " WHERE namespace = ? AND cache_key = ? AND variant = ?"
        )
        """Params ``(namespace, key, variant)``; one row ``(body, body_id, chunks)`` or none."""

        self.select_chunk = f"SELECT chunk FROM {b} WHERE body_id = ? AND seq = ?"
        """Params ``(body_id, seq)``; one row ``(chunk,)`` or none."""

        self.first_chunk = (
            f"SELECT (SELECT chunk FROM {b} WHERE body_id = ?1 AND seq = 0),"
            f" COUNT(*), SUM(length(chunk)), MAX(seq) FROM {b} WHERE body_id = ?1"
        )
        """Params ``(body_id,)``; one row ``(chunk 0, chunks, total bytes, last seq)``.

        Opening a chunked body: its first chunk and what tells a complete body from one
        that lost or cut a chunk (``length`` of a BLOB reads no overflow page).
        """

        self.delete_broken = (
            f"DELETE FROM {t} WHERE namespace = ? AND cache_key = ? AND variant = ? AND body_id = ?"
        )
        """Params ``(namespace, key, variant, body_id)``: drop a variant whose chunks are
        incomplete, unless it was replaced meanwhile (the trigger drops the chunks)."""

        self.insert_chunk = f"INSERT INTO {b} (body_id, seq, chunk, staged_at) VALUES (?, ?, ?, ?)"
        """Params ``(body_id, seq, chunk, staged_at)``."""

        self.delete_chunks = (
            f"DELETE FROM {b} WHERE body_id = ?"
            f" AND NOT EXISTS (SELECT 1 FROM {t} e WHERE e.body_id = ?)"
        )
        """Params ``(body_id, body_id)``: discard a staged body, unless a row already names it."""

        self.upsert = (
            f"INSERT INTO {t} (namespace, cache_key, variant, url, head, body, hits, size,"
            " body_id, chunks, created_at, ttl, expires_at, accessed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (namespace, cache_key, variant) DO UPDATE SET"
            " url = excluded.url, head = excluded.head, body = excluded.body,"
            " hits = excluded.hits, size = excluded.size, body_id = excluded.body_id,"
            " chunks = excluded.chunks, created_at = excluded.created_at, ttl = excluded.ttl,"
            " expires_at = excluded.expires_at, accessed_at = excluded.accessed_at"
        )
        """Params from ``_rows.upsert_params``: insert or swap in a committed variant."""

        self.update_head = (
            f"UPDATE {t} SET url = ?, head = ?, ttl = ?, expires_at = ?"
            " WHERE namespace = ? AND cache_key = ? AND variant = ?"
            " AND created_at = ? AND size = COALESCE(?, size)"
        )
        """Params from ``_rows.update_params``: freshen the head; body, hits and access stay.

        Applies only while the stored response is the one freshened (same ``created_at``
        and ``size``): a 304 never puts an old head over a newer body.
        """

        hits = (
            "hits = hits + ?1, accessed_at = MAX(COALESCE(accessed_at, ?2), ?2)",
            " WHERE namespace = ?5 AND cache_key = ?6 AND variant = ?7"
            " AND created_at = ?8 AND size = ?9",
        )
        # A deadline only ever moves later (and NULL, never, stays NULL: SQLite's MAX of a
        # NULL is NULL), so a late write-back never cuts a newer deadline short.
        renew = "expires_at = MAX(expires_at, ?2 + COALESCE(ttl, ?3))"
        capped = "expires_at = MAX(expires_at, MIN(?2 + COALESCE(ttl, ?3), created_at + ?4))"
        self._add_hits = (  # ?3 and ?4 go unused without sliding expiry: left NULL
            f"UPDATE {t} SET {hits[0]}{hits[1]}",
            f"UPDATE {t} SET {hits[0]}, {renew}{hits[1]}",
            f"UPDATE {t} SET {hits[0]}, {capped}{hits[1]}",
        )

        self.delete_variant = (
            f"DELETE FROM {t} WHERE namespace = ? AND cache_key = ? AND variant = ?"
        )
        """Params ``(namespace, key, variant)``; run with ``executemany`` for several."""

        self.delete_key = f"DELETE FROM {t} WHERE namespace = ? AND cache_key = ?"
        """Params ``(namespace, key)``."""

        self.delete_unreadable = f"DELETE FROM {t} WHERE id = ? AND head = ?"
        """Params ``(id, head)``: drop a corrupt row unless a writer replaced it meanwhile."""

        self.acquire_lease = (
            f"INSERT INTO {lease} (namespace, cache_key, token, expires) VALUES (?1, ?2, ?3, ?4)"
            " ON CONFLICT (namespace, cache_key) DO UPDATE SET"
            f" token = excluded.token, expires = excluded.expires WHERE {lease}.expires <= ?5"
        )
        """Params ``(namespace, key, token, expires, now)``: take a free or lapsed lease.

        One statement: a row changed (``rowcount`` 1) means the lease is the caller's; 0
        means another holder has it and it has not lapsed at ``now``.
        """

        self.release_lease = (
            f"DELETE FROM {lease} WHERE namespace = ? AND cache_key = ? AND token = ?"
        )
        """Params ``(namespace, key, token)``: give a lease back while that token holds it."""

        self.sweep_staged = (
            f"DELETE FROM {b} WHERE staged_at < ?"
            f" AND NOT EXISTS (SELECT 1 FROM {t} e WHERE e.body_id = {b}.body_id)"
        )
        """Params ``(cutoff,)``: drop chunks staged before ``cutoff`` that no row names.

        With ``cutoff = time.time() - STAGING_GRACE`` that is what a crashed writer left a
        day ago and every body retired more than :data:`RETIRED_LINGER` seconds ago.
        """

    def add_hits(self, lifetime: Lifetime) -> str:
        """Return the write-back of buffered hits under ``lifetime``.

        Params from ``_rows.hit_params``: ``(count, accessed_at, ttl, max_lifetime,
        namespace, key, variant, created_at, size)``. Sliding expiry also renews the
        deadline to ``accessed_at + ttl`` (the entry's own ``ttl`` first), capped at
        ``created_at + max_lifetime``.
        """
        if not lifetime.sliding:
            return self._add_hits[0]
        return self._add_hits[1] if lifetime.max_lifetime is None else self._add_hits[2]

    # -- statements over a namespace tree ----------------------------------------------

    def page(
        self, namespace: str, after_id: int, now: float, pattern: str | None
    ) -> tuple[str, tuple[object, ...]]:
        """Return the next :data:`PAGE_SIZE` live rows with ``id > after_id``, by id.

        The rows hold heads only; a listed entry's body is opened with ``open_body``.
        """
        scope, params = _tree(namespace)
        glob = "" if pattern is None else " AND url GLOB ?"
        sql = (
            f"SELECT {ENTRY_COLUMNS} FROM {self.entries}"
            f" WHERE {scope} AND id > ? AND {_LIVE}{glob} ORDER BY id LIMIT ?"
        )
        tail: tuple[object, ...] = () if pattern is None else (sqlite_glob(pattern),)
        return sql, (*params, after_id, now, *tail, PAGE_SIZE)

    def delete_expired(self, namespace: str, now: float) -> tuple[str, tuple[object, ...]]:
        """Delete rows whose deadline has passed (uses the ``expires_at`` index)."""
        scope, params = _tree(namespace)
        return f"DELETE FROM {self.entries} WHERE expires_at <= ? AND {scope}", (now, *params)

    def clear(self, namespace: str) -> tuple[str, tuple[object, ...]]:
        """Delete every row of the namespace tree (the trigger retires the chunks)."""
        scope, params = _tree(namespace)
        return f"DELETE FROM {self.entries} WHERE {scope}", params

    def clear_leases(self, namespace: str) -> tuple[str, tuple[object, ...]]:
        """Delete every lease of the namespace tree."""
        scope, params = _tree(namespace)
        return f"DELETE FROM {self.leases} WHERE {scope}", params

    def stats(self, namespace: str, now: float) -> tuple[str, tuple[object, ...]]:
        """One row ``(entries, body bytes, expired entries)`` for the namespace tree."""
        scope, params = _tree(namespace)
        return (
            "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(expires_at <= ?), 0)"
            f" FROM {self.entries} WHERE {scope}",
            (now, *params),
        )


@lru_cache(maxsize=32)
def queries(table_name: str) -> Queries:
    """Return the statements for ``table_name`` (validated by :func:`check_settings`)."""
    return Queries(table_name)
