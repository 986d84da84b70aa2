"""Collapsing of body-keyed POSTs: concurrent identical POSTs, one origin request.

Real threads (sync) and tasks (async) against an origin that takes a while to answer, counts
what it is asked and records the bodies it receives. The body of an opted-in POST is in memory,
so a waiter that has to go to the origin after all can still send it.
"""

from __future__ import annotations

import threading
import time

import anyio
import httpx
import pytest

from httpcache import AsyncCacheClient, CacheClient, CacheOptions

from .test_collapsing import in_tasks, in_threads

URL = "https://origin.test/graphql"
QUERY = b'{"query": "{ me { name } }"}'
LATENCY = 0.2
OPTIONS = CacheOptions(cache_post=True)


class Origin:
    """Counts requests and records their bodies; answers after ``LATENCY``."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = {"Cache-Control": "max-age=60"} if headers is None else headers
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()

    def _answer(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.bodies.append(request.content)
            n = len(self.bodies)
        return httpx.Response(200, headers=self.headers, content=f"body {n}".encode())

    def sync(self, request: httpx.Request) -> httpx.Response:
        time.sleep(LATENCY)
        return self._answer(request)

    async def asynchronous(self, request: httpx.Request) -> httpx.Response:
        await anyio.sleep(LATENCY)
        return self._answer(request)


def test_post_ten_threads_one_origin_request() -> None:
    origin = Origin()
    transport = httpx.MockTransport(origin.sync)
    with CacheClient(transport=transport, options=OPTIONS) as client:
        responses = in_threads(10, lambda: client.post(URL, content=QUERY))
    assert origin.bodies == [QUERY]
    assert {r.content for r in responses} == {b"body 1"}
    assert sum(r.extensions["from_cache"] for r in responses) == 9


@pytest.mark.anyio
async def test_post_ten_tasks_one_origin_request() -> None:
    origin = Origin()
    transport = httpx.MockTransport(origin.asynchronous)
    async with AsyncCacheClient(transport=transport, options=OPTIONS) as client:
        responses = await in_tasks(10, lambda: client.post(URL, content=QUERY))
    assert origin.bodies == [QUERY]
    assert {r.content for r in responses} == {b"body 1"}
    assert sum(r.extensions["from_cache"] for r in responses) == 9


@pytest.mark.anyio
async def test_post_different_bodies_do_not_collapse() -> None:
    origin = Origin()
    transport = httpx.MockTransport(origin.asynchronous)
    async with AsyncCacheClient(transport=transport, options=OPTIONS) as client:
        counter = iter(range(10))
        responses = await in_tasks(10, lambda: client.post(URL, content=b"%d" % next(counter)))
    assert sorted(origin.bodies) == sorted(b"%d" % i for i in range(10))
    assert not any(r.extensions["from_cache"] for r in responses)


def test_post_uncacheable_answer_waiters_replay_their_bodies() -> None:
    """Nothing stored: each waiter goes to the origin itself and sends its whole body."""
    origin = Origin({"Cache-Control": "no-store"})
    transport = httpx.MockTransport(origin.sync)
    with CacheClient(transport=transport, options=OPTIONS) as client:
        responses = in_threads(10, lambda: client.post(URL, content=QUERY))
    assert origin.bodies == [QUERY] * 10
    assert all(r.status_code == 200 for r in responses)


def test_plain_posts_never_collapse() -> None:
    origin = Origin()
    transport = httpx.MockTransport(origin.sync)
    with CacheClient(transport=transport) as client:
        in_threads(10, lambda: client.post(URL, content=QUERY))
    assert origin.bodies == [QUERY] * 10
