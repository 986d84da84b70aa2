"""A stampede across OS processes: 2 processes x 50 threads (or tasks) miss one URL at once.

Each process has its own cache client on one shared storage (File, SQLite or Redis), and a
loopback HTTP origin takes 100 ms to answer. With request collapsing, one request in one
process takes the key's lease in the storage and goes to the origin; everyone else is
served its stored response. Without collapsing every request goes to the origin. Reports
origin requests and the total time from the start signal to the last response (median of
``--rounds`` rounds, each on a fresh storage).

    python benchmarks/stampede_processes.py [--processes 2] [--clients 50] [--latency 0.1]
        [--rounds 3] [--storages file,sqlite,redis] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from httpcache import AsyncCacheClient, CacheClient, CacheOptions


class _Handler(BaseHTTPRequestHandler):
    server: _Origin

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.calls += 1
        time.sleep(self.server.latency)
        body = b"x" * 2048
        self.send_response(200)
        self.send_header("Cache-Control", "max-age=60")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Origin(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, latency: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency = latency
        self.calls = 0
        self.lock = threading.Lock()


@contextmanager
def origin(latency: float) -> Iterator[_Origin]:
    server = _Origin(latency)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# --- one worker process --------------------------------------------------------------------


def _worker_sync(config: dict[str, Any]) -> float:
    options = CacheOptions(collapse=config["collapse"])
    limits = httpx.Limits(max_connections=config["clients"])
    transport = httpx.HTTPTransport(limits=limits)
    with CacheClient(transport=transport, storage=config["storage"], options=options) as client:
        barrier = threading.Barrier(config["clients"] + 1)
        finished: list[float] = []

        def get() -> None:
            barrier.wait()
            assert client.get(config["url"]).status_code == 200
            finished.append(time.time())

        threads = [threading.Thread(target=get) for _ in range(config["clients"])]
        for thread in threads:
            thread.start()
        client.get(
            f"{config['warm']}/{os.getpid()}"
        )  # connect to the storage before the start signal
        print("ready", flush=True)
        sys.stdin.readline()
        barrier.wait()
        for thread in threads:
            thread.join()
    return max(finished)


async def _worker_async(config: dict[str, Any]) -> float:
    options = CacheOptions(collapse=config["collapse"])
    limits = httpx.Limits(max_connections=config["clients"])
    transport = httpx.AsyncHTTPTransport(limits=limits)
    async with AsyncCacheClient(
        transport=transport, storage=config["storage"], options=options
    ) as client:
        go = asyncio.Event()
        finished: list[float] = []

        async def get() -> None:
            await go.wait()
            assert (await client.get(config["url"])).status_code == 200
            finished.append(time.time())

        tasks = [asyncio.create_task(get()) for _ in range(config["clients"])]
        await client.get(f"{config['warm']}/{os.getpid()}")
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        go.set()
        await asyncio.gather(*tasks)
    return max(finished)


def worker(config: dict[str, Any]) -> None:
    last = _worker_sync(config) if config["mode"] == "sync" else asyncio.run(_worker_async(config))
    print(json.dumps({"last": last}), flush=True)


# --- the parent ----------------------------------------------------------------------------


def one_round(config: dict[str, Any], processes: int) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        started = time.time()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        lasts = []
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, out
            lasts.append(json.loads(out.strip().splitlines()[-1])["last"])
        return max(lasts) - started
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def storage_url(kind: str, tmp: str, redis_url: str) -> str:
    name = uuid.uuid4().hex[:8]
    if kind == "file":
        return f"file://{tmp}/files-{name}"
    if kind == "sqlite":
        return f"sqlite:///{tmp}/cache-{name}.db"
    separator = "&" if "?" in redis_url else "?"
    return f"{redis_url}{separator}namespace=httpcache-bench-stampede-{name}"


def clear_redis(url: str) -> None:
    from httpcache import storage_from_url

    storage = storage_from_url(url)
    try:
        storage.clear()
    finally:
        storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--clients", type=int, default=50, help="threads or tasks per process")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--storages", default="file,sqlite,redis")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    total = args.processes * args.clients
    print(
        f"{args.processes} processes x {args.clients} concurrent misses, "
        f"origin latency {args.latency * 1000:.0f} ms"
    )
    print(f"{'storage':8} {'mode':6} {'collapse':9} {'origin calls':>12} {'total (median)':>15}")
    results: list[dict[str, Any]] = []
    with origin(args.latency) as server, tempfile.TemporaryDirectory() as tmp:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        for kind in args.storages.split(","):
            for mode in ("sync", "async"):
                for collapse in (True, False):
                    calls, times = [], []
                    for n in range(args.rounds):
                        url = storage_url(kind, tmp, args.redis)
                        config = {
                            "storage": url,
                            "url": f"{base}/hot/{uuid.uuid4().hex}",
                            "warm": f"{base}/warm/{n}",
                            "mode": mode,
                            "collapse": collapse,
                            "clients": args.clients,
                        }
                        before = server.calls
                        took = one_round(config, args.processes)
                        calls.append(server.calls - before - args.processes)  # minus the warm-ups
                        times.append(took)
                        if kind == "redis":
                            clear_redis(url)
                    row = {
                        "storage": kind,
                        "mode": mode,
                        "collapse": collapse,
                        "requests": total,
                        "origin_calls": statistics.median(calls),
                        "seconds": statistics.median(times),
                    }
                    results.append(row)
                    print(
                        f"{kind:8} {mode:6} {'on' if collapse else 'off':9} "
                        f"{row['origin_calls']:>12g} {row['seconds'] * 1000:>12.0f} ms"
                    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"latency": args.latency, "results": results}, file, indent=2)


if __name__ == "__main__":
    main()
