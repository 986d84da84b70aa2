"""AsyncSQLiteStorage: what the contract suite cannot see (schema, pragmas, concurrency).

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
    AsyncManagedStorage,
    AsyncSQLiteStorage,
    AsyncStorage,
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


async def put(storage: Any, entry: Entry, body: bytes = b"hello") -> Entry:
    writer = await storage.open_writer(entry)
    for start in range(0, len(body), 65536):
        await writer.write(body[start : start + 65536])
    committed: Entry = await writer.commit()
    return committed


async def body_of(storage: Any, entry: Entry) -> bytes | None:
    chunks = await storage.open_body(entry)
    if chunks is None:
        return None
    return b"".join([chunk async for chunk in chunks])


async def scalar(storage: Any, sql: str, params: tuple[object, ...] = ()) -> Any:
    rows = await storage._fetchall(sql, params)
    return rows[0][0]


def run_blocking(func: Callable[..., Any], *args: Any) -> Any:
    """Call `func` on this thread; run it to completion if it is a coroutine function."""
    result = func(*args)
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    return result


IS_ASYNC = inspect.iscoroutinefunction(AsyncSQLiteStorage.get_entries)


async def user_connection(path: Path) -> Any:
    """Open a caller-owned connection of the kind the storage under test takes."""
    if IS_ASYNC:
        return await aiosqlite.connect(path)
    return sqlite3.connect(path, check_same_thread=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cache.db"


# -- construction and schema --------------------------------------------------------


@pytest.mark.anyio
async def test_sqlite_satisfies_storage_protocols(db: Path) -> None:
    """DESIGN §3: the SQLite storage implements the storage and management protocols."""
    async with AsyncSQLiteStorage(path=db) as storage:
        assert isinstance(storage, AsyncStorage)
        assert isinstance(storage, AsyncManagedStorage)


@pytest.mark.anyio
async def test_sqlite_own_file_is_wal_with_busy_timeout(db: Path) -> None:
    """Issue: a database the storage opens is in WAL mode with the given busy timeout."""
    async with AsyncSQLiteStorage(path=db, timeout=2.5) as storage:
        assert await scalar(storage, "PRAGMA journal_mode") == "wal"
        assert await scalar(storage, "PRAGMA busy_timeout") == 2500
        assert await scalar(storage, "PRAGMA synchronous") == 1  # NORMAL
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600  # DESIGN §5


@pytest.mark.anyio
async def test_sqlite_expiry_is_indexed_and_used(db: Path) -> None:
    """Issue: `expires_at` has an index, and delete_expired searches with it."""
    async with AsyncSQLiteStorage(path=db) as storage:
        await storage.health()
        indexes = await storage._fetchall(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
            ("httpcache",),
        )
        assert (
            "httpcache_expires_at",
            'CREATE INDEX "httpcache_expires_at" ON "httpcache" (expires_at)'
            " WHERE expires_at IS NOT NULL",
        ) in indexes
        plan = await storage._fetchall(
            "EXPLAIN QUERY PLAN DELETE FROM httpcache WHERE expires_at <= ?", (T0,)
        )
        assert any("httpcache_expires_at" in str(row[-1]) for row in plan)
        plan = await storage._fetchall(  # a staged body is found by its id, not by a scan
            "EXPLAIN QUERY PLAN " + storage._queries.delete_chunks, ("id", "id")
        )
        assert any("httpcache_body_id" in str(row[-1]) for row in plan)


@pytest.mark.anyio
async def test_sqlite_without_path_or_connection_is_private_memory(tmp_path: Path) -> None:
    """Issue: with neither `path` nor `connection` the database is in memory; close drops it."""
    storage = AsyncSQLiteStorage()
    committed = await put(storage, make_entry())
    assert await body_of(storage, committed) == b"hello"
    assert await scalar(storage, "PRAGMA journal_mode") == "memory"
    await storage.aclose()
    assert await storage.get_entries(committed.key) == []  # reopened: a new, empty database
    await storage.aclose()
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
        AsyncSQLiteStorage(**kwargs)


def test_sqlite_path_and_connection_together_are_refused(db: Path) -> None:
    """Issue: a storage takes a path or a connection, not both."""
    with pytest.raises(ConfigurationError):
        AsyncSQLiteStorage(path=db, connection=object())


@pytest.mark.parametrize("name", ["", "a/b"])
def test_sqlite_bad_namespace_name_raises(name: str) -> None:
    """DESIGN §3: namespace names are non-empty and never nested in one step."""
    with pytest.raises(ConfigurationError):
        AsyncSQLiteStorage().with_namespace(name)


@pytest.mark.anyio
async def test_sqlite_table_name_names_every_object(db: Path) -> None:
    """Issue: `table_name` picks the tables (and index, triggers); two names never mix."""
    async with (
        AsyncSQLiteStorage(path=db, table_name="alpha") as alpha,
        AsyncSQLiteStorage(path=db, table_name="beta") as beta,
    ):
        await put(alpha, make_entry(), b"in alpha")
        assert await beta.get_entries(BASE + "/a") == []
        names = {
            row[0]
            for row in await alpha._fetchall("SELECT name FROM sqlite_master WHERE sql NOT NULL")
        }
        assert {"alpha", "alpha_bodies", "alpha_expires_at"} <= names
        assert {"beta", "beta_bodies", "beta_expires_at"} <= names
        assert "httpcache" not in names
        assert repr(alpha).startswith("AsyncSQLiteStorage(")


@pytest.mark.anyio
async def test_sqlite_create_table_false_needs_existing_tables(db: Path) -> None:
    """Issue: with create_table=False nothing is created; missing tables are a StorageError."""
    storage = AsyncSQLiteStorage(path=db, create_table=False)
    assert await storage.health() is False
    with pytest.raises(StorageError):
        await storage.get_entries(BASE + "/a")
    assert await scalar(storage, "SELECT count(*) FROM sqlite_master") == 0
    await storage.aclose()

    async with AsyncSQLiteStorage(path=db) as creator:
        await put(creator, make_entry(), b"made by creator")
    async with AsyncSQLiteStorage(path=db, create_table=False) as storage:
        assert await storage.health() is True
        [found] = await storage.get_entries(BASE + "/a")
        assert await body_of(storage, found) == b"made by creator"


@pytest.mark.anyio
async def test_sqlite_user_connection_is_used_but_never_closed(db: Path) -> None:
    """Issue: close() leaves a caller's connection open, and the storage keeps working."""
    conn = await user_connection(db)
    try:
        storage = AsyncSQLiteStorage(connection=conn)
        committed = await put(storage, make_entry(), b"body")
        await storage.aclose()
        await storage.aclose()
        assert conn.total_changes > 0  # raises on a closed connection
        assert await body_of(storage, committed) == b"body"
        again = AsyncSQLiteStorage(connection=conn)
        assert [e.key for e in await again.get_entries(committed.key)] == [committed.key]
        await again.aclose()
        assert conn.total_changes > 0
    finally:
        await conn.close()
    async with AsyncSQLiteStorage(path=db) as reader:  # the writes were committed
        assert len(await reader.get_entries(committed.key)) == 1


