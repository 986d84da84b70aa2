"""AsyncCacheTransport end to end: a MockTransport origin, a fake clock, an in-memory storage."""

from __future__ import annotations

import dataclasses
import gzip
import logging
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from httpcache import (
    AsyncCacheTransport,
    AsyncEntryWriter,
    AsyncInMemoryStorage,
    CacheOptions,
    Entry,
    StorageError,
)
from httpcache._async import _storage_choice as storage_choice_module

from .support import BASE, T0, ChunkedStream, Clock, Handler, Origin, respond, stored_body

FRESH = {"Cache-Control": "max-age=60"}


class Cache:
    """A caching transport over a counting origin, with its clock and storage at hand."""

    def __init__(
        self, handler: Handler | None = None, *, storage: Any = None, **options: Any
    ) -> None:
        self.clock = Clock()
        self.origin = Origin(handler)
        self.storage = storage if storage is not None else AsyncInMemoryStorage(clock=self.clock)
        self.transport = AsyncCacheTransport(
            httpx.MockTransport(self.origin),
            storage=self.storage,
            options=CacheOptions(clock=self.clock, **options),
        )
        self.client = httpx.AsyncClient(transport=self.transport, base_url=BASE)

    async def entries(self, path: str = "/a") -> list[Entry]:
        return list(await self.storage.get_entries(BASE + path))


def validating(etag: str = '"v1"', cache_control: str = "max-age=60") -> Handler:
    """An origin that answers 304 to a matching `If-None-Match`, else 200 "hello"."""

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"ETag": etag, "Cache-Control": cache_control}
        if request.headers.get("If-None-Match") == etag:
            return httpx.Response(304, headers=headers)
        return httpx.Response(200, headers=headers, content=b"hello")

    return handler


def counting_bodies(headers: dict[str, str]) -> Handler:
    """An origin whose n-th answer has the body b"v<n>"."""
    count = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        count[0] += 1
        return httpx.Response(200, headers=headers, content=b"v%d" % count[0])

    return handler


# -- the basic flow ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_transport_miss_hit_then_stale_revalidates_with_304() -> None:
    """U-11, A-8, V-1: miss, hits with growing Age, then a 304 freshens and serves the body."""
    cache = Cache(validating())
    async with cache.client as client:
        miss = await client.get("/a")
        assert (miss.status_code, miss.content) == (200, b"hello")
        assert miss.extensions["from_cache"] is False
        assert miss.extensions["revalidated"] is False
        assert miss.extensions["stale"] is False
        assert miss.extensions["cache_key"] == "http://example.com/a"
        assert miss.extensions["cache_metadata"] is None
        assert "age" not in miss.headers

        cache.clock.advance(10)
        hit = await client.get("/a")
        assert (hit.status_code, hit.content) == (200, b"hello")
        assert hit.extensions["from_cache"] is True
        assert hit.extensions["revalidated"] is False
        assert hit.headers.get_list("Age") == ["10"]
        assert cache.origin.calls == 1

        cache.clock.advance(60)  # t=70: stale
        revalidated = await client.get("/a")
        assert cache.origin.calls == 2
        assert cache.origin.last.headers["If-None-Match"] == '"v1"'
        assert (revalidated.status_code, revalidated.content) == (200, b"hello")
        assert revalidated.extensions["revalidated"] is True
        assert revalidated.extensions["from_cache"] is False
        assert revalidated.extensions["stale"] is False
        assert revalidated.headers.get_list("Age") == ["0"]
        assert revalidated.headers["ETag"] == '"v1"'

        cache.clock.advance(1)  # freshened by the 304: a hit again
        again = await client.get("/a")
        assert again.extensions["from_cache"] is True
        assert again.headers.get_list("Age") == ["1"]
        assert cache.origin.calls == 2


@pytest.mark.anyio
async def test_transport_hits_metadata_counts_hits_and_age() -> None:
    """DESIGN §6: cache_metadata gives created_at, the current age and a growing hit count."""
    cache = Cache(respond(200, FRESH))
    async with cache.client as client:
        await client.get("/a")
        seen = []
        for _ in range(3):
            cache.clock.advance(5)
            response = await client.get("/a")
            seen.append(response.extensions["cache_metadata"])
    assert seen == [
        {"created_at": T0, "age": 5, "hits": 1},
        {"created_at": T0, "age": 10, "hits": 2},
        {"created_at": T0, "age": 15, "hits": 3},
    ]
    assert (await cache.entries())[0].hits == 3


@pytest.mark.anyio
async def test_transport_record_hits_off_writes_nothing_on_a_hit() -> None:
    """CacheOptions(record_hits=False): a hit reads the storage and writes nothing."""
    cache = Cache(respond(200, FRESH), record_hits=False)
    calls: list[str] = []
    original = cache.storage.record_hit

    async def spy(entry: Entry) -> None:
        calls.append(entry.key)
        await original(entry)

    cache.storage.record_hit = spy  # type: ignore[method-assign]
    async with cache.client as client:
        await client.get("/a")
        cache.clock.advance(5)
        hit = await client.get("/a")
    assert hit.extensions["from_cache"] is True
    assert hit.extensions["cache_metadata"] == {"created_at": T0, "age": 5, "hits": 0}
    assert calls == []
    assert (await cache.entries())[0].hits == 0


