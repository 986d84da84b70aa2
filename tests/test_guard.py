"""The storage boundary (DESIGN §3): the circuit breaker, the deadline and their logging."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import anyio
import httpx
import pytest

import httpcache._guard as guard_module
from httpcache import (
    AsyncCacheTransport,
    AsyncInMemoryStorage,
    CacheOptions,
    CacheTransport,
    ConfigurationError,
    Entry,
    InMemoryStorage,
    StorageError,
)
from httpcache._guard import FAILED, AsyncStorageGuard, Breaker, StorageGuard

FRESH = {"Cache-Control": "max-age=3600"}


class Monotonic:
    """A monotonic clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> Monotonic:
    clock = Monotonic()
    monkeypatch.setattr(guard_module, "monotonic", clock)
    return clock


# -- the state machine ------------------------------------------------------------------


def test_breaker_cool_down_doubles_while_the_outage_lasts_and_is_capped() -> None:
    breaker = Breaker(1.0, 30.0)
    assert breaker.admit(0.0, "get_entries") and breaker.closed
    assert breaker.failed(0.0, "get_entries") == "opened"
    waits = []
    now = 0.0
    for _ in range(7):
        assert not breaker.admit(now + breaker.cooldown - 0.01, "get_entries")  # cooling down
        now += breaker.cooldown
        assert not breaker.admit(now, "open_writer")  # only a lookup may probe
        assert breaker.admit(now, "get_entries")  # the probe
        assert not breaker.admit(now, "get_entries")  # one probe at a time
        assert breaker.failed(now, "get_entries") == "reopened"
        waits.append(breaker.cooldown)
    assert waits == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    now += 30.0
    assert breaker.admit(now, "get_entries")
    assert breaker.succeeded(now, "get_entries") == (now, 21)  # three refusals per round
    assert breaker.closed and breaker.settled and breaker.admit(now, "commit")


def test_breaker_stays_one_outage_while_reads_work_and_writes_fail() -> None:
    """A read-only disk: the probe (a read) succeeds, writes still fail: no new outage."""
    breaker = Breaker(1.0, 30.0)
    assert breaker.failed(0.0, "open_writer") == "opened"
    assert breaker.admit(1.0, "get_entries")
    assert breaker.succeeded(1.0, "get_entries") is None  # on trial, not recovered yet
    assert breaker.closed and not breaker.settled
    assert breaker.admit(1.0, "open_writer")
    assert breaker.failed(1.0, "open_writer") == "reopened"
    assert breaker.cooldown == 2.0 and not breaker.admit(2.9, "get_entries")
    assert breaker.admit(3.0, "get_entries")
    assert breaker.succeeded(3.0, "get_entries") is None
    assert breaker.succeeded(3.0, "open_writer") == (3.0, 1)  # what failed works again


def test_breaker_trial_ends_after_the_longest_cool_down_without_failures() -> None:
    breaker = Breaker(1.0, 30.0)
    breaker.failed(0.0, "commit")
    assert breaker.admit(1.0, "get_entries")
    assert breaker.succeeded(1.0, "get_entries") is None
    assert breaker.succeeded(30.0, "get_entries") is None
    assert breaker.succeeded(31.0, "get_entries") == (31.0, 0)


def test_breaker_a_call_begun_before_the_outage_does_not_close_it() -> None:
    breaker = Breaker(1.0, 30.0)
    assert breaker.admit(0.0, "get_entries") and breaker.admit(0.0, "get_entries")
    assert breaker.failed(0.1, "get_entries") == "opened"
    assert breaker.succeeded(0.2, "get_entries") is None  # the other one, begun earlier
    assert not breaker.closed
    assert breaker.failed(0.3, "get_entries") == "failed"  # nor does a late failure count
    assert breaker.admit(1.1, "get_entries")


def test_breaker_a_cancelled_probe_lets_another_request_probe() -> None:
    breaker = Breaker(1.0, 30.0)
    breaker.failed(0.0, "get_entries")
    assert breaker.admit(1.0, "get_entries")
    assert not breaker.admit(1.0, "get_entries")
    breaker.released()
    assert breaker.admit(1.0, "get_entries")


