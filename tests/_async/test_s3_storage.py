"""What only the S3 storage promises: its object layout, metadata, multipart uploads, paging.

The storage contract (``test_storage_contract.py``) covers the rest. These run against the
session's moto server (``backend_s3``); the generated ``tests/_sync`` copy runs them on
``S3Storage``.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import httpcache._storages.s3._common
from httpcache import ConfigurationError, StorageError
from httpcache._storages.s3._common import PART_SIZE, head_name
from tests._async import storage_backends  # first: it imports backend_s3 itself
from tests._async.backend_s3 import BUCKET, AsyncS3Storage, build, endpoint_url, s3_module
from tests._async.test_storage_contract import body_of, listed, make_entry, put

pytestmark = pytest.mark.s3

MiB = 1024 * 1024
LAYOUT = re.compile(r"(ns/[^/]+/)*e/[0-9a-f]{64}/[0-9a-f]{64}\.(head|[0-9a-f]{32}\.body)")


class Rig:
    """Storages under one fresh key prefix, and a look at the raw bucket."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = storage_backends.FakeClock()
        self.ctx = storage_backends.Context(
            tmp_path=tmp_path,
            clock=self.clock,
            namespace=f"s3-{uuid.uuid4().hex[:12]}",
            serializer=None,
        )
        self.opened: list[Any] = []

    async def storage(self, ttl: float | None = None) -> Any:
        storage = await build(self.ctx, {"ttl": ttl})
        self.opened.append(storage)
        return storage

    async def names(self, storage: Any) -> list[str]:
        """Every object name under the storage's prefix, relative to it."""
        client = await storage._client()
        kwargs: dict[str, Any] = {"Bucket": BUCKET, "Prefix": storage.key_prefix}
        found: list[str] = []
        while True:
            page = await client.list_objects_v2(**kwargs)
            found += [item["Key"][len(storage.key_prefix) :] for item in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return found
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    async def close(self) -> None:
        for storage in self.opened:
            client = await storage._client()
            for name in await self.names(storage):
                await client.delete_object(Bucket=BUCKET, Key=storage.key_prefix + name)
            await storage.aclose()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path)
    yield r
    await r.close()


def bodies(names: list[str]) -> list[str]:
    return [name for name in names if name.endswith(".body")]


@pytest.mark.anyio
async def test_s3_object_names_hold_no_key_material(rig: Rig) -> None:
    storage = await rig.storage()
    url = "http://example.com/private/path?token=s3cr3t"
    await put(storage, make_entry(url, variant="accept-language=de"), b"body")
    names = await rig.names(storage)
    assert len(names) == 2
    for name in names:
        assert LAYOUT.fullmatch(name), name  # hex digests only: no URL, no variant text


@pytest.mark.anyio
async def test_s3_head_metadata_records_expiry(rig: Rig) -> None:
    storage = await rig.storage(ttl=10)
    client = await storage._client()
    now = rig.clock.now
    plain = await put(storage, make_entry("http://example.com/plain", created_at=now))
    own = await put(storage, make_entry("http://example.com/own", created_at=now, ttl=5))
    heads = {}
    for entry in (plain, own):
        name = head_name(storage.key_prefix, entry.key, entry.variant)
        heads[entry.key] = (await client.head_object(Bucket=BUCKET, Key=name))["Metadata"]
    assert float(heads[plain.key]["httpcache-expires-at"]) == now + 10
    assert heads[plain.key]["httpcache-ttl"] == "none"
    assert float(heads[own.key]["httpcache-expires-at"]) == now + 5
    assert float(heads[own.key]["httpcache-stored-at"]) == now


@pytest.mark.anyio
async def test_s3_no_ttl_records_never_expires(rig: Rig) -> None:
    storage = await rig.storage()
    entry = await put(storage, make_entry())
    client = await storage._client()
    name = head_name(storage.key_prefix, entry.key, entry.variant)
    meta = (await client.head_object(Bucket=BUCKET, Key=name))["Metadata"]
    assert meta["httpcache-expires-at"] == "never"
    rig.clock.advance(10**9)
    assert await storage.delete_expired() == 0
    assert len(await storage.get_entries(entry.key)) == 1


