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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import httpcache._storages.s3._common
from httpcache import ConfigurationError, StorageError
from httpcache._storages.s3._common import PART_SIZE, head_name
from tests._sync import storage_backends  # first: it imports backend_s3 itself
from tests._sync.backend_s3 import BUCKET, S3Storage, build, endpoint_url, s3_module
from tests._sync.test_storage_contract import body_of, listed, make_entry, put

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

    def storage(self, ttl: float | None = None) -> Any:
        storage = build(self.ctx, {"ttl": ttl})
        self.opened.append(storage)
        return storage

    def names(self, storage: Any) -> list[str]:
        """Every object name under the storage's prefix, relative to it."""
        client = storage._client()
        kwargs: dict[str, Any] = {"Bucket": BUCKET, "Prefix": storage.key_prefix}
        found: list[str] = []
        while True:
            page = client.list_objects_v2(**kwargs)
            found += [item["Key"][len(storage.key_prefix) :] for item in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return found
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def close(self) -> None:
        for storage in self.opened:
            client = storage._client()
            for name in self.names(storage):
                client.delete_object(Bucket=BUCKET, Key=storage.key_prefix + name)
            storage.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


def bodies(names: list[str]) -> list[str]:
    return [name for name in names if name.endswith(".body")]


def test_s3_object_names_hold_no_key_material(rig: Rig) -> None:
    storage = rig.storage()
    url = "http://example.com/private/path?token=s3cr3t"
    put(storage, make_entry(url, variant="accept-language=de"), b"body")
    names = rig.names(storage)
    assert len(names) == 2
    for name in names:
        assert LAYOUT.fullmatch(name), name  # hex digests only: no URL, no variant text


def test_s3_head_metadata_records_expiry(rig: Rig) -> None:
    storage = rig.storage(ttl=10)
    client = storage._client()
    now = rig.clock.now
    plain = put(storage, make_entry("http://example.com/plain", created_at=now))
    own = put(storage, make_entry("http://example.com/own", created_at=now, ttl=5))
    heads = {}
    for entry in (plain, own):
        name = head_name(storage.key_prefix, entry.key, entry.variant)
        heads[entry.key] = (client.head_object(Bucket=BUCKET, Key=name))["Metadata"]
    assert float(heads[plain.key]["httpcache-expires-at"]) == now + 10
    assert heads[plain.key]["httpcache-ttl"] == "none"
    assert float(heads[own.key]["httpcache-expires-at"]) == now + 5
    assert float(heads[own.key]["httpcache-stored-at"]) == now


def test_s3_no_ttl_records_never_expires(rig: Rig) -> None:
    storage = rig.storage()
    entry = put(storage, make_entry())
    client = storage._client()
    name = head_name(storage.key_prefix, entry.key, entry.variant)
    meta = (client.head_object(Bucket=BUCKET, Key=name))["Metadata"]
    assert meta["httpcache-expires-at"] == "never"
    rig.clock.advance(10**9)
    assert storage.delete_expired() == 0
    assert len(storage.get_entries(entry.key)) == 1


def test_s3_delete_expired_pages_through_the_whole_listing(rig: Rig) -> None:
    storage = rig.storage(ttl=10)
    storage._page_size = 3  # 12 variants are 24 objects: eight pages, groups split across them
    now = rig.clock.now
    for i in range(9):
        put(storage, make_entry(f"http://example.com/old/{i}", created_at=now))
    rig.clock.advance(8)
    for i in range(3):
        put(storage, make_entry(f"http://example.com/new/{i}", created_at=rig.clock.now))
    rig.clock.advance(3)
    assert storage.delete_expired() == 9
    names = rig.names(storage)
    assert len(names) == 6
    assert sorted(e.request.url for e in listed(storage)) == [
        f"http://example.com/new/{i}" for i in range(3)
    ]


def test_s3_deletes_are_batched(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_module, "DELETE_BATCH", 2)
    storage = rig.storage()
    storage._page_size = 4
    for variant in "abcde":
        put(storage, make_entry(variant=variant))
    put(storage, make_entry("http://example.com/other"))
    storage.delete_entries("http://example.com/a", ["a", "c", "e"])
    assert sorted(e.variant for e in storage.get_entries("http://example.com/a")) == [
        "b",
        "d",
    ]
    storage.clear()
    assert rig.names(storage) == []


def test_s3_large_body_goes_up_as_multipart_in_bounded_memory(rig: Rig) -> None:
    storage = rig.storage()
    body = bytes(range(256)) * (20 * MiB // 256)
    writer = storage.open_writer(make_entry())
    for start in range(0, len(body), MiB):
        writer.write(body[start : start + MiB])
        assert len(writer._buffer) < PART_SIZE
    committed = writer.commit()
    [name] = bodies(rig.names(storage))
    client = storage._client()
    head = client.head_object(Bucket=BUCKET, Key=storage.key_prefix + name)
    assert head["ETag"].strip('"').endswith("-3")  # 8 + 8 + 4 MiB
    assert head["ContentLength"] == len(body)
    [found] = storage.get_entries(committed.key)
    assert body_of(storage, found) == body


def test_s3_small_body_is_one_put(rig: Rig) -> None:
    storage = rig.storage()
    put(storage, make_entry(), b"small")
    [name] = bodies(rig.names(storage))
    client = storage._client()
    head = client.head_object(Bucket=BUCKET, Key=storage.key_prefix + name)
    assert "-" not in head["ETag"]


def test_s3_abort_cancels_the_multipart_upload(rig: Rig) -> None:
    storage = rig.storage()
    entry = make_entry()
    writer = storage.open_writer(entry)
    writer.write(b"x" * (PART_SIZE + 10))  # one part is up already
    assert writer._upload_id is not None
    writer.abort()
    writer.abort()
    client = storage._client()
    uploads = client.list_multipart_uploads(Bucket=BUCKET, Prefix=storage.key_prefix)
    assert uploads.get("Uploads", []) == []
    assert rig.names(storage) == []
    assert storage.get_entries(entry.key) == []


def test_s3_replacing_a_variant_removes_its_old_body(rig: Rig) -> None:
    storage = rig.storage()
    put(storage, make_entry(variant="x"), b"old")
    put(storage, make_entry(variant="x"), b"new")
    assert len(bodies(rig.names(storage))) == 1
    [found] = storage.get_entries("http://example.com/a")
    assert body_of(storage, found) == b"new"


def test_s3_body_of_a_replaced_entry_is_not_served_with_the_new_head(rig: Rig) -> None:
    storage = rig.storage()
    put(storage, make_entry(variant="x"), b"old")
    [old] = storage.get_entries("http://example.com/a")
    other = rig.storage()  # same prefix, nothing remembered: reads the head to check
    assert body_of(other, old) == b"old"
    put(storage, make_entry(variant="x"), b"newer")
    assert body_of(storage, old) is None  # its body went with it: a miss, not a mix
    assert body_of(other, old) is None  # the head now describes another entry
    [new] = storage.get_entries("http://example.com/a")
    storage.record_hit(new)
    assert body_of(other, new) == b"newer"  # a hit count is no change of entry


def test_s3_head_without_metadata_is_a_logged_miss(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    storage = rig.storage()
    entry = put(storage, make_entry())
    client = storage._client()
    name = head_name(storage.key_prefix, entry.key, entry.variant)
    client.put_object(Bucket=BUCKET, Key=name, Body=b"foreign")
    with caplog.at_level(logging.WARNING, logger="httpcache.storage"):
        assert storage.get_entries(entry.key) == []
    assert any(r.name == "httpcache.storage" for r in caplog.records)
    assert rig.names(storage) == []


def test_s3_delete_expired_removes_old_debris_only(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = rig.storage()
    entry = put(storage, make_entry())
    client = storage._client()
    [live_body] = bodies(rig.names(storage))
    stray = live_body[: -len(".body") - 32] + "0" * 32 + ".body"  # a body no head names
    client.put_object(Bucket=BUCKET, Key=storage.key_prefix + stray, Body=b"stray")
    assert storage.delete_expired() == 0
    assert stray in rig.names(storage)  # too young: maybe a writer's, mid-commit
    monkeypatch.setattr(httpcache._storages.s3._common, "ORPHAN_GRACE", -1.0)
    assert storage.delete_expired() == 0
    assert sorted(rig.names(storage)) == sorted(
        [live_body, head_name("", entry.key, entry.variant)]
    )
    [found] = storage.get_entries(entry.key)
    assert body_of(storage, found) == b"hello"


def test_s3_clear_leaves_foreign_objects_alone(rig: Rig) -> None:
    storage = rig.storage()
    client = storage._client()
    foreign = storage.key_prefix + "e/not-ours.txt"
    client.put_object(Bucket=BUCKET, Key=foreign, Body=b"keep me")
    put(storage, make_entry())
    put(storage.with_namespace("child"), make_entry())
    assert (storage.stats()).entries == 2
    storage.clear()
    assert rig.names(storage) == ["e/not-ours.txt"]


def test_s3_namespace_lives_under_its_parent_prefix(rig: Rig) -> None:
    storage = rig.storage()
    child = storage.with_namespace("left").with_namespace("deep")
    assert child.key_prefix == storage.key_prefix + "ns/left/ns/deep/"
    assert child.namespace == "left/deep"
    put(child, make_entry())
    assert [e.request.url for e in listed(storage)] == ["http://example.com/a"]
    child.close()  # a namespace never closes the shared client
    assert storage._holder.client is not None
    with pytest.raises(ConfigurationError):
        storage.with_namespace("a/b")


def test_s3_user_client_is_not_closed(rig: Rig) -> None:
    owner = rig.storage()
    client = owner._client()
    with S3Storage(
        bucket_name=BUCKET, client=client, key_prefix=owner.key_prefix
    ) as user:
        entry = put(user, make_entry())
        assert user.health() is True
    user.close()
    assert owner._holder.client is client
    client.head_bucket(Bucket=BUCKET)  # still open
    assert len(owner.get_entries(entry.key)) == 1
    owner.close()
    assert owner._holder.client is None  # the client it made itself is closed


def test_s3_health_is_false_for_a_missing_bucket() -> None:
    storage = S3Storage(bucket_name="no-such-bucket", endpoint_url=endpoint_url())
    with storage:
        assert storage.health() is False


def test_s3_backend_errors_are_storage_errors() -> None:
    storage = S3Storage(bucket_name="no-such-bucket", endpoint_url=endpoint_url())
    with storage:
        with pytest.raises(StorageError):
            storage.get_entries("http://example.com/a")


def test_s3_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError):
        S3Storage(bucket_name="")
    with pytest.raises(ConfigurationError):
        S3Storage(bucket_name="b", ttl=-1)
    with pytest.raises(ConfigurationError):
        S3Storage(bucket_name="b", client=object(), endpoint_url="http://127.0.0.1:1")
    assert S3Storage(bucket_name="b", key_prefix="p").key_prefix == "p/"
    monkeypatch.setitem(sys.modules, s3_module._REQUIRED_MODULE, None)
    with pytest.raises(ConfigurationError, match=r"pip install 'httpcache\[s3\]'"):
        S3Storage(bucket_name="b")
