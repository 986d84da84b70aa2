"""SQLiteStorage: what the contract suite cannot see (schema, pragmas, concurrency).

The pair is written by hand (DESIGN §2); the generated sync copy of this file tests
``SQLiteStorage`` the same way.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import multiprocessing
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from httpcache import (
    ManagedStorage,
    SQLiteStorage,
    Storage,
    ConfigurationError,
    Entry,
    PickleSerializer,
    RequestHead,
    ResponseHead,
    StorageError,
    StorageStats,
)
from httpcache._storages.sqlite._sql import (
    CHUNK_SIZE,
    INLINE_LIMIT,
    RETIRED_LINGER,
    STAGING_GRACE,
)

BASE = "http://example.com"
T0 = 1_000_000.0


def make_entry(path: str = "/a", variant: str = "v", *, ttl: float | None = None) -> Entry:
    return Entry(
        key=BASE + path,
        variant=variant,
        request=RequestHead("GET", BASE + path),
        response=ResponseHead(200, ((b"Cache-Control", b"max-age=60"),), "OK"),
        request_time=T0,
        response_time=T0,
        created_at=T0,
        ttl=ttl,
    )


def put(storage: Any, entry: Entry, body: bytes = b"hello") -> Entry:
    writer = storage.open_writer(entry)
    for start in range(0, len(body), 65536):
        writer.write(body[start : start + 65536])
    committed: Entry = writer.commit()
    return committed


def body_of(storage: Any, entry: Entry) -> bytes | None:
    chunks = storage.open_body(entry)
    if chunks is None:
        return None
    return b"".join([chunk for chunk in chunks])


def scalar(storage: Any, sql: str, params: tuple[object, ...] = ()) -> Any:
    rows = storage._fetchall(sql, params)
    return rows[0][0]


def run_blocking(func: Callable[..., Any], *args: Any) -> Any:
    """Call `func` on this thread; run it to completion if it is a coroutine function."""
    result = func(*args)
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    return result


IS_ASYNC = inspect.iscoroutinefunction(SQLiteStorage.get_entries)


def user_connection(path: Path) -> Any:
    """Open a caller-owned connection of the kind the storage under test takes."""
    if IS_ASYNC:
        return aiosqlite.connect(path)
    return sqlite3.connect(path, check_same_thread=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cache.db"


# -- construction and schema --------------------------------------------------------


def test_sqlite_satisfies_storage_protocols(db: Path) -> None:
    """DESIGN §3: the SQLite storage implements the storage and management protocols."""
    with SQLiteStorage(path=db) as storage:
        assert isinstance(storage, Storage)
        assert isinstance(storage, ManagedStorage)


def test_sqlite_own_file_is_wal_with_busy_timeout(db: Path) -> None:
    """Issue: a database the storage opens is in WAL mode with the given busy timeout."""
    with SQLiteStorage(path=db, timeout=2.5) as storage:
        assert scalar(storage, "PRAGMA journal_mode") == "wal"
        assert scalar(storage, "PRAGMA busy_timeout") == 2500
        assert scalar(storage, "PRAGMA synchronous") == 1  # NORMAL
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600  # DESIGN §5


def test_sqlite_expiry_is_indexed_and_used(db: Path) -> None:
    """Issue: `expires_at` has an index, and delete_expired searches with it."""
    with SQLiteStorage(path=db) as storage:
        storage.health()
        indexes = storage._fetchall(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
            ("httpcache",),
        )
        assert (
            "httpcache_expires_at",
            'CREATE INDEX "httpcache_expires_at" ON "httpcache" (expires_at)'
            " WHERE expires_at IS NOT NULL",
        ) in indexes
        plan = storage._fetchall(
            "EXPLAIN QUERY PLAN DELETE FROM httpcache WHERE expires_at <= ?", (T0,)
        )
        assert any("httpcache_expires_at" in str(row[-1]) for row in plan)
        plan = storage._fetchall(  # a staged body is found by its id, not by a scan
            "EXPLAIN QUERY PLAN " + storage._queries.delete_chunks, ("id", "id")
        )
        assert any("httpcache_body_id" in str(row[-1]) for row in plan)


def test_sqlite_without_path_or_connection_is_private_memory(tmp_path: Path) -> None:
    """Issue: with neither `path` nor `connection` the database is in memory; close drops it."""
    storage = SQLiteStorage()
    committed = put(storage, make_entry())
    assert body_of(storage, committed) == b"hello"
    assert scalar(storage, "PRAGMA journal_mode") == "memory"
    storage.close()
    assert storage.get_entries(committed.key) == []  # reopened: a new, empty database
    storage.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"table_name": "bad name"}, id="space"),
        pytest.param({"table_name": "1cache"}, id="leading-digit"),
        pytest.param({"table_name": 'x"; DROP TABLE y; --'}, id="injection"),
        pytest.param({"table_name": ""}, id="empty"),
        pytest.param({"ttl": -1}, id="negative-ttl"),
        pytest.param({"timeout": -1}, id="negative-timeout"),
    ],
)
def test_sqlite_invalid_settings_raise_configuration_error(kwargs: dict[str, Any]) -> None:
    """STYLE 5: invalid configuration is a ConfigurationError, raised at construction."""
    with pytest.raises(ConfigurationError):
        SQLiteStorage(**kwargs)


def test_sqlite_path_and_connection_together_are_refused(db: Path) -> None:
    """Issue: a storage takes a path or a connection, not both."""
    with pytest.raises(ConfigurationError):
        SQLiteStorage(path=db, connection=object())


@pytest.mark.parametrize("name", ["", "a/b"])
def test_sqlite_bad_namespace_name_raises(name: str) -> None:
    """DESIGN §3: namespace names are non-empty and never nested in one step."""
    with pytest.raises(ConfigurationError):
        SQLiteStorage().with_namespace(name)


def test_sqlite_table_name_names_every_object(db: Path) -> None:
    """Issue: `table_name` picks the tables (and index, triggers); two names never mix."""
    with (
        SQLiteStorage(path=db, table_name="alpha") as alpha,
        SQLiteStorage(path=db, table_name="beta") as beta,
    ):
        put(alpha, make_entry(), b"in alpha")
        assert beta.get_entries(BASE + "/a") == []
        names = {
            row[0]
            for row in alpha._fetchall("SELECT name FROM sqlite_master WHERE sql NOT NULL")
        }
        assert {"alpha", "alpha_bodies", "alpha_expires_at"} <= names
        assert {"beta", "beta_bodies", "beta_expires_at"} <= names
        assert "httpcache" not in names
        assert repr(alpha).startswith("SQLiteStorage(")


def test_sqlite_create_table_false_needs_existing_tables(db: Path) -> None:
    """Issue: with create_table=False nothing is created; missing tables are a StorageError."""
    storage = SQLiteStorage(path=db, create_table=False)
    assert storage.health() is False
    with pytest.raises(StorageError):
        storage.get_entries(BASE + "/a")
    assert scalar(storage, "SELECT count(*) FROM sqlite_master") == 0
    storage.close()

    with SQLiteStorage(path=db) as creator:
        put(creator, make_entry(), b"made by creator")
    with SQLiteStorage(path=db, create_table=False) as storage:
        assert storage.health() is True
        [found] = storage.get_entries(BASE + "/a")
        assert body_of(storage, found) == b"made by creator"


def test_sqlite_user_connection_is_used_but_never_closed(db: Path) -> None:
    """Issue: close() leaves a caller's connection open, and the storage keeps working."""
    conn = user_connection(db)
    try:
        storage = SQLiteStorage(connection=conn)
        committed = put(storage, make_entry(), b"body")
        storage.close()
        storage.close()
        assert conn.total_changes > 0  # raises on a closed connection
        assert body_of(storage, committed) == b"body"
        again = SQLiteStorage(connection=conn)
        assert [e.key for e in again.get_entries(committed.key)] == [committed.key]
        again.close()
        assert conn.total_changes > 0
    finally:
        conn.close()
    with SQLiteStorage(path=db) as reader:  # the writes were committed
        assert len(reader.get_entries(committed.key)) == 1


