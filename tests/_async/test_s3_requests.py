"""How many S3 requests each operation costs, counted with botocore's ``before-send`` events.

DESIGN §3: a hit is one storage read and no write; a store is one round trip for a small
body. Hit counts are written back in batches: after ``hit_flush_interval`` (the clock is
injected), at once for a sliding renewal, and on close. Runs against the session's moto
server; the generated ``tests/_sync`` copy counts ``S3Storage``'s requests.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import httpcache
from httpcache import CacheOptions
from tests._async import storage_backends  # first: it imports backend_s3 itself
from tests._async.backend_s3 import build
from tests._async.test_storage_contract import body_of, make_entry, put

pytestmark = pytest.mark.s3

URL = "http://example.com/a"


class Requests:
    """Counts the S3 requests one storage's client sends, by operation name."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    def __call__(self, event_name: str, **kwargs: Any) -> None:
        self.sent[event_name.rsplit(".", 1)[-1]] += 1

    def take(self) -> dict[str, int]:
        """Return the counts since the last call, and start again."""
        taken = dict(self.sent)
        self.sent.clear()
        return taken


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = storage_backends.FakeClock()
        self.ctx = storage_backends.Context(
            tmp_path=tmp_path,
            clock=self.clock,
            namespace=f"s3r-{uuid.uuid4().hex[:12]}",
            serializer=None,
        )
        self.opened: list[Any] = []

    async def storage(self, **lifetime: Any) -> tuple[Any, Requests]:
        storage = await build(self.ctx, {"ttl": None, **lifetime})
        self.opened.append(storage)
        requests = Requests()
        (await storage._client()).meta.events.register("before-send.s3.*", requests)
        return storage, requests

    async def close(self) -> None:
        for storage in self.opened:
            await storage.clear()
            await storage.aclose()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path)
    yield r
    await r.close()


def origin(request: httpx.Request) -> httpx.Response:
    headers = {"ETag": '"v1"', "Cache-Control": "max-age=30"}
    if request.headers.get("if-none-match") == '"v1"':
        return httpx.Response(304, headers=headers)
    size = int(request.url.params.get("size", "1024"))
    return httpx.Response(200, headers=headers, content=b"x" * size)


# -- through the transport ------------------------------------------------------------


@pytest.mark.anyio
async def test_s3_requests_through_the_transport_hit_store_and_revalidation(rig: Rig) -> None:
    storage, requests = await rig.storage()
    options = CacheOptions(clock=rig.clock)
    mock = httpx.MockTransport(origin)
    async with httpcache.AsyncCacheClient(
        transport=mock, storage=storage, options=options
    ) as client:
        response = await client.get(URL)
        assert response.extensions["from_cache"] is False
        assert requests.take() == {"GetObject": 1, "PutObject": 1}  # miss, then one store

        for _ in range(3):
            response = await client.get(URL)
            assert response.extensions["from_cache"] is True
            assert response.content == b"x" * 1024
            assert requests.take() == {"GetObject": 1}  # a hit: one read, no write

        rig.clock.advance(31)  # stale: revalidated with a 304 (hits not due for 60 s)
        response = await client.get(URL)
        assert response.extensions["revalidated"] is True
        assert response.content == b"x" * 1024
        assert requests.take() == {"GetObject": 1, "PutObject": 1}
    assert requests.take() == {}  # a storage you pass is yours to close
    await storage.aclose()
    assert requests.take() == {"PutObject": 1}  # closing writes the four hits back
    [entry] = await (await rig.storage())[0].get_entries(URL)
    assert entry.hits == 4


@pytest.mark.anyio
async def test_s3_requests_large_body_hit_reads_record_then_body(rig: Rig) -> None:
    storage, requests = await rig.storage()
    mock = httpx.MockTransport(origin)
    url = f"{URL}?size={200 * 1024}"
    async with httpcache.AsyncCacheClient(transport=mock, storage=storage) as client:
        await client.get(url)
        assert requests.take() == {"GetObject": 1, "PutObject": 2}  # the body, then the record
        response = await client.get(url)
        assert response.extensions["from_cache"] is True
        assert len(response.content) == 200 * 1024
        assert requests.take() == {"GetObject": 2}


# -- the storage alone -------------------------------------------------------------------


@pytest.mark.anyio
async def test_s3_requests_store_after_a_read_is_one_put(rig: Rig) -> None:
    storage, requests = await rig.storage()
    assert await storage.get_entries(URL) == []
    assert requests.take() == {"GetObject": 1}
    await put(storage, make_entry(variant="en"))
    assert requests.take() == {"PutObject": 1}  # the read told that the key was empty
    await put(storage, make_entry(variant="de"))
    assert requests.take() == {"PutObject": 1}  # remembered: the other variant kept
    assert sorted(e.variant for e in await storage.get_entries(URL)) == ["de", "en"]


