"""Benchmark: what a cache hit costs on each storage, with and without hit recording.

Every hit through a persistent storage reads the entry's head and its body; with
``CacheOptions(record_hits=True)`` (the default) it also writes once, to count the
hit, note its time and renew a sliding lifetime. This prints the per-hit time of a
sync ``CacheClient`` over a ``MockTransport`` origin (1 KiB body) for each storage,
both ways.

Run it with ``python benchmarks/bench_hit_storages.py [--iterations N] [--rounds R]
[--redis-url URL]``. Each figure is the best of ``R`` rounds of ``N`` hits. Redis is
left out if no server answers at the URL.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import httpcache

sys.path.insert(0, str(Path(__file__).parent))
from bench_hit import BODY, time_sync  # the same timing loop as bench_hit.py


def origin(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"Cache-Control": "max-age=3600"}, content=BODY)


def time_hits(storage: Any, record_hits: bool, iterations: int, rounds: int) -> float:
    """Return the best per-hit time, in seconds, over ``rounds`` runs."""
    options = httpcache.CacheOptions(record_hits=record_hits)
    transport = httpx.MockTransport(origin)
    with httpcache.CacheClient(storage=storage, transport=transport, options=options) as client:
        best = time_sync(client, iterations, rounds)  # its warm-up makes the one miss
        storage.clear()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        factories: dict[str, Callable[[], Any]] = {
            "InMemoryStorage": httpcache.InMemoryStorage,
            "FileStorage": lambda: httpcache.FileStorage(base_path=Path(tmp, "files")),
            "SQLiteStorage": lambda: httpcache.SQLiteStorage(path=Path(tmp, "cache.db")),
        }
        probe = httpcache.storage_from_url(f"{args.redis_url}?namespace=bench-probe")
        if probe.health():
            namespace = f"httpcache-bench-{uuid.uuid4().hex[:8]}"
            factories["RedisStorage"] = lambda: httpcache.storage_from_url(
                f"{args.redis_url}?namespace={namespace}"
            )
        probe.close()

        print(f"{'storage':<16} {'record_hits=True':>17} {'record_hits=False':>18}")
        for name, factory in factories.items():
            figures = []
            for record in (True, False):
                storage = factory()
                try:
                    figures.append(time_hits(storage, record, args.iterations, args.rounds))
                finally:
                    storage.close()
            on, off = (f"{f * 1e6:.0f} µs" for f in figures)
            print(f"{name:<16} {on:>17} {off:>18}")


if __name__ == "__main__":
    main()