@pytest.mark.parametrize(
    ("response_headers", "second_request_headers", "expected"),
    [
        pytest.param(FRESH, {}, "httpcache; hit; ttl=50", id="E-10-hit"),
        pytest.param(
            FRESH,
            {"Cache-Control": "no-cache"},
            "httpcache; fwd=request; fwd-status=200; stored",
            id="E-11-request",
        ),
        pytest.param(
            {"Cache-Control": "max-age=60", "Vary": "Accept-Language"},
            {"Accept-Language": "de"},
            "httpcache; fwd=vary-miss; fwd-status=200; stored",
            id="E-11-vary-miss",
        ),
        pytest.param(
            {"Cache-Control": "max-age=5"},
            {},
            "httpcache; fwd=stale; fwd-status=200; stored",
            id="E-11-stale",
        ),
        pytest.param(
            {"Cache-Control": "no-store"},
            {},
            "httpcache; fwd=uri-miss; fwd-status=200; stored=?0",
            id="E-12-no-store",
        ),
    ],
)
@pytest.mark.anyio
async def test_transport_cache_status_extension_names_decision(
    response_headers: dict[str, str], second_request_headers: dict[str, str], expected: str
) -> None:
    """E-10 to E-12, RFC 9211 §2: the `cache_status` extension describes each decision."""
    cache = Cache(respond(200, response_headers))
    async with cache.client as client:
        first = await client.get("/a")
        cache.clock.advance(10)
        second = await client.get("/a", headers=second_request_headers)
    stored = "stored=?0" if "no-store" in response_headers["Cache-Control"] else "stored"
    assert first.extensions["cache_status"] == f"httpcache; fwd=uri-miss; fwd-status=200; {stored}"
    assert second.extensions["cache_status"] == expected
    assert "key=" not in second.extensions["cache_status"]


@pytest.mark.anyio
async def test_transport_cache_status_header_appended_after_origin_member() -> None:
    """E-9, RFC 9211 §2: httpcache's member comes last, after the origin's own."""
    headers = {"Cache-Control": "max-age=60", "Cache-Status": "ExampleCDN; hit"}
    cache = Cache(respond(200, headers), cache_status_header=True)
    async with cache.client as client:
        miss = await client.get("/a")
        cache.clock.advance(10)
        hit = await client.get("/a")
    assert miss.headers.get_list("Cache-Status") == [
        "ExampleCDN; hit, httpcache; fwd=uri-miss; fwd-status=200; stored"
    ]
    assert hit.headers.get_list("Cache-Status") == ["ExampleCDN; hit, httpcache; hit; ttl=50"]


@pytest.mark.anyio
async def test_transport_cache_status_header_off_by_default_absent() -> None:
    """DESIGN §6: the decision is always in the extensions; the header only on request."""
    cache = Cache(respond(200, FRESH))
    async with cache.client as client:
        miss = await client.get("/a")
        hit = await client.get("/a")
    assert "Cache-Status" not in miss.headers
    assert "Cache-Status" not in hit.headers
    assert hit.extensions["cache_status"] == "httpcache; hit; ttl=60"


@pytest.mark.parametrize(
    ("headers", "extensions"),
    [
        pytest.param({"Cache-Control": "only-if-cached"}, {}, id="Q-9-header"),
        pytest.param({}, {"httpcache_only_if_cached": True}, id="extension"),
    ],
)
@pytest.mark.anyio
async def test_transport_only_if_cached_empty_cache_gives_504_without_member(
    headers: dict[str, str], extensions: dict[str, Any]
) -> None:
    """Q-9, E-13, RFC 9111 §5.2.1.7: a made-up 504, no origin call, no httpcache member."""
    cache = Cache(respond(200, FRESH), cache_status_header=True)
    async with cache.client as client:
        response = await client.get("/a", headers=headers, extensions=extensions)
    assert response.status_code == 504
    assert response.content == b""
    assert cache.origin.calls == 0
    assert response.extensions["from_cache"] is False
    assert "httpcache" not in response.extensions["cache_status"]
    assert all("httpcache" not in v for v in response.headers.get_list("Cache-Status"))


@pytest.mark.anyio
async def test_transport_only_if_cached_with_fresh_entry_hits() -> None:
    """Q-9: only-if-cached is answered from a usable stored response."""
    cache = Cache(respond(200, FRESH))
    async with cache.client as client:
        await client.get("/a")
        response = await client.get("/a", extensions={"httpcache_only_if_cached": True})
    assert (response.status_code, response.content) == (200, b"hello")
    assert cache.origin.calls == 1


@pytest.mark.anyio
async def test_transport_user_conditional_matching_fresh_entry_gets_local_304() -> None:
    """E-13, RFC 9111 §4.3.2: a local 304 is built from storage and carries `hit`."""
    cache = Cache(validating(), cache_status_header=True)
    async with cache.client as client:
        await client.get("/a")
        response = await client.get("/a", headers={"If-None-Match": '"v1"'})
    assert response.status_code == 304
    assert cache.origin.calls == 1
    assert response.headers["Cache-Status"] == "httpcache; hit; ttl=60"


# -- request extensions --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_transport_bypass_extension_neither_reads_nor_writes() -> None:
    """DESIGN §6: `httpcache_bypass` goes to the origin and leaves storage alone."""
    cache = Cache(counting_bodies(FRESH))
    async with cache.client as client:
        bypassed = await client.get("/a", extensions={"httpcache_bypass": True})
        assert await cache.entries() == []
        stored = await client.get("/a")
        bypassed_again = await client.get("/a", extensions={"httpcache_bypass": True})
        hit = await client.get("/a")
    assert [bypassed.content, stored.content, bypassed_again.content] == [b"v1", b"v2", b"v3"]
    assert bypassed_again.extensions["from_cache"] is False
    assert bypassed.extensions["cache_status"].startswith("httpcache; fwd=bypass")
    assert hit.content == b"v2"
    assert hit.extensions["from_cache"] is True
    assert cache.origin.calls == 3


@pytest.mark.anyio
async def test_transport_refresh_extension_fetches_and_stores_new_response() -> None:
    """E-2, DESIGN §6: `httpcache_refresh` ignores a fresh entry and stores the new answer."""
    cache = Cache(counting_bodies(FRESH))
    async with cache.client as client:
        first = await client.get("/a")
        refreshed = await client.get("/a", extensions={"httpcache_refresh": True})
        hit = await client.get("/a")
    assert (first.content, refreshed.content, hit.content) == (b"v1", b"v2", b"v2")
    assert refreshed.extensions["from_cache"] is False
    assert hit.extensions["from_cache"] is True
    assert cache.origin.calls == 2