# -- bodies ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_sqlite_body_is_stored_in_bounded_chunks(db: Path) -> None:
    """DESIGN §3: a body is kept as rows of at most 1 MiB and read back chunk by chunk."""
    body = os.urandom(CHUNK_SIZE) * 2 + b"tail"
    async with AsyncSQLiteStorage(path=db) as storage:
        committed = await put(storage, make_entry(), body)
        assert committed.size == len(body)
        rows = await storage._fetchall(
            "SELECT seq, length(chunk) FROM httpcache_bodies ORDER BY seq"
        )
        assert rows == [(0, CHUNK_SIZE), (1, CHUNK_SIZE), (2, 4)]
        chunks = await storage.open_body(committed)
        assert chunks is not None
        sizes = [len(chunk) async for chunk in chunks]
        assert sizes == [CHUNK_SIZE, CHUNK_SIZE, 4]


async def live_chunks(storage: AsyncSQLiteStorage) -> int:
    """Count the chunks not retired (retired ones count as staged nearly a day ago)."""
    recent = time.time() - STAGING_GRACE / 2
    sql = "SELECT count(*) FROM httpcache_bodies WHERE staged_at > ?"
    return int(await scalar(storage, sql, (recent,)))


async def end_linger(storage: AsyncSQLiteStorage) -> None:
    """Move every chunk's ``staged_at`` back past the linger, as if a minute had passed."""
    await storage._execute(
        "UPDATE httpcache_bodies SET staged_at = staged_at - ?", (RETIRED_LINGER + 1,)
    )