def test_options_validate_the_storage_boundary_settings() -> None:
    for bad in (
        {"storage_timeout": 0},
        {"storage_timeout": -1},
        {"storage_cooldown": -1},
        {"storage_cooldown": 5, "storage_max_cooldown": 1},
    ):
        with pytest.raises(ConfigurationError):
            CacheOptions(**bad)
    assert CacheOptions(storage_timeout=None, storage_cooldown=0).storage_timeout is None


# -- through the transports ----------------------------------------------------------------


class Switch:
    """Makes a storage fail (``down``) or hang (``hang``) on demand, and counts calls."""

    def __init__(self) -> None:
        self.down = False
        self.hang = False
        self.calls = 0
        self.threads: set[str] = set()
        self.release = threading.Event()


class SyncFlaky(InMemoryStorage):
    switch: Switch
    max_wait = None  # as a network storage: calls run on worker threads

    def get_entries(self, key: str) -> list[Entry]:
        switch = self.switch
        switch.calls += 1
        switch.threads.add(threading.current_thread().name)
        if switch.hang:
            switch.release.wait(30)
        if switch.down:
            raise OSError("backend down")
        return super().get_entries(key)


class AsyncFlaky(AsyncInMemoryStorage):
    switch: Switch
    max_wait = None

    async def get_entries(self, key: str) -> list[Entry]:
        switch = self.switch
        switch.calls += 1
        if switch.hang:
            await anyio.sleep(30)
        if switch.down:
            raise OSError("backend down")
        return await super().get_entries(key)


def origin() -> tuple[httpx.MockTransport, list[int]]:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, headers=FRESH, content=b"hello")

    return httpx.MockTransport(handler), calls


def transport_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "httpcache.transport"]


@pytest.fixture
def sync_flaky() -> Iterator[tuple[SyncFlaky, Switch]]:
    storage = SyncFlaky()
    storage.switch = Switch()
    yield storage, storage.switch
    storage.switch.release.set()


def test_sync_outage_opens_once_skips_then_recovers(
    sync_flaky: tuple[SyncFlaky, Switch],
    monotonic: Monotonic,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="httpcache.transport")
    storage, switch = sync_flaky
    mock, calls = origin()
    with httpx.Client(transport=CacheTransport(mock, storage=storage)) as client:
        client.get("https://example.com/a")  # stored
        switch.down = True
        for _ in range(10):
            response = client.get("https://example.com/a")
            assert response.status_code == 200 and response.content == b"hello"
        assert switch.calls == 2  # the failure, then skipped for the cool-down
        transport = client._transport
        assert isinstance(transport, CacheTransport)
        assert not transport.storage_available
        assert "detail=storage-unavailable" in response.extensions["cache_status"]
        monotonic.now += 1.0
        client.get("https://example.com/a")  # the probe fails: 2 s now
        monotonic.now += 1.5
        client.get("https://example.com/a")  # skipped
        assert switch.calls == 3
        switch.down = False
        monotonic.now += 0.5
        response = client.get("https://example.com/a")  # the probe succeeds: a hit
        assert response.extensions["from_cache"] is True
        assert transport.storage_available
    records = transport_records(caplog)
    assert [message for level, message in records if level == logging.WARNING] == [
        "storage SyncFlaky failed during get_entries: OSError('backend down'); going to the "
        "network without it, retrying in 1 s (further failures are logged at DEBUG)"
    ]
    infos = [message for level, message in records if level == logging.INFO]
    assert infos == [
        "storage SyncFlaky recovered after 3.0 s (22 calls skipped); using the cache again"
    ]
    assert len(calls) == 13