@pytest.mark.anyio
async def test_s3_delete_expired_pages_through_the_whole_listing(rig: Rig) -> None:
    storage = await rig.storage(ttl=10)
    storage._page_size = 3  # 12 variants are 24 objects: eight pages, groups split across them
    now = rig.clock.now
    for i in range(9):
        await put(storage, make_entry(f"http://example.com/old/{i}", created_at=now))
    rig.clock.advance(8)
    for i in range(3):
        await put(storage, make_entry(f"http://example.com/new/{i}", created_at=rig.clock.now))
    rig.clock.advance(3)
    assert await storage.delete_expired() == 9
    names = await rig.names(storage)
    assert len(names) == 6
    assert sorted(e.request.url for e in await listed(storage)) == [
        f"http://example.com/new/{i}" for i in range(3)
    ]


@pytest.mark.anyio
async def test_s3_deletes_are_batched(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_module, "DELETE_BATCH", 2)
    storage = await rig.storage()
    storage._page_size = 4
    for variant in "abcde":
        await put(storage, make_entry(variant=variant))
    await put(storage, make_entry("http://example.com/other"))
    await storage.delete_entries("http://example.com/a", ["a", "c", "e"])
    assert sorted(e.variant for e in await storage.get_entries("http://example.com/a")) == [
        "b",
        "d",
    ]
    await storage.clear()
    assert await rig.names(storage) == []


