"""stale-while-revalidate through the transports (RFC 5861 §3, checklist X-7 to X-11).

A stale response within its window is served at once while one background request per
key revalidates it: a task the async transport owns, or a thread of the sync
transport's small pool. The origin here holds its answer until the test opens a gate,
which proves the served response did not wait for it; it counts what it is asked.
Written by hand, sync and async side by side, because the origin's gate is a thread
event in one and an anyio event in the other.
"""

from __future__ import annotations

import logging
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
    CacheClient,
    CacheOptions,
    InMemoryStorage,
)
from httpcache._background import AsyncBackground, Background

URL = "https://origin.test/item"
SWR = "max-age=10, stale-while-revalidate=60"
DEADLINE = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Origin:
    """Answers `200 body N` (or a 304 to a matching `If-None-Match`), held by a gate
    once `hold()` was called; counts and keeps every request."""

    def __init__(self, cache_control: str = SWR, *, etag: bool = False) -> None:
        self.cache_control = cache_control
        self.etag = etag
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()
        self.status: int | None = None  # answer this status instead (an error)
        self.error: type[httpx.TransportError] | None = None
        self.thread_gate = threading.Event()
        self.thread_gate.set()
        self.task_gate: anyio.Event | None = None
        self.cancelled = False

    @property
    def calls(self) -> int:
        return len(self.requests)

    def _record(self, request: httpx.Request) -> int:
        with self.lock:
            self.requests.append(request)
            return len(self.requests)

    def _answer(self, request: httpx.Request, n: int) -> httpx.Response:
        if self.error is not None:
            raise self.error("origin down", request=request)
        headers = {"Cache-Control": self.cache_control, "X-Version": str(n)}
        if self.etag:
            headers["ETag"] = '"v1"'
            if request.headers.get("if-none-match") == '"v1"':
                return httpx.Response(304, headers=headers)
        if self.status is not None:
            return httpx.Response(self.status, headers={"X-Version": str(n)})
        return httpx.Response(200, headers=headers, content=f"body {n}".encode())

    def sync(self, request: httpx.Request) -> httpx.Response:
        n = self._record(request)
        if n > 1:  # the first answer, which is stored, is never held
            self.thread_gate.wait(DEADLINE)
        return self._answer(request, n)

    async def asynchronous(self, request: httpx.Request) -> httpx.Response:
        n = self._record(request)
        if n > 1 and self.task_gate is not None:
            try:
                await self.task_gate.wait()
            except BaseException:
                self.cancelled = True
                raise
        return self._answer(request, n)


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


async def async_wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await anyio.sleep(0.005)


def sync_client(origin: Origin, clock: Clock, **options: Any) -> CacheClient:
    return CacheClient(
        transport=httpx.MockTransport(origin.sync),
        storage=InMemoryStorage(clock=clock),
        options=CacheOptions(clock=clock, cache_status_header=True, **options),
    )


def async_client(origin: Origin, clock: Clock, **options: Any) -> AsyncCacheClient:
    return AsyncCacheClient(
        transport=httpx.MockTransport(origin.asynchronous),
        storage=AsyncInMemoryStorage(clock=clock),
        options=CacheOptions(clock=clock, cache_status_header=True, **options),
    )


def assert_served_stale(response: httpx.Response, version: str = "1") -> None:
    assert response.status_code == 200
    assert response.headers["X-Version"] == version
    assert response.extensions["from_cache"] is True
    assert response.extensions["stale"] is True
    member = "httpcache; hit; ttl=-10; detail=stale-while-revalidate"
    assert response.extensions["cache_status"] == member
    assert response.headers["Cache-Status"] == member
    assert response.headers["Age"] == "20"


# --- served at once, refreshed behind (X-7, X-8) ---------------------------------------------


def test_sync_stale_served_at_once_and_refreshed_in_background() -> None:
    origin, clock = Origin(), Clock()
    with sync_client(origin, clock) as client:
        client.get(URL)
        clock.now += 20
        origin.thread_gate.clear()
        response = client.get(URL)  # returns while the origin holds its answer
        assert_served_stale(response)
        assert response.content == b"body 1"
        wait_until(lambda: origin.calls == 2)  # the refresh reached the origin
        origin.thread_gate.set()
        wait_until(lambda: client.get(URL).headers["X-Version"] == "2")
        fresh = client.get(URL)
        assert fresh.content == b"body 2"
        assert fresh.extensions["stale"] is False
        assert fresh.extensions["cache_status"] == "httpcache; hit; ttl=10"
        assert origin.calls == 2


@pytest.mark.anyio
async def test_async_stale_served_at_once_and_refreshed_in_background() -> None:
    origin, clock = Origin(), Clock()
    async with async_client(origin, clock) as client:
        await client.get(URL)
        clock.now += 20
        origin.task_gate = anyio.Event()
        response = await client.get(URL)
        assert_served_stale(response)
        assert response.content == b"body 1"
        await async_wait_until(lambda: origin.calls == 2)
        origin.task_gate.set()
        for _ in range(1000):
            if (await client.get(URL)).headers["X-Version"] == "2":
                break
            await anyio.sleep(0.005)
        fresh = await client.get(URL)
        assert fresh.content == b"body 2"
        assert fresh.extensions["stale"] is False
        assert origin.calls == 2


