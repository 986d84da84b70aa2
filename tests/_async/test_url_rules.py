"""`CacheOptions.url_rules` end to end: a counting MockTransport origin, a fake clock."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from httpcache import (
    AsyncCacheClient,
    AsyncCacheTransport,
    AsyncInMemoryStorage,
    CacheOptions,
    URLRule,
)

from .support import BASE, Clock, Handler, Origin, respond

FRESH = {"Cache-Control": "max-age=60"}
NO_STORE = {"Cache-Control": "no-store"}


def counting_bodies(headers: dict[str, str]) -> Handler:
    """An origin whose n-th answer has the body b"v<n>"."""
    count = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        count[0] += 1
        return httpx.Response(200, headers=headers, content=b"v%d" % count[0])

    return handler


class Rules:
    """An AsyncCacheClient with `url_rules` over a counting origin, its clock and storage."""

    def __init__(
        self,
        handler: Handler,
        *rules: URLRule,
        storage: AsyncInMemoryStorage | None = None,
        **options: Any,
    ) -> None:
        self.clock = Clock()
        self.origin = Origin(handler)
        self.storage = storage if storage is not None else AsyncInMemoryStorage(clock=self.clock)
        self.client = AsyncCacheClient(
            transport=httpx.MockTransport(self.origin),
            base_url=BASE,
            storage=self.storage,
            options=CacheOptions(clock=self.clock, url_rules=rules, **options),
        )


@pytest.mark.anyio
async def test_url_rules_ttl_serves_uncacheable_response_for_ttl() -> None:
    """A rule's ttl stores a `no-store` response and serves it, unvalidated, for ttl seconds."""
    cache = Rules(counting_bodies(NO_STORE), URLRule("example.com/api/*", ttl=30))
    async with cache.client as client:
        first = await client.get("/api/a")
        cache.clock.advance(29)
        hit = await client.get("/api/a")
        cache.clock.advance(1)
        expired = await client.get("/api/a")
        other = [(await client.get("/other")).content for _ in range(2)]
    assert (first.content, hit.content, expired.content) == (b"v1", b"v1", b"v2")
    assert hit.extensions["from_cache"] is True
    assert expired.extensions["from_cache"] is False
    assert other == [b"v3", b"v4"]  # no rule matches: the origin's no-store holds
    assert cache.origin.calls == 4


@pytest.mark.parametrize(
    ("cache_control", "ttl", "wait", "from_cache"),
    [
        pytest.param("max-age=3600", 10, 10, False, id="shorter-than-max-age"),
        pytest.param("max-age=0", 60, 59, True, id="longer-than-max-age"),
        pytest.param("no-cache", 60, 59, True, id="over-no-cache"),
        pytest.param(
            "private, max-age=0, must-revalidate", 60, 59, True, id="over-must-revalidate"
        ),
    ],
)
@pytest.mark.anyio
async def test_url_rules_ttl_overrides_response_headers(
    cache_control: str, ttl: float, wait: float, from_cache: bool
) -> None:
    """The rule's ttl, not the response's Cache-Control, sets how long a response is fresh."""
    cache = Rules(respond(200, {"Cache-Control": cache_control}), URLRule("example.com", ttl=ttl))
    async with cache.client as client:
        await client.get("/a")
        cache.clock.advance(wait)
        second = await client.get("/a")
    assert second.extensions["from_cache"] is from_cache
    assert cache.origin.calls == (1 if from_cache else 2)


@pytest.mark.anyio
async def test_url_rules_force_cache_lasts_force_cache_ttl() -> None:
    """`force_cache=True` without a ttl uses `CacheOptions.force_cache_ttl`."""
    cache = Rules(
        counting_bodies(NO_STORE), URLRule("example.com/*", force_cache=True), force_cache_ttl=20
    )
    async with cache.client as client:
        await client.get("/a")
        cache.clock.advance(19)
        hit = await client.get("/a")
        cache.clock.advance(1)
        miss = await client.get("/a")
    assert (hit.content, miss.content) == (b"v1", b"v2")
    assert hit.extensions["from_cache"] is True
    assert miss.extensions["from_cache"] is False
    assert cache.origin.calls == 2


@pytest.mark.anyio
async def test_url_rules_never_cache_neither_reads_nor_writes() -> None:
    """`cache=False` neither serves a fresh stored response nor stores the new one (bypass)."""
    plain = Rules(counting_bodies(FRESH))
    ruled = Rules(counting_bodies(FRESH), URLRule("*/a", cache=False), storage=plain.storage)
    async with plain.client, ruled.client:
        assert (await plain.client.get("/a")).content == b"v1"
        bypassed = [await ruled.client.get("/a") for _ in range(2)]
        stored = await plain.client.get("/a")
    assert [r.content for r in bypassed] == [b"v1", b"v2"]  # the ruled origin's own answers
    assert all(r.extensions["from_cache"] is False for r in bypassed)
    assert all("fwd=bypass" in r.extensions["cache_status"] for r in bypassed)
    assert stored.extensions["from_cache"] is True
    assert stored.content == b"v1"  # the entry the rule-free client stored is untouched
    assert (plain.origin.calls, ruled.origin.calls) == (1, 2)


