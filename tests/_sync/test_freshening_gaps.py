"""Issue 11 through the public API: validator-less 304s, stale-on-arrival, HEAD freshening.

RFC 9111 §4.3.4 and RFC 9110 §15.4.5 (a 304 to the cache's own conditional need not repeat
the validators), §3 and §4.2.4 with RFC 5861 (a response stale on arrival is stored when a
stale use of it is permitted), §4.3.5 (a HEAD answer freshens or invalidates stored GET
responses, whatever their final status). The origin is an `httpx.MockTransport` counting
its calls; the clock is fake.
"""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

import httpx
import pytest

from httpcache import CacheTransport, InMemoryStorage, CacheOptions, Entry

from .support import BASE, T0, Clock, Handler, Origin


def http_date(t: float) -> str:
    return formatdate(t, usegmt=True)


class Cache:
    """A caching transport over a counting origin, with its clock and storage at hand."""

    def __init__(self, handler: Handler, **options: Any) -> None:
        self.clock = Clock()
        self.origin = Origin(handler)
        self.storage = InMemoryStorage(clock=self.clock)
        self.transport = CacheTransport(
            httpx.MockTransport(self.origin),
            storage=self.storage,
            options=CacheOptions(clock=self.clock, **options),
        )
        self.client = httpx.Client(transport=self.transport, base_url=BASE)

    def entries(self, path: str = "/a") -> list[Entry]:
        return list(self.storage.get_entries(BASE + path))


def first_then(first: httpx.Response, then: Handler) -> Handler:
    """A handler: ``first`` to the first request, ``then`` to every later one."""
    count = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        count[0] += 1
        return first if count[0] == 1 else then(request)

    return handler


# -- a 304 without validators answers the cache's own conditional (RFC 9111 §4.3.4) -------------


@pytest.mark.parametrize(
    ("stored", "sent_field"),
    [
        pytest.param(
            {"Last-Modified": http_date(T0 - 3600), "Cache-Control": "max-age=0"},
            "If-Modified-Since",
            id="last-modified",
        ),
        pytest.param({"ETag": '"v1"', "Cache-Control": "max-age=0"}, "If-None-Match", id="etag"),
    ],
)
def test_304_with_only_date_freshens_and_serves_stored_body(
    stored: dict[str, str], sent_field: str
) -> None:
    """U-5, U-11, RFC 9111 §4.3.4, RFC 9110 §15.4.5: the origin's 304 repeats no
    validator; it answers for the one stored response the conditional was built from:
    two origin calls in all, the stored body served with ``revalidated=True``."""

    def not_modified(request: httpx.Request) -> httpx.Response:
        assert request.headers.get(sent_field) == stored.get("Last-Modified", stored.get("ETag"))
        return httpx.Response(304, headers={"Date": http_date(T0 + 20)})

    cache = Cache(first_then(httpx.Response(200, headers=stored, content=b"stored"), not_modified))
    with cache.client as client:
        client.get("/a")
        cache.clock.advance(20)
        response = client.get("/a")

    assert cache.origin.calls == 2
    assert (response.status_code, response.content) == (200, b"stored")
    assert response.extensions["revalidated"] is True
    assert response.extensions["from_cache"] is False  # the origin answered, with a 304
    assert response.headers.get_list("Age") == ["0"]
    (entry,) = cache.entries()
    assert entry.response_time == T0 + 20


def test_304_with_other_strong_etag_still_refetches() -> None:
    """U-3, RFC 9111 §4.3.4 (control): a 304 whose strong ETag matches nothing updates
    nothing; an unconditional request follows (three origin calls)."""

    def origin(request: httpx.Request) -> httpx.Response:
        if request.headers.get("If-None-Match"):
            return httpx.Response(304, headers={"ETag": '"v2"'})
        return httpx.Response(200, headers={"ETag": '"v2"'}, content=b"new")

    first = httpx.Response(
        200, headers={"ETag": '"v1"', "Cache-Control": "max-age=0"}, content=b"stored"
    )
    cache = Cache(first_then(first, origin))
    with cache.client as client:
        client.get("/a")
        cache.clock.advance(20)
        response = client.get("/a")

    assert cache.origin.calls == 3
    assert "If-None-Match" not in cache.origin.last.headers
    assert (response.status_code, response.content) == (200, b"new")
    assert response.extensions["revalidated"] is False


