"""Offline mode and forced refresh, per client and per request, through the public API.

An online client fills a storage; an offline client (or request) over the same storage
must answer from it, fresh or stale, or with a 504, and never call its origin.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from httpcache import (
    CacheClient,
    CacheTransport,
    InMemoryStorage,
    CacheOptions,
    Entry,
)

from .support import BASE, Clock, Handler, Origin, respond


class OutOfLine(InMemoryStorage):
    """Heads without inline bodies, whose bodies have vanished (``open_body`` finds none)."""

    def get_entries(self, key: str) -> list[Entry]:
        return [dataclasses.replace(e, body=None) for e in super().get_entries(key)]

    def open_body(self, entry: Entry) -> Any:
        return None


class BrokenStorage(InMemoryStorage):
    """A storage whose reads fail."""

    def get_entries(self, key: str) -> list[Entry]:
        raise OSError("storage is down")


class Setup:
    """An online and an offline transport over one storage, each with a counting origin."""

    def __init__(
        self, handler: Handler | None = None, *, storage: Any = None, **options: Any
    ) -> None:
        self.clock = Clock()
        self.storage = storage if storage is not None else InMemoryStorage(clock=self.clock)
        self.origin = Origin(handler)
        self.offline_origin = Origin(respond(200, content=b"from the network"))
        online = CacheOptions(clock=self.clock, cache_status_header=True, **options)
        self.online = httpx.Client(
            transport=CacheTransport(
                httpx.MockTransport(self.origin), storage=self.storage, options=online
            ),
            base_url=BASE,
        )
        self.offline = httpx.Client(
            transport=CacheTransport(
                httpx.MockTransport(self.offline_origin),
                storage=self.storage,
                options=dataclasses.replace(online, offline=True),
            ),
            base_url=BASE,
        )

    def close(self) -> None:
        self.online.close()
        self.offline.close()


def assert_gateway_timeout(response: httpx.Response) -> None:
    assert (response.status_code, response.content) == (504, b"")
    assert response.extensions["from_cache"] is False
    assert response.extensions["cache_status"] == ""


# -- offline per client --------------------------------------------------------------------------


def test_offline_client_serves_fresh_then_stale_without_network() -> None:
    """A fresh entry is a plain hit; once stale it is still served, marked stale, with the
    entry's negative ttl in Cache-Status, and the offline client's origin is never called."""
    setup = Setup(respond(200, {"Cache-Control": "max-age=60"}, b"stored"))
    setup.online.get("/a")
    setup.clock.advance(10)
    fresh = setup.offline.get("/a")
    setup.clock.advance(90)  # t=100: 40 s stale
    stale = setup.offline.get("/a")
    setup.close()

    assert (fresh.status_code, fresh.content) == (200, b"stored")
    assert fresh.extensions["stale"] is False
    assert fresh.headers["Cache-Status"] == "httpcache; hit; ttl=50"
    assert (stale.status_code, stale.content) == (200, b"stored")
    assert stale.extensions["from_cache"] is True
    assert stale.extensions["stale"] is True
    assert stale.extensions["cache_status"] == "httpcache; hit; ttl=-40"
    assert stale.headers["Cache-Status"] == "httpcache; hit; ttl=-40"
    assert stale.headers.get_list("Age") == ["100"]
    assert stale.extensions["cache_metadata"]["age"] == 100
    assert (setup.origin.calls, setup.offline_origin.calls) == (1, 0)


@pytest.mark.parametrize(
    "cache_control",
    [
        pytest.param("no-cache", id="no-cache"),
        pytest.param("max-age=10, must-revalidate", id="must-revalidate"),
        pytest.param("max-age=0, must-revalidate, no-cache", id="both"),
    ],
)
def test_offline_client_serves_entries_that_require_validation(cache_control: str) -> None:
    """`no-cache` and `must-revalidate` responses are served offline without validation: the
    user asked never to use the network (a documented departure from RFC 9111 §5.2.2.2)."""
    headers = {"Cache-Control": cache_control, "ETag": '"v1"'}
    setup = Setup(respond(200, headers, b"stored"))
    setup.online.get("/a")
    setup.clock.advance(20)
    response = setup.offline.get("/a")
    setup.close()

    assert (response.status_code, response.content) == (200, b"stored")
    assert response.extensions["stale"] is True
    assert setup.offline_origin.calls == 0


def test_offline_client_miss_gives_504_without_network() -> None:
    """RFC 9111 §5.2.1.7: nothing stored: an empty 504 made up by the cache."""
    setup = Setup()
    response = setup.offline.get("/a")
    setup.close()

    assert_gateway_timeout(response)
    assert setup.offline_origin.calls == 0


@pytest.mark.parametrize(
    ("language", "status"),
    [pytest.param("en", 200, id="matching-variant"), pytest.param("de", 504, id="other-variant")],
)
def test_offline_client_respects_vary(language: str, status: int) -> None:
    """RFC 9111 §4.1: a stored variant that doesn't match the request is a miss, so a 504."""
    headers = {"Cache-Control": "max-age=10", "Vary": "Accept-Language"}
    setup = Setup(respond(200, headers, b"english"))
    setup.online.get("/a", headers={"Accept-Language": "en"})
    setup.clock.advance(30)
    response = setup.offline.get("/a", headers={"Accept-Language": language})
    setup.close()

    assert response.status_code == status
    assert setup.offline_origin.calls == 0


