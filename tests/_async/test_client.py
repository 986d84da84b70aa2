"""AsyncCacheClient: every transport it uses is cached, over one shared storage."""

from __future__ import annotations

import httpx
import pytest

from httpcache import AsyncCacheClient, AsyncCacheTransport, AsyncInMemoryStorage, CacheOptions
from httpcache._async import _storage_choice as storage_choice_module

from .support import BASE, Clock, Origin, respond

FRESH = {"Cache-Control": "max-age=60"}
OTHER = "http://other.example"


class ClosingCounter(AsyncInMemoryStorage):
    """An in-memory storage that counts how often it is closed."""

    closed = 0

    async def aclose(self) -> None:
        type(self).closed += 1
        await super().aclose()


@pytest.mark.anyio
async def test_client_default_transport_caches() -> None:
    """DESIGN §1: the `transport=` a user passes is wrapped in the cache."""
    origin = Origin(respond(200, FRESH))
    options = CacheOptions(clock=Clock())
    async with AsyncCacheClient(
        transport=httpx.MockTransport(origin), base_url=BASE, options=options
    ) as client:
        first = await client.get("/a")
        second = await client.get("/a")
    assert first.extensions["from_cache"] is False
    assert second.extensions["from_cache"] is True
    assert second.content == b"hello"
    assert origin.calls == 1


@pytest.mark.anyio
async def test_client_mounts_cached_over_one_shared_storage() -> None:
    """DESIGN §1: each of `mounts=` is wrapped, and every wrapper shares the client's storage."""
    main, other = Origin(respond(200, FRESH, b"main")), Origin(respond(200, FRESH, b"other"))
    async with AsyncCacheClient(
        transport=httpx.MockTransport(main),
        mounts={OTHER: httpx.MockTransport(other)},
        options=CacheOptions(clock=Clock()),
    ) as client:
        for _ in range(2):
            assert (await client.get(BASE + "/a")).content == b"main"
            assert (await client.get(OTHER + "/b")).content == b"other"
        mounted = client._transport_for_url(httpx.URL(OTHER + "/b"))
        default = client._transport_for_url(httpx.URL(BASE + "/a"))
        urls = sorted([entry.request.url async for entry in client.storage.iter_entries()])
    assert (main.calls, other.calls) == (1, 1)
    assert isinstance(mounted, AsyncCacheTransport)
    assert isinstance(default, AsyncCacheTransport)
    assert mounted is not default
    assert mounted.storage is default.storage is client.storage
    assert mounted.options is default.options is client.cache_options
    assert urls == [BASE + "/a", OTHER + "/b"]


@pytest.mark.anyio
async def test_client_storage_and_options_are_those_passed() -> None:
    """DESIGN §1: `client.storage` and `client.cache_options` expose the configuration."""
    storage = AsyncInMemoryStorage()
    options = CacheOptions(shared=True)
    async with AsyncCacheClient(
        storage=storage, options=options, transport=httpx.MockTransport(Origin())
    ) as client:
        assert client.storage is storage
        assert client.cache_options is options
    async with AsyncCacheClient(transport=httpx.MockTransport(Origin())) as client:
        assert isinstance(client.storage, AsyncInMemoryStorage)
        assert client.cache_options == CacheOptions()


@pytest.mark.anyio
async def test_client_already_cached_transport_not_wrapped_twice() -> None:
    """DESIGN §1: a transport that already caches is used as it is."""
    transport = AsyncCacheTransport(httpx.MockTransport(Origin()))
    async with AsyncCacheClient(transport=transport) as client:
        assert client._transport_for_url(httpx.URL(BASE)) is transport


@pytest.mark.parametrize(
    "closed_by",
    [pytest.param("aclose", id="aclose"), pytest.param("context-manager", id="async-with")],
)
@pytest.mark.anyio
async def test_client_closes_storage_it_created(
    closed_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DESIGN §1: the client owns (and closes once) a storage it made itself."""
    monkeypatch.setattr(storage_choice_module, "AsyncInMemoryStorage", ClosingCounter)
    monkeypatch.setattr(ClosingCounter, "closed", 0)
    client = AsyncCacheClient(
        transport=httpx.MockTransport(Origin()), mounts={OTHER: httpx.MockTransport(Origin())}
    )
    assert isinstance(client.storage, ClosingCounter)
    if closed_by == "aclose":
        await client.get(BASE + "/a")
        await client.aclose()
    else:
        async with client:
            await client.get(BASE + "/a")
    assert ClosingCounter.closed == 1


@pytest.mark.parametrize(
    "closed_by",
    [pytest.param("aclose", id="aclose"), pytest.param("context-manager", id="async-with")],
)
@pytest.mark.anyio
async def test_client_leaves_passed_storage_open(
    closed_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DESIGN §1: a storage the user passes stays open when the client closes."""
    monkeypatch.setattr(ClosingCounter, "closed", 0)
    storage = ClosingCounter()
    client = AsyncCacheClient(
        storage=storage,
        transport=httpx.MockTransport(Origin()),
        mounts={OTHER: httpx.MockTransport(Origin())},
    )
    if closed_by == "aclose":
        await client.get(BASE + "/a")
        await client.aclose()
    else:
        async with client:
            await client.get(BASE + "/a")
    assert ClosingCounter.closed == 0


@pytest.mark.anyio
async def test_client_default_headers_are_what_vary_matches() -> None:
    """R-14, RFC 9111 §4.1: Vary sees the request as sent, the client's defaults included."""

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Cache-Control": "max-age=60", "Vary": "Accept-Language"}
        return httpx.Response(200, headers=headers, content=request.headers["Accept-Language"])

    origin = Origin(handler)
    async with AsyncCacheClient(
        transport=httpx.MockTransport(origin),
        headers={"Accept-Language": "de"},
        base_url=BASE,
        options=CacheOptions(clock=Clock()),
    ) as client:
        first = await client.get("/a")
        repeated = await client.get("/a")
        english = await client.get("/a", headers={"Accept-Language": "en"})
    assert (first.content, repeated.content, english.content) == (b"de", b"de", b"en")
    assert repeated.extensions["from_cache"] is True
    assert english.extensions["cache_status"].startswith("httpcache; fwd=vary-miss")
    assert origin.last.headers["Accept-Language"] == "en"
    assert origin.calls == 2


@pytest.mark.anyio
async def test_client_proxy_mount_wrapped() -> None:
    """DESIGN §1: a proxy transport mounted by the user is cached too (no network used)."""
    proxied = httpx.AsyncHTTPTransport(proxy="http://proxy.invalid:8080")
    async with AsyncCacheClient(mounts={"http://": proxied}) as client:
        transport = client._transport_for_url(httpx.URL("http://example.com/a"))
        assert isinstance(transport, AsyncCacheTransport)
        assert transport.transport is proxied
        assert transport.storage is client.storage


@pytest.mark.anyio
async def test_client_environment_proxy_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """DESIGN §1: the proxy transports httpx builds from the environment are cached too."""
    for name in ("ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:8080")
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:8080")
    async with AsyncCacheClient() as client:
        transport = client._transport_for_url(httpx.URL("http://example.com/a"))
        default = client._transport_for_url(httpx.URL("https://example.com/a"))
        assert isinstance(transport, AsyncCacheTransport)
        assert isinstance(transport.transport, httpx.AsyncHTTPTransport)
        assert isinstance(default, AsyncCacheTransport)
        assert transport is not default
        assert transport.storage is default.storage is client.storage