# -- a response stale on arrival is stored when a stale use is permitted -------------------------


def test_stale_on_arrival_with_stale_if_error_serves_later_error() -> None:
    """X-12, RFC 5861 §4, RFC 9111 §4.2.3: ``Age: 100`` against ``max-age=60``, no
    validator, ``stale-if-error=3600``: stored, and served when the origin fails."""

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    headers = {"Cache-Control": "max-age=60, stale-if-error=3600", "Age": "100"}
    cache = Cache(first_then(httpx.Response(200, headers=headers, content=b"stored"), refused))
    with cache.client as client:
        first = client.get("/a")
        cache.clock.advance(10)
        response = client.get("/a")

    assert first.extensions["from_cache"] is False
    assert cache.origin.calls == 2
    assert (response.status_code, response.content) == (200, b"stored")
    assert response.extensions["from_cache"] is True
    assert response.extensions["stale"] is True
    assert response.headers["Age"] == "110"


def test_stale_on_arrival_served_to_later_max_stale_request() -> None:
    """Q-3, RFC 9111 §5.2.1.2: a response stored stale on arrival (here for its
    ``stale-if-error``) answers a later request's ``max-stale`` without the origin."""
    headers = {"Cache-Control": "max-age=60, stale-if-error=3600", "Date": http_date(T0 - 300)}
    later = lambda request: httpx.Response(200, content=b"new")  # noqa: E731
    cache = Cache(first_then(httpx.Response(200, headers=headers, content=b"stored"), later))
    with cache.client as client:
        client.get("/a")
        cache.clock.advance(10)
        response = client.get("/a", headers={"Cache-Control": "max-stale"})

    assert cache.origin.calls == 1
    assert response.content == b"stored"
    assert response.extensions["stale"] is True


def test_stale_on_arrival_must_revalidate_not_stored() -> None:
    """X-2, RFC 9111 §5.2.2.2: ``must-revalidate`` forbids stale use, so a response
    stale on arrival without validator is not stored, ``stale-if-error`` or not."""
    headers = {"Cache-Control": "max-age=60, must-revalidate, stale-if-error=3600", "Age": "100"}
    cache = Cache(lambda request: httpx.Response(200, headers=headers, content=b"x"))
    with cache.client as client:
        response = client.get("/a")
        response.read()

    assert cache.entries() == []


# -- HEAD freshens (or invalidates) stored GET responses (RFC 9111 §4.3.5) -----------------------


def gone(head: dict[str, str], *, status: int = 404) -> Handler:
    """An origin: a GET gets 404 "missing" (``max-age=10``, ``ETag: "a"``); a HEAD ``status``."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(status, headers=head)
        headers = {"Cache-Control": "max-age=10", "ETag": '"a"'}
        return httpx.Response(404, headers=headers, content=b"missing")

    return handler


def test_head_404_freshens_stored_404() -> None:
    """U-14, RFC 9111 §4.3.5: a HEAD answered 404 with the stored validator freshens the
    stored GET 404: the next GET is a hit with the HEAD's fields and the stored body."""
    cache = Cache(gone({"Cache-Control": "max-age=100", "ETag": '"a"', "X-A": "2"}))
    with cache.client as client:
        client.get("/a")
        cache.clock.advance(20)
        client.head("/a")
        cache.clock.advance(10)
        response = client.get("/a")

    assert cache.origin.calls == 2
    assert (response.status_code, response.content) == (404, b"missing")
    assert response.extensions["from_cache"] is True
    assert response.headers["X-A"] == "2"


def test_head_200_invalidates_stored_404() -> None:
    """U-15, RFC 9111 §4.3.5: a HEAD answered 200 (even with the stored ETag) shows the
    stored, fresh GET 404 out of date: the next GET goes to the origin."""
    cache = Cache(gone({"ETag": '"a"', "Cache-Control": "max-age=100"}, status=200))
    with cache.client as client:
        client.get("/a")
        client.head("/a", headers={"Cache-Control": "no-cache"})
        response = client.get("/a")

    assert cache.origin.calls == 3
    assert cache.origin.last.method == "GET"
    assert response.extensions["from_cache"] is False