# -- bodies ----------------------------------------------------------------------------


def test_sqlite_body_is_stored_in_bounded_chunks(db: Path) -> None:
    """DESIGN §3: a body is kept as rows of at most 1 MiB and read back chunk by chunk."""
    body = os.urandom(CHUNK_SIZE) * 2 + b"tail"
    with SQLiteStorage(path=db) as storage:
        committed = put(storage, make_entry(), body)
        assert committed.size == len(body)
        rows = storage._fetchall(
            "SELECT seq, length(chunk) FROM httpcache_bodies ORDER BY seq"
        )
        assert rows == [(0, CHUNK_SIZE), (1, CHUNK_SIZE), (2, 4)]
        chunks = storage.open_body(committed)
        assert chunks is not None
        sizes = [len(chunk) for chunk in chunks]
        assert sizes == [CHUNK_SIZE, CHUNK_SIZE, 4]


def live_chunks(storage: SQLiteStorage) -> int:
    """Count the chunks not retired (retired ones count as staged nearly a day ago)."""
    recent = time.time() - STAGING_GRACE / 2
    sql = "SELECT count(*) FROM httpcache_bodies WHERE staged_at > ?"
    return int(scalar(storage, sql, (recent,)))


def end_linger(storage: SQLiteStorage) -> None:
    """Move every chunk's ``staged_at`` back past the linger, as if a minute had passed."""
    storage._execute(
        "UPDATE httpcache_bodies SET staged_at = staged_at - ?", (RETIRED_LINGER + 1,)
    )


