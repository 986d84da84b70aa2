"""Request collapsing within a process: N concurrent misses of one key, one origin request.

Real threads (sync) and tasks (async) against an origin that takes a while to answer and
counts what it is asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx
import pytest

from httpcache import AsyncCacheClient, CacheClient, CacheOptions, ConfigurationError
from httpcache._sync._flights import Flight

URL = "https://origin.test/item"
LATENCY = 0.2


class Origin:
    """Counts requests; answers after ``LATENCY`` with ``headers`` (or raises)."""

    def __init__(self, headers: dict[str, str] | None = None, *, fail: bool = False) -> None:
        self.headers = {"Cache-Control": "max-age=60"} if headers is None else headers
        self.fail = fail
        self.calls: list[httpx.Request] = []
        self.lock = threading.Lock()

    def _answer(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls.append(request)
            n = len(self.calls)
        if self.fail:
            raise httpx.ConnectError("origin down", request=request)
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers=self.headers)
        return httpx.Response(200, headers=self.headers, content=f"body {n}".encode())

    def sync(self, request: httpx.Request) -> httpx.Response:
        time.sleep(LATENCY)
        return self._answer(request)

    async def asynchronous(self, request: httpx.Request) -> httpx.Response:
        await anyio.sleep(LATENCY)
        return self._answer(request)


def in_threads(n: int, fn: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(n)

    def run() -> Any:
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(run) for _ in range(n)]
        return [f.result() for f in futures]


async def in_tasks(n: int, fn: Callable[[], Any]) -> list[Any]:
    results: list[Any] = [None] * n

    async def run(i: int) -> None:
        results[i] = await fn()

    async with anyio.create_task_group() as group:
        for i in range(n):
            group.start_soon(run, i)
    return results


def test_twenty_threads_one_origin_request() -> None:
    """R-15, RFC 9111 §4: twenty concurrent misses of one URL make one origin request."""
    origin = Origin()
    with CacheClient(transport=httpx.MockTransport(origin.sync)) as client:
        responses = in_threads(20, lambda: client.get(URL))
    assert len(origin.calls) == 1
    assert {r.content for r in responses} == {b"body 1"}
    assert sum(r.extensions["from_cache"] for r in responses) == 19


@pytest.mark.anyio
async def test_fifty_tasks_one_origin_request() -> None:
    origin = Origin()
    async with AsyncCacheClient(transport=httpx.MockTransport(origin.asynchronous)) as client:
        responses = await in_tasks(50, lambda: client.get(URL))
    assert len(origin.calls) == 1
    assert {r.content for r in responses} == {b"body 1"}
    assert sum(r.extensions["from_cache"] for r in responses) == 49


def test_revalidations_collapse_too() -> None:
    origin = Origin({"Cache-Control": "max-age=0", "ETag": '"v1"'})
    with CacheClient(transport=httpx.MockTransport(origin.sync)) as client:
        client.get(URL)  # stored, stale at once
        responses = in_threads(10, lambda: client.get(URL))
    conditional = [r for r in origin.calls if "if-none-match" in r.headers]
    assert len(origin.calls) == 2 and len(conditional) == 1
    assert {r.content for r in responses} == {b"body 1"}


def test_an_uncacheable_response_releases_the_waiters_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """S-23, R-15, RFC 9111 §5.2.2.5: a `no-store` answer is handed to no waiter; each goes
    to the origin itself, woken by the leader's landing, not by its collapse_timeout."""
    woken: list[bool] = []
    real_wait = Flight.wait

    def wait(self: Flight) -> bool:
        landed = real_wait(self)
        woken.append(landed)
        return landed

    monkeypatch.setattr(Flight, "wait", wait)
    origin = Origin({"Cache-Control": "no-store"})
    options = CacheOptions(collapse_timeout=30)
    with CacheClient(transport=httpx.MockTransport(origin.sync), options=options) as client:
        responses = in_threads(10, lambda: client.get(URL))
    assert len(origin.calls) == 10  # each went to the origin itself
    assert all(r.status_code == 200 for r in responses)
    assert woken and all(woken)  # every wait ended because a flight landed


@pytest.mark.anyio
async def test_a_failed_leader_lets_the_waiters_try_themselves() -> None:
    origin = Origin(fail=True)
    async with AsyncCacheClient(transport=httpx.MockTransport(origin.asynchronous)) as client:

        async def get() -> BaseException | httpx.Response:
            try:
                return await client.get(URL)
            except httpx.ConnectError as exc:
                return exc

        results = await in_tasks(5, get)
    assert all(isinstance(r, httpx.ConnectError) for r in results)
    assert len(origin.calls) == 5


def test_opting_out_per_client_and_per_request() -> None:
    origin = Origin()
    options = CacheOptions(collapse=False)
    transport = httpx.MockTransport(origin.sync)
    with CacheClient(transport=transport, options=options) as client:
        in_threads(5, lambda: client.get(URL))
    assert len(origin.calls) == 5

    origin = Origin()
    with CacheClient(transport=httpx.MockTransport(origin.sync)) as client:
        in_threads(5, lambda: client.get(URL, extensions={"httpcache_collapse": False}))
    assert len(origin.calls) == 5


def test_a_waiter_gives_up_after_the_collapse_timeout() -> None:
    gate = threading.Event()
    calls: list[int] = []

    def slow(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            gate.wait(10)  # the leader hangs
        return httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=b"x")

    options = CacheOptions(collapse_timeout=0.1)
    with CacheClient(transport=httpx.MockTransport(slow), options=options) as client:
        leader = threading.Thread(target=client.get, args=(URL,))
        leader.start()
        while not calls:
            time.sleep(0.01)
        response = client.get(URL)  # waits 0.1 s, then goes itself
        gate.set()
        leader.join()
    assert response.status_code == 200 and len(calls) == 2


def test_a_streamed_body_lands_when_it_is_stored() -> None:
    """The flight lands only once the leader's body is read and committed."""
    origin_calls: list[int] = []

    def streamed(request: httpx.Request) -> httpx.Response:
        origin_calls.append(1)
        time.sleep(LATENCY)

        def chunks() -> Any:
            yield b"part one, "
            yield b"part two"

        return httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=chunks())

    with CacheClient(transport=httpx.MockTransport(streamed)) as client:
        responses = in_threads(8, lambda: client.get(URL))
    assert len(origin_calls) == 1
    assert {r.content for r in responses} == {b"part one, part two"}


def test_collapse_timeout_must_not_be_negative() -> None:
    with pytest.raises(ConfigurationError):
        CacheOptions(collapse_timeout=-1)
