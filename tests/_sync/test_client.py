"""CacheClient: every transport it uses is cached, over one shared storage."""

from __future__ import annotations

import httpx
import pytest

from httpcache import CacheClient, CacheTransport, InMemoryStorage, CacheOptions
from httpcache._sync import _storage_choice as storage_choice_module

from .support import BASE, Clock, Origin, respond

FRESH = {"Cache-Control": "max-age=60"}
OTHER = "http://other.example"


class ClosingCounter(InMemoryStorage):
    """An in-memory storage that counts how often it is closed."""

    closed = 0

    def close(self) -> None:
        type(self).closed += 1
        super().close()


def test_client_default_transport_caches() -> None:
    """DESIGN §1: the `transport=` a user passes is wrapped in the cache."""
    origin = Origin(respond(200, FRESH))
    options = CacheOptions(clock=Clock())
    with CacheClient(
        transport=httpx.MockTransport(origin), base_url=BASE, options=options
    ) as client:
        first = client.get("/a")
        second = client.get("/a")
    assert first.extensions["from_cache"] is False
    assert second.extensions["from_cache"] is True
    assert second.content == b"hello"
    assert origin.calls == 1


def test_client_mounts_cached_over_one_shared_storage() -> None:
    """DESIGN §1: each of `mounts=` is wrapped, and every wrapper shares the client's storage."""
    main, other = Origin(respond(200, FRESH, b"main")), Origin(respond(200, FRESH, b"other"))
    with CacheClient(
        transport=httpx.MockTransport(main),
        mounts={OTHER: httpx.MockTransport(other)},
        options=CacheOptions(clock=Clock()),
    ) as client:
        for _ in range(2):
            assert (client.get(BASE + "/a")).content == b"main"
            assert (client.get(OTHER + "/b")).content == b"other"
        mounted = client._transport_for_url(httpx.URL(OTHER + "/b"))
        default = client._transport_for_url(httpx.URL(BASE + "/a"))
        urls = sorted([entry.request.url for entry in client.storage.iter_entries()])
    assert (main.calls, other.calls) == (1, 1)
    assert isinstance(mounted, CacheTransport)
    assert isinstance(default, CacheTransport)
    assert mounted is not default
    assert mounted.storage is default.storage is client.storage
    assert mounted.options is default.options is client.cache_options
    assert urls == [BASE + "/a", OTHER + "/b"]


def test_client_storage_and_options_are_those_passed() -> None:
    """DESIGN §1: `client.storage` and `client.cache_options` expose the configuration."""
    storage = InMemoryStorage()
    options = CacheOptions(shared=True)
    with CacheClient(
        storage=storage, options=options, transport=httpx.MockTransport(Origin())
    ) as client:
        assert client.storage is storage
        assert client.cache_options is options
    with CacheClient(transport=httpx.MockTransport(Origin())) as client:
        assert isinstance(client.storage, InMemoryStorage)
        assert client.cache_options == CacheOptions()


def test_client_already_cached_transport_not_wrapped_twice() -> None:
    """DESIGN §1: a transport that already caches is used as it is."""
    transport = CacheTransport(httpx.MockTransport(Origin()))
    with CacheClient(transport=transport) as client:
        assert client._transport_for_url(httpx.URL(BASE)) is transport


@pytest.mark.parametrize(
    "closed_by",
    [pytest.param("close", id="close"), pytest.param("context-manager", id="async-with")],
)
def test_client_closes_storage_it_created(
    closed_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DESIGN §1: the client owns (and closes once) a storage it made itself."""
    monkeypatch.setattr(storage_choice_module, "InMemoryStorage", ClosingCounter)
    monkeypatch.setattr(ClosingCounter, "closed", 0)
    client = CacheClient(
        transport=httpx.MockTransport(Origin()), mounts={OTHER: httpx.MockTransport(Origin())}
    )
    assert isinstance(client.storage, ClosingCounter)
    if closed_by == "close":
        client.get(BASE + "/a")
        client.close()
    else:
        with client:
            client.get(BASE + "/a")
    assert ClosingCounter.closed == 1


@pytest.mark.parametrize(
    "closed_by",
    [pytest.param("close", id="close"), pytest.param("context-manager", id="async-with")],
)
def test_client_leaves_passed_storage_open(
    closed_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DESIGN §1: a storage the user passes stays open when the client closes."""
    monkeypatch.setattr(ClosingCounter, "closed", 0)
    storage = ClosingCounter()
    client = CacheClient(
        storage=storage,
        transport=httpx.MockTransport(Origin()),
        mounts={OTHER: httpx.MockTransport(Origin())},
    )
    if closed_by == "close":
        client.get(BASE + "/a")
        client.close()
    else:
        with client:
            client.get(BASE + "/a")
    assert ClosingCounter.closed == 0


def test_client_default_headers_are_what_vary_matches() -> None:
    """R-14, RFC 9111 §4.1: Vary sees the request as sent, the client's defaults included."""

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Cache-Control": "max-age=60", "Vary": "Accept-Language"}
        return httpx.Response(200, headers=headers, content=request.headers["Accept-Language"])

    origin = Origin(handler)
    with CacheClient(
        transport=httpx.MockTransport(origin),
        headers={"Accept-Language": "de"},
        base_url=BASE,
        options=CacheOptions(clock=Clock()),
    ) as client:
        first = client.get("/a")
        repeated = client.get("/a")
        english = client.get("/a", headers={"Accept-Language": "en"})
    assert (first.content, repeated.content, english.content) == (b"de", b"de", b"en")
    assert repeated.extensions["from_cache"] is True
    assert english.extensions["cache_status"].startswith("httpcache; fwd=vary-miss")
    assert origin.last.headers["Accept-Language"] == "en"
    assert origin.calls == 2


def test_client_proxy_mount_wrapped() -> None:
    """DESIGN §1: a proxy transport mounted by the user is cached too (no network used)."""
    proxied = httpx.HTTPTransport(proxy="http://proxy.invalid:8080")
    with CacheClient(mounts={"http://": proxied}) as client:
        transport = client._transport_for_url(httpx.URL("http://example.com/a"))
        assert isinstance(transport, CacheTransport)
        assert transport.transport is proxied
        assert transport.storage is client.storage


def test_client_environment_proxy_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """DESIGN §1: the proxy transports httpx builds from the environment are cached too."""
    for name in ("ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:8080")
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:8080")
    with CacheClient() as client:
        transport = client._transport_for_url(httpx.URL("http://example.com/a"))
        default = client._transport_for_url(httpx.URL("https://example.com/a"))
        assert isinstance(transport, CacheTransport)
        assert isinstance(transport.transport, httpx.HTTPTransport)
        assert isinstance(default, CacheTransport)
        assert transport is not default
        assert transport.storage is default.storage is client.storage
