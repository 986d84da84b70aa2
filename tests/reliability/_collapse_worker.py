"""One OS process of the cross-process collapsing test: N threads or tasks, one URL.

Run as ``python -m tests.reliability._collapse_worker '<json config>'`` with ``storage``
(a storage URL), ``url``, ``mode`` (``sync`` or ``async``) and ``workers``. The worker
builds one cache client on the shared storage, prints ``ready``, waits for a line on
stdin, then lets every thread (or task) GET ``url`` at once, and prints one JSON line:
the bodies received and how many came from the cache.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from typing import Any

import httpx

from httpcache import AsyncCacheClient, CacheClient, CacheOptions


def _summary(responses: list[httpx.Response]) -> dict[str, Any]:
    return {
        "bodies": sorted({r.content.decode() for r in responses}),
        "statuses": sorted({r.status_code for r in responses}),
        "from_cache": sum(bool(r.extensions["from_cache"]) for r in responses),
        "count": len(responses),
    }


def run_sync(config: dict[str, Any]) -> dict[str, Any]:
    options = CacheOptions(collapse_timeout=config.get("collapse_timeout", 5.0))
    with CacheClient(storage=config["storage"], options=options) as client:
        workers = config["workers"]
        barrier = threading.Barrier(workers + 1)
        responses: list[httpx.Response] = []
        lock = threading.Lock()

        def get() -> None:
            barrier.wait()
            response = client.get(config["url"])
            with lock:
                responses.append(response)

        threads = [threading.Thread(target=get) for _ in range(workers)]
        for thread in threads:
            thread.start()
        print("ready", flush=True)
        sys.stdin.readline()
        barrier.wait()
        for thread in threads:
            thread.join()
    return _summary(responses)


async def run_async(config: dict[str, Any]) -> dict[str, Any]:
    options = CacheOptions(collapse_timeout=config.get("collapse_timeout", 5.0))
    async with AsyncCacheClient(storage=config["storage"], options=options) as client:
        go = asyncio.Event()
        responses: list[httpx.Response] = []

        async def get() -> None:
            await go.wait()
            responses.append(await client.get(config["url"]))

        tasks = [asyncio.create_task(get()) for _ in range(config["workers"])]
        await asyncio.sleep(0)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        go.set()
        await asyncio.gather(*tasks)
    return _summary(responses)


def main() -> None:
    config = json.loads(sys.argv[1])
    summary = run_sync(config) if config["mode"] == "sync" else asyncio.run(run_async(config))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
