"""Storage leases, the capability behind cross-process request collapsing (``AsyncLeasingStorage``).

File, SQLite and Redis lend a key to one holder at a time, across threads, tasks and OS
processes; memory and S3 have no leases. Every storage here is built directly (a fresh
directory, database file or Redis namespace per test), because other processes must
open the very same one from a :class:`Spec`. The generated ``tests/_sync`` copy runs
the same tests against the sync storages (threads instead of tasks).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from httpcache import (
    AsyncFileStorage,
    AsyncInMemoryStorage,
    AsyncLeasingStorage,
    AsyncRedisStorage,
    AsyncS3Storage,
    AsyncSQLiteStorage,
    StorageError,
)
from httpcache._storages.file import _layout as file_layout
from httpcache._storages.file import _leases as file_leases
from httpcache._storages.redis._keys import lease_key
from tests._async import storage_backends  # noqa: F401 (first: it imports backend_redis itself)
from tests._async.backend_redis import TEST_PREFIX, connect
from tests._async.test_storage_contract import listed, make_entry, put
from tests.leasing import AsyncCrowd, AsyncPoll, run_to_end

KINDS = ["file", "sqlite", "redis"]
LONG = 30.0  # seconds: a lease that must not lapse during a test
SHORT = 0.05  # seconds: a lease a test waits out
ROUNDS = 50


@dataclass(frozen=True)
class Spec:
    """Where one test's storage lives, so that another process can open the same one."""

    kind: str
    location: str  # a directory, a database file, or a Redis namespace


async def open_storage(spec: Spec) -> Any:
    """Open the storage ``spec`` names (a new object; the data is shared)."""
    if spec.kind == "file":
        return AsyncFileStorage(base_path=spec.location)
    if spec.kind == "sqlite":
        # A long busy timeout: these tests are about who wins a lease, and on a loaded
        # machine the 0.25 s default can run out while the other process writes.
        return AsyncSQLiteStorage(path=spec.location, timeout=10.0)
    storage = AsyncRedisStorage(client=await connect(), namespace=spec.location)
    storage._owns_client = True  # close the test's client with the storage
    return storage


