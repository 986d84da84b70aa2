"""AsyncSQLiteStorage: what a hit, a store and a revalidation cost, counted (DESIGN §3).

Statements are counted with SQLite's own trace callback on the storage's connection; for
aiosqlite also the calls that hop to its worker thread. The generated sync copy of this
file counts the same for ``SQLiteStorage`` (where there are no hops).
"""

from __future__ import annotations

import inspect
import logging
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiosqlite
import httpx
import pytest

import httpcache
from httpcache import AsyncSQLiteStorage, CacheOptions, Entry, StorageError
from httpcache._storages.sqlite._sql import CHUNK_SIZE, INLINE_LIMIT
from tests._async.support import Clock, Origin, respond

IS_ASYNC = inspect.iscoroutinefunction(AsyncSQLiteStorage.get_entries)
URL = "http://example.com/r"
FRESH = {"Cache-Control": "max-age=3600"}


class Trace:
    """What one storage did to its connection: statements run, and (aiosqlite) thread hops."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.hops = 0

    def reset(self) -> None:
        self.statements.clear()
        self.hops = 0

    def record(self, sql: str) -> None:
        if not sql.startswith("--"):  # a trigger's body, reported as a comment
            self.statements.append(sql.split(None, 1)[0].upper())

    @property
    def writes(self) -> list[str]:
        return [verb for verb in self.statements if verb != "SELECT"]


async def traced(storage: AsyncSQLiteStorage) -> Trace:
    """Open the storage's connection and start counting what it runs."""
    assert await storage.health()
    conn: Any = storage._shared.connection
    trace = Trace()
    await conn.set_trace_callback(trace.record)
    if IS_ASYNC:
        original = conn._execute

        async def hop(fn: Any, *args: Any, **kwargs: Any) -> Any:
            trace.hops += 1
            return await original(fn, *args, **kwargs)

        conn._execute = hop
    return trace


def hops(count: int) -> int:
    """The aiosqlite calls an operation may make (a sync storage makes none)."""
    return count if IS_ASYNC else 0


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[AsyncSQLiteStorage]:
    async with AsyncSQLiteStorage(path=tmp_path / "cache.db") as storage:
        yield storage


def client(
    storage: AsyncSQLiteStorage, origin: Origin, clock: Clock | None = None
) -> httpcache.AsyncCacheClient:
    options = CacheOptions() if clock is None else CacheOptions(clock=clock)
    return httpcache.AsyncCacheClient(
        transport=httpx.MockTransport(origin), storage=storage, options=options
    )


async def fail_open_body(entry: Entry) -> None:
    raise AssertionError("open_body was called for an inline body")


# -- the hot path, counted ----------------------------------------------------------------


@pytest.mark.anyio
async def test_sqlite_small_hit_is_one_select_and_no_write(storage: AsyncSQLiteStorage) -> None:
    """DESIGN §3: a hit of a small body is one SELECT (one hop), never a write or open_body."""
    origin = Origin(respond(200, FRESH, b"x" * 1024))
    trace = await traced(storage)
    storage.open_body = fail_open_body  # type: ignore[assignment,method-assign]
    async with client(storage, origin) as http:
        await http.get(URL)
        trace.reset()
        for _ in range(20):
            response = await http.get(URL)
            assert response.extensions["from_cache"] is True
            assert response.content == b"x" * 1024
    assert origin.calls == 1
    assert trace.statements == ["SELECT"] * 20
    assert trace.hops == hops(20)


@pytest.mark.anyio
async def test_sqlite_small_store_is_one_statement(storage: AsyncSQLiteStorage) -> None:
    """DESIGN §3: a miss and store of a small body: the lookup, then one INSERT (no chunks).

    Around the origin request the miss takes the key's lease (an INSERT into the lease
    table) and gives it back (a DELETE): request collapsing across processes.
    """
    origin = Origin(respond(200, FRESH, b"y" * INLINE_LIMIT))
    trace = await traced(storage)
    async with client(storage, origin) as http:
        for n in range(5):
            await http.get(f"{URL}/{n}")
    assert trace.statements == ["SELECT", "INSERT", "INSERT", "DELETE"] * 5
    assert trace.hops == hops(20)
    rows = await storage._fetchall("SELECT length(body), body_id, chunks FROM httpcache")
    assert rows == [(INLINE_LIMIT, None, 0)] * 5
    assert await storage._fetchall("SELECT count(*) FROM httpcache_bodies") == [(0,)]