@pytest.mark.anyio
async def test_sqlite_abort_and_replace_leave_no_stray_chunks(db: Path) -> None:
    """DESIGN §3: an aborted body is deleted; a replaced one is retired, then swept."""
    async with AsyncSQLiteStorage(path=db) as storage:
        writer = await storage.open_writer(make_entry())
        await writer.write(b"x" * (CHUNK_SIZE + 10))
        assert await scalar(storage, "SELECT count(*) FROM httpcache_bodies") == 1  # staged
        assert await storage.get_entries(BASE + "/a") == []
        await writer.abort()
        await writer.abort()
        assert await scalar(storage, "SELECT count(*) FROM httpcache_bodies") == 0
        with pytest.raises(RuntimeError):
            await writer.commit()

        await put(storage, make_entry(), b"old" * CHUNK_SIZE)
        await put(storage, make_entry(), b"newer" * CHUNK_SIZE)
        assert await live_chunks(storage) == 5
        assert await scalar(storage, "SELECT count(*) FROM httpcache_bodies") == 8
        await put(storage, make_entry(), b"inline")  # chunked -> inline retires the chunks too
        assert await live_chunks(storage) == 0
        await put(storage, make_entry(), b"big" * CHUNK_SIZE)
        await storage.delete_entries(BASE + "/a")
        assert await live_chunks(storage) == 0
        await end_linger(storage)
        assert await storage.delete_expired() == 0
        assert await scalar(storage, "SELECT count(*) FROM httpcache_bodies") == 0


@pytest.mark.anyio
async def test_sqlite_body_replaced_while_read_is_read_to_the_end(db: Path) -> None:
    """A body replaced or deleted mid-read stays readable (the load test's cache hits)."""
    async with AsyncSQLiteStorage(path=db) as storage:
        await put(storage, make_entry(), b"a" * (2 * CHUNK_SIZE) + b"!")
        [found] = await storage.get_entries(BASE + "/a")
        chunks = await storage.open_body(found)
        assert chunks is not None
        first = await chunks.__anext__()
        await put(storage, make_entry(), b"b" * (2 * CHUNK_SIZE))  # a newer large body
        await storage.delete_entries(BASE + "/a")
        rest = [chunk async for chunk in chunks]
        assert first + b"".join(rest) == b"a" * (2 * CHUNK_SIZE) + b"!"


@pytest.mark.anyio
async def test_sqlite_body_swept_while_read_raises_not_truncates(db: Path) -> None:
    """DESIGN §3: a reader slower than the linger gets an error, never a shortened body."""
    async with AsyncSQLiteStorage(path=db) as storage:
        await put(storage, make_entry(), b"a" * (2 * CHUNK_SIZE))
        [found] = await storage.get_entries(BASE + "/a")
        chunks = await storage.open_body(found)
        assert chunks is not None
        assert len(await chunks.__anext__()) == CHUNK_SIZE
        await put(storage, make_entry(), b"replacement")
        await end_linger(storage)
        await storage.delete_expired()
        with pytest.raises(StorageError):
            await chunks.__anext__()