def test_sync_deadline_cuts_a_hanging_call_on_a_daemon_worker(
    sync_flaky: tuple[SyncFlaky, Switch], caplog: pytest.LogCaptureFixture
) -> None:
    storage, switch = sync_flaky
    switch.hang = True
    mock, calls = origin()
    options = CacheOptions(storage_timeout=0.05)
    with httpx.Client(transport=CacheTransport(mock, storage=storage, options=options)) as client:
        started = time.monotonic()
        response = client.get("https://example.com/a")
        waited = time.monotonic() - started
    assert response.status_code == 200 and calls == [1]
    assert waited < 5  # the storage would have held it for 30 s
    assert switch.threads == {"httpcache-storage"}
    workers = [t for t in threading.enumerate() if t.name == "httpcache-storage"]
    assert workers and all(t.daemon for t in workers)
    (warning,) = [m for level, m in transport_records(caplog) if level == logging.WARNING]
    assert "get_entries did not return within 0.05 s" in warning


def test_sync_strict_mode_raises_on_a_missed_deadline(
    sync_flaky: tuple[SyncFlaky, Switch],
) -> None:
    storage, switch = sync_flaky
    switch.hang = True
    mock, calls = origin()
    options = CacheOptions(storage_timeout=0.05, strict=True)
    transport = CacheTransport(mock, storage=storage, options=options)
    with httpx.Client(transport=transport) as client, pytest.raises(StorageError):
        client.get("https://example.com/a")
    assert calls == []


def test_sync_storage_with_max_wait_is_called_on_the_request_thread() -> None:
    class Recording(InMemoryStorage):
        threads: ClassVar[set[str]] = set()

        def get_entries(self, key: str) -> list[Entry]:
            self.threads.add(threading.current_thread().name)
            return super().get_entries(key)

    mock, _ = origin()
    with httpx.Client(transport=CacheTransport(mock, storage=Recording())) as client:
        client.get("https://example.com/a")
    assert Recording.threads == {threading.current_thread().name}


def test_sync_call_abandoned_before_it_started_never_runs() -> None:
    options = CacheOptions(storage_timeout=0.05)
    guard = StorageGuard(InMemoryStorage(), options)
    guard._direct = False
    gate = threading.Event()
    ran: list[str] = []

    def blocker() -> None:
        gate.wait(30)

    def late() -> None:
        ran.append("late")

    guard._WORKERS = 1  # one worker: the second call queues behind the first
    try:
        assert guard.call("first", blocker) is FAILED
        assert guard.call("second", late) is FAILED
    finally:
        gate.set()
    deadline = time.monotonic() + 5
    while guard._pool()._idle == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran == []


@pytest.mark.anyio
async def test_async_deadline_and_breaker(
    monotonic: Monotonic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="httpcache.transport")
    storage = AsyncFlaky()
    switch = storage.switch = Switch()
    mock, calls = origin()
    options = CacheOptions(storage_timeout=0.05)
    transport = AsyncCacheTransport(mock, storage=storage, options=options)
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("https://example.com/a")
        switch.hang = True
        started = time.monotonic()
        for _ in range(5):
            response = await client.get("https://example.com/a")
            assert response.content == b"hello"
        assert time.monotonic() - started < 5
        assert switch.calls == 2 and not transport.storage_available
        switch.hang = False
        monotonic.now += 1.0
        response = await client.get("https://example.com/a")
        assert response.extensions["from_cache"] is True
    levels = [level for level, _ in transport_records(caplog) if level >= logging.INFO]
    assert levels == [logging.WARNING, logging.INFO]
    assert len(calls) == 6


@pytest.mark.anyio
async def test_async_strict_mode_raises_on_a_missed_deadline() -> None:
    storage = AsyncFlaky()
    storage.switch = Switch()
    storage.switch.hang = True
    mock, calls = origin()
    options = CacheOptions(storage_timeout=0.05, strict=True)
    transport = AsyncCacheTransport(mock, storage=storage, options=options)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(StorageError, match="did not return within"):
            await client.get("https://example.com/a")
    assert calls == []