@pytest.mark.anyio
async def test_s3_large_body_goes_up_as_multipart_in_bounded_memory(rig: Rig) -> None:
    storage = await rig.storage()
    body = bytes(range(256)) * (20 * MiB // 256)
    writer = await storage.open_writer(make_entry())
    for start in range(0, len(body), MiB):
        await writer.write(body[start : start + MiB])
        assert len(writer._buffer) < PART_SIZE
    committed = await writer.commit()
    [name] = bodies(await rig.names(storage))
    client = await storage._client()
    head = await client.head_object(Bucket=BUCKET, Key=storage.key_prefix + name)
    assert head["ETag"].strip('"').endswith("-3")  # 8 + 8 + 4 MiB
    assert head["ContentLength"] == len(body)
    [found] = await storage.get_entries(committed.key)
    assert await body_of(storage, found) == body


@pytest.mark.anyio
async def test_s3_small_body_is_one_put(rig: Rig) -> None:
    storage = await rig.storage()
    await put(storage, make_entry(), b"small")
    [name] = bodies(await rig.names(storage))
    client = await storage._client()
    head = await client.head_object(Bucket=BUCKET, Key=storage.key_prefix + name)
    assert "-" not in head["ETag"]


@pytest.mark.anyio
async def test_s3_abort_cancels_the_multipart_upload(rig: Rig) -> None:
    storage = await rig.storage()
    entry = make_entry()
    writer = await storage.open_writer(entry)
    await writer.write(b"x" * (PART_SIZE + 10))  # one part is up already
    assert writer._upload_id is not None
    await writer.abort()
    await writer.abort()
    client = await storage._client()
    uploads = await client.list_multipart_uploads(Bucket=BUCKET, Prefix=storage.key_prefix)
    assert uploads.get("Uploads", []) == []
    assert await rig.names(storage) == []
    assert await storage.get_entries(entry.key) == []


@pytest.mark.anyio
async def test_s3_replacing_a_variant_removes_its_old_body(rig: Rig) -> None:
    storage = await rig.storage()
    await put(storage, make_entry(variant="x"), b"old")
    await put(storage, make_entry(variant="x"), b"new")
    assert len(bodies(await rig.names(storage))) == 1
    [found] = await storage.get_entries("http://example.com/a")
    assert await body_of(storage, found) == b"new"


@pytest.mark.anyio
async def test_s3_body_of_a_replaced_entry_is_not_served_with_the_new_head(rig: Rig) -> None:
    storage = await rig.storage()
    await put(storage, make_entry(variant="x"), b"old")
    [old] = await storage.get_entries("http://example.com/a")
    other = await rig.storage()  # same prefix, nothing remembered: reads the head to check
    assert await body_of(other, old) == b"old"
    await put(storage, make_entry(variant="x"), b"newer")
    assert await body_of(storage, old) is None  # its body went with it: a miss, not a mix
    assert await body_of(other, old) is None  # the head now describes another entry
    [new] = await storage.get_entries("http://example.com/a")
    await storage.record_hit(new)
    assert await body_of(other, new) == b"newer"  # a hit count is no change of entry


@pytest.mark.anyio
async def test_s3_head_without_metadata_is_a_logged_miss(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    storage = await rig.storage()
    entry = await put(storage, make_entry())
    client = await storage._client()
    name = head_name(storage.key_prefix, entry.key, entry.variant)
    await client.put_object(Bucket=BUCKET, Key=name, Body=b"foreign")
    with caplog.at_level(logging.WARNING, logger="httpcache.storage"):
        assert await storage.get_entries(entry.key) == []
    assert any(r.name == "httpcache.storage" for r in caplog.records)
    assert await rig.names(storage) == []


@pytest.mark.anyio
async def test_s3_delete_expired_removes_old_debris_only(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = await rig.storage()
    entry = await put(storage, make_entry())
    client = await storage._client()
    [live_body] = bodies(await rig.names(storage))
    stray = live_body[: -len(".body") - 32] + "0" * 32 + ".body"  # a body no head names
    await client.put_object(Bucket=BUCKET, Key=storage.key_prefix + stray, Body=b"stray")
    assert await storage.delete_expired() == 0
    assert stray in await rig.names(storage)  # too young: maybe a writer's, mid-commit
    monkeypatch.setattr(httpcache._storages.s3._common, "ORPHAN_GRACE", -1.0)
    assert await storage.delete_expired() == 0
    assert sorted(await rig.names(storage)) == sorted(
        [live_body, head_name("", entry.key, entry.variant)]
    )
    [found] = await storage.get_entries(entry.key)
    assert await body_of(storage, found) == b"hello"


@pytest.mark.anyio
async def test_s3_clear_leaves_foreign_objects_alone(rig: Rig) -> None:
    storage = await rig.storage()
    client = await storage._client()
    foreign = storage.key_prefix + "e/not-ours.txt"
    await client.put_object(Bucket=BUCKET, Key=foreign, Body=b"keep me")
    await put(storage, make_entry())
    await put(storage.with_namespace("child"), make_entry())
    assert (await storage.stats()).entries == 2
    await storage.clear()
    assert await rig.names(storage) == ["e/not-ours.txt"]


@pytest.mark.anyio
async def test_s3_namespace_lives_under_its_parent_prefix(rig: Rig) -> None:
    storage = await rig.storage()
    child = storage.with_namespace("left").with_namespace("deep")
    assert child.key_prefix == storage.key_prefix + "ns/left/ns/deep/"
    assert child.namespace == "left/deep"
    await put(child, make_entry())
    assert [e.request.url for e in await listed(storage)] == ["http://example.com/a"]
    await child.aclose()  # a namespace never closes the shared client
    assert storage._holder.client is not None
    with pytest.raises(ConfigurationError):
        storage.with_namespace("a/b")


@pytest.mark.anyio
async def test_s3_user_client_is_not_closed(rig: Rig) -> None:
    owner = await rig.storage()
    client = await owner._client()
    async with AsyncS3Storage(
        bucket_name=BUCKET, client=client, key_prefix=owner.key_prefix
    ) as user:
        entry = await put(user, make_entry())
        assert await user.health() is True
    await user.aclose()
    assert owner._holder.client is client
    await client.head_bucket(Bucket=BUCKET)  # still open
    assert len(await owner.get_entries(entry.key)) == 1
    await owner.aclose()
    assert owner._holder.client is None  # the client it made itself is closed


@pytest.mark.anyio
async def test_s3_health_is_false_for_a_missing_bucket() -> None:
    storage = AsyncS3Storage(bucket_name="no-such-bucket", endpoint_url=endpoint_url())
    async with storage:
        assert await storage.health() is False


@pytest.mark.anyio
async def test_s3_backend_errors_are_storage_errors() -> None:
    storage = AsyncS3Storage(bucket_name="no-such-bucket", endpoint_url=endpoint_url())
    async with storage:
        with pytest.raises(StorageError):
            await storage.get_entries("http://example.com/a")


def test_s3_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError):
        AsyncS3Storage(bucket_name="")
    with pytest.raises(ConfigurationError):
        AsyncS3Storage(bucket_name="b", ttl=-1)
    with pytest.raises(ConfigurationError):
        AsyncS3Storage(bucket_name="b", client=object(), endpoint_url="http://127.0.0.1:1")
    assert AsyncS3Storage(bucket_name="b", key_prefix="p").key_prefix == "p/"
    monkeypatch.setitem(sys.modules, s3_module._REQUIRED_MODULE, None)
    with pytest.raises(ConfigurationError, match=r"pip install 'httpcache\[s3\]'"):
        AsyncS3Storage(bucket_name="b")