@pytest.mark.anyio
async def test_sqlite_delete_expired_sweeps_only_old_orphaned_stages(db: Path) -> None:
    """DESIGN §3: chunks a crashed writer left are swept after a day; live writers keep theirs."""
    async with AsyncSQLiteStorage(path=db) as storage:
        live = await storage.open_writer(make_entry("/live"))
        await live.write(b"y" * CHUNK_SIZE)
        await storage._execute(
            "INSERT INTO httpcache_bodies (body_id, seq, chunk, staged_at) VALUES (?, 0, ?, ?)",
            ("crashed", b"z", 1.0),
        )
        kept = await put(storage, make_entry("/kept"), b"k" * (INLINE_LIMIT + 1))  # chunked
        await storage._execute(  # a committed body is never swept, however old
            "UPDATE httpcache_bodies SET staged_at = 1.0"
            " WHERE body_id IN (SELECT body_id FROM httpcache)"
        )
        assert await storage.delete_expired() == 0
        ids = {row[0] for row in await storage._fetchall("SELECT body_id FROM httpcache_bodies")}
        assert "crashed" not in ids
        assert len(ids) == 2  # the live writer's stage and the committed body
        await live.write(b"!")
        committed = await live.commit()
        assert await body_of(storage, committed) == b"y" * CHUNK_SIZE + b"!"
        assert await body_of(storage, kept) == b"k" * (INLINE_LIMIT + 1)


# -- metadata, namespaces, management --------------------------------------------------------


@pytest.mark.anyio
async def test_sqlite_hits_and_size_columns_win_over_the_head(db: Path) -> None:
    """Storage: hits are counted in a column, and stats count body bytes and expired rows."""
    clock_now = [T0]
    async with AsyncSQLiteStorage(
        path=db, ttl=10, serializer=PickleSerializer(), clock=lambda: clock_now[0]
    ) as storage:
        committed = await put(storage, make_entry(), b"12345")
        await put(storage, make_entry("/b", ttl=100), b"678")
        for _ in range(3):
            await storage.record_hit(committed)
        [found] = await storage.get_entries(committed.key)
        assert (found.hits, found.size) == (3, 5)
        clock_now[0] += 20
        assert await storage.stats() == StorageStats(entries=2, bytes=8, expired=1)
        assert await storage.delete_expired() == 1
        assert await storage.stats() == StorageStats(entries=1, bytes=3, expired=0)


@pytest.mark.anyio
async def test_sqlite_namespaces_share_one_file_and_stay_apart(db: Path) -> None:
    """Issue: with_namespace children share a connection; clear() stays in its own subtree."""
    async with AsyncSQLiteStorage(path=db) as root:
        team = root.with_namespace("team")
        alice = team.with_namespace("alice")
        teammate = root.with_namespace("team2")  # a sibling whose name extends "team"
        for storage, path in ((root, "/r"), (team, "/t"), (alice, "/a"), (teammate, "/m")):
            await put(storage, make_entry(path))
        assert alice.namespace == "team/alice"
        assert [e.request.url async for e in team.iter_entries()] == [BASE + "/t", BASE + "/a"]
        assert (await team.stats()).entries == 2
        await team.clear()
        assert await alice.get_entries(BASE + "/a") == []
        assert len(await teammate.get_entries(BASE + "/m")) == 1
        assert len(await root.get_entries(BASE + "/r")) == 1
        assert (await root.stats()).entries == 2


@pytest.mark.anyio
async def test_sqlite_iter_entries_pages_and_globs(db: Path) -> None:
    """Issue: listing walks every row in pages and filters URLs with a glob."""
    async with AsyncSQLiteStorage(path=db) as storage:
        for n in range(250):
            await put(storage, make_entry(f"/item/{n}"), b"")
        await put(storage, make_entry("/other/x"), b"")
        assert len([e async for e in storage.iter_entries()]) == 251
        assert len([e async for e in storage.iter_entries("*/item/1?")]) == 10
        assert [e.request.url async for e in storage.iter_entries("*/[!i]ther/*")] == [
            BASE + "/other/x"
        ]