@pytest.mark.anyio
async def test_async_cancelled_probe_does_not_leave_the_breaker_stuck(monotonic: Monotonic) -> None:
    guard = AsyncStorageGuard(AsyncInMemoryStorage(), CacheOptions())

    async def fail() -> Any:
        raise OSError("down")

    async def forever() -> Any:
        await anyio.sleep(30)

    async def fine() -> str:
        return "ok"

    assert await guard.call("get_entries", fail) is FAILED
    monotonic.now += 1.0
    with anyio.move_on_after(0.01):
        await guard.call("get_entries", forever)  # the user's own cancellation
    assert await guard.call("get_entries", fine) == "ok"
    assert guard.available


def test_sync_prepare_runs_once_outside_the_deadline() -> None:
    class Slow(InMemoryStorage):
        prepared = 0
        max_wait = None

        def prepare(self) -> None:
            time.sleep(0.2)  # longer than the deadline: building a client, say
            Slow.prepared += 1

    mock, _ = origin()
    storage = Slow()
    options = CacheOptions(storage_timeout=0.05)
    with httpx.Client(transport=CacheTransport(mock, storage=storage, options=options)) as client:
        client.get("https://example.com/a")
        assert client.get("https://example.com/a").extensions["from_cache"] is True
    assert Slow.prepared == 1


@pytest.mark.anyio
async def test_async_prepare_runs_once_outside_the_deadline() -> None:
    class Slow(AsyncInMemoryStorage):
        prepared = 0
        max_wait = None

        async def prepare(self) -> None:
            await anyio.sleep(0.2)
            Slow.prepared += 1

    mock, _ = origin()
    options = CacheOptions(storage_timeout=0.05)
    transport = AsyncCacheTransport(mock, storage=Slow(), options=options)
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("https://example.com/a")
        assert (await client.get("https://example.com/a")).extensions["from_cache"] is True
    assert Slow.prepared == 1


def test_default_storage_timeout_is_half_a_second_or_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HTTPCACHE_STORAGE_TIMEOUT", raising=False)
    assert CacheOptions().storage_timeout == 0.5
    monkeypatch.setenv("HTTPCACHE_STORAGE_TIMEOUT", "2.5")
    assert CacheOptions().storage_timeout == 2.5
    monkeypatch.setenv("HTTPCACHE_STORAGE_TIMEOUT", " None ")
    assert CacheOptions().storage_timeout is None
    assert CacheOptions(storage_timeout=0.1).storage_timeout == 0.1  # an explicit value wins
    for bad in ("soon", "0", "-1"):
        monkeypatch.setenv("HTTPCACHE_STORAGE_TIMEOUT", bad)
        with pytest.raises(ConfigurationError, match=r"storage_timeout|HTTPCACHE_STORAGE_TIMEOUT"):
            CacheOptions()


# -- best-effort calls nobody waits for (call_soon: record_hit) ------------------------------


def _wait_for(condition: Any) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_sync_call_soon_returns_before_the_call_runs_on_a_worker() -> None:
    guard = StorageGuard(InMemoryStorage(), CacheOptions(storage_timeout=5))
    guard._direct = False  # as for Redis or S3
    gate = threading.Event()
    ran: list[str] = []

    def record_hit() -> None:
        gate.wait(10)
        ran.append(threading.current_thread().name)

    guard.call_soon("record_hit", record_hit)
    assert ran == []  # the caller did not wait
    gate.set()
    _wait_for(lambda: ran)
    assert ran == ["httpcache-storage"]


def test_sync_call_soon_failure_opens_the_breaker_once(caplog: pytest.LogCaptureFixture) -> None:
    guard = StorageGuard(InMemoryStorage(), CacheOptions(storage_timeout=5))
    guard._direct = False

    def record_hit() -> None:
        raise OSError("connection reset")

    with caplog.at_level(logging.WARNING, logger="httpcache"):
        guard.call_soon("record_hit", record_hit)
        _wait_for(lambda: guard._detached == 0)  # run, reported, logged
    assert not guard.available
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "record_hit" in warnings[0].getMessage()
    guard.call_soon("record_hit", record_hit)  # skipped while the circuit is open
    assert guard._detached == 0


