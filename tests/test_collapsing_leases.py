"""Request collapsing across transports through the storage's lease (``_leases``).

Two transports with their own flights but one storage behave as two processes do: only
the storage's lease lets them collapse. Here the storage is an in-memory storage with a
lease table (:class:`LeasingMemory`), so every path is exercised without a backend; the
real backends and real processes are in ``tests/reliability/test_cross_process.py``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx
import pytest

from httpcache import (
    AsyncCacheClient,
    AsyncInMemoryStorage,
    AsyncLeasingStorage,
    CacheClient,
    CacheOptions,
    InMemoryStorage,
    LeasingStorage,
)

URL = "https://origin.test/item"
LATENCY = 0.2


class Leases:
    """A lease table with lapsing leases, shared by sync and async storages."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held: dict[str, tuple[str, float]] = {}
        self.acquired = 0
        self.refused = 0
        self.released = 0
        self.fail = False

    def acquire(self, key: str, ttl: float) -> str | None:
        if self.fail:
            raise OSError("lease table unreachable")
        with self.lock:
            now = time.monotonic()
            current = self.held.get(key)
            if current is not None and current[1] > now:
                self.refused += 1
                return None
            token = secrets.token_hex(8)
            self.held[key] = (token, now + ttl)
            self.acquired += 1
            return token

    def release(self, key: str, token: str) -> None:
        with self.lock:
            if self.held.get(key, ("", 0.0))[0] == token:
                del self.held[key]
                self.released += 1


class LeasingMemory(InMemoryStorage):
    def __init__(self, leases: Leases) -> None:
        super().__init__()
        self.leases = leases

    def acquire_lease(self, key: str, ttl: float) -> str | None:
        return self.leases.acquire(key, ttl)

    def release_lease(self, key: str, token: str) -> None:
        self.leases.release(key, token)


class AsyncLeasingMemory(AsyncInMemoryStorage):
    def __init__(self, leases: Leases) -> None:
        super().__init__()
        self.leases = leases

    async def acquire_lease(self, key: str, ttl: float) -> str | None:
        return self.leases.acquire(key, ttl)

    async def release_lease(self, key: str, token: str) -> None:
        self.leases.release(key, token)