def test_sqlite_abort_and_replace_leave_no_stray_chunks(db: Path) -> None:
    """DESIGN §3: an aborted body is deleted; a replaced one is retired, then swept."""
    with SQLiteStorage(path=db) as storage:
        writer = storage.open_writer(make_entry())
        writer.write(b"x" * (CHUNK_SIZE + 10))
        assert scalar(storage, "SELECT count(*) FROM httpcache_bodies") == 1  # staged
        assert storage.get_entries(BASE + "/a") == []
        writer.abort()
        writer.abort()
        assert scalar(storage, "SELECT count(*) FROM httpcache_bodies") == 0
        with pytest.raises(RuntimeError):
            writer.commit()

        put(storage, make_entry(), b"old" * CHUNK_SIZE)
        put(storage, make_entry(), b"newer" * CHUNK_SIZE)
        assert live_chunks(storage) == 5
        assert scalar(storage, "SELECT count(*) FROM httpcache_bodies") == 8
        put(storage, make_entry(), b"inline")  # chunked -> inline retires the chunks too
        assert live_chunks(storage) == 0
        put(storage, make_entry(), b"big" * CHUNK_SIZE)
        storage.delete_entries(BASE + "/a")
        assert live_chunks(storage) == 0
        end_linger(storage)
        assert storage.delete_expired() == 0
        assert scalar(storage, "SELECT count(*) FROM httpcache_bodies") == 0


def test_sqlite_body_replaced_while_read_is_read_to_the_end(db: Path) -> None:
    """A body replaced or deleted mid-read stays readable (the load test's cache hits)."""
    with SQLiteStorage(path=db) as storage:
        put(storage, make_entry(), b"a" * (2 * CHUNK_SIZE) + b"!")
        [found] = storage.get_entries(BASE + "/a")
        chunks = storage.open_body(found)
        assert chunks is not None
        first = chunks.__next__()
        put(storage, make_entry(), b"b" * (2 * CHUNK_SIZE))  # a newer large body
        storage.delete_entries(BASE + "/a")
        rest = [chunk for chunk in chunks]
        assert first + b"".join(rest) == b"a" * (2 * CHUNK_SIZE) + b"!"