@pytest.mark.anyio
async def test_transport_ttl_extension_expires_entry_from_storage() -> None:
    """DESIGN §6: `httpcache_ttl` bounds the storage lifetime, whatever the freshness."""
    cache = Cache(respond(200, {"Cache-Control": "max-age=3600"}))
    async with cache.client as client:
        await client.get("/a", extensions={"httpcache_ttl": 30})
        assert (await cache.entries())[0].ttl == 30
        cache.clock.advance(29)
        hit = await client.get("/a")
        assert hit.extensions["from_cache"] is True
        cache.clock.advance(1)
        assert await cache.entries() == []
        expired = await client.get("/a")
    assert expired.extensions["from_cache"] is False
    assert expired.extensions["cache_status"].startswith("httpcache; fwd=uri-miss")
    assert cache.origin.calls == 2


@pytest.mark.parametrize(
    ("force", "origin_calls"),
    [pytest.param(True, 1, id="forced"), pytest.param(False, 2, id="not-forced")],
)
@pytest.mark.anyio
async def test_transport_force_cache_extension_stores_no_store_response(
    force: bool, origin_calls: int
) -> None:
    """DESIGN §6: `httpcache_force_cache` stores and serves despite the origin's directives."""
    cache = Cache(respond(200, {"Cache-Control": "no-store"}))
    async with cache.client as client:
        for _ in range(2):
            response = await client.get("/a", extensions={"httpcache_force_cache": force})
            assert (response.status_code, response.content) == (200, b"hello")
    assert cache.origin.calls == origin_calls


@pytest.mark.parametrize(
    "extension",
    [
        pytest.param({"httpcache_bypass": True}, id="bypass"),
        pytest.param({"httpcache_refresh": True}, id="refresh"),
        pytest.param({"httpcache_ttl": 10}, id="ttl"),
        pytest.param({"httpcache_force_cache": True}, id="force-cache"),
    ],
)
@pytest.mark.anyio
async def test_transport_request_extensions_never_reach_origin_as_headers(
    extension: dict[str, Any],
) -> None:
    """DESIGN §6: per-request controls never leak cache directives to the origin."""
    cache = Cache(respond(200, FRESH))
    async with cache.client as client:
        await client.get("/a", extensions=extension)
    sent = cache.origin.last
    assert cache.origin.calls == 1
    assert all(b"httpcache" not in name.lower() for name, _ in sent.headers.raw)
    assert all(b"httpcache" not in value.lower() for _, value in sent.headers.raw)
    assert "Cache-Control" not in sent.headers
    assert "Pragma" not in sent.headers


# -- bodies: stored only when complete -----------------------------------------------------------


@pytest.mark.anyio
async def test_transport_body_closed_unread_not_stored() -> None:
    """S-18, DESIGN §3: a response streamed and closed without reading is never stored."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=FRESH, stream=ChunkedStream([b"hel", b"lo"]))

    cache = Cache(handler)
    async with cache.client as client:
        async with client.stream("GET", "/a") as response:
            assert response.status_code == 200
        assert await cache.entries() == []
        assert response.extensions["cache_status"].endswith("stored=?0")
        again = await client.get("/a")
    assert again.extensions["from_cache"] is False
    assert cache.origin.calls == 2


@pytest.mark.anyio
async def test_transport_whole_in_memory_body_stored_at_once_and_still_read() -> None:
    """A body already whole in memory (``httpx.ByteStream``) is complete: stored at once.

    The user still reads it from the response, decoded once.
    """
    cache = Cache(respond(200, FRESH))
    async with cache.client as client:
        async with client.stream("GET", "/a") as response:
            assert len(await cache.entries()) == 1
            assert response.extensions["cache_status"].endswith("stored")
            assert await response.aread() == b"hello"
        again = await client.get("/a")
    assert again.extensions["from_cache"] is True
    assert again.content == b"hello"
    assert cache.origin.calls == 1


@pytest.mark.parametrize(
    ("content", "length", "limit"),
    [
        pytest.param(b"hel", "5", None, id="S-18-shorter-than-content-length"),
        pytest.param(b"hello, world", "12", 8, id="over-max-entry-size"),
    ],
)
@pytest.mark.anyio
async def test_transport_whole_in_memory_body_incomplete_or_too_large_not_stored(
    content: bytes, length: str, limit: int | None
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {**FRESH, "Content-Length": length}
        return httpx.Response(200, headers=headers, content=content)

    cache = Cache(handler, max_entry_size=limit)
    async with cache.client as client:
        first = await client.get("/a")
        second = await client.get("/a")
    assert first.content == content
    assert await cache.entries() == []
    assert second.extensions["from_cache"] is False


@pytest.mark.anyio
async def test_transport_body_read_half_way_not_stored() -> None:
    """S-18, DESIGN §3: a body abandoned half-way is aborted and never becomes visible."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=FRESH, stream=ChunkedStream([b"hel", b"lo"]))

    cache = Cache(handler)
    async with cache.client as client:
        async with client.stream("GET", "/a") as response:
            chunks = response.aiter_bytes()
            assert await chunks.__anext__() == b"hel"
            await chunks.aclose()
        assert await cache.entries() == []
        assert response.extensions["cache_status"].endswith("stored=?0")
        again = await client.get("/a")
    assert again.content == b"hello"
    assert again.extensions["from_cache"] is False
    assert cache.origin.calls == 2