def test_offline_client_unsafe_method_gives_504_and_invalidates_nothing() -> None:
    """A POST can only be answered by the origin: 504, and the stored GET stays."""
    setup = Setup(respond(200, {"Cache-Control": "max-age=60"}, b"stored"))
    setup.online.get("/a")
    posted = setup.offline.post("/a", content=b"data")
    after = setup.offline.get("/a")
    setup.close()

    assert_gateway_timeout(posted)
    assert (after.status_code, after.content) == (200, b"stored")
    assert setup.offline_origin.calls == 0


def test_offline_client_vanished_body_gives_504_not_network() -> None:
    """U-12: the stored body vanished between the head and the body read: a miss, so a 504."""
    setup = Setup(respond(200, {"Cache-Control": "max-age=60"}), storage=OutOfLine())
    setup.online.get("/a")
    response = setup.offline.get("/a")
    setup.close()

    assert_gateway_timeout(response)
    assert setup.offline_origin.calls == 0


@pytest.mark.parametrize(
    ("headers", "extensions"),
    [
        pytest.param({"Cache-Control": "only-if-cached"}, {}, id="Q-9-directive"),
        pytest.param({}, {"httpcache_only_if_cached": True}, id="extension"),
    ],
)
def test_only_if_cached_vanished_body_gives_504_not_network(
    headers: dict[str, str], extensions: dict[str, Any]
) -> None:
    """U-12, RFC 9111 §5.2.1.7: only-if-cached never reaches the origin, even when the body of
    the stored response it chose has vanished."""
    setup = Setup(respond(200, {"Cache-Control": "max-age=60"}), storage=OutOfLine())
    setup.online.get("/a")
    response = setup.online.get("/a", headers=headers, extensions=extensions)
    setup.close()

    assert_gateway_timeout(response)
    assert setup.origin.calls == 1


def test_offline_client_failing_storage_gives_504_not_network() -> None:
    """A storage failure offline is a miss (fail open), and a miss offline is a 504."""
    setup = Setup(storage=BrokenStorage())
    response = setup.offline.get("/a")
    setup.close()

    assert response.status_code == 504
    assert setup.offline_origin.calls == 0


def test_offline_cache_client_serves_stored_response() -> None:
    """`CacheClient(options=CacheOptions(offline=True))` over a filled storage."""
    clock = Clock()
    storage = InMemoryStorage(clock=clock)
    origin = Origin(respond(200, {"Cache-Control": "max-age=1"}, b"stored"))
    options = CacheOptions(clock=clock)
    with CacheClient(
        transport=httpx.MockTransport(origin), base_url=BASE, storage=storage, options=options
    ) as client:
        client.get("/a")
    clock.advance(3600)
    with CacheClient(
        transport=httpx.MockTransport(origin),
        base_url=BASE,
        storage=storage,
        options=dataclasses.replace(options, offline=True),
    ) as client:
        assert client.cache_options.offline is True
        hit = client.get("/a")
        miss = client.get("/b")
    storage.close()

    assert (hit.status_code, hit.content, hit.extensions["stale"]) == (200, b"stored", True)
    assert miss.status_code == 504
    assert origin.calls == 1


