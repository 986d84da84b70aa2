"""An S3 cache written by the sync client is a hit for the async client, and the reverse.

Both halves are written by hand over the same helpers (DESIGN §2); this proves they read
each other's records, inline and large bodies, and hit counts written back on close.
Runs against the session's moto server (``tests/_async/backend_s3``).
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

import httpcache
from tests._async import storage_backends  # noqa: F401  (first: it imports backend_s3 itself)
from tests._async.backend_s3 import BUCKET, endpoint_url

pytestmark = pytest.mark.s3

SIZES = {"/small": 1024, "/large": 300 * 1024}


def _origin() -> tuple[httpx.MockTransport, list[str]]:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        size = SIZES[request.url.path]
        body = (request.url.path.encode() * size)[:size]
        return httpx.Response(200, headers={"Cache-Control": "max-age=600"}, content=body)

    return httpx.MockTransport(handler), calls


@pytest.mark.parametrize("path", list(SIZES))
@pytest.mark.parametrize("writer", ["sync", "async"])
def test_s3_cache_written_in_one_mode_is_a_hit_in_the_other(writer: str, path: str) -> None:
    prefix = f"cross-{uuid.uuid4().hex[:12]}/"
    url = f"http://example.com{path}"
    mock, calls = _origin()

    def sync_get() -> httpx.Response:
        with (
            httpcache.S3Storage(
                bucket_name=BUCKET, key_prefix=prefix, endpoint_url=endpoint_url()
            ) as storage,
            httpcache.CacheClient(transport=mock, storage=storage) as client,
        ):
            response = client.get(url)
            response.read()
            return response

    async def async_get() -> httpx.Response:
        async with (
            httpcache.AsyncS3Storage(
                bucket_name=BUCKET, key_prefix=prefix, endpoint_url=endpoint_url()
            ) as storage,
            httpcache.AsyncCacheClient(transport=mock, storage=storage) as client,
        ):
            response = await client.get(url)
            await response.aread()
            return response

    first, second = (sync_get, lambda: asyncio.run(async_get()))
    if writer == "async":
        first, second = second, first
    assert first().extensions["from_cache"] is False
    hit = second()
    assert hit.extensions["from_cache"] is True
    assert len(hit.content) == SIZES[path] and hit.content.startswith(path.encode())
    assert first().extensions["cache_metadata"]["hits"] == 2  # the other mode's hit, written
    assert calls == [path]
    with httpcache.S3Storage(
        bucket_name=BUCKET, key_prefix=prefix, endpoint_url=endpoint_url()
    ) as cleanup:
        cleanup.clear()
