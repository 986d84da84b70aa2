"""Range requests answered from the cache, through the public API (RFC 9110 §14).

A fresh stored 200 answers a single ``bytes`` range with a 206 cut from the stored body
(streamed: a large body is skipped and sliced chunk by chunk, never joined), or a 416;
``If-Range`` is honoured; several ranges, and ranges on stale responses, go to the
origin, whose 206 is never stored. The origin is an ``httpx.MockTransport`` counting
its calls.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from httpcache import (
    AsyncCacheTransport,
    AsyncFileStorage,
    AsyncInMemoryStorage,
    AsyncSQLiteStorage,
    AsyncStorage,
    CacheOptions,
    Entry,
)
from httpcache._policy._dates import format_http_date
from httpcache._storages.file._layout import CHUNK_SIZE as FILE_CHUNK
from httpcache._storages.sqlite._sql import CHUNK_SIZE as SQLITE_CHUNK

from .support import BASE, T0, Clock, Handler, Origin

BODY = b"0123456789"
LAST_MODIFIED = format_http_date(T0 - 3600).decode()
HEADERS = {
    "Cache-Control": "max-age=60",
    "ETag": '"a"',
    "Last-Modified": LAST_MODIFIED,
    "Date": format_http_date(T0).decode(),
    "Content-Type": "text/plain",
}
MiB = 1024 * 1024


def stamps(entries: list[Entry]) -> list[tuple[float, int, int | None]]:
    """What tells stored responses apart (not their hit counts)."""
    return [(e.response_time, e.response.status, e.size) for e in entries]


def answering(body: bytes = BODY, headers: dict[str, str] | None = None) -> Handler:
    """An origin answering a 206 to any ``Range`` (as a server would), else the whole 200."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent = dict(HEADERS if headers is None else headers)
        if "Range" in request.headers:
            sent["Content-Range"] = f"bytes 0-0/{len(body)}"
            return httpx.Response(206, headers=sent, content=body[:1])
        return httpx.Response(200, headers=sent, content=body)

    return handler


class Cache:
    """A caching client over a counting origin, with its clock and storage at hand."""

    def __init__(
        self, handler: Handler | None = None, *, storage: Any = None, **options: Any
    ) -> None:
        self.clock = Clock()
        self.origin = Origin(handler if handler is not None else answering())
        self.storage = storage if storage is not None else AsyncInMemoryStorage(clock=self.clock)
        self.transport = AsyncCacheTransport(
            httpx.MockTransport(self.origin),
            storage=self.storage,
            options=CacheOptions(clock=self.clock, cache_status_header=True, **options),
        )
        self.client = httpx.AsyncClient(transport=self.transport, base_url=BASE)

    async def entries(self, path: str = "/a") -> list[Entry]:
        return list(await self.storage.get_entries(BASE + path))

    async def fill(self, client: httpx.AsyncClient) -> None:
        """Store the whole 200 of ``/a``."""
        first = await client.get("/a")
        assert first.status_code == 200 and first.extensions["from_cache"] is False
        assert len(await self.entries()) == 1


# -- 206 from a fresh stored 200 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "content", "content_range"),
    [
        pytest.param("bytes=2-5", b"2345", "bytes 2-5/10", id="int-range"),
        pytest.param("bytes=7-", b"789", "bytes 7-9/10", id="open-ended"),
        pytest.param("bytes=-4", b"6789", "bytes 6-9/10", id="suffix"),
        pytest.param("bytes=8-100", b"89", "bytes 8-9/10", id="clipped"),
        pytest.param("bytes=0-0", b"0", "bytes 0-0/10", id="first-byte"),
    ],
)
@pytest.mark.anyio
async def test_range_on_fresh_entry_served_206_from_cache(
    value: str, content: bytes, content_range: str
) -> None:
    """RFC 9110 §14.4, §15.3.7: the part, its Content-Range and Content-Length; a hit."""
    cache = Cache()
    async with cache.client as client:
        await cache.fill(client)
        cache.clock.advance(5)
        response = await client.get("/a", headers={"Range": value})
    assert (response.status_code, response.content) == (206, content)
    assert response.headers["Content-Range"] == content_range
    assert response.headers["Content-Length"] == str(len(content))
    assert response.headers["Age"] == "5"
    assert response.headers["ETag"] == '"a"'
    assert response.headers["Cache-Status"] == "httpcache; hit; ttl=55"
    assert response.extensions["from_cache"] is True
    assert response.extensions["cache_status"] == "httpcache; hit; ttl=55"
    assert cache.origin.calls == 1


