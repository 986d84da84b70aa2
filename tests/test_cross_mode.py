"""A cache written by the sync client is read by the async client, and the reverse.

Issue 3: "a cache written by the sync client is readable by the async client and by
another process". Each persistent backend is opened twice on the same place, once
per mode, through the real transports.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import httpcache

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _origin() -> tuple[httpx.MockTransport, list[str]]:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, headers={"Cache-Control": "max-age=600"}, content=b"shared")

    return httpx.MockTransport(handler), calls


def _pairs(tmp_path: Path) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    namespace = f"httpcache-test:cross-{uuid.uuid4().hex[:8]}"
    return {
        "file": (
            lambda: httpcache.FileStorage(base_path=tmp_path / "files"),
            lambda: httpcache.AsyncFileStorage(base_path=tmp_path / "files"),
        ),
        "sqlite": (
            lambda: httpcache.SQLiteStorage(path=tmp_path / "cache.db"),
            lambda: httpcache.AsyncSQLiteStorage(path=tmp_path / "cache.db"),
        ),
        "redis": (
            lambda: httpcache.storage_from_url(f"{REDIS_URL}?namespace={namespace}"),
            lambda: httpcache.async_storage_from_url(f"{REDIS_URL}?namespace={namespace}"),
        ),
    }


@pytest.mark.parametrize("backend", ["file", "sqlite", "redis"])
@pytest.mark.parametrize("writer", ["sync", "async"])
def test_cache_written_in_one_mode_is_a_hit_in_the_other(
    backend: str, writer: str, tmp_path: Path
) -> None:
    make_sync, make_async = _pairs(tmp_path)[backend]
    mock, calls = _origin()
    url = "http://example.com/shared"

    def sync_get() -> httpx.Response:
        storage = make_sync()
        with httpcache.CacheClient(transport=mock, storage=storage) as client:
            response = client.get(url)
        storage.close()
        return response

    async def async_get() -> httpx.Response:
        storage = make_async()
        async with httpcache.AsyncCacheClient(transport=mock, storage=storage) as client:
            response = await client.get(url)
        await storage.aclose()
        return response

    first, second = (sync_get, lambda: asyncio.run(async_get()))
    if writer == "async":
        first, second = second, first
    assert first().extensions["from_cache"] is False
    response = second()
    assert response.extensions["from_cache"] is True
    assert response.content == b"shared"
    assert len(calls) == 1
    cleanup = make_sync()
    cleanup.clear()
    cleanup.close()
