"""A stampede: 100 concurrent misses of one URL against an origin that takes 100 ms.

Measures, with request collapsing on and off, sync (100 threads) and async (100 tasks):
how many requests reached the origin and how long the whole stampede took (median of
``--rounds`` rounds, each on a fresh in-memory cache). With collapsing the target is one
origin request and a total close to one origin latency.

    python benchmarks/stampede.py [--clients 100] [--latency 0.1] [--rounds 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx

from httpcache import AsyncCacheClient, CacheClient, CacheOptions

URL = "https://origin.test/hot"


class Origin:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.calls = 0
        self.lock = threading.Lock()

    def _response(self) -> httpx.Response:
        with self.lock:
            self.calls += 1
        return httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=b"x" * 2048)

    def sync(self, request: httpx.Request) -> httpx.Response:
        time.sleep(self.latency)
        return self._response()

    async def asynchronous(self, request: httpx.Request) -> httpx.Response:
        await anyio.sleep(self.latency)
        return self._response()


def sync_round(clients: int, latency: float, collapse: bool) -> tuple[int, float]:
    origin = Origin(latency)
    options = CacheOptions(collapse=collapse)
    barrier = threading.Barrier(clients + 1)  # the threads are started before the clock
    with CacheClient(transport=httpx.MockTransport(origin.sync), options=options) as client:

        def one() -> int:
            barrier.wait()
            return client.get(URL).status_code

        with ThreadPoolExecutor(clients) as pool:
            futures = [pool.submit(one) for _ in range(clients)]
            barrier.wait()
            started = time.perf_counter()
            statuses = [future.result() for future in futures]
            took = time.perf_counter() - started
    assert statuses == [200] * clients
    return origin.calls, took


def async_round(clients: int, latency: float, collapse: bool) -> tuple[int, float]:
    origin = Origin(latency)
    options = CacheOptions(collapse=collapse)

    async def run() -> float:
        transport = httpx.MockTransport(origin.asynchronous)
        async with AsyncCacheClient(transport=transport, options=options) as client:

            async def one() -> None:
                assert (await client.get(URL)).status_code == 200

            started = time.perf_counter()
            async with anyio.create_task_group() as group:
                for _ in range(clients):
                    group.start_soon(one)
            return time.perf_counter() - started

    took = anyio.run(run)
    return origin.calls, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    print(f"{args.clients} concurrent misses, origin latency {args.latency * 1000:.0f} ms")
    print(f"{'mode':6} {'collapse':9} {'origin calls':>12} {'total (median)':>15}")
    for mode, run_round in (("sync", sync_round), ("async", async_round)):
        for collapse in (True, False):
            rounds = [run_round(args.clients, args.latency, collapse) for _ in range(args.rounds)]
            calls = statistics.median(c for c, _ in rounds)
            took = statistics.median(t for _, t in rounds)
            results.append(
                {"mode": mode, "collapse": collapse, "origin_calls": calls, "seconds": took}
            )
            print(f"{mode:6} {'on' if collapse else 'off':9} {calls:>12g} {took * 1000:>12.0f} ms")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"clients": args.clients, "latency": args.latency, "results": results}, file)


if __name__ == "__main__":
    main()