@pytest.mark.anyio
async def test_transport_body_read_in_chunks_stored_whole() -> None:
    """DESIGN §3: a body that arrives in chunks is stored whole once fully read."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=FRESH, stream=ChunkedStream([b"hel", b"lo"]))

    cache = Cache(handler)
    async with cache.client as client:
        async with client.stream("GET", "/a") as response:
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
        hit = await client.get("/a")
    assert body == b"hello"
    assert hit.content == b"hello"
    assert hit.extensions["from_cache"] is True
    [entry] = await cache.entries()
    assert entry.size == 5
    assert await stored_body(cache.storage, entry) == b"hello"


@pytest.mark.anyio
async def test_transport_origin_stream_error_reaches_user_and_nothing_stored() -> None:
    """S-18, RFC 9111 §3.3: a dropped connection is the user's error and is never stored."""
    streams: list[ChunkedStream] = []

    def handler(request: httpx.Request) -> httpx.Response:
        first = not streams
        stream = ChunkedStream([b"x" * 50], fail=first)
        streams.append(stream)
        headers = {"Cache-Control": "max-age=60", "Content-Length": "100" if first else "50"}
        return httpx.Response(200, headers=headers, stream=stream)

    cache = Cache(handler)
    async with cache.client as client:
        with pytest.raises(httpx.ReadError, match="connection dropped"):
            await client.get("/a")
        assert await cache.entries() == []
        assert (await cache.storage.stats()).entries == 0
        again = await client.get("/a")
    assert again.content == b"x" * 50
    assert again.extensions["from_cache"] is False
    assert cache.origin.calls == 2


@pytest.mark.parametrize(
    "declared",
    [pytest.param("10", id="shorter-than-declared"), pytest.param("3", id="longer-than-declared")],
)
@pytest.mark.anyio
async def test_transport_body_length_differs_from_content_length_not_stored(
    declared: str,
) -> None:
    """S-18, RFC 9111 §3.3: a body whose length is not its Content-Length is incomplete."""
    headers = {"Cache-Control": "max-age=60", "Content-Length": declared}
    cache = Cache(respond(200, headers, b"hello"))
    async with cache.client as client:
        first = await client.get("/a")
        again = await client.get("/a")
    assert first.content == b"hello"
    assert first.extensions["cache_status"].endswith("stored=?0")
    assert again.extensions["from_cache"] is False
    assert cache.origin.calls == 2
    assert await cache.entries() == []


@pytest.mark.parametrize(
    ("max_entry_size", "stored"),
    [
        pytest.param(4, False, id="one-byte-over"),
        pytest.param(5, True, id="exactly-the-limit"),
        pytest.param(None, True, id="no-limit"),
    ],
)
@pytest.mark.anyio
async def test_transport_max_entry_size_bounds_stored_bodies(
    max_entry_size: int | None, stored: bool
) -> None:
    """DESIGN §3: a body over `max_entry_size` reaches the user untouched and is not stored."""
    cache = Cache(respond(200, FRESH, b"hello"), max_entry_size=max_entry_size)
    async with cache.client as client:
        first = await client.get("/a")
        second = await client.get("/a")
    assert first.content == second.content == b"hello"
    assert second.extensions["from_cache"] is stored
    assert cache.origin.calls == (1 if stored else 2)


# -- storage failures fail open --------------------------------------------------------------