# --- one refresh per key (X-8) -----------------------------------------------------------------


def test_sync_twenty_threads_one_refresh() -> None:
    origin, clock = Origin(), Clock()
    with sync_client(origin, clock) as client:
        client.get(URL)
        clock.now += 20
        origin.thread_gate.clear()
        barrier = threading.Barrier(20)

        def get() -> httpx.Response:
            barrier.wait()
            return client.get(URL)

        with ThreadPoolExecutor(20) as pool:
            responses = list(pool.map(lambda _: get(), range(20)))
        for response in responses:
            assert_served_stale(response)
        wait_until(lambda: origin.calls == 2)
        origin.thread_gate.set()
        wait_until(lambda: client.get(URL).headers["X-Version"] == "2")
        assert origin.calls == 2


@pytest.mark.anyio
async def test_async_fifty_tasks_one_refresh() -> None:
    origin, clock = Origin(), Clock()
    async with async_client(origin, clock) as client:
        await client.get(URL)
        clock.now += 20
        origin.task_gate = anyio.Event()
        responses: list[httpx.Response] = []

        async def get() -> None:
            responses.append(await client.get(URL))

        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(get)
        assert len(responses) == 50
        for response in responses:
            assert_served_stale(response)
        await async_wait_until(lambda: origin.calls == 2)
        origin.task_gate.set()
        await async_wait_until(lambda: client._transport._background.running(URL) is False)  # type: ignore[attr-defined]
        assert (await client.get(URL)).headers["X-Version"] == "2"
        assert origin.calls == 2


# --- revalidation with validators: a 304 freshens (X-8, X-11) ---------------------------------


def test_sync_refresh_is_conditional_and_a_304_freshens() -> None:
    origin, clock = Origin(etag=True), Clock()
    with sync_client(origin, clock) as client:
        client.get(URL)
        clock.now += 20
        # The user's own validator is not the cache's: the user gets a 200, the refresh
        # sends the stored response's ETag.
        assert_served_stale(client.get(URL, headers={"If-None-Match": '"other"'}))
        wait_until(lambda: origin.calls == 2)
        refresh = origin.requests[1]
        assert refresh.method == "GET"
        assert refresh.headers["If-None-Match"] == '"v1"'
        wait_until(lambda: client.get(URL).extensions["stale"] is False)
        fresh = client.get(URL)
        assert fresh.content == b"body 1"  # freshened, not replaced
        assert fresh.headers["Age"] == "0"
        assert origin.calls == 2


@pytest.mark.anyio
async def test_async_head_is_served_stale_and_refreshed_with_a_get() -> None:
    origin, clock = Origin(etag=True), Clock()
    async with async_client(origin, clock) as client:
        await client.get(URL)
        clock.now += 20
        head = await client.head(URL)
        assert head.status_code == 200
        assert head.extensions["stale"] is True
        await async_wait_until(lambda: origin.calls == 2)
        assert origin.requests[1].method == "GET"
        assert origin.requests[1].headers["If-None-Match"] == '"v1"'


# --- a failing refresh leaves the entry, the window still ends (X-9) -------------------


