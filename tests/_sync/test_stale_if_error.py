"""stale-if-error when the origin drops the connection without a response (RFC 5861 §4).

A stored stale response that allows it (the response's or the request's `stale-if-error`,
or `allow_stale=True`) stands in for any `httpx.TransportError` from the origin: a
connection closed without a response (`RemoteProtocolError`), reset (`ReadError`),
refused (`ConnectError`) or silent (`ReadTimeout`). First with a `MockTransport` origin
that raises each error, then with a real loopback origin that misbehaves in each way.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from typing import Any

import httpx
import pytest

from httpcache import CacheClient, InMemoryStorage, CacheOptions

from .support import Clock, Origin

BASE = "http://example.com"

ERRORS = [
    pytest.param(
        httpx.RemoteProtocolError, "Server disconnected without sending a response.", id="closed"
    ),
    pytest.param(httpx.ReadError, "[Errno 104] Connection reset by peer", id="reset"),
    pytest.param(httpx.ConnectError, "[Errno 111] Connection refused", id="refused"),
    pytest.param(httpx.ReadTimeout, "timed out", id="read-timeout"),
]


def first_answer_then(
    cache_control: str, error: type[httpx.TransportError], message: str, *, etag: bool
) -> Any:
    """A handler: 200 "stored" first, then `error` on every later request."""
    count = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        count[0] += 1
        if count[0] > 1:
            raise error(message, request=request)
        headers = {"Cache-Control": cache_control}
        if etag:
            headers["ETag"] = '"v1"'
        return httpx.Response(200, headers=headers, content=b"stored")

    return handler


def fetch_twice(
    handler: Any, *, headers: dict[str, str] | None = None, **options: Any
) -> tuple[Origin, httpx.Response]:
    """Store /a, let 20 s pass, and GET it again; return the origin and the answer."""
    clock = Clock()
    origin = Origin(handler)
    with CacheClient(
        transport=httpx.MockTransport(origin),
        base_url=BASE,
        storage=InMemoryStorage(clock=clock),
        options=CacheOptions(clock=clock, cache_status_header=True, **options),
    ) as client:
        client.get("/a")
        clock.advance(20)
        response = client.get("/a", headers=headers)
    return origin, response


def assert_stale_served(response: httpx.Response) -> None:
    assert (response.status_code, response.content) == (200, b"stored")
    assert response.extensions["from_cache"] is True
    assert response.extensions["stale"] is True
    assert response.headers.get_list("Age") == ["20"]
    # The origin was contacted and failed without a status (RFC 9211 §2.2: fwd, no fwd-status).
    assert response.extensions["cache_status"] == "httpcache; fwd=stale; ttl=-10"
    assert response.headers["Cache-Status"] == "httpcache; fwd=stale; ttl=-10"


@pytest.mark.parametrize(("error", "message"), ERRORS)
@pytest.mark.parametrize(
    ("cache_control", "request_headers", "options"),
    [
        pytest.param("max-age=10, stale-if-error=60", None, {}, id="response-stale-if-error"),
        pytest.param("max-age=10", {"Cache-Control": "stale-if-error=60"}, {}, id="request-sie"),
        pytest.param("max-age=10", None, {"allow_stale": True}, id="allow-stale"),
    ],
)
@pytest.mark.parametrize(
    "etag", [pytest.param(True, id="revalidating"), pytest.param(False, id="forwarding")]
)
def test_stale_if_error_transport_error_serves_stale_entry(
    error: type[httpx.TransportError],
    message: str,
    cache_control: str,
    request_headers: dict[str, str] | None,
    options: dict[str, Any],
    etag: bool,
) -> None:
    """X-5, X-12, X-14, RFC 5861 §4: a dropped connection is an error stale may stand in for,
    whether the stale entry was being revalidated (it has a validator) or fetched again."""
    handler = first_answer_then(cache_control, error, message, etag=etag)

    origin, response = fetch_twice(handler, headers=request_headers, **options)

    assert_stale_served(response)
    assert origin.calls == 2
    assert ("If-None-Match" in origin.last.headers) is etag


@pytest.mark.parametrize(("error", "message"), ERRORS)
@pytest.mark.parametrize(
    "cache_control",
    [
        pytest.param("max-age=10", id="X-1-no-allowance"),
        pytest.param("max-age=10, must-revalidate, stale-if-error=60", id="X-2-must-revalidate"),
        pytest.param("max-age=10, no-cache, stale-if-error=60", id="X-2-no-cache"),
        pytest.param("max-age=10, stale-if-error=5", id="X-13-too-stale"),
    ],
)
def test_stale_if_error_transport_error_without_allowance_reaches_user(
    error: type[httpx.TransportError], message: str, cache_control: str
) -> None:
    """X-1, X-2, X-13, RFC 9111 §5.2.2.2: without an allowance, or against one that forbids it,
    the original httpx exception reaches the user (no made-up 504)."""
    handler = first_answer_then(cache_control, error, message, etag=True)

    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        fetch_twice(handler)


# -- a real origin on loopback -------------------------------------------------------------------

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nCache-Control: max-age=10, stale-if-error=60\r\n"
    b"Content-Length: 6\r\nConnection: close\r\n\r\nstored"
)


class MisbehavingOrigin:
    """A loopback HTTP/1.1 server: answers the first connection, then fails each later one.

    ``mode`` says how: ``closed`` reads the request and closes (FIN) without a response,
    ``reset`` reads it and resets the connection (RST), ``silent`` reads it and never
    answers, and ``refused`` stops listening, so connecting fails.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # the listener was closed ("refused")
                return
            self.connections += 1
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                request += chunk
            if self.connections == 1:
                conn.sendall(RESPONSE)
                conn.close()
                if self.mode == "refused":
                    self._listener.close()
                    return
            elif self.mode == "closed":
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            elif self.mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for conn in self._held:
            conn.close()


LOOPBACK = [
    pytest.param("closed", httpx.RemoteProtocolError, id="closed-RemoteProtocolError"),
    pytest.param("reset", httpx.ReadError, id="reset-ReadError"),
    pytest.param("silent", httpx.ReadTimeout, id="silent-ReadTimeout"),
    pytest.param("refused", httpx.ConnectError, id="refused-ConnectError"),
]


@pytest.mark.parametrize(("mode", "error"), LOOPBACK)
@pytest.mark.parametrize(
    "allow", [pytest.param(True, id="stale-if-error"), pytest.param(False, id="no-allowance")]
)
def test_stale_if_error_loopback_origin_dropping_connection(
    mode: str, error: type[httpx.TransportError], allow: bool
) -> None:
    """A real connection that ends without a response raises the httpx error named; a stored
    response with `stale-if-error` is served instead, and without it the error reaches the
    user. (Without the allowance the stored response is fetched past its stale-if-error.)"""
    origin = MisbehavingOrigin(mode)
    clock = Clock()
    try:
        with CacheClient(
            base_url=origin.url,
            timeout=httpx.Timeout(5.0, read=0.3),
            storage=InMemoryStorage(clock=clock),
            options=CacheOptions(clock=clock),
        ) as client:
            first = client.get("/a")
            clock.advance(20 if allow else 100)
            if allow:
                response = client.get("/a")
                assert (response.status_code, response.content) == (200, b"stored")
                assert response.extensions["stale"] is True
                assert response.headers.get_list("Age") == ["20"]
            else:
                with pytest.raises(error):
                    client.get("/a")
    finally:
        origin.close()
    assert first.extensions["from_cache"] is False
    assert origin.connections == (1 if mode == "refused" else 2)