@pytest.mark.anyio
async def test_sqlite_revalidation_is_one_select_and_one_update(
    storage: AsyncSQLiteStorage,
) -> None:
    """DESIGN §3: a 304 revalidation is the lookup and one UPDATE of the head; the body stays.

    Plus the key's lease, taken before the conditional request and given back after it.
    """

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Cache-Control": "max-age=0", "ETag": '"v1"'}
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers=headers)
        return httpx.Response(200, headers=headers, content=b"stored body")

    origin = Origin(handler)
    trace = await traced(storage)
    storage.open_body = fail_open_body  # type: ignore[assignment,method-assign]
    async with client(storage, origin) as http:
        await http.get(URL)
        trace.reset()
        for _ in range(3):
            response = await http.get(URL)
            assert response.extensions["revalidated"] is True
            assert response.content == b"stored body"
    assert origin.calls == 4
    assert trace.statements == ["SELECT", "INSERT", "UPDATE", "DELETE"] * 3
    assert trace.hops == hops(12)


@pytest.mark.anyio
async def test_sqlite_large_body_streams_by_reference(storage: AsyncSQLiteStorage) -> None:
    """DESIGN §3: a large body is chunked; a hit reads the head once, then chunk by chunk."""
    body = bytes(range(256)) * (5 * CHUNK_SIZE // 256) + b"tail"
    origin = Origin(respond(200, FRESH, body))
    async with client(storage, origin) as http:
        await http.get(URL)
        [entry] = await storage.get_entries(URL)
        assert entry.body is None and entry.body_ref is not None
        trace = await traced(storage)
        async with http.stream("GET", URL) as response:
            sizes = [len(chunk) async for chunk in response.aiter_bytes()]
    assert response.extensions["from_cache"] is True
    assert max(sizes) <= CHUNK_SIZE and sum(sizes) == len(body)
    # the lookup, then one SELECT per chunk: no second lookup of the row
    assert trace.statements == ["SELECT"] * 7
    rows = await storage._fetchall("SELECT max(length(chunk)), count(*) FROM httpcache_bodies")
    assert rows == [(CHUNK_SIZE, 6)]


# -- hits: batched, eventually consistent ---------------------------------------------------


async def column_hits(path: Path) -> list[tuple[Any, ...]]:
    """Read the hit columns as another process (the CLI) sees them, through its own connection."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT hits, accessed_at FROM httpcache ORDER BY id").fetchall()


@pytest.mark.anyio
async def test_sqlite_hits_are_written_after_the_interval_and_on_close(tmp_path: Path) -> None:
    """DESIGN §3: hits wait in memory; one executemany writes them a second later, or at close."""
    path, clock = tmp_path / "cache.db", Clock()
    storage = AsyncSQLiteStorage(path=path, clock=clock)
    origin = Origin(respond(200, FRESH, b"z"))
    trace = await traced(storage)
    async with client(storage, origin, clock) as http:
        for url in (URL, URL + "/2"):
            await http.get(url)
        trace.reset()
        for _ in range(3):
            await http.get(URL)
            await http.get(URL + "/2")
        assert trace.writes == []
        assert await column_hits(path) == [(0, None), (0, None)]
        [seen] = await storage.get_entries(URL)  # the storage itself sees its own hits
        assert seen.hits == 3

        clock.advance(1.0)
        trace.reset()
        response = await http.get(URL)
        assert response.extensions["cache_metadata"]["hits"] == 4
        assert trace.writes == ["UPDATE", "UPDATE"]  # one row per stored response ...
        assert trace.hops == hops(2)  # ... in one executemany, after the lookup
        assert await column_hits(path) == [(4, clock.now), (3, clock.now - 1.0)]

        await http.get(URL + "/2")
        assert await column_hits(path) == [(4, clock.now), (3, clock.now - 1.0)]
    await storage.aclose()
    assert await column_hits(path) == [(4, clock.now), (4, clock.now)]
    await storage.aclose()  # twice is safe, and writes nothing more
    assert await column_hits(path) == [(4, clock.now), (4, clock.now)]


@pytest.mark.anyio
async def test_sqlite_sliding_renewal_is_written_at_once(tmp_path: Path) -> None:
    """Sliding expiry: hits within a tenth of the ttl wait; a later one renews at once."""
    path, clock = tmp_path / "cache.db", Clock()
    async with AsyncSQLiteStorage(path=path, clock=clock, ttl=100, sliding=True) as storage:
        origin = Origin(respond(200, FRESH, b"s"))
        async with client(storage, origin, clock) as http:
            await http.get(URL)
            trace = await traced(storage)
            clock.advance(5)
            await http.get(URL)
            assert trace.writes == []
            clock.advance(60)  # past a tenth of the ttl since the store: renew now
            await http.get(URL)
            assert trace.writes == ["UPDATE"]
            expires = await storage._fetchall("SELECT expires_at, hits FROM httpcache")
            assert expires == [(clock.now + 100, 2)]
            clock.advance(99)  # 164 s after the store, alive thanks to the renewal
            assert (await http.get(URL)).extensions["from_cache"] is True
        assert origin.calls == 1


@pytest.mark.anyio
async def test_sqlite_pending_hits_of_a_replaced_response_are_dropped(tmp_path: Path) -> None:
    """DESIGN §3: a write-back applies only to the response that was hit (created_at, size)."""
    path, clock = tmp_path / "cache.db", Clock()
    async with AsyncSQLiteStorage(path=path, clock=clock) as storage:
        async with client(storage, Origin(respond(200, FRESH, b"old")), clock) as http:
            await http.get(URL)
            await http.get(URL)  # one pending hit on the old response
        [old] = await storage.get_entries(URL)
        later = old.created_at + 10
        newer = replace(old, created_at=later, request_time=later, response_time=later)
        writer = await storage.open_writer(replace(newer, hits=0, accessed_at=None, body=None))
        await writer.write(b"new")  # the same size: only created_at tells them apart
        await writer.commit()
    assert await column_hits(path) == [(0, None)]


@pytest.mark.anyio
async def test_sqlite_delete_discards_pending_hits(storage: AsyncSQLiteStorage) -> None:
    """DESIGN §3: deleting an entry forgets its pending hits; nothing is written for them."""
    async with client(storage, Origin(respond(200, FRESH, b"d"))) as http:
        await http.get(URL)
        await http.get(URL)
    assert len(storage._shared.hits) == 1
    await storage.delete_entries(URL)
    assert len(storage._shared.hits) == 0


@pytest.mark.anyio
async def test_sqlite_update_of_a_replaced_response_changes_nothing(
    storage: AsyncSQLiteStorage,
) -> None:
    """A 304 that freshens a response another writer has replaced never touches the new one."""
    async with client(storage, Origin(respond(200, FRESH, b"first"))) as http:
        await http.get(URL)
    [old] = await storage.get_entries(URL)
    async with client(storage, Origin(respond(200, FRESH, b"second!"))) as http:
        await http.get(URL, headers={"Cache-Control": "no-cache"})
    await storage.update_entry(old)
    [found] = await storage.get_entries(URL)
    assert found.body == b"second!" and found.size == 7


# -- connections, schema ---------------------------------------------------------------------


async def user_connection(path: Path) -> Any:
    if IS_ASYNC:
        return await aiosqlite.connect(path)
    return sqlite3.connect(path, check_same_thread=False)


@pytest.mark.parametrize(
    ("wal", "journal", "synchronous"),
    [pytest.param(True, "wal", 1, id="tuned"), pytest.param(False, "delete", 2, id="opt-out")],
)
@pytest.mark.anyio
async def test_sqlite_user_connection_gets_wal_unless_opted_out(
    tmp_path: Path, wal: bool, journal: str, synchronous: int
) -> None:
    """Issue: a caller's connection is put in WAL with synchronous=NORMAL unless wal=False."""
    conn = await user_connection(tmp_path / "cache.db")
    try:
        storage = AsyncSQLiteStorage(connection=conn, wal=wal)
        assert await storage.health()
        rows = await storage._fetchall("PRAGMA journal_mode")
        assert rows == [(journal,)]
        assert await storage._fetchall("PRAGMA synchronous") == [(synchronous,)]
        await storage.aclose()
    finally:
        await conn.close()


@pytest.mark.anyio
async def test_sqlite_own_file_without_wal_keeps_sqlite_defaults(tmp_path: Path) -> None:
    """wal=False leaves a database the storage opens in SQLite's default journal mode."""
    async with AsyncSQLiteStorage(path=tmp_path / "cache.db", wal=False) as storage:
        assert await storage._fetchall("PRAGMA journal_mode") == [("delete",)]


V1_SCHEMA = (
    "CREATE TABLE httpcache (id INTEGER PRIMARY KEY, namespace TEXT NOT NULL,"
    " cache_key TEXT NOT NULL, variant TEXT NOT NULL, url TEXT NOT NULL, head BLOB NOT NULL,"
    " hits INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL, body_id TEXT NOT NULL UNIQUE,"
    " chunks INTEGER NOT NULL, expires_at REAL, accessed_at REAL,"
    " UNIQUE (namespace, cache_key, variant))",
    "CREATE TABLE httpcache_bodies (body_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " chunk BLOB NOT NULL, staged_at REAL NOT NULL, PRIMARY KEY (body_id, seq))",
    "INSERT INTO httpcache VALUES (1, '', 'k', 'v', 'http://x/', x'00', 0, 1, 'b', 1, NULL, NULL)",
    "INSERT INTO httpcache_bodies VALUES ('b', 0, x'61', 0)",
)


