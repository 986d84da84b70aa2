"""One contract, every backend: what any storage must do for the cache (DESIGN §3).

Parametrised over ``storage_backends.BACKENDS`` x the serializers each takes;
the generated ``tests/_sync`` copy runs the same contract against the sync twins.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

import httpcache
from httpcache import CacheOptions, Entry, RequestHead, ResponseHead
from tests._async.storage_backends import BACKENDS, SERIALIZERS, Backend, Context, FakeClock

COMBINATIONS = [
    pytest.param((backend, serializer), id=f"{backend.name}-{serializer}")
    for backend in BACKENDS
    for serializer in backend.serializers
]
PERSISTENT = [p for p in COMBINATIONS if p.values[0][1] != "none"]
MiB = 1024 * 1024


class Harness:
    """One storage under test plus the means to build more of the same kind."""

    def __init__(self, backend: Backend, serializer: str, tmp_path: Path) -> None:
        self.backend = backend
        factory = SERIALIZERS[serializer]
        self.clock = FakeClock()
        self.ctx = Context(
            tmp_path=tmp_path,
            clock=self.clock,
            namespace=f"t-{uuid.uuid4().hex[:12]}",
            serializer=None if factory is None else factory(),
        )
        self.opened: list[Any] = []

    async def storage(self, ttl: float | None = None, **lifetime: Any) -> Any:
        storage = await self.backend.build(self.ctx, {"ttl": ttl, **lifetime})
        self.opened.append(storage)
        return storage

    async def close(self) -> None:
        for storage in self.opened:
            await storage.clear()
            await storage.aclose()


@pytest.fixture(params=COMBINATIONS)
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    backend, serializer = request.param
    h = Harness(backend, serializer, tmp_path)
    yield h
    await h.close()


@pytest.fixture(params=PERSISTENT)
async def serialized(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    backend, serializer = request.param
    h = Harness(backend, serializer, tmp_path)
    yield h
    await h.close()


_counter = itertools.count()


def make_entry(
    url: str = "http://example.com/a",
    *,
    variant: str | None = None,
    headers: tuple[tuple[bytes, bytes], ...] = ((b"Cache-Control", b"max-age=60"),),
    created_at: float = 1_000_000.0,
    ttl: float | None = None,
) -> Entry:
    return Entry(
        key=url,
        variant=variant or f"v{next(_counter)}",
        request=RequestHead("GET", url, ((b"accept-language", b"en"),)),
        response=ResponseHead(200, headers, "OK"),
        request_time=created_at,
        response_time=created_at,
        created_at=created_at,
        ttl=ttl,
    )


async def put(storage: Any, entry: Entry, body: bytes = b"hello", chunk: int = 65536) -> Entry:
    writer = await storage.open_writer(entry)
    for start in range(0, len(body), chunk):
        await writer.write(body[start : start + chunk])
    committed: Entry = await writer.commit()
    return committed


async def body_of(storage: Any, entry: Entry) -> bytes | None:
    chunks = await storage.open_body(entry)
    if chunks is None:
        return None
    return b"".join([chunk async for chunk in chunks])


async def listed(storage: Any, pattern: str | None = None) -> list[Entry]:
    return [entry async for entry in storage.iter_entries(pattern)]


# -- storing and reading -----------------------------------------------------------


@pytest.mark.anyio
async def test_storage_committed_entry_is_returned_with_body(harness: Harness) -> None:
    storage = await harness.storage()
    entry = make_entry()
    committed = await put(storage, entry, b"hello world")
    assert committed.size == 11
    [found] = await storage.get_entries(entry.key)
    assert found.response == entry.response
    assert found.request == entry.request
    assert found.size == 11
    assert await body_of(storage, found) == b"hello world"


@pytest.mark.anyio
async def test_storage_uncommitted_entry_is_invisible(harness: Harness) -> None:
    storage = await harness.storage()
    entry = make_entry()
    writer = await storage.open_writer(entry)
    await writer.write(b"partial")
    assert await storage.get_entries(entry.key) == []
    await writer.abort()
    assert await storage.get_entries(entry.key) == []
    assert await listed(storage) == []


@pytest.mark.anyio
async def test_storage_variants_of_one_key_are_kept_apart(harness: Harness) -> None:
    storage = await harness.storage()
    en = make_entry(variant="en")
    de = make_entry(variant="de")
    await put(storage, en, b"english")
    await put(storage, de, b"deutsch")
    found = {e.variant: e for e in await storage.get_entries(en.key)}
    assert set(found) == {"en", "de"}
    assert await body_of(storage, found["de"]) == b"deutsch"
    await storage.delete_entries(en.key, ["en"])
    assert [e.variant for e in await storage.get_entries(en.key)] == ["de"]
    await storage.delete_entries(en.key)
    assert await storage.get_entries(en.key) == []


@pytest.mark.anyio
async def test_storage_same_variant_replaces_previous(harness: Harness) -> None:
    storage = await harness.storage()
    await put(storage, make_entry(variant="x"), b"old")
    await put(storage, make_entry(variant="x"), b"new body")
    [found] = await storage.get_entries("http://example.com/a")
    assert await body_of(storage, found) == b"new body"


@pytest.mark.anyio
async def test_storage_update_entry_changes_head_keeps_body(harness: Harness) -> None:
    storage = await harness.storage()
    committed = await put(storage, make_entry(), b"body")
    fresher = replace(
        committed,
        response=ResponseHead(200, ((b"Cache-Control", b"max-age=600"),), "OK"),
        response_time=committed.response_time + 5,
    )
    await storage.update_entry(fresher)
    [found] = await storage.get_entries(committed.key)
    assert found.response.headers == ((b"Cache-Control", b"max-age=600"),)
    assert await body_of(storage, found) == b"body"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "new_body",
    [pytest.param(b"a newer body", id="other-size"), pytest.param(b"BODY", id="same-size")],
)
async def test_storage_update_entry_of_a_replaced_response_leaves_the_new_one(
    harness: Harness, new_body: bytes
) -> None:
    # One request's 304 arrives after another request stored a new response (load test).
    storage = await harness.storage()
    old = await put(storage, make_entry(variant="x"), b"body")
    headers = ((b"Cache-Control", b"max-age=60"), (b"ETag", b'"2"'))
    created = old.created_at + 1
    new = await put(storage, make_entry(variant="x", headers=headers, created_at=created), new_body)
    fresher = replace(
        old,
        response=ResponseHead(200, ((b"Cache-Control", b"max-age=600"),), "OK"),
        response_time=old.response_time + 5,
    )
    await storage.update_entry(fresher)
    [found] = await storage.get_entries(old.key)
    assert found.response.headers == headers
    assert found.created_at == new.created_at
    assert await body_of(storage, found) == new_body


@pytest.mark.anyio
async def test_storage_update_entry_keeps_hits_counted_since_it_was_read(
    harness: Harness,
) -> None:
    storage = await harness.storage()
    committed = await put(storage, make_entry(), b"body")
    await storage.record_hit(committed)
    await storage.record_hit(committed)
    await storage.update_entry(replace(committed, response_time=committed.response_time + 5))
    [found] = await storage.get_entries(committed.key)
    assert found.hits == 2
    assert found.response_time == committed.response_time + 5


@pytest.mark.anyio
async def test_storage_record_hit_counts(harness: Harness) -> None:
    storage = await harness.storage()
    committed = await put(storage, make_entry())
    await storage.record_hit(committed)
    await storage.record_hit(committed)
    [found] = await storage.get_entries(committed.key)
    assert found.hits == 2


@pytest.mark.anyio
async def test_storage_missing_entry_operations_are_harmless(harness: Harness) -> None:
    storage = await harness.storage()
    ghost = make_entry("http://example.com/ghost")
    assert await storage.get_entries(ghost.key) == []
    assert await storage.open_body(ghost) is None
    await storage.update_entry(ghost)
    await storage.record_hit(ghost)
    await storage.delete_entries(ghost.key)
    assert await storage.get_entries(ghost.key) == []


# -- expiry ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_storage_ttl_expires_entries_and_delete_expired_counts(harness: Harness) -> None:
    storage = await harness.storage(ttl=10)
    now = harness.clock.now
    await put(storage, make_entry("http://example.com/old", created_at=now))
    harness.clock.advance(8)
    await put(storage, make_entry("http://example.com/new", created_at=harness.clock.now))
    harness.clock.advance(3)  # old is 11 s old, new 3 s
    assert await storage.get_entries("http://example.com/old") == []
    assert len(await storage.get_entries("http://example.com/new")) == 1
    harness.clock.advance(10)
    removed = await storage.delete_expired()
    assert removed >= 1
    assert await listed(storage) == []


@pytest.mark.anyio
async def test_storage_entry_ttl_overrides_storage_ttl(harness: Harness) -> None:
    storage = await harness.storage(ttl=1000)
    now = harness.clock.now
    await put(storage, make_entry(created_at=now, ttl=5))
    harness.clock.advance(6)
    assert await storage.get_entries("http://example.com/a") == []


@pytest.mark.anyio
async def test_storage_sliding_ttl_renews_on_hits_up_to_max_lifetime(harness: Harness) -> None:
    storage = await harness.storage(ttl=10, sliding=True, max_lifetime=25)
    assert (storage.ttl, storage.sliding, storage.max_lifetime) == (10, True, 25)
    start = harness.clock.now
    await put(storage, make_entry("http://example.com/hot", created_at=start))
    await put(storage, make_entry("http://example.com/cold", created_at=start))
    for _ in range(2):  # a hit every 8 s keeps the hot entry past its first 10 s
        harness.clock.advance(8)
        [hot] = await storage.get_entries("http://example.com/hot")
        await storage.record_hit(hot)
    harness.clock.advance(8)  # t=24: last hit at 16; cold was last written at 0
    [hot] = await storage.get_entries("http://example.com/hot")
    assert hot.hits == 2 and hot.accessed_at == start + 16
    assert await storage.get_entries("http://example.com/cold") == []
    await storage.delete_expired()  # judged by what each backend keeps beside the entry
    assert [e.request.url for e in await listed(storage)] == ["http://example.com/hot"]
    await storage.record_hit(hot)  # renews to 34, but max_lifetime caps it at 25
    harness.clock.advance(1)
    assert await storage.get_entries("http://example.com/hot") == []
    await storage.delete_expired()
    assert await listed(storage) == []


@pytest.mark.anyio
async def test_storage_without_sliding_a_hit_does_not_renew(harness: Harness) -> None:
    storage = await harness.storage(ttl=10)
    await put(storage, make_entry(created_at=harness.clock.now))
    harness.clock.advance(8)
    [found] = await storage.get_entries("http://example.com/a")
    await storage.record_hit(found)
    harness.clock.advance(3)
    assert await storage.get_entries("http://example.com/a") == []


@pytest.mark.anyio
async def test_storage_max_lifetime_bounds_entries_without_ttl(harness: Harness) -> None:
    storage = await harness.storage(max_lifetime=30)
    await put(storage, make_entry(created_at=harness.clock.now))
    harness.clock.advance(29)
    assert len(await storage.get_entries("http://example.com/a")) == 1
    harness.clock.advance(1)
    assert await storage.get_entries("http://example.com/a") == []


# -- management ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_storage_iter_entries_matches_url_glob(harness: Harness) -> None:
    storage = await harness.storage()
    await put(storage, make_entry("http://example.com/api/1"))
    await put(storage, make_entry("http://example.com/api/2"))
    await put(storage, make_entry("http://example.com/static/x.css"))
    assert len(await listed(storage)) == 3
    api = await listed(storage, "http://example.com/api/*")
    assert sorted(e.request.url for e in api) == [
        "http://example.com/api/1",
        "http://example.com/api/2",
    ]


@pytest.mark.anyio
async def test_storage_stats_count_entries_and_bytes(harness: Harness) -> None:
    storage = await harness.storage()
    await put(storage, make_entry("http://example.com/1"), b"x" * 100)
    await put(storage, make_entry("http://example.com/2"), b"y" * 50)
    stats = await storage.stats()
    assert stats.entries == 2
    assert stats.bytes >= 150


@pytest.mark.anyio
async def test_storage_clear_touches_only_its_namespace(harness: Harness) -> None:
    storage = await harness.storage()
    left = storage.with_namespace("left")
    right = storage.with_namespace("right")
    await put(left, make_entry("http://example.com/l"))
    await put(right, make_entry("http://example.com/r"))
    await put(storage, make_entry("http://example.com/root"))
    await left.clear()
    assert await left.get_entries("http://example.com/l") == []
    assert len(await right.get_entries("http://example.com/r")) == 1
    assert len(await storage.get_entries("http://example.com/root")) == 1
    assert [e.request.url for e in await listed(right)] == ["http://example.com/r"]
    await storage.clear()  # the parent's clear reaches its children
    assert await right.get_entries("http://example.com/r") == []


@pytest.mark.anyio
async def test_storage_health_and_close_twice(harness: Harness) -> None:
    storage = await harness.storage()
    assert await storage.health() is True
    await storage.aclose()
    await storage.aclose()


@pytest.mark.anyio
async def test_storage_large_body_round_trips(harness: Harness) -> None:
    if not harness.backend.large_bodies:
        pytest.fail(f"{harness.backend.name} must store 20 MiB bodies")
    storage = await harness.storage()
    body = bytes(range(256)) * (20 * MiB // 256)
    committed = await put(storage, make_entry(), body, chunk=MiB)
    assert committed.size == len(body)
    [found] = await storage.get_entries(committed.key)
    assert await body_of(storage, found) == body


@pytest.mark.anyio
async def test_storage_set_cookie_never_reaches_a_serialized_record(harness: Harness) -> None:
    """DESIGN §5: a serializer without a secret key leaves Set-Cookie out of the record;
    objects kept unserialized in memory never leave the process and keep it."""
    storage = await harness.storage()
    headers = ((b"Cache-Control", b"max-age=60"), (b"Set-Cookie", b"sid=SECRET"), (b"X-A", b"1"))
    committed = await put(storage, make_entry(headers=headers))
    [found] = await storage.get_entries(committed.key)
    cookies = [v for k, v in found.response.headers if k == b"Set-Cookie"]
    assert cookies == ([b"sid=SECRET"] if harness.ctx.serializer is None else [])
    assert (b"X-A", b"1") in found.response.headers
    assert await body_of(storage, found) == b"hello"


@pytest.mark.anyio
async def test_storage_corrupt_record_is_a_logged_miss(
    serialized: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    storage = await serialized.storage()
    committed = await put(storage, make_entry())
    await serialized.backend.corrupt(storage, committed)
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert await storage.get_entries(committed.key) == []
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert await listed(storage) == []


# -- through the transport -------------------------------------------------------------


def origin() -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers={"ETag": '"v1"', "Cache-Control": "max-age=10"})
        lang = request.headers.get("accept-language", "none")
        return httpx.Response(
            200,
            headers={"Cache-Control": "max-age=10", "ETag": '"v1"', "Vary": "Accept-Language"},
            content=f"body-{lang}".encode(),
        )

    return httpx.MockTransport(handler), seen


@pytest.mark.anyio
async def test_storage_through_transport_hit_variants_304_and_invalidation(
    harness: Harness,
) -> None:
    storage = await harness.storage()
    mock, seen = origin()
    options = CacheOptions(clock=harness.clock)
    async with httpcache.AsyncCacheClient(
        transport=mock, storage=storage, options=options
    ) as client:
        for lang in ("en", "de"):
            r = await client.get("http://example.com/a", headers={"Accept-Language": lang})
            assert r.text == f"body-{lang}"
        for lang in ("en", "de"):
            r = await client.get("http://example.com/a", headers={"Accept-Language": lang})
            assert r.extensions["from_cache"] is True
            assert r.text == f"body-{lang}"
        assert len(seen) == 2

        harness.clock.advance(20)
        r = await client.get("http://example.com/a", headers={"Accept-Language": "en"})
        assert r.extensions["revalidated"] is True
        assert r.text == "body-en"
        assert seen[-1].headers["if-none-match"] == '"v1"'
        r = await client.get("http://example.com/a", headers={"Accept-Language": "en"})
        assert r.extensions["from_cache"] is True

        await client.post("http://example.com/a")
        assert await storage.get_entries("http://example.com/a") == []