def test_sync_call_soon_is_an_ordinary_call_when_strict_or_direct() -> None:
    guard = StorageGuard(InMemoryStorage(), CacheOptions(strict=True, storage_timeout=5))
    guard._direct = False

    def record_hit() -> None:
        raise OSError("connection reset")

    with pytest.raises(StorageError):
        guard.call_soon("record_hit", record_hit)
    direct = StorageGuard(InMemoryStorage(), CacheOptions())
    threads: list[str] = []
    direct.call_soon("record_hit", lambda: threads.append(threading.current_thread().name))
    assert threads == [threading.current_thread().name]


def test_sync_call_soon_drops_calls_beyond_the_limit_while_workers_are_busy() -> None:
    guard = StorageGuard(InMemoryStorage(), CacheOptions(storage_timeout=5))
    guard._direct = False
    guard._WORKERS = 1
    gate = threading.Event()
    ran: list[int] = []
    lock = threading.Lock()

    def record_hit(n: int) -> None:
        gate.wait(10)
        with lock:
            ran.append(n)

    for n in range(guard_module._DETACHED_LIMIT + 10):
        guard.call_soon("record_hit", record_hit, n)
    assert guard._detached == guard_module._DETACHED_LIMIT
    gate.set()
    _wait_for(lambda: guard._detached == 0)
    assert sorted(ran) == list(range(guard_module._DETACHED_LIMIT))


def test_sync_hit_on_a_worker_storage_makes_one_waited_hop() -> None:
    """A hit through a storage called on workers waits for its lookup only."""

    class Remote(InMemoryStorage):
        waited: ClassVar[list[str]] = []

    options = CacheOptions(storage_timeout=5)
    storage = Remote()
    transport = CacheTransport(
        httpx.MockTransport(lambda r: httpx.Response(200, headers=FRESH, content=b"x")),
        storage=storage,
        options=options,
    )
    transport._guard._direct = False
    calls: list[str] = []
    real_run = transport._guard._run

    def run(what: str, method: Any, args: tuple[Any, ...]) -> Any:
        calls.append(what)
        return real_run(what, method, args)

    transport._guard._run = run  # type: ignore[method-assign]
    with httpx.Client(transport=transport) as client:
        client.get("https://example.com/a")
        calls.clear()
        hit = client.get("https://example.com/a")
    assert hit.extensions["from_cache"] is True
    assert calls == ["get_entries"]  # record_hit went to a worker without a wait
    _wait_for(lambda: storage.get_entries("https://example.com/a")[0].hits == 1)


# -- calls a storage declares unbounded (S3's commit of a large body) ----------------------


class _SlowCommit(InMemoryStorage):
    unbounded_calls = frozenset({"commit"})


def test_sync_unbounded_call_is_not_cut_by_the_deadline() -> None:
    guard = StorageGuard(_SlowCommit(), CacheOptions(storage_timeout=0.05, storage_cooldown=0))
    guard._direct = False  # as for S3
    threads: list[str] = []

    def commit() -> str:
        threads.append(threading.current_thread().name)
        time.sleep(0.2)  # longer than the deadline
        return "committed"

    assert guard.call("commit", commit) == "committed"
    assert threads == [threading.current_thread().name]  # on the caller's thread
    assert guard.call("get_entries", lambda: time.sleep(0.2)) is FAILED  # others are cut


@pytest.mark.anyio
async def test_async_unbounded_call_is_not_cut_by_the_deadline() -> None:
    guard = AsyncStorageGuard(_SlowCommit(), CacheOptions(storage_timeout=0.05, storage_cooldown=0))
    guard._direct = False

    async def commit() -> str:
        await anyio.sleep(0.2)
        return "committed"

    async def lookup() -> None:
        await anyio.sleep(0.2)

    assert await guard.call("commit", commit) == "committed"
    assert await guard.call("get_entries", lookup) is FAILED


def test_s3_storages_declare_their_commit_unbounded() -> None:
    from httpcache import AsyncS3Storage, S3Storage

    assert "commit" in S3Storage.unbounded_calls
    assert "commit" in AsyncS3Storage.unbounded_calls