class BrokenStorage:
    """A storage whose every method raises."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def _fail(self, name: str) -> Any:
        self.calls.append(name)
        raise OSError(f"storage is down ({name})")

    async def get_entries(self, key: str) -> list[Entry]:
        return await self._fail("get_entries")

    async def open_writer(self, entry: Entry) -> Any:
        return await self._fail("open_writer")

    async def open_body(self, entry: Entry) -> Any:
        return await self._fail("open_body")

    async def update_entry(self, entry: Entry) -> None:
        await self._fail("update_entry")

    async def record_hit(self, entry: Entry) -> None:
        await self._fail("record_hit")

    async def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        await self._fail("delete_entries")

    async def aclose(self) -> None:
        await self._fail("aclose")


@pytest.mark.anyio
async def test_transport_broken_storage_fails_open_and_logs_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """DESIGN §3: storage failures are logged at WARNING and the request goes to the network."""
    caplog.set_level(logging.WARNING, logger="httpcache.transport")
    storage = BrokenStorage()
    cache = Cache(respond(200, FRESH), storage=storage)
    async with cache.client as client:
        responses = [await client.get("/a"), await client.get("/a"), await client.post("/a")]
    assert [(r.status_code, r.content) for r in responses] == [(200, b"hello")] * 3
    assert cache.origin.calls == 3
    # The first failure opens the circuit: the storage is skipped for the cool-down.
    assert storage.calls == ["get_entries"]
    warnings = [r for r in caplog.records if r.name == "httpcache.transport"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert "storage is down" in warnings[0].getMessage()
    assert not cache.transport.storage_available
    assert "detail=storage-unavailable" in responses[2].extensions["cache_status"]


@pytest.mark.anyio
async def test_transport_broken_storage_without_breaker_tries_every_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """DESIGN §3: `storage_cooldown=0` turns the breaker off: each call is tried and logged."""
    caplog.set_level(logging.WARNING, logger="httpcache.transport")
    storage = BrokenStorage()
    cache = Cache(respond(200, FRESH), storage=storage, storage_cooldown=0)
    async with cache.client as client:
        responses = [await client.get("/a"), await client.get("/a"), await client.post("/a")]
    assert [(r.status_code, r.content) for r in responses] == [(200, b"hello")] * 3
    assert {"get_entries", "open_writer", "delete_entries"} <= set(storage.calls)
    warnings = [r for r in caplog.records if r.name == "httpcache.transport"]
    assert len(warnings) == len(storage.calls)
    assert all(r.levelno == logging.WARNING for r in warnings)
    assert cache.transport.storage_available


@pytest.mark.anyio
async def test_transport_broken_storage_strict_raises_storage_error() -> None:
    """DESIGN §3, STYLE 5: with `strict=True` the failure surfaces as StorageError."""
    cache = Cache(respond(200, FRESH), storage=BrokenStorage(), strict=True)
    async with cache.client as client:
        with pytest.raises(StorageError) as info:
            await client.get("/a")
    assert isinstance(info.value.__cause__, OSError)
    assert cache.origin.calls == 0


class FailingWriter:
    def __init__(self, writer: AsyncEntryWriter, failing: str) -> None:
        self._writer = writer
        self._failing = failing

    async def write(self, chunk: bytes) -> None:
        if self._failing == "write":
            raise OSError("write failed")
        await self._writer.write(chunk)

    async def commit(self) -> Entry:
        if self._failing == "commit":
            raise OSError("commit failed")
        return await self._writer.commit()

    async def abort(self) -> None:
        await self._writer.abort()


class OutOfLine(AsyncInMemoryStorage):
    """An in-memory storage that returns heads without their bodies, as a large entry is.

    The transport must then fetch each body with ``open_body``.
    """

    async def get_entries(self, key: str) -> list[Entry]:
        return [dataclasses.replace(e, body=None) for e in await super().get_entries(key)]


class FailingOn(OutOfLine):
    """An out-of-line storage whose one named method (or writer method) raises."""

    def __init__(self, failing: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failing = failing

    def _check(self, name: str) -> None:
        if self.failing == name:
            raise OSError(f"{name} failed")

    async def get_entries(self, key: str) -> list[Entry]:
        self._check("get_entries")
        return await super().get_entries(key)

    async def open_writer(self, entry: Entry) -> Any:
        self._check("open_writer")
        return FailingWriter(await super().open_writer(entry), self.failing)

    async def open_body(self, entry: Entry) -> Any:
        self._check("open_body")
        return await super().open_body(entry)

    async def record_hit(self, entry: Entry) -> None:
        self._check("record_hit")
        await super().record_hit(entry)


@pytest.mark.parametrize(
    ("failing", "second_from_cache"),
    [
        pytest.param("get_entries", False, id="get_entries"),
        pytest.param("open_writer", False, id="open_writer"),
        pytest.param("write", False, id="write"),
        pytest.param("commit", False, id="commit"),
        pytest.param("open_body", False, id="open_body"),
        pytest.param("record_hit", True, id="record_hit"),
    ],
)
@pytest.mark.anyio
async def test_transport_one_failing_storage_method_still_answers(
    failing: str, second_from_cache: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """DESIGN §3: whichever storage call fails, the user gets the complete response."""
    caplog.set_level(logging.WARNING, logger="httpcache.transport")
    cache = Cache(respond(200, FRESH), storage=FailingOn(failing))
    async with cache.client as client:
        first = await client.get("/a")
        second = await client.get("/a")
    assert first.content == second.content == b"hello"
    assert second.extensions["from_cache"] is second_from_cache
    assert any(failing in r.getMessage() for r in caplog.records)


class InlineBodies(AsyncInMemoryStorage):
    """Returns each entry with its body inline; ``open_body`` must then never be called."""

    async def get_entries(self, key: str) -> list[Entry]:
        entries = await super().get_entries(key)
        inlined = []
        for entry in entries:
            chunks = await super().open_body(entry)
            assert chunks is not None
            body = b"".join([chunk async for chunk in chunks])
            inlined.append(dataclasses.replace(entry, body=body))
        return inlined

    async def open_body(self, entry: Entry) -> Any:
        raise AssertionError("open_body called for an entry that carries its body")


@pytest.mark.anyio
async def test_transport_serves_an_inline_body_without_open_body() -> None:
    """DESIGN §3: a hit is one storage read; an entry with ``body`` set needs no other."""
    storage = InlineBodies()
    cache = Cache(respond(200, FRESH), storage=storage)
    async with cache.client as client:
        first = await client.get("/a")
        second = await client.get("/a")
        head = await client.head("/a")
    assert first.content == second.content == b"hello"
    assert second.extensions["from_cache"] is True
    assert head.content == b""


# -- invalidation --------------------------------------------------------------------------------


def invalidating(
    method: str, status: int, headers: dict[str, str], *, streamed: bool = False
) -> Handler:
    """GETs are fresh for 60 s; `method` answers `status` with `headers`.

    ``streamed`` GET bodies arrive as a stream (as from the network), read only when
    the user reads them; otherwise they are whole in memory and stored at once.
    """

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            path = request.url.path.encode()
            if streamed:
                return httpx.Response(200, headers=FRESH, stream=ChunkedStream([path]))
            return httpx.Response(200, headers=FRESH, content=path)
        return httpx.Response(status, headers=headers)

    return handler


@pytest.mark.parametrize(
    ("method", "path", "status", "headers", "checked", "invalidated"),
    [
        pytest.param("POST", "/a", 200, {}, "/a", True, id="I-1-post-target"),
        pytest.param("DELETE", "/a", 204, {}, "/a", True, id="I-2-delete"),
        pytest.param("PURGE", "/a", 200, {}, "/a", True, id="I-2-unknown-method"),
        pytest.param("POST", "/a", 500, {}, "/a", False, id="I-5-error-keeps"),
        pytest.param("POST", "/a", 201, {"Location": "/b"}, "/b", True, id="I-6-location"),
        pytest.param(
            "POST", "/a", 200, {"Content-Location": "/b"}, "/b", True, id="I-6-content-location"
        ),
        pytest.param(
            "POST",
            "/a",
            201,
            {"Location": "http://other.example/b"},
            "http://other.example/b",
            False,
            id="I-7-cross-origin-kept",
        ),
        pytest.param("POST", "/a/b", 201, {"Location": "../c"}, "/c", True, id="I-8-relative"),
    ],
)
@pytest.mark.anyio
async def test_transport_unsafe_request_invalidates_stored_get(
    method: str, path: str, status: int, headers: dict[str, str], checked: str, invalidated: bool
) -> None:
    """I-1, I-2, I-5 to I-8, RFC 9111 §4.4."""
    cache = Cache(invalidating(method, status, headers))
    async with cache.client as client:
        await client.get(checked)
        unsafe = await client.request(method, path)
        assert unsafe.status_code == status
        cache.clock.advance(10)
        after = await client.get(checked)
    assert after.extensions["from_cache"] is not invalidated
    assert cache.origin.calls == (3 if invalidated else 2)


@pytest.mark.parametrize(
    "latency",
    [
        pytest.param(1.0, id="post-completes-a-second-later"),
        pytest.param(0.0, id="post-completes-within-the-same-clock-tick"),
    ],
)
@pytest.mark.anyio
async def test_transport_get_in_flight_across_invalidation_not_stored(latency: float) -> None:
    """I-9, RFC 9111 §4.4: a GET sent before a POST's invalidation must not be stored after it."""
    cache = Cache(invalidating("POST", 200, {}, streamed=True))
    async with cache.client as client:
        async with client.stream("GET", "/a") as in_flight:
            cache.clock.advance(latency)
            await client.post("/a")
            await in_flight.aread()
        assert in_flight.content == b"/a"
        assert await cache.entries() == []
        after = await client.get("/a")
    assert after.extensions["from_cache"] is False
    assert cache.origin.calls == 3


