"""Hostile responses and URLs: nothing is buffered whole, nothing lands outside the store.

* A response that claims ``Content-Length: 2147483648`` (2 GiB) and streams without end,
  with ``max_entry_size`` set, passes through to the user chunk by chunk: the test reads
  several MiB and closes, ``tracemalloc`` shows the peak far below what was read, and
  nothing is stored. The same for an endless chunked body (no length): the store is
  aborted once it passes the limit, the user streams on, nothing is stored and no
  temporary file is left. Sync and async.
* URLs built to escape a key space (``..`` segments, ``%2e%2e%2f``, ``%00``, 10 KiB
  paths, RTL marks, combining characters, emoji, an encoded lone surrogate, invalid
  UTF-8, 20 KiB queries) are cache keys like any other: with every persistent backend
  each one round-trips (the second request is a hit), and nothing is created outside
  the storage's own directory, table namespace, Redis namespace or S3 key prefix.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

import httpcache
from tests.reliability._support import PERSISTENT, Origin, Raw, build, cache_options, close_sync

URL = "http://example.com/huge"
KiB, MiB = 1024, 1024 * 1024
LIMIT = 1 * MiB
READ = 12 * MiB  # what the user reads before closing
PIECE = bytes(range(256)) * 256  # 64 KiB
TWO_GIB = str(2 * 1024 * MiB)


def _endless() -> Iterator[bytes]:
    while True:  # forever to exhaust
        yield bytes(memoryview(PIECE))  # a copy: tracemalloc sees it


async def _aendless() -> AsyncIterator[bytes]:
    while True:
        yield bytes(memoryview(PIECE))  # a copy: tracemalloc sees it


def _headers(length: bool) -> dict[str, str]:
    headers = {"Cache-Control": "max-age=3600"}
    if length:
        headers["Content-Length"] = TWO_GIB
    return headers


def _leftovers(root: Path) -> list[Path]:
    """Files a store would leave: records, bodies, temporary files."""
    return [p for p in root.rglob("*") if p.is_file() and p.name != ".sweep"]


@pytest.mark.parametrize("length", [True, False], ids=["content-length-2GiB", "chunked"])
def test_endless_body_sync_streams_through_unbuffered_and_is_not_stored(
    length: bool, tmp_path: Path
) -> None:
    storage = httpcache.FileStorage(base_path=tmp_path / "cache")
    origin = Origin(lambda r: httpx.Response(200, headers=_headers(length), content=_endless()))
    options = cache_options(max_entry_size=LIMIT)
    with httpcache.CacheClient(
        storage=storage, options=options, transport=httpx.MockTransport(origin)
    ) as client:
        read = 0
        tracemalloc.start()
        try:
            with client.stream("GET", URL) as response:
                assert response.headers.get("Content-Length") == (TWO_GIB if length else None)
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if read >= READ:
                        break
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert read >= READ
        assert peak < 4 * MiB, f"peak {peak} bytes while streaming {read}"
        assert response.extensions["from_cache"] is False
        assert storage.get_entries(URL) == []
        assert _leftovers(tmp_path) == []
        assert (client.get(URL, extensions={"httpcache_only_if_cached": True})).status_code == 504
    storage.close()


@pytest.mark.anyio
@pytest.mark.parametrize("length", [True, False], ids=["content-length-2GiB", "chunked"])
async def test_endless_body_async_streams_through_unbuffered_and_is_not_stored(
    length: bool, tmp_path: Path
) -> None:
    storage = httpcache.AsyncFileStorage(base_path=tmp_path / "cache")
    origin = Origin(lambda r: httpx.Response(200, headers=_headers(length), content=_aendless()))
    options = cache_options(max_entry_size=LIMIT)
    async with httpcache.AsyncCacheClient(
        storage=storage, options=options, transport=httpx.MockTransport(origin)
    ) as client:
        read = 0
        tracemalloc.start()
        try:
            async with client.stream("GET", URL) as response:
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= READ:
                        break
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert read >= READ
        assert peak < 4 * MiB, f"peak {peak} bytes while streaming {read}"
        assert response.extensions["from_cache"] is False
        assert await storage.get_entries(URL) == []
        assert _leftovers(tmp_path) == []
    await storage.aclose()


@pytest.mark.parametrize("length", [True, False], ids=["content-length-2GiB", "chunked"])
def test_endless_body_in_memory_storage_is_not_buffered(length: bool) -> None:
    """The in-memory storage keeps a body in memory: it must give up at the limit too."""
    storage = httpcache.InMemoryStorage()
    origin = Origin(lambda r: httpx.Response(200, headers=_headers(length), content=_endless()))
    options = cache_options(max_entry_size=LIMIT)
    with httpcache.CacheClient(
        storage=storage, options=options, transport=httpx.MockTransport(origin)
    ) as client:
        read = 0
        tracemalloc.start()
        try:
            with client.stream("GET", URL) as response:
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if read >= READ:
                        break
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 4 * MiB, f"peak {peak} bytes while streaming {read}"
        assert storage.get_entries(URL) == []


# -- hostile URLs as keys ------------------------------------------------------------------

HOSTILE = [
    pytest.param("http://example.com/a/../../../../../etc/passwd", id="dot-segments"),
    pytest.param("http://example.com/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", id="encoded-dots"),
    pytest.param("http://example.com/..%2f..%2f..%5c..%5cwin.ini", id="mixed-separators"),
    pytest.param("http://example.com/nul%00byte%00.txt?x=%00", id="nul"),
    pytest.param("http://example.com/" + "a" * 10240, id="10KiB-path"),
    pytest.param("http://example.com/" + "/".join(["seg"] * 2000), id="deep-path"),
    pytest.param("http://example.com/\u202etxt.exe\u200f\u200e", id="rtl-marks"),
    pytest.param("http://example.com/e\u0301\u0301\u0301/\u0338", id="combining"),
    pytest.param("http://example.com/\U0001f600/\U0001f4a9?q=\U0001f525", id="emoji"),
    pytest.param("http://example.com/%ED%A0%80/lone-surrogate", id="encoded-surrogate"),
    pytest.param("http://example.com/%FF%FE%C0%AF/bad-utf8", id="invalid-utf8"),
    pytest.param("http://example.com/q?" + "k=v&" * 5000 + "x=" + "y" * 20000, id="long-query"),
    pytest.param("http://example.com/*?[]{}#@%25:glob", id="glob-and-markers"),
]


def _round_trip(client: httpcache.CacheClient, origin: Origin, url: str) -> None:
    calls = origin.calls
    first = client.get(url)
    assert (first.status_code, first.content) == (200, b"ok")
    assert first.extensions["from_cache"] is False
    second = client.get(url)
    assert second.extensions["from_cache"] is True, url[:200]
    assert (second.content, origin.calls) == (b"ok", calls + 1)


def _outside(raw: Raw, before: set[str]) -> list[str]:
    """Names created since ``before`` that do not belong to the storage."""
    prefix = raw.own_prefix()
    return [
        name
        for name in raw.names() - before
        if not name.startswith(prefix) and not prefix.startswith(name + os.sep)
    ]


@pytest.mark.parametrize("backend", PERSISTENT)
def test_hostile_urls_stay_inside_the_store_and_round_trip(backend: str, tmp_path: Path) -> None:
    outer = set(os.listdir(tmp_path.parent))
    storage = build(backend, tmp_path)
    raw = Raw(backend, storage, tmp_path)
    storage.get_entries("http://example.com/")  # a SQLite storage creates its tables
    before = raw.names()
    origin = Origin(
        lambda r: httpx.Response(200, headers={"Cache-Control": "max-age=600"}, content=b"ok")
    )
    try:
        with httpcache.CacheClient(
            storage=storage, options=cache_options(), transport=httpx.MockTransport(origin)
        ) as c:
            for param in HOSTILE:
                (url,) = param.values
                assert isinstance(url, str)
                _round_trip(c, origin, url)
        assert _outside(raw, before) == []
        assert set(os.listdir(tmp_path.parent)) - outer <= {tmp_path.name}
        keys = {e.key for e in storage.iter_entries()}
        assert len(keys) == len(HOSTILE)  # one entry per URL, none merged into another
        if backend == "sqlite":
            assert {row[0] for row in raw.tables()} == {
                "httpcache",
                "httpcache_bodies",
                "httpcache_leases",
            }
        if backend == "file":
            records = [p for p in tmp_path.rglob("*.head")]
            assert len(records) == len(HOSTILE)
            assert all(len(p.name) == 64 + len(".head") for p in records)
    finally:
        close_sync(storage)


def test_lone_surrogate_in_url_is_refused_by_httpx_or_round_trips(tmp_path: Path) -> None:
    """httpx may refuse a raw lone surrogate; if it takes one, the cache must too."""
    url = "http://example.com/\ud800x"
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, UnicodeEncodeError):
        with pytest.raises((httpx.InvalidURL, UnicodeEncodeError)):
            httpx.Request("GET", url)
        return
    storage = httpcache.FileStorage(base_path=tmp_path / "cache")
    origin = Origin(
        lambda r: httpx.Response(200, headers={"Cache-Control": "max-age=600"}, content=b"ok")
    )
    with httpcache.CacheClient(
        storage=storage, options=cache_options(), transport=httpx.MockTransport(origin)
    ) as client:
        _round_trip(client, origin, url)
    storage.close()