@pytest.mark.anyio
async def test_s3_requests_store_of_an_unread_key_reads_then_writes(rig: Rig) -> None:
    writer, _ = await rig.storage()
    await put(writer, make_entry(variant="en"))
    storage, requests = await rig.storage()
    await put(storage, make_entry(variant="de"))
    sent = requests.take()
    assert sent == {"GetObject": 1, "PutObject": 1}  # nothing remembered: read, then write
    assert sorted(e.variant for e in await storage.get_entries(URL)) == ["de", "en"]


@pytest.mark.anyio
async def test_s3_requests_concurrent_writers_lose_no_variant(rig: Rig) -> None:
    left, _ = await rig.storage()
    right, requests = await rig.storage()
    assert await left.get_entries(URL) == [] and await right.get_entries(URL) == []
    await put(left, make_entry(variant="left"))
    requests.take()
    await put(right, make_entry(variant="right"))  # its memory of an empty key is stale
    assert requests.take() == {"PutObject": 2, "GetObject": 1}  # refused, re-read, rewritten
    assert sorted(e.variant for e in await left.get_entries(URL)) == ["left", "right"]


@pytest.mark.anyio
async def test_s3_requests_hits_wait_for_the_flush_interval(rig: Rig) -> None:
    storage, requests = await rig.storage()
    observer, _ = await rig.storage()
    await put(storage, make_entry())
    [entry] = await storage.get_entries(URL)
    requests.take()
    for _ in range(5):
        await storage.record_hit(entry)
        rig.clock.advance(10)
    assert requests.take() == {}  # no request at all on the hit path
    assert [e.hits for e in await storage.get_entries(URL)] == [5]  # its own hits, unwritten
    assert [e.hits for e in await observer.get_entries(URL)] == [0]  # not yet elsewhere
    requests.take()
    rig.clock.advance(10)  # 60 s since the first hit: the batch is due
    await storage.record_hit(entry)
    assert requests.take() == {"PutObject": 1}  # remembered record: no read first
    [seen] = await observer.get_entries(URL)
    assert (seen.hits, seen.accessed_at) == (6, rig.clock.now)


@pytest.mark.anyio
async def test_s3_requests_hits_are_written_on_close_once(rig: Rig) -> None:
    storage, requests = await rig.storage()
    await put(storage, make_entry(variant="en"))
    await put(storage, make_entry(variant="de"))
    for found in await storage.get_entries(URL):
        await storage.record_hit(found)
        await storage.record_hit(found)
    requests.take()
    await storage.aclose()
    assert requests.take() == {"PutObject": 1}  # one write per key, both variants in it
    await storage.aclose()
    assert requests.take() == {}
    observer, _ = await rig.storage()
    assert [e.hits for e in await observer.get_entries(URL)] == [2, 2]


@pytest.mark.anyio
async def test_s3_requests_sliding_renewal_is_written_at_once(rig: Rig) -> None:
    storage, requests = await rig.storage(ttl=100, sliding=True)
    start = rig.clock.now
    await put(storage, make_entry(created_at=start))
    [entry] = await storage.get_entries(URL)
    requests.take()
    rig.clock.advance(5)  # under a tenth of the ttl: no renewal due
    await storage.record_hit(entry)
    assert requests.take() == {}
    rig.clock.advance(10)  # 15 s since the write: renew now
    await storage.record_hit(entry)
    assert requests.take() == {"PutObject": 1}
    observer, _ = await rig.storage(ttl=100, sliding=True)
    rig.clock.advance(100)  # 115 s after the write, 100 after the renewal
    assert await observer.get_entries(URL) == []
    rig.clock.advance(-1)
    [kept] = await observer.get_entries(URL)
    assert (kept.hits, kept.accessed_at) == (2, start + 15)


@pytest.mark.anyio
async def test_s3_requests_delete_drops_pending_hits(rig: Rig) -> None:
    storage, requests = await rig.storage()
    await put(storage, make_entry(variant="en"))
    [entry] = await storage.get_entries(URL)
    await storage.record_hit(entry)
    requests.take()
    await storage.delete_entries(URL, ["en"])
    assert requests.take() == {"DeleteObject": 1}  # If-Match the remembered record
    await storage.aclose()
    assert requests.take() == {}  # nothing left to write back
    assert await body_of(storage, entry) is None