@pytest.mark.anyio
async def test_transport_store_aborted_by_invalidation_reports_not_stored() -> None:
    """I-9, E-12: when an invalidation cancels the store, the extension says `stored=?0`."""
    cache = Cache(invalidating("POST", 200, {}, streamed=True))
    async with cache.client as client, client.stream("GET", "/a") as in_flight:
        cache.clock.advance(1)
        await client.post("/a")
        await in_flight.aread()
    assert await cache.entries() == []
    assert in_flight.extensions["cache_status"] == (
        "httpcache; fwd=uri-miss; fwd-status=200; stored=?0"
    )


@pytest.mark.parametrize(
    ("chunks", "stored"),
    [
        pytest.param([b"hel", b"lo"], False, id="over-the-limit"),
        pytest.param([b"he", b"ll"], True, id="at-the-limit"),
    ],
)
@pytest.mark.anyio
async def test_transport_max_entry_size_without_content_length(
    chunks: list[bytes], stored: bool
) -> None:
    """DESIGN §3: the limit also holds for a body of unknown length, counted as it streams."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=FRESH, stream=ChunkedStream(chunks))

    cache = Cache(handler, max_entry_size=4)
    async with cache.client as client:
        first = await client.get("/a")
        second = await client.get("/a")
    assert first.content == second.content == b"".join(chunks)
    assert first.extensions["cache_status"].endswith("; stored" if stored else "stored=?0")
    assert second.extensions["from_cache"] is stored


@pytest.mark.anyio
async def test_transport_get_sent_while_post_in_flight_not_stored() -> None:
    """I-9, RFC 9111 §4.4: a GET sent after a POST left but before it completed is not stored."""
    clock = Clock()
    in_flight: list[httpx.Response] = []
    client_box: list[httpx.AsyncClient] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, headers=FRESH, content=b"before the POST")
        # While the POST is being processed, the user sends a GET that the origin answers
        # with the old state; its body is read only after the POST has completed.
        clock.advance(1)
        get = client_box[0].build_request("GET", "/a")
        in_flight.append(await client_box[0].send(get, stream=True))
        clock.advance(1)
        return httpx.Response(200)

    storage = AsyncInMemoryStorage(clock=clock)
    transport = AsyncCacheTransport(
        httpx.MockTransport(handler), storage=storage, options=CacheOptions(clock=clock)
    )
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        client_box.append(client)
        await client.post("/a")
        [get] = in_flight
        await get.aread()
        await get.aclose()
        assert get.content == b"before the POST"
        assert await storage.get_entries(BASE + "/a") == []


@pytest.mark.parametrize(
    "latency",
    [pytest.param(0.0, id="instant-origin"), pytest.param(1.0, id="origin-takes-a-second")],
)
@pytest.mark.anyio
async def test_transport_cacheable_post_answers_later_get(latency: float) -> None:
    """S-24, RFC 9110 §9.3.3: a POST answer with Content-Location = target answers a GET."""
    clock_box: list[Clock] = []

    def handler(request: httpx.Request) -> httpx.Response:
        clock_box[0].advance(latency)  # the exchange takes `latency` seconds
        headers = {"Cache-Control": "max-age=60", "Content-Location": "/a"}
        return httpx.Response(200, headers=headers, content=request.method.encode())

    cache = Cache(handler, cacheable_methods=frozenset({"GET", "HEAD", "POST"}))
    clock_box.append(cache.clock)
    async with cache.client as client:
        posted = await client.post("/a", content=b"data")
        cache.clock.advance(1)
        got = await client.get("/a")
    assert posted.content == b"POST"
    assert got.content == b"POST"
    assert got.extensions["from_cache"] is True
    assert cache.origin.calls == 1


# -- what a hit looks like -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_transport_head_served_from_stored_get_without_body() -> None:
    """R-5, RFC 9111 §4: a stored GET answers HEAD with its headers and no body."""
    cache = Cache(respond(200, FRESH, b"hello"))
    async with cache.client as client:
        await client.get("/a")
        cache.clock.advance(1)
        head = await client.head("/a")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == "5"
    assert head.extensions["from_cache"] is True
    assert cache.origin.calls == 1


@pytest.mark.anyio
async def test_transport_stored_head_does_not_answer_get() -> None:
    """R-5, RFC 9111 §4: a stored HEAD response answers HEAD only."""
    cache = Cache(respond(200, FRESH, b"hello"))
    async with cache.client as client:
        await client.head("/a")
        head = await client.head("/a")
        get = await client.get("/a")
    assert head.extensions["from_cache"] is True
    assert get.extensions["from_cache"] is False
    assert get.content == b"hello"
    assert cache.origin.calls == 2


@pytest.mark.anyio
async def test_transport_credentials_partition_and_are_never_kept_or_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """DESIGN §5: another user's credentials miss; secrets never reach storage or logs."""
    caplog.set_level(logging.DEBUG, logger="httpcache")
    cache = Cache(counting_bodies(FRESH))
    async with cache.client as client:
        alice = await client.get("/a", headers={"Authorization": "Bearer alice-secret"})
        alice_again = await client.get("/a", headers={"Authorization": "Bearer alice-secret"})
        bob = await client.get("/a", headers={"Authorization": "Bearer bob-secret"})
        anonymous = await client.get("/a")
        userinfo = await client.get("http://carol:carol-secret@example.com/a")
    assert [r.content for r in (alice, alice_again, bob, anonymous, userinfo)] == [
        b"v1",
        b"v1",
        b"v2",
        b"v3",
        b"v4",
    ]
    stored = repr(await cache.entries())
    logged = " ".join(record.getMessage() for record in caplog.records)
    for secret in ("alice-secret", "bob-secret", "carol-secret", "Y2Fyb2w6Y2Fyb2wtc2VjcmV0"):
        assert secret not in stored
        assert secret not in logged
        assert secret not in alice_again.extensions["cache_key"]


