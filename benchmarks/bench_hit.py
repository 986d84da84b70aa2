"""Micro-benchmark: what a cache hit costs next to a plain httpx request.

Both sides talk to the same ``httpx.MockTransport`` origin, so no network is
involved: ``plain httpx`` is the cost of one request through httpx itself, and
``httpcache hit`` is one request answered from ``InMemoryStorage`` (the origin
is contacted once, during the warm-up). The ratio is hit time over plain time.

Run it with ``python benchmarks/bench_hit.py [--iterations N] [--rounds R]``.
Each figure is the best of ``R`` rounds of ``N`` requests, timed with
``time.perf_counter``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

import httpcache

URL = "https://example.com/resource"
BODY = b"x" * 1024


class Origin:
    """The origin: a 1 KiB body, fresh for an hour. Counts the requests it sees."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return httpx.Response(
            200,
            headers={
                "Cache-Control": "max-age=3600",
                "ETag": '"v1"',
                "Content-Type": "text/plain",
            },
            content=BODY,
        )


def time_sync(client: httpx.Client, iterations: int, rounds: int) -> float:
    """Return the best per-request time, in seconds, of ``rounds`` runs."""
    for _ in range(max(100, iterations // 10)):  # warm-up (and, for the cache, the miss)
        client.get(URL).read()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(iterations):
            client.get(URL).read()
        best = min(best, (time.perf_counter() - started) / iterations)
    return best


async def time_async(client: httpx.AsyncClient, iterations: int, rounds: int) -> float:
    """Return the best per-request time, in seconds, of ``rounds`` runs."""
    for _ in range(max(100, iterations // 10)):
        await (await client.get(URL)).aread()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(iterations):
            await (await client.get(URL)).aread()
        best = min(best, (time.perf_counter() - started) / iterations)
    return best


def run_sync(iterations: int, rounds: int) -> tuple[float, float, int]:
    """Return (plain, hit) per-request times and the origin calls the cached client made."""
    with httpx.Client(transport=httpx.MockTransport(Origin())) as plain_client:
        plain = time_sync(plain_client, iterations, rounds)
    origin = Origin()
    with httpcache.CacheClient(transport=httpx.MockTransport(origin)) as cache_client:
        cached = time_sync(cache_client, iterations, rounds)
    return plain, cached, origin.calls


def run_async(iterations: int, rounds: int) -> tuple[float, float, int]:
    """The same with ``httpx.AsyncClient`` and ``httpcache.AsyncCacheClient``."""

    async def measure() -> tuple[float, float, int]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(Origin())) as plain_client:
            plain = await time_async(plain_client, iterations, rounds)
        origin = Origin()
        transport = httpx.MockTransport(origin)
        async with httpcache.AsyncCacheClient(transport=transport) as cache_client:
            cached = await time_async(cache_client, iterations, rounds)
        return plain, cached, origin.calls

    return asyncio.run(measure())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best one counts")
    args = parser.parse_args()
    if args.iterations < 1 or args.rounds < 1:
        parser.error("--iterations and --rounds must be at least 1")

    print(f"{args.iterations} requests per round, best of {args.rounds}, 1 KiB body")
    print(f"{'':8}{'plain httpx':>14}{'httpcache hit':>16}{'ratio':>8}{'origin calls':>15}")
    for mode, run in (("sync", run_sync), ("async", run_async)):
        plain, cached, calls = run(args.iterations, args.rounds)
        print(
            f"{mode:8}{plain * 1e6:>11.1f} µs{cached * 1e6:>13.1f} µs"
            f"{cached / plain:>7.2f}x{calls:>15}"
        )


if __name__ == "__main__":
    main()
