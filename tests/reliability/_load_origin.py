"""The origin of the load tests: a loopback HTTP server whose bodies can be checked.

Every body is derived from its URL path and a version number the server sends in
``X-Version``: :func:`body_for` gives the exact bytes, so a client can check every
body it receives (and every entry a storage holds) against its URL. A body that is
torn (two versions mixed), truncated or meant for another URL never matches.

Paths (``<i>`` a number):

* ``/fresh/<i>`` (and any other path): ``max-age=3600``; hits until invalidated.
* ``/reval/<i>``: ``max-age=0`` with an ``ETag``; a matching ``If-None-Match``
  gets a 304, or, once every :data:`CHANGE_EVERY` times, a 200 with a new version.
* ``POST`` or ``DELETE`` to any path makes a new version of it (``no-store``
  answer); the cache invalidates its entry (RFC 9111 §4.4).

Paths whose number is listed in :data:`LARGE` have bodies of about 300 KiB, past
every backend's inline limit (64 KiB), and those in :data:`HUGE` about 2.2 MiB, more
than one of the 1 MiB chunks SQLite and Redis keep, so the streamed-body paths
(and reading a body chunk by chunk while another request replaces it) race too.
"""

from __future__ import annotations

import hashlib
import re
import threading
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["HUGE", "LARGE", "Origin", "body_for", "size_for"]

LARGE = frozenset({3, 17, 28, 44})
"""URL numbers whose bodies are about 300 KiB: past every inline limit, one chunk."""
HUGE = frozenset({9, 19})
"""URL numbers whose bodies are about 2.2 MiB: several 1 MiB chunks (SQLite, Redis)."""
CHANGE_EVERY = 4
"""Of this many matching conditional requests, one (the first) gets a new version, not a 304."""

_NUMBER = re.compile(r"/(\d+)$")


def size_for(path: str, version: int) -> int:
    """Return the body length of ``path`` at ``version`` (it changes with the version)."""
    match = _NUMBER.search(path)
    number = -1 if match is None else int(match.group(1))
    base = 300 * 1024 if number in LARGE else 2200 * 1024 if number in HUGE else 512
    return base + zlib.crc32(path.encode()) % 2048 + 97 * (version % 11)


def body_for(path: str, version: int) -> bytes:
    """Return the exact body of ``path`` at ``version``: every byte depends on both."""
    head = f"{path}|v{version}|".encode()
    seed = hashlib.sha256(head).digest()
    size = size_for(path, version)
    filler = seed * ((size - len(head)) // len(seed) + 1)
    return head + filler[: size - len(head)]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 5 by default: a burst of connections would wait for SYN retries


class Origin:
    """A ``ThreadingHTTPServer`` on a free loopback port, run in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        self._matches = 0
        self.counts: Counter[str] = Counter()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                origin._get(self)

            def do_POST(self) -> None:
                origin._change(self, 200)

            def do_DELETE(self) -> None:
                origin._change(self, 204)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Origin:
        self._thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        revalidating = path.startswith("/reval/")
        with self._lock:
            version = self._versions.setdefault(path, 1)
            etag = f'"v{version}"'
            conditional = handler.headers.get("If-None-Match")
            if revalidating and conditional is not None:
                self.counts["conditional"] += 1
                if conditional == etag:
                    self._matches += 1
                    if self._matches % CHANGE_EVERY == 1:  # the first one, then every 4th
                        version += 1
                        self._versions[path] = version
                        etag = f'"v{version}"'
                        self.counts["changed"] += 1
                    else:
                        self.counts["304"] += 1
            self.counts["GET"] += 1
        cache_control = "max-age=0" if revalidating else "max-age=3600"
        headers = [("Cache-Control", cache_control), ("ETag", etag), ("X-Version", str(version))]
        if revalidating and handler.headers.get("If-None-Match") == etag:
            handler.send_response(304)
            for name, value in headers:
                handler.send_header(name, value)
            handler.end_headers()
            return
        body = body_for(path, version)
        handler.send_response(200)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _change(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        with self._lock:
            version = self._versions.get(handler.path, 1) + 1
            self._versions[handler.path] = version
            self.counts[handler.command] += 1
        body = b"" if status == 204 else b"changed"
        handler.send_response(status)
        handler.send_header("Cache-Control", "no-store")
        handler.send_header("X-Version", str(version))
        if status != 204:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
