"""The httpx side: the origin as an ``httpx.MockTransport`` handler, and the timed loops.

Imports only httpx and the standard library (besides ``harness``), so that it runs in
any httpx-based peer's virtualenv. A library plugs in by giving :class:`HttpxDriver` a
function that builds its client on a transport; the plain ``httpx.Client`` /
``httpx.AsyncClient`` on the same transport is the floor.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from harness import Origin, Outcome, large_chunks, proc_status_kib, run_async

__all__ = [
    "AsyncBuild",
    "HttpxDriver",
    "Probe",
    "SyncBuild",
    "floor_async",
    "floor_sync",
    "handler_for",
    "large_body_run",
    "no_probe",
]

Probe = Callable[[httpx.Response], tuple[bool, bool]]
"""What a response says about itself: (from_cache, revalidated)."""

SyncBuild = Callable[[httpx.BaseTransport, str], tuple[httpx.Client, Callable[[], None]]]
"""Build a client on a transport for a storage named after a tag: (client, close)."""

AsyncBuild = Callable[
    [httpx.AsyncBaseTransport, str], Awaitable[tuple[httpx.AsyncClient, Callable[[], Any]]]
]
"""The async twin of :data:`SyncBuild`; its close may return an awaitable."""


def handler_for(origin: Origin) -> Callable[[httpx.Request], httpx.Response]:
    """An ``httpx.MockTransport`` handler that answers as ``origin`` does."""

    def handler(request: httpx.Request) -> httpx.Response:
        status, headers, body = origin.respond(
            request.url.path, request.headers.get("if-none-match")
        )
        if isinstance(body, int):
            return httpx.Response(status, headers=headers, content=large_chunks(body))
        return httpx.Response(status, headers=headers, content=body)

    return handler


def no_probe(response: httpx.Response) -> tuple[bool, bool]:
    """The floor's probe: a plain client answers nothing from a cache.

    It still looks the extension up, so the floor pays what a cache's probe pays.
    """
    return response.extensions.get("from_cache", False), False


@dataclass
class HttpxDriver:
    """A :class:`harness.Driver` over an httpx client, sync (``build``) or async."""

    build: SyncBuild | None = None
    abuild: AsyncBuild | None = None
    probe: Probe = no_probe
    reports: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._client: Any = None
        self._close: Callable[[], Any] | None = None

    def open(self, origin: Origin, tag: str) -> None:
        """Build the client on a MockTransport answering as ``origin``."""
        transport = httpx.MockTransport(handler_for(origin))
        if self.build is not None:
            self._client, self._close = self.build(transport, tag)
        else:
            assert self.abuild is not None
            self._client, self._close = run_async(self.abuild(transport, tag))

    def run(self, urls: Sequence[str], requests: int, concurrency: int) -> Outcome:
        """Time ``requests`` GETs of ``urls`` round-robin (``concurrency`` tasks if async)."""
        if self.build is not None:
            if concurrency != 1:
                raise ValueError("a sync client runs one request at a time")
            return _sync_round(self._client, urls, requests, self.probe)
        return run_async(_async_round(self._client, urls, requests, concurrency, self.probe))

    def close(self) -> None:
        """Close the client and let the library clean its storage."""
        close, self._close, self._client = self._close, None, None
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                run_async(result)


def _sync_round(client: httpx.Client, urls: Sequence[str], requests: int, probe: Probe) -> Outcome:
    get = client.get
    count = len(urls)
    body_bytes = hits = revalidated = 0
    started = time.perf_counter()
    for i in range(requests):
        response = get(urls[i % count])
        body_bytes += len(response.read())
        hit, fresh = probe(response)
        hits += hit
        revalidated += fresh
    seconds = time.perf_counter() - started
    return Outcome(seconds, requests, body_bytes, hits, revalidated)


async def _async_round(
    client: httpx.AsyncClient, urls: Sequence[str], requests: int, tasks: int, probe: Probe
) -> Outcome:
    get = client.get
    count = len(urls)
    totals = [0, 0, 0]

    async def worker(first: int, n: int) -> None:
        body_bytes = hits = revalidated = 0
        for j in range(n):
            response = await get(urls[(first + j) % count])
            body_bytes += len(await response.aread())
            hit, fresh = probe(response)
            hits += hit
            revalidated += fresh
        totals[0] += body_bytes
        totals[1] += hits
        totals[2] += revalidated

    started = time.perf_counter()
    if tasks == 1:
        await worker(0, requests)
    else:
        await asyncio.gather(*(worker(t, requests // tasks) for t in range(tasks)))
    seconds = time.perf_counter() - started
    return Outcome(seconds, requests, totals[0], totals[1], totals[2])


def floor_sync() -> HttpxDriver:
    """The sync floor: plain ``httpx.Client`` on the same MockTransport."""

    def build(transport: httpx.BaseTransport, tag: str) -> tuple[httpx.Client, Callable[[], None]]:
        client = httpx.Client(transport=transport)
        return client, client.close

    return HttpxDriver(build=build)


def floor_async() -> HttpxDriver:
    """The async floor: plain ``httpx.AsyncClient`` on the same MockTransport."""

    async def abuild(
        transport: httpx.AsyncBaseTransport, tag: str
    ) -> tuple[httpx.AsyncClient, Callable[[], Any]]:
        client = httpx.AsyncClient(transport=transport)
        return client, client.aclose

    return HttpxDriver(abuild=abuild)


def large_body_run(
    build: SyncBuild, base_url: str, size: int, reads: int, cached: bool
) -> dict[str, Any]:
    """W4 on httpx: stream one ``size``-byte response, then read it back ``reads`` times.

    Returns the wall time of the first GET (the miss that stores it) and of each read,
    in seconds, and ``VmRSS`` once the client is built and ``VmHWM`` after the reads.
    Chunks are counted and dropped, never kept. With ``cached``, the reads
    must not reach the origin.
    """
    origin = Origin()
    client, close = build(httpx.MockTransport(handler_for(origin)), "large")
    url = f"{base_url}/large/{size}"
    times: list[float] = []
    baseline = proc_status_kib("VmRSS")
    try:
        for attempt in range(reads + 1):
            started = time.perf_counter()
            received = 0
            with client.stream("GET", url) as response:
                for chunk in response.iter_raw():
                    received += len(chunk)
            times.append(time.perf_counter() - started)
            if received != size:
                raise AssertionError(f"read {received} bytes of {size}")
            expected = 1 if cached else attempt + 1
            if origin.full != expected:
                raise AssertionError(f"read {attempt} reached the origin ({origin.full} requests)")
        peak = proc_status_kib("VmHWM")
    finally:
        close()
    return {"store_s": times[0], "read_s": times[1:], "baseline_kib": baseline, "peak_kib": peak}