@pytest.mark.parametrize(
    ("pass_storage", "closed"),
    [pytest.param(False, True, id="owned"), pytest.param(True, False, id="passed-in")],
)
@pytest.mark.anyio
async def test_transport_aclose_closes_only_owned_storage(
    pass_storage: bool, closed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DESIGN §1: the transport closes a storage it created, never one it was given."""
    closes: list[str] = []

    class Counting(AsyncInMemoryStorage):
        async def aclose(self) -> None:
            closes.append("closed")

    monkeypatch.setattr(storage_choice_module, "AsyncInMemoryStorage", Counting)
    storage = Counting() if pass_storage else None
    transport = AsyncCacheTransport(httpx.MockTransport(Origin()), storage=storage)
    assert isinstance(transport.storage, Counting)
    async with transport:
        pass
    assert closes == (["closed"] if closed else [])


@pytest.mark.anyio
async def test_transport_range_request_miss_bypasses_cache() -> None:
    """S-11: a Range request the cache cannot answer is forwarded and its 206 never stored.

    Once the whole 200 is stored, the range is answered from it (tests/_async/test_ranges.py).
    """

    def handler(request: httpx.Request) -> httpx.Response:
        if "Range" in request.headers:
            headers = {"Cache-Control": "max-age=60", "Content-Range": "bytes 0-1/5"}
            return httpx.Response(206, headers=headers, content=b"he")
        return httpx.Response(200, headers=FRESH, content=b"hello")

    cache = Cache(handler)
    async with cache.client as client:
        partial = await client.get("/a", headers={"Range": "bytes=0-1"})
        assert (partial.status_code, partial.content) == (206, b"he")
        assert await cache.entries() == []
        full = await client.get("/a")
        ranged_again = await client.get("/a", headers={"Range": "bytes=0-1"})
        hit = await client.get("/a")
    assert full.extensions["from_cache"] is False
    assert (ranged_again.status_code, ranged_again.content) == (206, b"he")
    assert ranged_again.headers["Content-Range"] == "bytes 0-1/5"
    assert ranged_again.extensions["from_cache"] is True
    assert hit.content == b"hello"
    assert hit.extensions["from_cache"] is True
    assert cache.origin.calls == 2


TEXT = "caf\u00e9 \u2615 " * 20
GZIPPED = gzip.compress(TEXT.encode("utf-8"), mtime=0)


@pytest.mark.parametrize(
    "cache_control",
    [pytest.param("max-age=60", id="S-21"), pytest.param("max-age=60, no-transform", id="D-10")],
)
@pytest.mark.anyio
async def test_transport_gzip_body_stored_as_received(cache_control: str) -> None:
    """S-21, D-10: the stored bytes are the wire bytes; the hit decodes to the same text."""
    headers = {
        "Cache-Control": cache_control,
        "Content-Encoding": "gzip",
        "Content-Type": "text/plain; charset=utf-8",
    }
    cache = Cache(respond(200, headers, GZIPPED))
    async with cache.client as client:
        miss = await client.get("/a")
        hit = await client.get("/a")
    [entry] = await cache.entries()
    assert await stored_body(cache.storage, entry) == GZIPPED
    assert hit.extensions["from_cache"] is True
    assert hit.headers["Content-Encoding"] == "gzip"
    assert hit.headers["Content-Length"] == str(len(GZIPPED))
    assert hit.text == miss.text == TEXT


@pytest.mark.anyio
async def test_transport_hop_by_hop_headers_stripped_on_hit() -> None:
    """S-14, S-15, RFC 9111 §3.1: connection-specific fields are never replayed."""
    headers = [
        ("Cache-Control", "max-age=60"),
        ("Connection", "close, X-Hop"),
        ("X-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "h2c"),
        ("X-Kept", "yes"),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, stream=ChunkedStream([b"hel", b"lo"]))

    cache = Cache(handler)
    async with cache.client as client:
        await client.get("/a")
        cache.clock.advance(1)
        hit = await client.get("/a")
    assert hit.extensions["from_cache"] is True
    assert hit.content == b"hello"
    for name in ("Connection", "X-Hop", "Keep-Alive", "Transfer-Encoding", "Upgrade"):
        assert name not in hit.headers
    assert hit.headers["X-Kept"] == "yes"


@pytest.mark.anyio
async def test_transport_set_cookie_response_cached_in_private_mode() -> None:
    """S-22, RFC 9111 §7.3: Set-Cookie alone does not make a response uncacheable."""
    headers = {"Cache-Control": "max-age=60", "Set-Cookie": "a=1"}
    cache = Cache(respond(200, headers))
    async with cache.client as client:
        await client.get("/a")
        cache.clock.advance(10)
        hit = await client.get("/a")
    assert hit.extensions["from_cache"] is True
    assert hit.headers["Set-Cookie"] == "a=1"
    assert cache.origin.calls == 1


@pytest.mark.anyio
async def test_transport_hit_has_exactly_one_current_age() -> None:
    """A-8, RFC 9111 §4: one `Age` with the current age replaces the stored one."""
    headers = [("Cache-Control", "max-age=60"), ("Age", "10")]
    cache = Cache(respond(200, headers))
    async with cache.client as client:
        await client.get("/a")
        cache.clock.advance(5)
        hit = await client.get("/a")
    assert hit.headers.get_list("Age") == ["15"]
    assert hit.extensions["cache_metadata"]["age"] == 15


# -- revalidation corner cases -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("storage_class", "served", "sent"),
    [
        # The body was to be read after the 304: it is gone, so ask again, plainly.
        pytest.param(OutOfLine, b"body 3", 3, id="U-12-body-out-of-line-retries"),
        # The body came with the head: the 304 confirms what the cache already holds.
        pytest.param(AsyncInMemoryStorage, b"body 1", 2, id="U-12-inline-body-served"),
    ],
)
@pytest.mark.anyio
async def test_transport_entry_deleted_before_304_never_surfaces_the_304(
    storage_class: type[AsyncInMemoryStorage], served: bytes, sent: int
) -> None:
    """U-12, RFC 9111 §4.3.4: the entry vanished during revalidation.

    Without its body at hand the cache retries unconditionally; with the body read
    together with the head, the revalidated response is served.
    """
    requests: list[httpx.Request] = []
    storage = storage_class()

    async def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        headers = {"ETag": '"v1"', "Cache-Control": "max-age=60"}
        if "If-None-Match" in request.headers:
            await storage.clear()  # another process deletes the entry meanwhile
            return httpx.Response(304, headers=headers)
        return httpx.Response(200, headers=headers, content=b"body %d" % len(requests))

    clock = Clock()
    transport = AsyncCacheTransport(
        httpx.MockTransport(handler), storage=storage, options=CacheOptions(clock=clock)
    )
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        await client.get("/a")
        clock.advance(70)
        response = await client.get("/a")
    assert (response.status_code, response.content) == (200, served)
    assert len(requests) == sent
    assert requests[1].headers["If-None-Match"] == '"v1"'
    if sent == 3:
        assert "If-None-Match" not in requests[2].headers


def failing_when_stale(cache_control: str, status: int) -> Handler:
    """200 "hello" first, then `status` on every later request."""
    count = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        count[0] += 1
        if count[0] == 1:
            headers = {"Cache-Control": cache_control, "ETag": '"v1"'}
            return httpx.Response(200, headers=headers, content=b"hello")
        return httpx.Response(status, content=b"origin error")

    return handler


@pytest.mark.parametrize(
    ("cache_control", "status", "allow_stale", "served_stale"),
    [
        pytest.param("max-age=10", 500, False, False, id="X-6-5xx-passes-through"),
        pytest.param("max-age=10, stale-if-error=60", 500, False, True, id="X-6-stale-if-error"),
        pytest.param("max-age=10", 503, True, True, id="X-5-allow-stale"),
        pytest.param("max-age=10, must-revalidate, stale-if-error=60", 503, False, False, id="X-2"),
        pytest.param("max-age=10, stale-if-error=60", 404, False, False, id="X-15-404"),
        pytest.param("max-age=10, stale-if-error=5", 500, False, False, id="X-13-too-stale"),
    ],
)
@pytest.mark.anyio
async def test_transport_error_during_revalidation_serves_stale_when_allowed(
    cache_control: str, status: int, allow_stale: bool, served_stale: bool
) -> None:
    """X-2, X-5, X-6, X-13, X-15: a 5xx while revalidating is replaced by the stale entry."""
    cache = Cache(failing_when_stale(cache_control, status), allow_stale=allow_stale)
    async with cache.client as client:
        await client.get("/a")
        cache.clock.advance(20)
        response = await client.get("/a")
    assert cache.origin.calls == 2
    if served_stale:
        assert (response.status_code, response.content) == (200, b"hello")
        assert response.extensions["stale"] is True
        assert response.extensions["from_cache"] is True
        assert response.headers.get_list("Age") == ["20"]
        assert "Warning" not in response.headers
    else:
        assert (response.status_code, response.content) == (status, b"origin error")
        assert response.extensions["stale"] is False
        assert response.extensions["from_cache"] is False


@pytest.mark.anyio
async def test_transport_stale_if_error_after_500_cache_status_is_fwd() -> None:
    """E-10, RFC 9211 §2.1: a stale answer sent after the origin's 500 was forwarded: no `hit`."""
    cache = Cache(failing_when_stale("max-age=10, stale-if-error=60", 500))
    async with cache.client as client:
        await client.get("/a")
        cache.clock.advance(20)
        response = await client.get("/a")
    members = [p.strip() for p in response.extensions["cache_status"].split(";")]
    assert response.extensions["stale"] is True
    assert "hit" not in members
    assert "fwd=stale" in members
    assert "fwd-status=500" in members


@pytest.mark.parametrize(
    "allow_stale",
    [pytest.param(True, id="X-5-allow-stale"), pytest.param(False, id="X-1-default")],
)
@pytest.mark.anyio
async def test_transport_connect_error_with_stale_entry(allow_stale: bool) -> None:
    """X-1, X-5, RFC 9111 §4.2.4: offline, stale is served only when the user allows it."""
    count = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        count[0] += 1
        if count[0] > 1:
            raise httpx.ConnectError("origin unreachable", request=request)
        return httpx.Response(200, headers={"Cache-Control": "max-age=10"}, content=b"hello")

    cache = Cache(handler, allow_stale=allow_stale)
    async with cache.client as client:
        await client.get("/a")
        cache.clock.advance(20)
        if allow_stale:
            response = await client.get("/a")
            assert (response.status_code, response.content) == (200, b"hello")
            assert response.extensions["stale"] is True
            assert response.headers.get_list("Age") == ["20"]
        else:
            with pytest.raises(httpx.ConnectError, match="origin unreachable"):
                await client.get("/a")
    assert count[0] == 2