def make_db(path: Path, statements: tuple[str, ...]) -> None:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


@pytest.mark.anyio
async def test_sqlite_old_schema_is_rebuilt_empty_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Schema 1 (bodies only as chunks) is dropped and recreated: a logged loss of a cache."""
    path = tmp_path / "cache.db"
    make_db(path, V1_SCHEMA)
    with caplog.at_level(logging.WARNING, logger="httpcache.storage"):
        async with AsyncSQLiteStorage(path=path) as storage:
            assert await storage.get_entries("k") == []
            async with client(storage, Origin(respond(200, FRESH, b"new"))) as http:
                await http.get(URL)
                assert (await http.get(URL)).extensions["from_cache"] is True
            assert await storage._fetchall("SELECT count(*) FROM httpcache_bodies") == [(0,)]
    assert ["rebuilt" in r.getMessage() for r in caplog.records] == [True]
    async with AsyncSQLiteStorage(path=path) as again:  # rebuilt once, then current
        assert len(await again.get_entries(URL)) == 1


FIRST_SCHEMA_2_TRIGGER = (  # schema 2 as first released deleted a replaced body at once
    'CREATE TRIGGER "httpcache_drop_body" AFTER DELETE ON "httpcache"'
    ' WHEN OLD.body_id IS NOT NULL BEGIN DELETE FROM "httpcache_bodies"'
    " WHERE body_id = OLD.body_id; END"
)


@pytest.mark.anyio
async def test_sqlite_first_schema_2_triggers_are_replaced_and_entries_kept(
    tmp_path: Path,
) -> None:
    """Its triggers deleted a body a reader may still be reading; they give way to retiring."""
    path = tmp_path / "cache.db"
    origin = Origin(respond(200, FRESH, b"x" * (INLINE_LIMIT + 1)))
    async with AsyncSQLiteStorage(path=path) as storage, client(storage, origin) as http:
        await http.get(URL)
    make_db(
        path,
        (
            'DROP TRIGGER "httpcache_retire_body"',
            'DROP TRIGGER "httpcache_retire_swapped"',
            FIRST_SCHEMA_2_TRIGGER,
        ),
    )
    async with AsyncSQLiteStorage(path=path) as storage:
        assert len(await storage.get_entries(URL)) == 1
        rows = await storage._fetchall("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        assert {row[0] for row in rows} == {"httpcache_retire_body", "httpcache_retire_swapped"}
        await storage.delete_entries(URL)
        assert await storage._fetchall("SELECT count(*) FROM httpcache_bodies") == [(1,)]


FOREIGN = ("CREATE TABLE httpcache (note TEXT)", "INSERT INTO httpcache VALUES ('mine')")


@pytest.mark.parametrize(
    ("statements", "create_table", "hint"),
    [
        pytest.param(V1_SCHEMA, False, "older httpcache", id="old-without-create-table"),
        pytest.param(FOREIGN, True, "not an httpcache", id="foreign"),
    ],
)
@pytest.mark.anyio
async def test_sqlite_unusable_table_is_a_storage_error_with_a_hint(
    tmp_path: Path, statements: tuple[str, ...], create_table: bool, hint: str
) -> None:
    """A table the storage may not rebuild is never touched: every call says why it fails."""
    path = tmp_path / "cache.db"
    make_db(path, statements)
    storage = AsyncSQLiteStorage(path=path, create_table=create_table)
    with pytest.raises(StorageError, match=hint):
        await storage.get_entries("k")
    assert await storage.health() is False
    await storage.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM httpcache").fetchone() == (1,)
    conn.close()