class Origin:
    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = {"Cache-Control": "max-age=60"} if headers is None else headers
        self.calls: list[httpx.Request] = []
        self.lock = threading.Lock()

    def _answer(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls.append(request)
            n = len(self.calls)
        return httpx.Response(200, headers=self.headers, content=f"body {n}".encode())

    def sync(self, request: httpx.Request) -> httpx.Response:
        time.sleep(LATENCY)
        return self._answer(request)

    async def asynchronous(self, request: httpx.Request) -> httpx.Response:
        await anyio.sleep(LATENCY)
        return self._answer(request)


def in_threads(n: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_the_storages_have_the_capability() -> None:
    leases = Leases()
    assert isinstance(LeasingMemory(leases), LeasingStorage)
    assert isinstance(AsyncLeasingMemory(leases), AsyncLeasingStorage)
    assert not isinstance(InMemoryStorage(), LeasingStorage)


def test_two_transports_ten_threads_each_one_origin_request() -> None:
    leases, origin = Leases(), Origin()
    storage = LeasingMemory(leases)
    clients = [
        CacheClient(transport=httpx.MockTransport(origin.sync), storage=storage) for _ in range(2)
    ]
    responses = in_threads(20, lambda i: clients[i % 2].get(URL))
    for client in clients:
        client.close()
    assert len(origin.calls) == 1
    assert {r.content for r in responses} == {b"body 1"}
    assert sum(r.extensions["from_cache"] for r in responses) == 19
    assert leases.held == {}  # given back


@pytest.mark.anyio
async def test_two_async_transports_one_origin_request() -> None:
    leases, origin = Leases(), Origin()
    storage = AsyncLeasingMemory(leases)
    clients = [
        AsyncCacheClient(transport=httpx.MockTransport(origin.asynchronous), storage=storage)
        for _ in range(2)
    ]
    responses: list[httpx.Response] = []

    async def get(client: AsyncCacheClient) -> None:
        responses.append(await client.get(URL))

    async with anyio.create_task_group() as group:
        for i in range(20):
            group.start_soon(get, clients[i % 2])
    for client in clients:
        await client.aclose()
    assert len(origin.calls) == 1
    assert {r.content for r in responses} == {b"body 1"}
    assert leases.held == {}


def test_without_the_capability_each_transport_goes_once() -> None:
    origin = Origin()
    storage = InMemoryStorage()
    clients = [
        CacheClient(transport=httpx.MockTransport(origin.sync), storage=storage) for _ in range(2)
    ]
    in_threads(20, lambda i: clients[i % 2].get(URL))
    for client in clients:
        client.close()
    assert len(origin.calls) == 2  # one per "process": collapsing within each only


def test_a_lapsed_lease_of_a_crashed_holder_blocks_for_its_ttl_only() -> None:
    leases, origin = Leases(), Origin()
    storage = LeasingMemory(leases)
    # A holder that crashed: its lease is never given back, and lapses after 0.3 s.
    assert leases.acquire(URL, 0.3) is not None
    options = CacheOptions(collapse_timeout=5.0)
    with CacheClient(
        transport=httpx.MockTransport(origin.sync), storage=storage, options=options
    ) as client:
        response = client.get(URL)
    assert response.status_code == 200
    assert len(origin.calls) == 1
    assert leases.acquired == 2  # the crashed holder's, then ours once it lapsed


def test_a_holder_that_never_answers_is_waited_for_until_the_collapse_timeout() -> None:
    leases, origin = Leases(), Origin()
    storage = LeasingMemory(leases)
    assert leases.acquire(URL, 60) is not None  # held for a minute by a hung process
    options = CacheOptions(collapse_timeout=0.2)
    with CacheClient(
        transport=httpx.MockTransport(origin.sync), storage=storage, options=options
    ) as client:
        response = client.get(URL)
    assert response.status_code == 200 and len(origin.calls) == 1


def test_an_uncacheable_answer_elsewhere_lets_the_waiter_go_itself() -> None:
    leases, origin = Leases(), Origin({"Cache-Control": "no-store"})
    storage = LeasingMemory(leases)
    clients = [
        CacheClient(transport=httpx.MockTransport(origin.sync), storage=storage) for _ in range(2)
    ]
    responses = in_threads(2, lambda i: clients[i].get(URL))
    for client in clients:
        client.close()
    assert len(origin.calls) == 2
    assert all(r.status_code == 200 for r in responses)
    assert leases.held == {}


def test_a_failing_lease_is_no_lease(caplog: pytest.LogCaptureFixture) -> None:
    leases, origin = Leases(), Origin()
    leases.fail = True
    storage = LeasingMemory(leases)
    options = CacheOptions(storage_cooldown=0)
    with CacheClient(
        transport=httpx.MockTransport(origin.sync), storage=storage, options=options
    ) as client:
        responses = in_threads(5, lambda i: client.get(URL))
    assert all(r.status_code == 200 for r in responses)
    assert len(origin.calls) == 1  # still collapsed within the process
    assert any("acquire_lease" in r.getMessage() for r in caplog.records)


def test_revalidations_collapse_across_transports() -> None:
    leases = Leases()
    origin = Origin({"Cache-Control": "max-age=0", "ETag": '"v1"'})
    storage = LeasingMemory(leases)
    clients = [
        CacheClient(transport=httpx.MockTransport(origin.sync), storage=storage) for _ in range(2)
    ]
    clients[0].get(URL)  # stored, stale at once
    responses = in_threads(10, lambda i: clients[i % 2].get(URL))
    for client in clients:
        client.close()
    conditional = [r for r in origin.calls if "if-none-match" in r.headers]
    assert len(origin.calls) == 2 and len(conditional) == 1
    assert all(r.status_code == 200 for r in responses)


def test_collapse_across_processes_off_takes_no_lease() -> None:
    leases, origin = Leases(), Origin()
    options = CacheOptions(collapse_across_processes=False)
    with CacheClient(
        transport=httpx.MockTransport(origin.sync), storage=LeasingMemory(leases), options=options
    ) as client:
        responses = in_threads(5, lambda i: client.get(URL))
    assert all(r.status_code == 200 for r in responses)
    assert len(origin.calls) == 1  # still collapsed within the process
    assert leases.acquired == leases.refused == 0


def test_sync_release_on_a_worker_storage_is_not_waited_for_but_never_in_the_way() -> None:
    """With a storage called on worker threads, the lease goes back without a wait; the next
    miss of the same key in this process waits for that release, never for the lease."""
    leases, origin = Leases(), Origin({"Cache-Control": "no-store"})
    storage = LeasingMemory(leases)
    with CacheClient(transport=httpx.MockTransport(origin.sync), storage=storage) as client:
        client._transport._guard._direct = False  # type: ignore[attr-defined]
        for _ in range(5):
            assert client.get(URL).status_code == 200
    assert len(origin.calls) == 5
    assert leases.acquired == 5 and leases.released == 5
    assert leases.refused == 0  # no request found this process's own lease still held