@pytest.mark.parametrize("failure", ["500", "connect-error"])
def test_sync_failed_refresh_keeps_serving_stale_until_the_window_ends(
    failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    origin, clock = Origin(), Clock()
    with sync_client(origin, clock) as client:
        client.get(URL)
        clock.now += 20
        if failure == "500":
            origin.status = 500
        else:
            origin.error = httpx.ConnectError
        with caplog.at_level(logging.WARNING, logger="httpcache"):
            assert_served_stale(client.get(URL))
            wait_until(lambda: origin.calls == 2)
            wait_until(lambda: not client._transport._background.running(URL))  # type: ignore[attr-defined]
            again = client.get(URL)  # still within the window: stale again, another refresh
        assert again.headers["X-Version"] == "1"
        assert again.extensions["stale"] is True
        assert caplog.records == []  # an origin failure behind a response is not a warning
        wait_until(lambda: origin.calls == 3)
        wait_until(lambda: not client._transport._background.running(URL))  # type: ignore[attr-defined]
        origin.status, origin.error = None, None
        clock.now += 51  # t=71: past 10 + 60, the request waits for the origin
        past = client.get(URL)
        assert past.extensions["from_cache"] is False
        assert past.headers["X-Version"] == "4"


# --- only within the window, only when allowed ------------------------------------------------


@pytest.mark.anyio
async def test_async_must_revalidate_waits_for_the_origin() -> None:
    origin, clock = Origin("max-age=10, stale-while-revalidate=60, must-revalidate"), Clock()
    async with async_client(origin, clock) as client:
        await client.get(URL)
        clock.now += 20
        response = await client.get(URL)
        assert response.extensions["from_cache"] is False
        assert response.headers["X-Version"] == "2"


def test_sync_option_window_for_responses_without_the_directive() -> None:
    origin, clock = Origin("max-age=10"), Clock()
    with sync_client(origin, clock, stale_while_revalidate=30) as client:
        client.get(URL)
        clock.now += 20
        assert_served_stale(client.get(URL))
        wait_until(lambda: origin.calls == 2)


def test_sync_no_traffic_no_refresh() -> None:
    """X-10, 5861 §5: refreshes start only in answer to a request, never on a timer."""
    origin, clock = Origin(), Clock()
    with sync_client(origin, clock) as client:
        client.get(URL)
        clock.now += 120
        time.sleep(0.05)
        assert origin.calls == 1


# --- closing -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_aclose_cancels_a_running_refresh() -> None:
    origin, clock = Origin(), Clock()
    storage = AsyncInMemoryStorage(clock=clock)
    client = AsyncCacheClient(
        transport=httpx.MockTransport(origin.asynchronous),
        storage=storage,
        options=CacheOptions(clock=clock),
    )
    await client.get(URL)
    clock.now += 20
    origin.task_gate = anyio.Event()  # never opened: the refresh waits until cancelled
    assert (await client.get(URL)).extensions["stale"] is True
    await async_wait_until(lambda: origin.calls == 2)
    await client.aclose()
    assert origin.cancelled
    assert not client._transport._background.running(URL)  # type: ignore[attr-defined]
    (entry,) = await storage.get_entries(URL)
    assert dict(entry.response.headers)[b"X-Version"] == b"1"  # untouched
    await storage.aclose()


def test_sync_close_lets_a_running_refresh_finish() -> None:
    origin, clock = Origin(), Clock()
    storage = InMemoryStorage(clock=clock)
    client = CacheClient(
        transport=httpx.MockTransport(origin.sync),
        storage=storage,
        options=CacheOptions(clock=clock),
    )
    client.get(URL)
    clock.now += 20
    origin.thread_gate.clear()
    assert client.get(URL).extensions["stale"] is True
    wait_until(lambda: origin.calls == 2)
    threading.Timer(0.05, origin.thread_gate.set).start()
    client.close()  # waits for the refresh, which stores the new response
    (entry,) = storage.get_entries(URL)
    assert dict(entry.response.headers)[b"X-Version"] == b"2"
    storage.close()


# --- the runners ---------------------------------------------------------------------------


def test_sync_runner_one_per_key_limit_and_close() -> None:
    runner = Background(limit=2, workers=1)
    gate = threading.Event()
    ran: list[str] = []

    def job(name: str) -> None:
        gate.wait(DEADLINE)
        ran.append(name)

    assert runner.start("a", job, "a")
    assert not runner.start("a", job, "a-again")  # one per key
    assert runner.start("b", job, "b")
    assert not runner.start("c", job, "c")  # at the limit
    assert runner.running("a") and runner.running("b")
    threading.Timer(0.05, gate.set).start()
    runner.close()  # "a" was running and finishes; "b" may have been dropped unrun
    assert "a" in ran
    assert not runner.start("d", job, "d")  # closed
    assert not runner.running("a")


def test_sync_runner_logs_a_failing_job(caplog: pytest.LogCaptureFixture) -> None:
    runner = Background()

    def boom() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.WARNING, logger="httpcache.transport"):
        assert runner.start("k", boom)
        wait_until(lambda: not runner.running("k"))
    runner.close()
    assert [r.getMessage() for r in caplog.records] == ["background revalidation failed"]
    assert runner.start("k", boom) is False


@pytest.mark.anyio
async def test_async_runner_one_per_key_and_aclose_cancels() -> None:
    runner = AsyncBackground(limit=2)
    gate = anyio.Event()
    ended: list[str] = []

    async def job(name: str) -> None:
        try:
            await gate.wait()
        finally:
            ended.append(name)

    assert runner.start("a", job, "a")
    assert not runner.start("a", job, "again")
    assert runner.start("b", job, "b")
    assert not runner.start("c", job, "c")
    await async_wait_until(lambda: len(runner._running) == 2)
    await runner.aclose()
    assert sorted(ended) == ["a", "b"]
    assert not runner.running("a") and not runner.running("b")
    assert not runner.start("d", job, "d")


def test_async_runner_outside_an_event_loop_declines() -> None:
    async def job() -> None:
        pass

    runner = AsyncBackground()
    assert runner.start("k", job) is False
    assert not runner.running("k")


def test_sync_declined_refresh_revalidates_before_answering() -> None:
    """When the runner declines (at its limit, or closed), the stale request is revalidated
    in the foreground, as without stale-while-revalidate."""
    origin, clock = Origin(), Clock()
    with sync_client(origin, clock) as client:
        client.get(URL)
        clock.now += 20
        client._transport._background = Background(limit=0)  # type: ignore[attr-defined]
        response = client.get(URL)
        assert response.extensions["from_cache"] is False
        assert response.headers["X-Version"] == "2"
        assert origin.calls == 2
