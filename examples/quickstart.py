"""httpcache in one minute: a miss, a hit, and a revalidation answered by 304.

Run it with ``python examples/quickstart.py``. It starts a tiny origin server on
127.0.0.1 (a free port, in a background thread) whose ``/`` answers with
``Cache-Control: max-age=2`` and an ``ETag``, and a matching ``If-None-Match``
with ``304 Not Modified``. Then it fetches that URL three times through
``httpcache.CacheClient``:

1. a miss: the response comes from the origin and is stored;
2. a hit: the response comes from the cache, the origin sees nothing;
3. after 2 seconds the stored response is stale, so the cache sends a
   conditional request; the origin answers 304 and the stored body is reused.

Finally the same with ``httpcache.AsyncCacheClient``: a miss, then a hit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

import httpcache

ETAG = '"v1"'
BODY = b"Hello from the origin!\n"


class Origin(BaseHTTPRequestHandler):
    """A cache-friendly origin: two seconds of freshness and a strong validator."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path != "/":
            self.send_error(404)
            return
        tags = [tag.strip() for tag in self.headers.get("If-None-Match", "").split(",")]
        not_modified = ETAG in tags or "*" in tags
        self.send_response(304 if not_modified else 200)
        self.send_header("Cache-Control", "max-age=2")
        self.send_header("ETag", ETAG)
        if not_modified:
            self.end_headers()
            return
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the example's output to the client's lines."""


def describe(response: httpx.Response, elapsed: float) -> str:
    """One line per request: what the cache did, the status, the time and Cache-Status."""
    if response.extensions["from_cache"]:
        outcome = "hit"
    elif response.extensions["revalidated"]:
        outcome = "revalidated"
    else:
        outcome = "miss"
    return (
        f"{outcome:<12} {response.status_code}  {elapsed * 1000:6.1f} ms  "
        f"cache-status: {response.extensions['cache_status']}"
    )


def fetch(client: httpcache.CacheClient, url: str) -> None:
    started = time.perf_counter()
    response = client.get(url)
    print(describe(response, time.perf_counter() - started))


async def fetch_async(client: httpcache.AsyncCacheClient, url: str) -> None:
    started = time.perf_counter()
    response = await client.get(url)
    print(describe(response, time.perf_counter() - started))


async def async_demo(url: str) -> None:
    async with httpcache.AsyncCacheClient() as client:
        await fetch_async(client, url)  # miss
        await fetch_async(client, url)  # hit


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        print(f"origin: {url}")
        print("-- httpcache.CacheClient")
        with httpcache.CacheClient() as client:  # in-memory storage, private-cache rules
            fetch(client, url)  # miss: fetched and stored
            fetch(client, url)  # hit: served from the cache
            time.sleep(2.1)  # let max-age=2 run out
            fetch(client, url)  # stale: revalidated with If-None-Match, the origin says 304
        print("-- httpcache.AsyncCacheClient")
        asyncio.run(async_demo(url))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


if __name__ == "__main__":
    main()