# -- offline per request -------------------------------------------------------------------------


def test_offline_extension_serves_stale_and_504_per_request() -> None:
    """`httpcache_offline` on one request of an online client: stale served, miss 504."""
    setup = Setup(respond(200, {"Cache-Control": "max-age=10"}, b"stored"))
    setup.online.get("/a")
    setup.clock.advance(20)
    stale = setup.online.get("/a", extensions={"httpcache_offline": True})
    miss = setup.online.get("/b", extensions={"httpcache_offline": True})
    online = setup.online.get("/a")
    setup.close()

    assert (stale.status_code, stale.content, stale.extensions["stale"]) == (200, b"stored", True)
    assert stale.extensions["cache_status"] == "httpcache; hit; ttl=-10"
    assert_gateway_timeout(miss)
    assert online.extensions["from_cache"] is False
    assert setup.origin.calls == 2


def test_offline_extension_false_goes_online_from_offline_client() -> None:
    """A request's `httpcache_offline: False` overrides the client's `offline=True`."""
    setup = Setup()
    response = setup.offline.get("/a", extensions={"httpcache_offline": False})
    setup.close()

    assert (response.status_code, response.content) == (200, b"from the network")
    assert setup.offline_origin.calls == 1


# -- forced refresh per client -------------------------------------------------------------------


def counting_bodies(headers: dict[str, str]) -> Handler:
    """An origin whose n-th answer has the body b"v<n>"."""
    count = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        count[0] += 1
        return httpx.Response(200, headers=headers, content=b"v%d" % count[0])

    return handler


def test_refresh_client_fetches_every_request_and_stores_the_new_response() -> None:
    """`CacheOptions(refresh=True)`, like `httpcache_refresh` on every request: fresh stored
    responses are not used, and each new answer replaces them."""
    setup = Setup(counting_bodies({"Cache-Control": "max-age=60"}), refresh=True)
    first = setup.online.get("/a")
    second = setup.online.get("/a")
    kept = setup.offline.get("/a")  # what the storage holds now
    cached = setup.online.get("/a", extensions={"httpcache_refresh": False})
    entries = list(setup.storage.get_entries(BASE + "/a"))
    setup.close()

    assert (first.content, second.content) == (b"v1", b"v2")
    assert second.extensions["from_cache"] is False
    assert second.extensions["cache_status"] == "httpcache; fwd=request; fwd-status=200; stored"
    assert (kept.content, cached.content) == (b"v2", b"v2")
    assert cached.extensions["from_cache"] is True
    assert len(entries) == 1
    assert setup.origin.calls == 2


def test_refresh_client_with_only_if_cached_gives_504_without_network() -> None:
    """A forced reload that may not reach the origin has nothing to answer with: 504."""
    setup = Setup(respond(200, {"Cache-Control": "max-age=60"}), refresh=True)
    setup.online.get("/a")
    response = setup.online.get("/a", extensions={"httpcache_only_if_cached": True})
    setup.close()

    assert_gateway_timeout(response)
    assert setup.origin.calls == 1


def test_refresh_client_stores_nothing_uncacheable_and_keeps_request_extensions() -> None:
    """The refresh mode changes reuse only: a `no-store` answer is passed on, not stored, and
    the request's own extensions (here `httpcache_ttl`) still apply."""
    answers = iter(
        [
            httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=b"kept"),
            httpx.Response(200, headers={"Cache-Control": "no-store"}, content=b"secret"),
        ]
    )
    setup = Setup(lambda request: next(answers), refresh=True)
    setup.online.get("/a", extensions={"httpcache_ttl": 5})
    secret = setup.online.get("/a")
    entries = list(setup.storage.get_entries(BASE + "/a"))
    setup.close()

    assert secret.content == b"secret"
    assert [entry.ttl for entry in entries] == [5.0]
