"""SQL text, row mapping and body chunking shared by the two SQLite storages (pure).

``SQLiteStorage`` (stdlib :mod:`sqlite3`) and ``AsyncSQLiteStorage`` (``aiosqlite``) are
written by hand (DESIGN §2): the two libraries do not line up closely enough for code
generation. Everything that decides lives here, so the two shells cannot drift: the schema,
every statement, the namespace and URL filters, the row <-> :class:`Entry` mapping, expiry
deadlines and how a body is cut into chunks. Nothing here touches a connection or a file.

The schema, for ``table_name`` ``t``::

    t          one row per stored variant
               id INTEGER PRIMARY KEY, namespace TEXT, cache_key TEXT, variant TEXT,
               url TEXT, head BLOB (the serialized entry), hits INTEGER, size INTEGER,
               body_id TEXT UNIQUE, chunks INTEGER, expires_at REAL (NULL: never),
               accessed_at REAL (last hit; NULL: none yet)
               UNIQUE (namespace, cache_key, variant); INDEX t_expires_at (expires_at)
    t_bodies   the body chunks: body_id TEXT, seq INTEGER, chunk BLOB, staged_at REAL
               PRIMARY KEY (body_id, seq)
    triggers   t_drop_body: deleting a row deletes its chunks;
               t_swap_body: pointing a row at another body deletes the old chunks.

Invariants:

* Every statement the shells run is a single statement, so no transaction spans two calls
  (nor an ``await``). A commit is one UPSERT: the row swaps to the new body and the trigger
  deletes the old chunks inside that statement's own transaction.
* A body is written under a fresh ``body_id`` before any row names it: chunks ``0 ..
  chunks-1`` exist before the commit and are invisible until then.
* ``hits``, ``size`` and ``accessed_at`` live in columns; the serialized head's copies are
  overridden on read, so counting a hit (and, with sliding expiry, pushing ``expires_at``
  back) is one ``UPDATE``.
* The namespace tree of ``ns`` is ``ns`` itself plus every ``ns/...``; the root ``""`` is
  everything. It is selected with an index range (``'/'`` + 1 is ``'0'``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from functools import lru_cache

from ..._exceptions import ConfigurationError, SerializationError
from ..._models import Entry, StorageStats
from ..._serializers import Serializer
from .._expiry import Lifetime, expires_at

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_TABLE_NAME",
    "MEMORY",
    "PAGE_SIZE",
    "STAGING_GRACE",
    "Chunker",
    "Queries",
    "Row",
    "check_settings",
    "child_namespace",
    "decode_row",
    "hit_statement",
    "is_memory",
    "new_body_id",
    "queries",
    "sqlite_glob",
    "stats_from_row",
    "update_params",
    "upsert_params",
]

DEFAULT_TABLE_NAME = "httpcache"
"""Table used when the caller names none (the body table is ``<name>_bodies``)."""

CHUNK_SIZE = 1024 * 1024
"""Largest body chunk stored in one row, in bytes."""

PAGE_SIZE = 100
"""Rows fetched per query when listing entries (the connection is free between pages)."""

STAGING_GRACE = 24 * 3600.0
"""Seconds after which unreferenced staged chunks count as left by a crashed writer."""

MEMORY = ":memory:"
"""The database used when neither ``path`` nor ``connection`` is given."""

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

Row = tuple[object, ...]
"""An entry row as selected: ``(id, cache_key, variant, head, hits, size, accessed_at)``."""

_ENTRY_COLUMNS = "id, cache_key, variant, head, hits, size, accessed_at"
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


def new_body_id() -> str:
    """Return a fresh staging id, unique across threads and processes."""
    return uuid.uuid4().hex


def sqlite_glob(pattern: str) -> str:
    """Translate an :mod:`fnmatch` glob to SQLite ``GLOB`` (``[!...]`` becomes ``[^...]``).

    Both are case-sensitive and share ``*``, ``?`` and ``[...]``; ``*`` also matches ``/``.
    """
    return pattern.replace("[!", "[^")


def _tree(namespace: str) -> tuple[str, tuple[object, ...]]:
    """Return a WHERE fragment selecting ``namespace`` and its descendants."""
    if not namespace:
        return "1", ()
    return (
        "(namespace = ? OR (namespace >= ? AND namespace < ?))",
        (namespace, namespace + "/", namespace + "0"),
    )


@dataclass(frozen=True, slots=True)
class Queries:
    """Every statement for one table. Fixed statements are attributes; the ones scoped to a
    namespace tree are methods returning ``(sql, params)``."""

    table: str

    @property
    def bodies(self) -> str:
        return f'"{self.table}_bodies"'

    @property
    def entries(self) -> str:
        return f'"{self.table}"'

    @property
    def schema(self) -> tuple[str, ...]:
        """``CREATE ... IF NOT EXISTS`` statements; each is safe to run concurrently."""
        t, b, name = self.entries, self.bodies, self.table
        return (
            f"CREATE TABLE IF NOT EXISTS {t} ("
            " id INTEGER PRIMARY KEY,"
            " namespace TEXT NOT NULL,"
            " cache_key TEXT NOT NULL,"
            " variant TEXT NOT NULL,"
            " url TEXT NOT NULL,"
            " head BLOB NOT NULL,"
            " hits INTEGER NOT NULL DEFAULT 0,"
            " size INTEGER NOT NULL,"
            " body_id TEXT NOT NULL UNIQUE,"
            " chunks INTEGER NOT NULL,"
            " expires_at REAL,"
            " accessed_at REAL,"
            " UNIQUE (namespace, cache_key, variant))",
            f'CREATE INDEX IF NOT EXISTS "{name}_expires_at" ON {t} (expires_at)',
            f"CREATE TABLE IF NOT EXISTS {b} ("
            " body_id TEXT NOT NULL,"
            " seq INTEGER NOT NULL,"
            " chunk BLOB NOT NULL,"
            " staged_at REAL NOT NULL,"
            " PRIMARY KEY (body_id, seq))",
            f'CREATE TRIGGER IF NOT EXISTS "{name}_drop_body" AFTER DELETE ON {t}'
            f" BEGIN DELETE FROM {b} WHERE body_id = OLD.body_id; END",
            f'CREATE TRIGGER IF NOT EXISTS "{name}_swap_body" AFTER UPDATE OF body_id ON {t}'
            " WHEN OLD.body_id <> NEW.body_id"
            f" BEGIN DELETE FROM {b} WHERE body_id = OLD.body_id; END",
        )

    # -- fixed statements ------------------------------------------------------------

    @property
    def probe(self) -> str:
        """Health check: fails unless both tables exist. No params."""
        return (
            f"SELECT (SELECT 1 FROM {self.entries} LIMIT 1), (SELECT 1 FROM {self.bodies} LIMIT 1)"
        )

    @property
    def select_variants(self) -> str:
        """Params ``(namespace, key, now)``; rows are :data:`Row`."""
        return (
            f"SELECT {_ENTRY_COLUMNS} FROM {self.entries}"
            f" WHERE namespace = ? AND cache_key = ? AND {_LIVE} ORDER BY id"
        )

    @property
    def select_body(self) -> str:
        """Params ``(namespace, key, variant)``; one row ``(body_id, chunks)`` or none."""
        return (
            f"SELECT body_id, chunks FROM {self.entries}"
            " WHERE namespace = ? AND cache_key = ? AND variant = ?"
        )

    @property
    def select_chunk(self) -> str:
        """Params ``(body_id, seq)``; one row ``(chunk,)`` or none."""
        return f"SELECT chunk FROM {self.bodies} WHERE body_id = ? AND seq = ?"

    @property
    def insert_chunk(self) -> str:
        """Params ``(body_id, seq, chunk, staged_at)``."""
        return f"INSERT INTO {self.bodies} (body_id, seq, chunk, staged_at) VALUES (?, ?, ?, ?)"

    @property
    def delete_chunks(self) -> str:
        """Params ``(body_id, body_id)``: discard a staged body, unless a row already names it."""
        return (
            f"DELETE FROM {self.bodies} WHERE body_id = ?"
            f" AND NOT EXISTS (SELECT 1 FROM {self.entries} e WHERE e.body_id = ?)"
        )

    @property
    def upsert(self) -> str:
        """Params from :func:`upsert_params`: insert or swap in a committed variant."""
        return (
            f"INSERT INTO {self.entries} (namespace, cache_key, variant, url, head, hits,"
            " size, body_id, chunks, expires_at, accessed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (namespace, cache_key, variant) DO UPDATE SET"
            " url = excluded.url, head = excluded.head, hits = excluded.hits,"
            " size = excluded.size, body_id = excluded.body_id, chunks = excluded.chunks,"
            " expires_at = excluded.expires_at, accessed_at = excluded.accessed_at"
        )

    @property
    def update_head(self) -> str:
        """Params ``(url, head, hits, expires_at, namespace, key, variant)``; body stays."""
        return (
            f"UPDATE {self.entries} SET url = ?, head = ?, hits = ?, expires_at = ?"
            " WHERE namespace = ? AND cache_key = ? AND variant = ?"
        )

    @property
    def add_hit(self) -> str:
        """Params ``(now, namespace, key, variant)``: count a hit at ``now``."""
        return (
            f"UPDATE {self.entries} SET hits = hits + 1, accessed_at = ?"
            " WHERE namespace = ? AND cache_key = ? AND variant = ?"
        )

    @property
    def add_hit_sliding(self) -> str:
        """Params ``(now, deadline, namespace, key, variant)``: count a hit, renew expiry.

        A deadline only ever moves later (and ``NULL``, never, stays ``NULL``), so a hit
        renewing an entry that another writer replaced meanwhile never cuts the newer
        entry's lifetime short.
        """
        return (
            f"UPDATE {self.entries} SET hits = hits + 1, accessed_at = ?,"
            " expires_at = MAX(expires_at, ?)"
            " WHERE namespace = ? AND cache_key = ? AND variant = ?"
        )

    @property
    def delete_variant(self) -> str:
        """Params ``(namespace, key, variant)``."""
        return f"DELETE FROM {self.entries} WHERE namespace = ? AND cache_key = ? AND variant = ?"

    @property
    def delete_key(self) -> str:
        """Params ``(namespace, key)``."""
        return f"DELETE FROM {self.entries} WHERE namespace = ? AND cache_key = ?"

    @property
    def delete_unreadable(self) -> str:
        """Params ``(id, head)``: drop a corrupt row unless a writer replaced it meanwhile."""
        return f"DELETE FROM {self.entries} WHERE id = ? AND head = ?"

    @property
    def sweep_staged(self) -> str:
        """Params ``(cutoff,)``: drop chunks staged before ``cutoff`` that no row names."""
        return (
            f"DELETE FROM {self.bodies} WHERE staged_at < ?"
            f" AND body_id NOT IN (SELECT body_id FROM {self.entries})"
        )

    # -- statements over a namespace tree ----------------------------------------------

    def page(
        self, namespace: str, after_id: int, now: float, pattern: str | None
    ) -> tuple[str, tuple[object, ...]]:
        """Return the next :data:`PAGE_SIZE` live rows with ``id > after_id``, by id."""
        scope, params = _tree(namespace)
        glob = "" if pattern is None else " AND url GLOB ?"
        sql = (
            f"SELECT {_ENTRY_COLUMNS} FROM {self.entries}"
            f" WHERE {scope} AND id > ? AND {_LIVE}{glob} ORDER BY id LIMIT ?"
        )
        tail: tuple[object, ...] = () if pattern is None else (sqlite_glob(pattern),)
        return sql, (*params, after_id, now, *tail, PAGE_SIZE)

    def delete_expired(self, namespace: str, now: float) -> tuple[str, tuple[object, ...]]:
        """Delete rows whose deadline has passed (uses the ``expires_at`` index)."""
        scope, params = _tree(namespace)
        return f"DELETE FROM {self.entries} WHERE expires_at <= ? AND {scope}", (now, *params)

    def clear(self, namespace: str) -> tuple[str, tuple[object, ...]]:
        """Delete every row of the namespace tree (the trigger deletes the chunks)."""
        scope, params = _tree(namespace)
        return f"DELETE FROM {self.entries} WHERE {scope}", params

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


def upsert_params(
    namespace: str,
    entry: Entry,
    head: bytes,
    body_id: str,
    chunks: int,
    lifetime: Lifetime,
) -> tuple[object, ...]:
    """Return the parameters of :attr:`Queries.upsert` for a committed ``entry``."""
    return (
        namespace,
        entry.key,
        entry.variant,
        entry.request.url,
        head,
        entry.hits,
        entry.size if entry.size is not None else 0,
        body_id,
        chunks,
        expires_at(entry, lifetime),
        entry.accessed_at,
    )


def update_params(
    namespace: str, entry: Entry, head: bytes, lifetime: Lifetime
) -> tuple[object, ...]:
    """Return the parameters of :attr:`Queries.update_head` for a freshened ``entry``."""
    return (
        entry.request.url,
        head,
        entry.hits,
        expires_at(entry, lifetime),
        namespace,
        entry.key,
        entry.variant,
    )


def decode_row(serializer: Serializer, row: Row) -> Entry:
    """Rebuild the entry of a :data:`Row`; raise :class:`SerializationError` if it is unreadable.

    A record that decodes but names another key or variant than its row (a foreign or
    tampered record) is unreadable too. ``hits``, ``size`` and ``accessed_at`` come from
    their columns.
    """
    _, key, variant, head, hits, size, accessed_at = row
    if not isinstance(head, bytes):
        raise SerializationError(f"the stored head is {type(head).__name__}, not a BLOB")
    if not isinstance(hits, int) or not isinstance(size, int) or hits < 0 or size < 0:
        raise SerializationError("the stored hits or size column is not a non-negative integer")
    entry = serializer.loads(head)
    if entry.key != key or entry.variant != variant:
        raise SerializationError("the stored record belongs to another key or variant")
    if accessed_at is not None and not isinstance(accessed_at, float):
        raise SerializationError("the stored accessed_at column is not a number")
    if entry.hits != hits or entry.size != size or entry.accessed_at != accessed_at:
        entry = replace(entry, hits=hits, size=size, accessed_at=accessed_at)
    return entry


def stats_from_row(row: Row | None) -> StorageStats:
    """Return the :class:`StorageStats` of a :meth:`Queries.stats` row."""

    def count(value: object) -> int:
        # SUM over a column a foreign writer filled with text may come back as a float.
        return int(value) if isinstance(value, (int, float)) else 0

    entries, size, expired = row if row is not None else (0, 0, 0)
    return StorageStats(entries=count(entries), bytes=count(size), expired=count(expired))


class Chunker:
    """Cut a stream of writes into chunks of exactly ``size`` bytes (the last may be shorter).

    Holds at most ``size`` bytes plus one incoming write.
    """

    def __init__(self, size: int = CHUNK_SIZE) -> None:
        self._size = size
        self._buffer = bytearray()
        self.total = 0
        """Bytes fed so far."""

    def feed(self, data: bytes) -> list[bytes]:
        """Take ``data``; return the chunks that are now full, in order."""
        self.total += len(data)
        self._buffer += data
        full: list[bytes] = []
        while len(self._buffer) >= self._size:
            full.append(bytes(self._buffer[: self._size]))
            del self._buffer[: self._size]
        return full

    def flush(self) -> bytes:
        """Return what is left (possibly ``b""``) and empty the buffer."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest


def hit_statement(
    queries: Queries, namespace: str, entry: Entry, lifetime: Lifetime, now: float
) -> tuple[str, tuple[object, ...]]:
    """Return the statement and parameters that count a hit on ``entry`` at ``now``.

    With sliding expiry the hit also renews the entry's deadline: counted from ``now``,
    bounded by ``max_lifetime``.
    """
    where: tuple[object, ...] = (namespace, entry.key, entry.variant)
    if lifetime.sliding:
        deadline = expires_at(replace(entry, accessed_at=now), lifetime)
        return queries.add_hit_sliding, (now, deadline, *where)
    return queries.add_hit, (now, *where)