@pytest.mark.parametrize("value", ["bytes=10-", "bytes=50-60", "bytes=-0"])
@pytest.mark.anyio
async def test_unsatisfiable_range_served_416_from_cache(value: str) -> None:
    """RFC 9110 §15.5.17: a 416 with ``Content-Range: bytes */10`` and no body."""
    cache = Cache()
    async with cache.client as client:
        await cache.fill(client)
        response = await client.get("/a", headers={"Range": value})
    assert (response.status_code, response.content) == (416, b"")
    assert response.headers["Content-Range"] == "bytes */10"
    assert response.headers["Content-Length"] == "0"
    assert response.extensions["from_cache"] is True
    assert cache.origin.calls == 1


@pytest.mark.parametrize("value", ["bytes=5-2", "bytes=abc", "pages=1-2"])
@pytest.mark.anyio
async def test_ignored_range_served_whole_200_from_cache(value: str) -> None:
    """RFC 9110 §14.2: an invalid range, or another unit, is ignored."""
    cache = Cache()
    async with cache.client as client:
        await cache.fill(client)
        response = await client.get("/a", headers={"Range": value})
    assert (response.status_code, response.content) == (200, BODY)
    assert "Content-Range" not in response.headers
    assert response.extensions["from_cache"] is True
    assert cache.origin.calls == 1


@pytest.mark.anyio
async def test_head_with_range_served_as_head() -> None:
    """RFC 9110 §14.2: Range is for GET; a HEAD is answered from the stored GET."""
    cache = Cache()
    async with cache.client as client:
        await cache.fill(client)
        response = await client.head("/a", headers={"Range": "bytes=0-1"})
    assert (response.status_code, response.content) == (200, b"")
    assert "Content-Range" not in response.headers
    assert response.extensions["from_cache"] is True
    assert cache.origin.calls == 1


@pytest.mark.anyio
async def test_range_of_encoded_entry_cuts_the_stored_bytes() -> None:
    """The range applies to the representation as stored: the gzip bytes, not the text."""
    encoded = gzip.compress(b"hello world " * 100)
    headers = {**HEADERS, "Content-Encoding": "gzip"}
    cache = Cache(answering(encoded, headers))
    async with cache.client as client:
        await cache.fill(client)
        async with client.stream("GET", "/a", headers={"Range": "bytes=3-12"}) as response:
            raw = b"".join([chunk async for chunk in response.stream])  # as sent: not decoded
    assert response.status_code == 206
    assert raw == encoded[3:13]
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Range"] == f"bytes 3-12/{len(encoded)}"


# -- If-Range -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("if_range", "status", "content"),
    [
        pytest.param('"a"', 206, b"01", id="etag-strong-match"),
        pytest.param('W/"a"', 200, BODY, id="etag-weak"),
        pytest.param('"b"', 200, BODY, id="etag-changed"),
        pytest.param(LAST_MODIFIED, 206, b"01", id="date-exact-strong"),
        pytest.param(format_http_date(T0 - 7200).decode(), 200, BODY, id="date-other"),
    ],
)
@pytest.mark.anyio
async def test_if_range_gives_part_or_whole_from_cache(
    if_range: str, status: int, content: bytes
) -> None:
    """RFC 9110 §13.1.5: a strong match gives the part, anything else the whole 200."""
    cache = Cache()
    async with cache.client as client:
        await cache.fill(client)
        response = await client.get("/a", headers={"Range": "bytes=0-1", "If-Range": if_range})
    assert (response.status_code, response.content) == (status, content)
    assert response.extensions["from_cache"] is True
    assert cache.origin.calls == 1


@pytest.mark.anyio
async def test_if_range_date_on_weak_last_modified_gives_whole() -> None:
    """RFC 9110 §8.8.2.2: a Last-Modified in the same second as Date is weak."""
    same_second = {**HEADERS, "Last-Modified": HEADERS["Date"]}
    cache = Cache(answering(headers=same_second))
    async with cache.client as client:
        await cache.fill(client)
        response = await client.get(
            "/a", headers={"Range": "bytes=0-1", "If-Range": HEADERS["Date"]}
        )
    assert (response.status_code, response.content) == (200, BODY)
    assert cache.origin.calls == 1


# -- what goes to the origin -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_several_ranges_forwarded_and_not_stored() -> None:
    """RFC 9110 §14.6: several ranges are forwarded; the stored 200 stays as it was."""
    cache = Cache()
    async with cache.client as client:
        await cache.fill(client)
        before = stamps(await cache.entries())
        response = await client.get("/a", headers={"Range": "bytes=0-1, 4-5"})
        hit = await client.get("/a")
    assert response.status_code == 206
    assert response.extensions["from_cache"] is False
    assert response.headers["Cache-Status"].startswith("httpcache; fwd=bypass")
    assert cache.origin.calls == 2
    assert cache.origin.requests[1].headers["Range"] == "bytes=0-1, 4-5"
    assert stamps(await cache.entries()) == before
    assert (hit.content, hit.extensions["from_cache"]) == (BODY, True)