def make_spec(kind: str, tmp_path: Path) -> Spec:
    if kind == "file":
        return Spec(kind, str(tmp_path / "cache"))
    if kind == "sqlite":
        return Spec(kind, str(tmp_path / "cache.db"))
    return Spec(kind, f"{TEST_PREFIX}:lease-{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=KINDS)
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> Spec:
    return make_spec(request.param, tmp_path)


@pytest.fixture
async def storage(spec: Spec) -> AsyncIterator[Any]:
    opened = await open_storage(spec)
    yield opened
    await opened.clear()
    await opened.aclose()


def is_token(value: object) -> bool:
    return isinstance(value, str) and len(value) == 32 and int(value, 16) >= 0


# -- one process ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_lease_acquire_returns_token_then_none_while_held(storage: Any) -> None:
    """A free key's lease is taken (a token); while held it is refused; other keys are free."""
    token = await storage.acquire_lease("k", LONG)
    assert is_token(token)
    assert await storage.acquire_lease("k", LONG) is None
    other = await storage.acquire_lease("other", LONG)
    assert is_token(other) and other != token


@pytest.mark.anyio
async def test_lease_release_needs_the_holders_token(storage: Any) -> None:
    """A release with a wrong token keeps the lease; the holder's token frees it."""
    token = await storage.acquire_lease("k", LONG)
    assert token is not None
    await storage.release_lease("k", "0" * 32)
    assert await storage.acquire_lease("k", LONG) is None
    await storage.release_lease("k", token)
    again = await storage.acquire_lease("k", LONG)
    assert is_token(again) and again != token
    await storage.release_lease("never-leased", "0" * 32)  # nothing to give back: harmless


@pytest.mark.anyio
async def test_lease_lapsed_is_taken_over_and_old_release_leaves_it(storage: Any) -> None:
    """A lapsed lease goes to the next caller; its old holder's release cannot free it."""
    old = await storage.acquire_lease("k", SHORT)
    assert old is not None
    new = await AsyncPoll().until(storage.acquire_lease, "k", LONG)
    assert is_token(new) and new != old
    await storage.release_lease("k", old)
    assert await storage.acquire_lease("k", LONG) is None
    await storage.release_lease("k", new)
    assert await storage.acquire_lease("k", LONG) is not None


@pytest.mark.anyio
async def test_lease_storages_are_leasing_storages(storage: Any) -> None:
    """File, SQLite and Redis storages (and their namespaces) satisfy the protocol."""
    assert isinstance(storage, AsyncLeasingStorage)
    assert isinstance(storage.with_namespace("child"), AsyncLeasingStorage)


def test_lease_memory_and_s3_storages_have_no_leases() -> None:
    """Memory (one process) and S3 (no cheap atomic create everywhere) lend no leases."""
    assert not isinstance(AsyncInMemoryStorage(), AsyncLeasingStorage)
    assert not isinstance(AsyncS3Storage(bucket_name="unused"), AsyncLeasingStorage)


@pytest.mark.anyio
async def test_lease_contention_has_exactly_one_winner(storage: Any) -> None:
    """Sixteen callers race for one key at once: exactly one gets the lease."""
    await storage.acquire_lease("warm-up", LONG)  # open the connection before the race

    async def attempt(index: int) -> str | None:
        token: str | None = await storage.acquire_lease("contended", LONG)
        return token

    tokens = await AsyncCrowd(16).run(attempt)
    assert len([token for token in tokens if token is not None]) == 1


@pytest.mark.anyio
async def test_lease_contention_over_a_lapsed_lease_has_one_winner(storage: Any) -> None:
    """Sixteen callers race to take over one lapsed lease: exactly one gets it."""
    for round_ in range(5):
        key = f"lapsed-{round_}"
        assert await storage.acquire_lease(key, 0.001) is not None
        time.sleep(0.005)  # a few times its ttl: lapsed

        async def attempt(index: int, key: str = key) -> str | None:
            token: str | None = await storage.acquire_lease(key, LONG)
            return token

        tokens = await AsyncCrowd(16).run(attempt)
        assert len([token for token in tokens if token is not None]) == 1


@pytest.mark.anyio
async def test_lease_clear_drops_leases_and_listings_ignore_them(storage: Any) -> None:
    """clear() frees leases; entries, listings and stats never count them."""
    entry = await put(storage, make_entry("http://example.com/kept"))
    assert await storage.acquire_lease(entry.key, LONG) is not None
    assert await storage.acquire_lease("bare", LONG) is not None
    assert [e.key for e in await listed(storage)] == [entry.key]
    stats = await storage.stats()
    assert (stats.entries, stats.expired) == (1, 0)
    assert len(await storage.get_entries(entry.key)) == 1
    assert await storage.delete_expired() == 0
    assert await storage.acquire_lease("bare", LONG) is None  # pruning kept the lease
    await storage.clear()
    assert await storage.acquire_lease("bare", LONG) is not None
    assert await storage.acquire_lease(entry.key, LONG) is not None
    assert await listed(storage) == []


@pytest.mark.anyio
async def test_lease_clear_of_a_namespace_keeps_other_namespaces_leases(storage: Any) -> None:
    """A namespace's clear() drops its own leases (and its children's), never a sibling's."""
    left, right = storage.with_namespace("left"), storage.with_namespace("right")
    grandchild = left.with_namespace("deep")
    for where in (storage, left, right, grandchild):
        assert await where.acquire_lease("k", LONG) is not None  # namespaces lease apart
    await left.clear()
    assert await left.acquire_lease("k", LONG) is not None
    assert await grandchild.acquire_lease("k", LONG) is not None
    assert await right.acquire_lease("k", LONG) is None
    assert await storage.acquire_lease("k", LONG) is None


# -- what each backend keeps ---------------------------------------------------------------


@pytest.mark.anyio
async def test_lease_file_is_private_and_an_unreadable_one_lapses_by_age(tmp_path: Path) -> None:
    """A lease file is 0600 under leases/; one a crashed holder left empty lapses after 1 s."""
    storage = AsyncFileStorage(base_path=tmp_path / "cache").with_namespace("ns")
    token = await storage.acquire_lease("k", LONG)
    path = Path(file_leases.lease_path(storage._core.dir, "k"))
    assert path.parent.name == "leases" and path.parent.parent == storage._dir
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert file_layout.decode_lease(path.read_bytes()) == (
        token,
        pytest.approx(time.time() + LONG, abs=5),
    )
    path.write_bytes(b"")  # as if its holder died between creating and writing it
    assert await storage.acquire_lease("k", LONG) is None  # young: maybe still being written
    old = time.time() - 2 * file_layout.UNREADABLE_LEASE_LAPSE
    os.utime(path, (old, old))
    assert await storage.acquire_lease("k", LONG) is not None


@pytest.mark.anyio
async def test_lease_sqlite_table_is_added_to_an_existing_database(tmp_path: Path) -> None:
    """A database laid out before leases gets its lease table on open; its entries stay."""
    db = tmp_path / "cache.db"
    async with AsyncSQLiteStorage(path=db) as before:
        entry = await put(before, make_entry())
        await before._execute('DROP TABLE "httpcache_leases"')
    async with AsyncSQLiteStorage(path=db, create_table=False) as strict:
        with pytest.raises(StorageError):
            await strict.acquire_lease("k", LONG)  # may not create it: a storage error
    async with AsyncSQLiteStorage(path=db, table_name="httpcache") as storage:
        assert await storage.acquire_lease("k", LONG) is not None
        assert len(await storage.get_entries(entry.key)) == 1


@pytest.mark.anyio
async def test_lease_redis_key_lives_in_the_namespace_and_expires(tmp_path: Path) -> None:
    """The lease is a key under the namespace's prefix with a Redis expiry of at least 1 ms."""
    storage = await open_storage(make_spec("redis", tmp_path))
    try:
        token = await storage.acquire_lease("k", LONG)
        name = lease_key(storage._base, "k")
        assert name.startswith(storage.key_prefix.encode())
        assert await storage._client.get(name) == token.encode()
        assert 0 < await storage._client.pttl(name) <= LONG * 1000
        assert await storage.acquire_lease("tiny", 0.0) is not None  # ttl rounds up to 1 ms
        await storage.release_lease("k", token)
        assert await storage._client.exists(name) == 0
    finally:
        await storage.clear()
        await storage.aclose()


# -- several processes ---------------------------------------------------------------------


async def _race(spec: Spec, index: int, barrier: Any, results: Any) -> None:
    """One process's side of the race: try each round once, right after the barrier."""
    storage = await open_storage(spec)
    wins: list[bool] = []
    try:
        for round_ in range(ROUNDS):
            key = f"race-{round_ // 2}"
            if round_ % 2 and index == 0:  # odd rounds: the key's lease is there but lapsed
                assert await storage.acquire_lease(key, 0.001) is not None
                time.sleep(0.005)
            barrier.wait(timeout=30)
            token = await storage.acquire_lease(key, LONG)
            wins.append(token is not None)
            barrier.wait(timeout=30)
            if token is not None and round_ % 2 == 0:
                await storage.release_lease(key, token)  # free again for the odd round
            barrier.wait(timeout=30)
    finally:
        results.put((index, wins))
        await storage.aclose()


def _race_worker(spec: Spec, index: int, barrier: Any, results: Any) -> None:
    run_to_end(_race, spec, index, barrier, results)


async def _hold(spec: Spec, ttl: float, results: Any) -> None:
    """Take a lease, say so, and wait to be killed while holding it."""
    storage = await open_storage(spec)
    results.put(await storage.acquire_lease("held", ttl))
    time.sleep(60)


def _hold_worker(spec: Spec, ttl: float, results: Any) -> None:
    run_to_end(_hold, spec, ttl, results)


@pytest.mark.anyio
async def test_lease_two_processes_never_both_win(spec: Spec, storage: Any) -> None:
    """Two OS processes race for one key 50 times (free, then lapsed): one wins each round."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    processes = [
        context.Process(target=_race_worker, args=(spec, index, barrier, results))
        for index in range(2)
    ]
    for process in processes:
        process.start()
    try:
        outcome = dict(results.get(timeout=120) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0, 0]
    assert len(outcome[0]) == len(outcome[1]) == ROUNDS
    both = [n for n in range(ROUNDS) if outcome[0][n] and outcome[1][n]]
    neither = [n for n in range(ROUNDS) if not (outcome[0][n] or outcome[1][n])]
    assert (both, neither) == ([], [])


@pytest.mark.anyio
async def test_lease_of_a_killed_holder_lapses_for_others(spec: Spec, storage: Any) -> None:
    """A holder SIGKILLed while holding a 0.5 s lease never gives it back; it lapses anyway."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    holder = context.Process(target=_hold_worker, args=(spec, 0.5, results))
    holder.start()
    assert holder.pid is not None
    try:
        assert is_token(results.get(timeout=60))
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(timeout=30)
    assert holder.exitcode == -signal.SIGKILL
    assert is_token(await AsyncPoll(deadline=5.0).until(storage.acquire_lease, "held", LONG))