def test_sqlite_body_swept_while_read_raises_not_truncates(db: Path) -> None:
    """DESIGN §3: a reader slower than the linger gets an error, never a shortened body."""
    with SQLiteStorage(path=db) as storage:
        put(storage, make_entry(), b"a" * (2 * CHUNK_SIZE))
        [found] = storage.get_entries(BASE + "/a")
        chunks = storage.open_body(found)
        assert chunks is not None
        assert len(chunks.__next__()) == CHUNK_SIZE
        put(storage, make_entry(), b"replacement")
        end_linger(storage)
        storage.delete_expired()
        with pytest.raises(StorageError):
            chunks.__next__()


def test_sqlite_delete_expired_sweeps_only_old_orphaned_stages(db: Path) -> None:
    """DESIGN §3: chunks a crashed writer left are swept after a day; live writers keep theirs."""
    with SQLiteStorage(path=db) as storage:
        live = storage.open_writer(make_entry("/live"))
        live.write(b"y" * CHUNK_SIZE)
        storage._execute(
            "INSERT INTO httpcache_bodies (body_id, seq, chunk, staged_at) VALUES (?, 0, ?, ?)",
            ("crashed", b"z", 1.0),
        )
        kept = put(storage, make_entry("/kept"), b"k" * (INLINE_LIMIT + 1))  # chunked
        storage._execute(  # a committed body is never swept, however old
            "UPDATE httpcache_bodies SET staged_at = 1.0"
            " WHERE body_id IN (SELECT body_id FROM httpcache)"
        )
        assert storage.delete_expired() == 0
        ids = {row[0] for row in storage._fetchall("SELECT body_id FROM httpcache_bodies")}
        assert "crashed" not in ids
        assert len(ids) == 2  # the live writer's stage and the committed body
        live.write(b"!")
        committed = live.commit()
        assert body_of(storage, committed) == b"y" * CHUNK_SIZE + b"!"
        assert body_of(storage, kept) == b"k" * (INLINE_LIMIT + 1)


# -- metadata, namespaces, management --------------------------------------------------------


def test_sqlite_hits_and_size_columns_win_over_the_head(db: Path) -> None:
    """Storage: hits are counted in a column, and stats count body bytes and expired rows."""
    clock_now = [T0]
    with SQLiteStorage(
        path=db, ttl=10, serializer=PickleSerializer(), clock=lambda: clock_now[0]
    ) as storage:
        committed = put(storage, make_entry(), b"12345")
        put(storage, make_entry("/b", ttl=100), b"678")
        for _ in range(3):
            storage.record_hit(committed)
        [found] = storage.get_entries(committed.key)
        assert (found.hits, found.size) == (3, 5)
        clock_now[0] += 20
        assert storage.stats() == StorageStats(entries=2, bytes=8, expired=1)
        assert storage.delete_expired() == 1
        assert storage.stats() == StorageStats(entries=1, bytes=3, expired=0)


def test_sqlite_namespaces_share_one_file_and_stay_apart(db: Path) -> None:
    """Issue: with_namespace children share a connection; clear() stays in its own subtree."""
    with SQLiteStorage(path=db) as root:
        team = root.with_namespace("team")
        alice = team.with_namespace("alice")
        teammate = root.with_namespace("team2")  # a sibling whose name extends "team"
        for storage, path in ((root, "/r"), (team, "/t"), (alice, "/a"), (teammate, "/m")):
            put(storage, make_entry(path))
        assert alice.namespace == "team/alice"
        assert [e.request.url for e in team.iter_entries()] == [BASE + "/t", BASE + "/a"]
        assert (team.stats()).entries == 2
        team.clear()
        assert alice.get_entries(BASE + "/a") == []
        assert len(teammate.get_entries(BASE + "/m")) == 1
        assert len(root.get_entries(BASE + "/r")) == 1
        assert (root.stats()).entries == 2


