"""Body-keyed POST caching end to end: a counting MockTransport origin, a fake clock.

``CacheOptions.cache_post``, the ``httpcache_cache_post`` extension and ``URLRule.cache_post``
opt a POST in: its body is read once, digested into the key and replayed to the origin.
Concurrent identical POSTs (collapsing) are in ``tests/test_post_collapsing.py``, with real
threads and tasks.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from httpcache import (
    AsyncCacheClient,
    AsyncFileStorage,
    AsyncInMemoryStorage,
    AsyncManagedStorage,
    AsyncSQLiteStorage,
    AsyncStorage,
    CacheOptions,
    URLRule,
    async_storage_from_url,
)
from httpcache._policy._keys import BODY_KEY_MARK

from .support import BASE, Clock, Handler, Origin

FRESH = {"Cache-Control": "max-age=60"}
QUERY = b'{"query": "{ me { name } }"}'
REDIS_URL = "redis://127.0.0.1:6379/0"


def counting_bodies(headers: dict[str, str] | None = None) -> Handler:
    """An origin whose n-th answer has the body b"v<n>"."""
    count = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        count[0] += 1
        return httpx.Response(200, headers=headers or FRESH, content=b"v%d" % count[0])

    return handler


class Cache:
    """An AsyncCacheClient over a counting origin, with its clock and storage at hand."""

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        storage: AsyncStorage | None = None,
        clock: Clock | None = None,
        **options: Any,
    ) -> None:
        self.clock = clock if clock is not None else Clock()
        self.origin = Origin(handler if handler is not None else counting_bodies())
        self.storage = storage if storage is not None else AsyncInMemoryStorage(clock=self.clock)
        self.client = AsyncCacheClient(
            transport=httpx.MockTransport(self.origin),
            base_url=BASE,
            storage=self.storage,
            options=CacheOptions(clock=self.clock, **options),
        )

    @property
    def bodies(self) -> list[bytes]:
        """The bodies the origin received, in order."""
        return [request.content for request in self.origin.requests]


async def post_twice(cache: Cache, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
    async with cache.client as client:
        first = await client.post("/graphql", content=QUERY, **kwargs)
        cache.clock.advance(1)
        second = await client.post("/graphql", content=QUERY, **kwargs)
    return first, second


@pytest.mark.anyio
async def test_post_cache_second_identical_post_is_hit() -> None:
    """The second identical POST is served from the cache; the origin saw the full body once."""
    cache = Cache(cache_post=True)
    first, second = await post_twice(cache, headers={"Content-Type": "application/json"})
    assert cache.origin.calls == 1
    assert cache.bodies == [QUERY]
    assert (first.content, second.content) == (b"v1", b"v1")
    assert first.extensions["from_cache"] is False
    assert second.extensions["from_cache"] is True
    key = second.extensions["cache_key"]
    assert key == first.extensions["cache_key"]
    assert key.startswith(BASE + "/graphql" + BODY_KEY_MARK)
    assert second.headers["Age"] == "1"


@pytest.mark.anyio
async def test_post_cache_different_body_or_content_type_is_miss() -> None:
    """Another body, or the same body as another content type, is another query."""
    cache = Cache(cache_post=True)
    async with cache.client as client:
        await client.post("/graphql", content=QUERY, headers={"Content-Type": "application/json"})
        other = await client.post("/graphql", content=b"{}")
        form = await client.post(
            "/graphql", content=QUERY, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        again = await client.post("/graphql", content=b"{}")
    assert cache.origin.calls == 3
    assert cache.bodies == [QUERY, b"{}", QUERY]
    assert other.extensions["from_cache"] is False
    assert form.extensions["from_cache"] is False
    assert again.extensions["from_cache"] is True


@pytest.mark.anyio
async def test_post_cache_off_by_default_every_post_reaches_origin() -> None:
    """Without the opt-in every POST goes to the origin and nothing is stored for it."""
    cache = Cache()
    _, second = await post_twice(cache)
    assert cache.origin.calls == 2
    assert cache.bodies == [QUERY, QUERY]
    assert second.extensions["from_cache"] is False
    assert BODY_KEY_MARK not in second.extensions["cache_key"]


@pytest.mark.parametrize(
    ("option", "rule", "extension", "cached"),
    [
        pytest.param(True, None, None, True, id="option on"),
        pytest.param(True, None, False, False, id="extension off beats option"),
        pytest.param(False, None, True, True, id="extension on beats option"),
        pytest.param(False, True, None, True, id="rule on beats option"),
        pytest.param(True, False, None, False, id="rule off beats option"),
        pytest.param(False, True, False, False, id="extension off beats rule"),
        pytest.param(True, False, True, True, id="extension on beats rule"),
        pytest.param(True, "none", None, True, id="rule without cache_post leaves option"),
    ],
)
@pytest.mark.anyio
async def test_post_cache_precedence_extension_rule_option(
    option: bool, rule: bool | str | None, extension: bool | None, cached: bool
) -> None:
    """Precedence: the request extension > the first matching URLRule > CacheOptions."""
    rules: tuple[URLRule, ...] = ()
    if rule == "none":
        rules = (URLRule("example.com/graphql"),)
    elif rule is not None:
        rules = (URLRule("example.com/graphql", cache_post=bool(rule)),)
    extensions = {} if extension is None else {"httpcache_cache_post": extension}
    cache = Cache(cache_post=option, url_rules=rules)
    _, second = await post_twice(cache, extensions=extensions)
    assert second.extensions["from_cache"] is cached
    assert cache.origin.calls == (1 if cached else 2)
    assert cache.bodies[0] == QUERY


@pytest.mark.anyio
async def test_post_cache_streamed_body_read_once_and_replayed() -> None:
    """A generator body is read once for the digest and sent to the origin as read."""
    cache = Cache(cache_post=True)
    reads: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        reads.append(1)
        yield QUERY[:10]
        yield QUERY[10:]

    async with cache.client as client:
        first = await client.post("/graphql", content=body())
        second = await client.post("/graphql", content=body())
    assert reads == [1, 1]  # each generator iterated once
    assert cache.bodies == [QUERY]
    assert first.content == second.content == b"v1"
    assert second.extensions["from_cache"] is True
    assert second.extensions["cache_key"] == first.extensions["cache_key"]


@pytest.mark.anyio
async def test_post_cache_plain_post_invalidates_get_entry() -> None:
    """RFC 9111 §4.4: a POST that is not opted in invalidates the URL's stored GET answer."""
    cache = Cache()
    async with cache.client as client:
        await client.get("/graphql")
        await client.post("/graphql", content=QUERY)
        after = await client.get("/graphql")
    assert cache.origin.calls == 3
    assert after.extensions["from_cache"] is False