@pytest.mark.anyio
async def test_range_on_stale_entry_forwarded_and_206_not_stored() -> None:
    """A stale entry is not validated for a range: the origin answers it, nothing is stored."""
    cache = Cache()
    async with cache.client as client:
        await cache.fill(client)
        before = stamps(await cache.entries())
        cache.clock.advance(120)
        response = await client.get("/a", headers={"Range": "bytes=0-1"})
    assert response.status_code == 206
    assert response.extensions["from_cache"] is False
    assert cache.origin.calls == 2
    sent = cache.origin.requests[1]
    assert sent.headers["Range"] == "bytes=0-1"
    assert "If-None-Match" not in sent.headers
    assert stamps(await cache.entries()) == before


@pytest.mark.anyio
async def test_offline_range_on_stale_entry_served_from_cache() -> None:
    """Offline serves what is stored, stale too: the range is cut from it."""
    cache = Cache()
    async with cache.client as client:
        await cache.fill(client)
        cache.clock.advance(120)
        response = await client.get(
            "/a", headers={"Range": "bytes=1-3"}, extensions={"httpcache_offline": True}
        )
    assert (response.status_code, response.content) == (206, b"123")
    assert response.extensions["stale"] is True
    assert cache.origin.calls == 1


# -- large bodies stream: skipped and sliced chunk by chunk ----------------------------------------


class Recorded:
    """What a storage's ``open_body`` handed out: chunk sizes, and whether it was closed."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.closed = 0

    async def wrap(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                self.sizes.append(len(chunk))
                yield chunk
        finally:
            self.closed += 1
            closer = getattr(chunks, "aclose", None)
            if closer is not None:
                await closer()


class RecordingFileStorage(AsyncFileStorage):
    recorded = Recorded()

    async def open_body(self, entry: Entry) -> AsyncIterator[bytes] | None:
        opened = await super().open_body(entry)
        return None if opened is None else self.recorded.wrap(opened)


class RecordingSQLiteStorage(AsyncSQLiteStorage):
    recorded = Recorded()

    async def open_body(self, entry: Entry) -> AsyncIterator[bytes] | None:
        opened = await super().open_body(entry)
        return None if opened is None else self.recorded.wrap(opened)


def file_storage(tmp_path: Path) -> tuple[AsyncStorage, Recorded, int]:
    storage = RecordingFileStorage(base_path=tmp_path / "cache")
    storage.recorded = Recorded()
    return storage, storage.recorded, FILE_CHUNK


def sqlite_storage(tmp_path: Path) -> tuple[AsyncStorage, Recorded, int]:
    storage = RecordingSQLiteStorage(path=tmp_path / "cache.db")
    storage.recorded = Recorded()
    return storage, storage.recorded, SQLITE_CHUNK


@pytest.mark.parametrize(
    "make", [pytest.param(file_storage, id="file"), pytest.param(sqlite_storage, id="sqlite")]
)
@pytest.mark.anyio
async def test_range_of_large_body_streamed_in_bounded_chunks(make: Any, tmp_path: Path) -> None:
    """DESIGN §3: a range in the middle of 5 MiB is cut from the stored chunks as they come.

    No chunk larger than the storage's read chunk reaches the user, the chunks past the
    range's last byte are never read, and the stored body is closed once it is out.
    """
    storage, recorded, chunk_size = make(tmp_path)
    body = os.urandom(5 * MiB)
    first, last = 2 * MiB + 123, 3 * MiB + 4567
    cache = Cache(answering(body), storage=storage)
    async with storage, cache.client as client:
        full = await client.get("/a")
        assert full.content == body
        async with client.stream("GET", "/a", headers={"Range": f"bytes={first}-{last}"}) as got:
            assert got.status_code == 206
            assert got.extensions["from_cache"] is True
            assert got.headers["Content-Range"] == f"bytes {first}-{last}/{len(body)}"
            assert got.headers["Content-Length"] == str(last - first + 1)
            parts = [chunk async for chunk in got.stream]
            closed_when_read = recorded.closed
    assert b"".join(parts) == body[first : last + 1]
    assert max(len(part) for part in parts) <= chunk_size
    assert recorded.sizes and max(recorded.sizes) <= chunk_size
    assert sum(recorded.sizes) <= last + chunk_size  # nothing read past the part's chunk
    assert sum(recorded.sizes) > last
    assert closed_when_read == 1
    assert cache.origin.calls == 1