def test_sqlite_iter_entries_pages_and_globs(db: Path) -> None:
    """Issue: listing walks every row in pages and filters URLs with a glob."""
    with SQLiteStorage(path=db) as storage:
        for n in range(250):
            put(storage, make_entry(f"/item/{n}"), b"")
        put(storage, make_entry("/other/x"), b"")
        assert len([e for e in storage.iter_entries()]) == 251
        assert len([e for e in storage.iter_entries("*/item/1?")]) == 10
        assert [e.request.url for e in storage.iter_entries("*/[!i]ther/*")] == [
            BASE + "/other/x"
        ]


def test_sqlite_foreign_record_is_a_logged_miss(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """DESIGN §4: a record naming another key is treated as corrupt: removed and logged."""
    with SQLiteStorage(path=db) as storage:
        put(storage, make_entry("/a"))
        other = put(storage, make_entry("/b"))
        storage._execute(
            "UPDATE httpcache SET head = (SELECT head FROM httpcache WHERE cache_key = ?)"
            " WHERE cache_key = ?",
            (other.key, BASE + "/a"),
        )
        with caplog.at_level(logging.WARNING, logger="httpcache.storage"):
            assert storage.get_entries(BASE + "/a") == []
        assert [r.name for r in caplog.records] == ["httpcache.storage"]
        assert storage.stats() == StorageStats(entries=1, bytes=5)


# -- concurrency -------------------------------------------------------------------------


@pytest.mark.parametrize("own", [pytest.param(True, id="own"), pytest.param(False, id="caller")])
def test_sqlite_one_storage_from_eight_threads_loses_nothing(db: Path, own: bool) -> None:
    """Issue: one storage object is used from many threads at once; every write is kept.

    Also with a caller's connection in sqlite3's default (implicit transaction) mode.
    """
    conn = None if own else user_connection(db)
    storage = SQLiteStorage(path=db) if conn is None else SQLiteStorage(connection=conn)
    assert storage.health()  # open the connection before the threads share it
    threads, per_thread = 8, 25
    barrier = threading.Barrier(threads)

    def work(index: int) -> None:
        barrier.wait()
        for n in range(per_thread):
            put(storage, make_entry(f"/t{index}", variant=f"v{n}"), b"x" * (n + 1))
            storage.record_hit(make_entry(f"/t{(index + 1) % threads}", variant="v0"))
            storage.get_entries(BASE + f"/t{(index + 1) % threads}")

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda index: run_blocking(work, index), range(threads)))
        expected_bytes = threads * sum(range(1, per_thread + 1))
        stats = storage.stats()
        assert stats == StorageStats(entries=threads * per_thread, bytes=expected_bytes)
        for index in range(threads):
            found = storage.get_entries(BASE + f"/t{index}")
            assert len(found) == per_thread
            for entry in found:
                assert body_of(storage, entry) == b"x" * (entry.size or 0)
    finally:
        storage.close()
        if conn is not None:
            conn.close()


def _body(index: int, n: int) -> bytes:
    size = CHUNK_SIZE + 7 if n % 10 == 0 else 1000 + n
    return bytes([index, n]) * (size // 2)


def _write_many(path: str, index: int, barrier: Any) -> None:
    """One process's share of the cross-process test: 50 entries, reading the other's too."""
    with SQLiteStorage(path=path) as storage:
        storage.health()
        barrier.wait(timeout=60)
        for n in range(50):
            put(storage, make_entry(f"/p{index}/{n}"), _body(index, n))
            for entry in storage.get_entries(BASE + f"/p{1 - index}/{n}"):
                body_of(storage, entry)


def _process_main(path: str, index: int, barrier: Any) -> None:
    run_blocking(_write_many, path, index, barrier)


def test_sqlite_two_processes_share_one_file(db: Path) -> None:
    """Issue: several processes write one file at once; all entries end up complete."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_process_main, args=(str(db), i, barrier)) for i in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0, 0]
    with SQLiteStorage(path=db) as storage:
        assert (storage.stats()).entries == 100
        for index in range(2):
            for n in range(50):
                [entry] = storage.get_entries(BASE + f"/p{index}/{n}")
                assert body_of(storage, entry) == _body(index, n)