@pytest.mark.anyio
async def test_post_cache_opted_in_post_leaves_get_entry() -> None:
    """An opted-in POST is a query: the URL's stored GET answer stays, and a GET never
    gets the POST's answer."""
    cache = Cache(cache_post=True)
    async with cache.client as client:
        got = await client.get("/graphql")
        await client.post("/graphql", content=QUERY)
        after = await client.get("/graphql")
        posted = await client.post("/graphql", content=QUERY)
    assert cache.origin.calls == 2
    assert (got.content, after.content, posted.content) == (b"v1", b"v1", b"v2")
    assert after.extensions["from_cache"] is True
    assert posted.extensions["from_cache"] is True


@pytest.mark.anyio
async def test_post_cache_no_store_answer_not_stored() -> None:
    """RFC 9111 §3: the storage rules of a GET apply (no-store is not stored)."""
    cache = Cache(counting_bodies({"Cache-Control": "no-store"}), cache_post=True)
    _, second = await post_twice(cache)
    assert cache.origin.calls == 2
    assert second.extensions["from_cache"] is False


@pytest.mark.anyio
async def test_post_cache_stale_forwarded_without_validators() -> None:
    """A stale entry is refetched with a plain POST (no If-None-Match): origins send 412."""
    headers = {"Cache-Control": "max-age=10", "ETag": '"v1"'}
    cache = Cache(counting_bodies(headers), cache_post=True)
    async with cache.client as client:
        await client.post("/graphql", content=QUERY)
        cache.clock.advance(20)
        again = await client.post("/graphql", content=QUERY)
    assert cache.origin.calls == 2
    assert "if-none-match" not in cache.origin.last.headers
    assert cache.bodies == [QUERY, QUERY]
    assert again.content == b"v2"


@pytest.mark.anyio
async def test_post_cache_stale_if_error_serves_entry() -> None:
    """RFC 5861 §4: the stale entry stands in when the origin answers 503."""
    answers = iter(
        [
            httpx.Response(200, headers={"Cache-Control": "max-age=10"}, content=b"good"),
            httpx.Response(503, content=b"down"),
        ]
    )
    cache = Cache(lambda request: next(answers), cache_post=True, allow_stale=True)
    async with cache.client as client:
        await client.post("/graphql", content=QUERY)
        cache.clock.advance(20)
        stale = await client.post("/graphql", content=QUERY)
    assert stale.content == b"good"
    assert stale.extensions["stale"] is True


@pytest.mark.anyio
async def test_post_cache_body_over_max_entry_size_forwarded_uncached() -> None:
    """A body larger than max_entry_size is not keyed: forwarded each time, nothing stored."""
    cache = Cache(cache_post=True, max_entry_size=8)
    _, second = await post_twice(cache)
    assert cache.origin.calls == 2
    assert cache.bodies == [QUERY, QUERY]
    assert second.extensions["from_cache"] is False
    assert BODY_KEY_MARK not in second.extensions["cache_key"]


@pytest.mark.anyio
async def test_post_cache_key_func_gets_digest_suffix() -> None:
    """With a key_func the body digest is appended to its key."""
    cache = Cache(cache_post=True, key_func=lambda request: "custom")
    _, second = await post_twice(cache)
    assert second.extensions["from_cache"] is True
    assert second.extensions["cache_key"].startswith("custom" + BODY_KEY_MARK)


def make_storage(kind: str, tmp_path: Path, clock: Clock) -> AsyncManagedStorage:
    if kind == "file":
        return AsyncFileStorage(base_path=tmp_path / "cache", clock=clock)
    if kind == "sqlite":
        return AsyncSQLiteStorage(path=tmp_path / "cache.db", clock=clock)
    namespace = f"httpcache-test:post-{uuid.uuid4().hex}"
    storage = async_storage_from_url(f"{REDIS_URL}?namespace={namespace}")
    assert isinstance(storage, AsyncManagedStorage)
    return storage


@pytest.mark.parametrize("kind", ["file", "sqlite", "redis"])
@pytest.mark.anyio
async def test_post_cache_persistent_storages_round_trip_body_keys(
    kind: str, tmp_path: Path
) -> None:
    """Keys with the body suffix are stored, found and listed by every persistent storage."""
    clock = Clock()
    storage = make_storage(kind, tmp_path, clock)
    try:
        cache = Cache(storage=storage, clock=clock, cache_post=True)
        first, second = await post_twice(cache)
        assert cache.origin.calls == 1
        assert second.content == b"v1"
        assert second.extensions["from_cache"] is True
        key = first.extensions["cache_key"]
        (entry,) = await storage.get_entries(key)
        assert entry.key == key
        assert entry.request.method == "POST"
        assert await storage.get_entries(BASE + "/graphql") == []
    finally:
        await storage.clear()
        await storage.aclose()