@pytest.mark.anyio
async def test_url_rules_first_matching_rule_wins() -> None:
    """An earlier rule without an action exempts its URLs from a broader later rule."""
    cache = Rules(
        respond(200, NO_STORE),
        URLRule("example.com/live/*"),
        URLRule("example.com/*", ttl=60),
    )
    async with cache.client as client:
        live = [await client.get("/live/score") for _ in range(2)]
        news = [await client.get("/news") for _ in range(2)]
    assert [r.extensions["from_cache"] for r in live] == [False, False]
    assert [r.extensions["from_cache"] for r in news] == [False, True]
    assert cache.origin.calls == 3


@pytest.mark.parametrize(
    ("rule", "headers", "extensions", "origin_calls"),
    [
        pytest.param(
            URLRule("*", cache=False), FRESH, {"httpcache_bypass": False}, 1, id="bypass-false"
        ),
        pytest.param(
            URLRule("*", ttl=60),
            NO_STORE,
            {"httpcache_force_cache": False},
            2,
            id="force-cache-false",
        ),
        pytest.param(
            URLRule("*"), NO_STORE, {"httpcache_force_cache": True}, 1, id="force-cache-true"
        ),
    ],
)
@pytest.mark.anyio
async def test_url_rules_request_extension_overrides_rule(
    rule: URLRule, headers: dict[str, str], extensions: dict[str, Any], origin_calls: int
) -> None:
    """An extension the request carries, even `False`, wins over the matching rule."""
    cache = Rules(respond(200, headers), rule)
    async with cache.client as client:
        for _ in range(2):
            await client.get("/a", extensions=extensions)
    assert cache.origin.calls == origin_calls


@pytest.mark.anyio
async def test_url_rules_ttl_extension_overrides_rule_ttl() -> None:
    """`httpcache_ttl` replaces the rule's ttl; the rule still forces caching."""
    cache = Rules(counting_bodies(NO_STORE), URLRule("*", ttl=60))
    async with cache.client as client:
        await client.get("/a", extensions={"httpcache_ttl": 5})
        [entry] = await cache.storage.get_entries(BASE + "/a")
        cache.clock.advance(4)
        hit = await client.get("/a")
        cache.clock.advance(1)
        miss = await client.get("/a")
    assert (entry.ttl, entry.force_cached) == (5.0, True)
    assert hit.extensions["from_cache"] is True
    assert miss.extensions["from_cache"] is False
    assert cache.origin.calls == 2


@pytest.mark.anyio
async def test_url_rules_request_no_store_prevents_storing() -> None:
    """A request's own `Cache-Control: no-store` still keeps a ttl rule from storing."""
    cache = Rules(respond(200, FRESH), URLRule("*", ttl=60))
    async with cache.client as client:
        await client.get("/a", headers={"Cache-Control": "no-store"})
        stored = await cache.storage.get_entries(BASE + "/a")
        second = await client.get("/a")
    assert stored == []
    assert second.extensions["from_cache"] is False
    assert cache.origin.calls == 2


@pytest.mark.anyio
async def test_url_rules_regex_rule_matches_full_url_through_transport() -> None:
    """A compiled regex is searched in the whole URL, scheme included (CacheTransport API)."""
    clock = Clock()
    origin = Origin(respond(200, NO_STORE))
    transport = AsyncCacheTransport(
        httpx.MockTransport(origin),
        storage=AsyncInMemoryStorage(clock=clock),
        options=CacheOptions(clock=clock, url_rules=[URLRule(re.compile(r"^https://"), ttl=60)]),
    )
    async with httpx.AsyncClient(transport=transport) as client:
        secure = [await client.get("https://example.com/a") for _ in range(2)]
        plain = [await client.get("http://example.com/a") for _ in range(2)]
    assert [r.extensions["from_cache"] for r in secure] == [False, True]
    assert [r.extensions["from_cache"] for r in plain] == [False, False]
    assert origin.calls == 3


@pytest.mark.anyio
async def test_url_rules_no_match_keeps_rfc_behaviour() -> None:
    """URLs no rule matches are cached by the response's headers, as without rules."""
    cache = Rules(respond(200, FRESH), URLRule("api.example.com/*", cache=False))
    async with cache.client as client:
        responses = [await client.get("/a") for _ in range(2)]
    assert [r.extensions["from_cache"] for r in responses] == [False, True]
    assert cache.origin.calls == 1


@pytest.mark.anyio
async def test_url_rules_never_cache_unsafe_request_still_invalidates() -> None:
    """A `cache=False` rule bypasses the cache, but a successful POST still invalidates the URL."""
    plain = Rules(counting_bodies(FRESH))
    ruled = Rules(counting_bodies(FRESH), URLRule("*/a", cache=False), storage=plain.storage)
    async with plain.client, ruled.client:
        await plain.client.get("/a")
        assert (await plain.client.get("/a")).extensions["from_cache"] is True
        posted = await ruled.client.post("/a")
        after = await plain.client.get("/a")
    assert posted.status_code == 200
    assert after.extensions["from_cache"] is False
    assert plain.origin.calls == 2