@pytest.mark.anyio
async def test_sqlite_foreign_record_is_a_logged_miss(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """DESIGN §4: a record naming another key is treated as corrupt: removed and logged."""
    async with AsyncSQLiteStorage(path=db) as storage:
        await put(storage, make_entry("/a"))
        other = await put(storage, make_entry("/b"))
        await storage._execute(
            "UPDATE httpcache SET head = (SELECT head FROM httpcache WHERE cache_key = ?)"
            " WHERE cache_key = ?",
            (other.key, BASE + "/a"),
        )
        with caplog.at_level(logging.WARNING, logger="httpcache.storage"):
            assert await storage.get_entries(BASE + "/a") == []
        assert [r.name for r in caplog.records] == ["httpcache.storage"]
        assert await storage.stats() == StorageStats(entries=1, bytes=5)


# -- concurrency -------------------------------------------------------------------------


@pytest.mark.parametrize("own", [pytest.param(True, id="own"), pytest.param(False, id="caller")])
@pytest.mark.anyio
async def test_sqlite_one_storage_from_eight_threads_loses_nothing(db: Path, own: bool) -> None:
    """Issue: one storage object is used from many threads at once; every write is kept.

    Also with a caller's connection in sqlite3's default (implicit transaction) mode.
    """
    conn = None if own else await user_connection(db)
    storage = AsyncSQLiteStorage(path=db) if conn is None else AsyncSQLiteStorage(connection=conn)
    assert await storage.health()  # open the connection before the threads share it
    threads, per_thread = 8, 25
    barrier = threading.Barrier(threads)

    async def work(index: int) -> None:
        barrier.wait()
        for n in range(per_thread):
            await put(storage, make_entry(f"/t{index}", variant=f"v{n}"), b"x" * (n + 1))
            await storage.record_hit(make_entry(f"/t{(index + 1) % threads}", variant="v0"))
            await storage.get_entries(BASE + f"/t{(index + 1) % threads}")

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda index: run_blocking(work, index), range(threads)))
        expected_bytes = threads * sum(range(1, per_thread + 1))
        stats = await storage.stats()
        assert stats == StorageStats(entries=threads * per_thread, bytes=expected_bytes)
        for index in range(threads):
            found = await storage.get_entries(BASE + f"/t{index}")
            assert len(found) == per_thread
            for entry in found:
                assert await body_of(storage, entry) == b"x" * (entry.size or 0)
    finally:
        await storage.aclose()
        if conn is not None:
            await conn.close()


def _body(index: int, n: int) -> bytes:
    size = CHUNK_SIZE + 7 if n % 10 == 0 else 1000 + n
    return bytes([index, n]) * (size // 2)


async def _write_many(path: str, index: int, barrier: Any) -> None:
    """One process's share of the cross-process test: 50 entries, reading the other's too."""
    async with AsyncSQLiteStorage(path=path) as storage:
        await storage.health()
        barrier.wait(timeout=60)
        for n in range(50):
            await put(storage, make_entry(f"/p{index}/{n}"), _body(index, n))
            for entry in await storage.get_entries(BASE + f"/p{1 - index}/{n}"):
                await body_of(storage, entry)


def _process_main(path: str, index: int, barrier: Any) -> None:
    run_blocking(_write_many, path, index, barrier)


@pytest.mark.anyio
async def test_sqlite_two_processes_share_one_file(db: Path) -> None:
    """Issue: several processes write one file at once; all entries end up complete."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_process_main, args=(str(db), i, barrier)) for i in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0, 0]
    async with AsyncSQLiteStorage(path=db) as storage:
        assert (await storage.stats()).entries == 100
        for index in range(2):
            for n in range(50):
                [entry] = await storage.get_entries(BASE + f"/p{index}/{n}")
                assert await body_of(storage, entry) == _body(index, n)
