"""What only the S3 storage promises: its object layout, metadata, multipart uploads, paging.

The storage contract (``test_storage_contract.py``) covers the rest, and
``test_s3_requests.py`` counts the requests each operation makes. These run against the
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
from httpcache._storages.s3._common import PART_SIZE, READ_CHUNK, digest, record_name
from httpcache._storages.s3._record import Record, encode_record, new_slot, record_metadata
from tests._sync import storage_backends  # first: it imports backend_s3 itself
from tests._sync.backend_s3 import BUCKET, S3Storage, build, endpoint_url, s3_module
from tests._sync.test_storage_contract import body_of, listed, make_entry, put

pytestmark = pytest.mark.s3

MiB = 1024 * 1024
LAYOUT = re.compile(r"(ns/[^/]+/)*e/[0-9a-f]{64}/(record|[0-9a-f]{32}\.body)")


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

    def storage(self, ttl: float | None = None, **lifetime: Any) -> Any:
        storage = build(self.ctx, {"ttl": ttl, **lifetime})
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


def raw_put(storage: Any, name: str, body: bytes, **metadata: str) -> None:
    client = storage._client()
    client.put_object(
        Bucket=BUCKET, Key=storage.key_prefix + name, Body=body, Metadata=metadata
    )


def metadata_of(storage: Any, key: str) -> dict[str, str]:
    client = storage._client()
    name = record_name(storage.key_prefix, digest(key))
    head = client.head_object(Bucket=BUCKET, Key=name)
    return dict(head["Metadata"])


# -- layout ------------------------------------------------------------------------------


def test_s3_object_names_hold_no_key_material(rig: Rig) -> None:
    storage = rig.storage()
    url = "http://example.com/private/path?token=s3cr3t"
    put(storage, make_entry(url, variant="accept-language=de"), b"body")
    storage._inline_limit = 0  # the next body gets an object of its own
    put(storage, make_entry(url, variant="accept-language=fr"), b"body")
    names = rig.names(storage)
    assert len(names) == 2  # one record for both variants, one large body
    for name in names:
        assert LAYOUT.fullmatch(name), name  # hex digests and ids only: no URL, no variant


def test_s3_variants_of_a_key_share_one_record_with_inline_bodies(rig: Rig) -> None:
    storage = rig.storage()
    for variant in ("en", "de", "fr"):
        put(storage, make_entry(variant=variant), variant.encode() * 100)
    assert rig.names(storage) == [f"e/{digest('http://example.com/a')}/record"]
    found = {e.variant: e for e in storage.get_entries("http://example.com/a")}
    assert {v: e.body for v, e in found.items()} == {v: v.encode() * 100 for v in found}


def test_s3_record_metadata_records_expiry(rig: Rig) -> None:
    storage = rig.storage(ttl=10)
    now = rig.clock.now
    put(storage, make_entry("http://example.com/plain", created_at=now))
    put(storage, make_entry("http://example.com/own", created_at=now, ttl=5))
    plain = metadata_of(storage, "http://example.com/plain")
    own = metadata_of(storage, "http://example.com/own")
    assert plain["httpcache-format"] == "2" and plain["httpcache-entries"] == "1"
    assert float(plain["httpcache-expires-at"]) == now + 10
    assert plain["httpcache-times"] == f"{now!r},{now!r},-,-"
    assert float(own["httpcache-expires-at"]) == now + 5
    assert own["httpcache-times"] == f"{now!r},{now!r},-,5.0"


def test_s3_no_ttl_records_never_expires(rig: Rig) -> None:
    storage = rig.storage()
    entry = put(storage, make_entry())
    assert (metadata_of(storage, entry.key))["httpcache-expires-at"] == "never"
    rig.clock.advance(10**9)
    assert storage.delete_expired() == 0
    assert len(storage.get_entries(entry.key)) == 1


# -- bodies ------------------------------------------------------------------------------


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
    assert found.body is None and found.body_ref == name.rsplit("/", 1)[1][: -len(".body")]
    chunks = storage.open_body(found)
    sizes = [len(chunk) for chunk in chunks]
    assert sum(sizes) == len(body) and max(sizes) <= READ_CHUNK  # streamed, bounded chunks
    assert body_of(storage, found) == body


@pytest.mark.parametrize(
    ("size", "inline"),
    [
        pytest.param(0, True, id="empty"),
        pytest.param(64 * 1024, True, id="at-the-limit"),
        pytest.param(64 * 1024 + 1, False, id="one-byte-over"),
    ],
)
def test_s3_body_up_to_the_inline_limit_lives_in_the_record(
    rig: Rig, size: int, inline: bool
) -> None:
    storage = rig.storage()
    body = b"b" * size
    put(storage, make_entry(), body, chunk=1000)
    assert len(bodies(rig.names(storage))) == (0 if inline else 1)
    [found] = storage.get_entries("http://example.com/a")
    assert (found.body is not None) is inline
    assert body_of(storage, found) == body


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


def test_s3_replacing_a_variant_removes_its_old_large_body(rig: Rig) -> None:
    storage = rig.storage()
    storage._inline_limit = 0
    put(storage, make_entry(variant="x"), b"old")
    put(storage, make_entry(variant="x"), b"new")
    assert len(bodies(rig.names(storage))) == 1
    [found] = storage.get_entries("http://example.com/a")
    assert body_of(storage, found) == b"new"


@pytest.mark.parametrize(
    "inline_limit", [pytest.param(0, id="large"), pytest.param(None, id="inline")]
)
def test_s3_body_of_a_replaced_entry_is_not_served_with_the_new_head(
    rig: Rig, inline_limit: int | None
) -> None:
    storage = rig.storage()
    if inline_limit is not None:
        storage._inline_limit = inline_limit
    put(storage, make_entry(variant="x"), b"old")
    [old] = storage.get_entries("http://example.com/a")
    other = rig.storage()  # same prefix, nothing remembered
    assert body_of(other, old) == b"old"
    put(storage, make_entry(variant="x"), b"old")  # same size, same times: a new write
    assert body_of(storage, old) is None  # gone with its write: a miss, not a mix
    assert body_of(other, old) is None
    [new] = storage.get_entries("http://example.com/a")
    storage.record_hit(new)
    storage.close()  # writes the hit back
    assert body_of(other, new) == b"old"  # a hit count is no change of entry


# -- unreadable records ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "metadata"),
    [
        pytest.param(b"foreign", {}, id="foreign-object"),
        pytest.param(b"HCS3\x02\x00\x00\x00\x05{}}}}", {"httpcache-format": "2"}, id="bad-index"),
        pytest.param(b"HCS3\x01" + b"\x00" * 8, {"httpcache-format": "2"}, id="other-version"),
    ],
)
def test_s3_unreadable_record_is_a_logged_miss_and_removed(
    rig: Rig, caplog: pytest.LogCaptureFixture, content: bytes, metadata: dict[str, str]
) -> None:
    storage = rig.storage()
    entry = put(storage, make_entry())
    raw_put(storage, f"e/{digest(entry.key)}/record", content, **metadata)
    with caplog.at_level(logging.WARNING, logger="httpcache.storage"):
        assert storage.get_entries(entry.key) == []
    assert any(r.name == "httpcache.storage" for r in caplog.records)
    assert rig.names(storage) == []


def test_s3_unreadable_variant_is_dropped_and_its_siblings_kept(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    storage = rig.storage()
    good = put(storage, make_entry(variant="good"), b"fine")
    key_hash = digest(good.key)
    [stored] = storage.get_entries(good.key)
    broken = new_slot(make_entry(variant="bad"), b"\x00not a head", b"", "0" * 32)
    record = Record(key_hash, (broken, *(storage._read(storage._place(good.key)))[1].slots))
    raw_put(
        storage,
        f"e/{key_hash}/record",
        encode_record(record),
        **record_metadata(record, storage._lifetime),
    )
    with caplog.at_level(logging.WARNING, logger="httpcache.storage"):
        assert [e.variant for e in storage.get_entries(good.key)] == ["good"]
    assert any("unreadable" in r.getMessage() for r in caplog.records)
    assert (metadata_of(storage, good.key))["httpcache-entries"] == "1"
    assert stored.body == b"fine"


def test_s3_objects_of_the_first_layout_are_removed_as_unreadable(rig: Rig) -> None:
    storage = rig.storage()
    entry = put(storage, make_entry())
    old = f"e/{digest(entry.key)}/{digest('v-old')}"
    raw_put(storage, old + ".head", b"old head", **{"httpcache-format": "1"})
    raw_put(storage, old + "." + "a" * 32 + ".body", b"old body")
    assert len(storage.get_entries(entry.key)) == 1  # never read, never in the way
    assert (storage.stats()).entries == 2  # the live entry and the unreadable head
    assert storage.delete_expired() == 1
    assert rig.names(storage) == [f"e/{digest(entry.key)}/record"]


# -- management ------------------------------------------------------------------------


def test_s3_delete_expired_pages_through_the_whole_listing(rig: Rig) -> None:
    storage = rig.storage(ttl=10)
    storage._page_size = 3  # 12 keys are 24 objects: eight pages, keys split across them
    storage._inline_limit = 0
    now = rig.clock.now
    for i in range(9):
        put(storage, make_entry(f"http://example.com/old/{i}", created_at=now))
    rig.clock.advance(8)
    for i in range(3):
        put(storage, make_entry(f"http://example.com/new/{i}", created_at=rig.clock.now))
    rig.clock.advance(3)
    assert storage.delete_expired() == 9
    assert len(rig.names(storage)) == 6
    assert sorted(e.request.url for e in listed(storage)) == [
        f"http://example.com/new/{i}" for i in range(3)
    ]


def test_s3_delete_expired_rewrites_a_partly_expired_record(rig: Rig) -> None:
    storage = rig.storage(ttl=100)
    now = rig.clock.now
    put(storage, make_entry(variant="short", created_at=now, ttl=5))
    put(storage, make_entry(variant="long", created_at=now))
    rig.clock.advance(6)
    fresh = rig.storage(ttl=100)  # nothing remembered: judged from the metadata
    assert fresh.delete_expired() == 1
    assert (metadata_of(storage, "http://example.com/a"))["httpcache-entries"] == "1"
    assert [e.variant for e in fresh.get_entries("http://example.com/a")] == ["long"]


def test_s3_deletes_are_batched(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_module, "DELETE_BATCH", 2)
    storage = rig.storage()
    storage._page_size = 4
    storage._inline_limit = 0
    for variant in "abcde":
        put(storage, make_entry(variant=variant))
    put(storage, make_entry("http://example.com/other"))
    storage.delete_entries("http://example.com/a", ["a", "c", "e"])
    assert sorted(e.variant for e in storage.get_entries("http://example.com/a")) == [
        "b",
        "d",
    ]
    assert len(bodies(rig.names(storage))) == 3
    storage.clear()
    assert rig.names(storage) == []


def test_s3_delete_expired_removes_old_debris_only(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = rig.storage()
    storage._inline_limit = 0
    entry = put(storage, make_entry())
    [live_body] = bodies(rig.names(storage))
    stray = live_body[: -len(".body") - 32] + "0" * 32 + ".body"  # a body no record names
    lonely = f"e/{digest('http://example.com/gone')}/{'1' * 32}.body"  # a key with no record
    raw_put(storage, stray, b"stray")
    raw_put(storage, lonely, b"lonely")
    assert storage.delete_expired() == 0
    assert {stray, lonely} <= set(rig.names(storage))  # too young: maybe mid-commit
    monkeypatch.setattr(httpcache._storages.s3._common, "ORPHAN_GRACE", -1.0)
    assert storage.delete_expired() == 0
    assert sorted(rig.names(storage)) == sorted([live_body, f"e/{digest(entry.key)}/record"])
    [found] = storage.get_entries(entry.key)
    assert body_of(storage, found) == b"hello"


def test_s3_stats_count_variants_bytes_and_expired(rig: Rig) -> None:
    storage = rig.storage(ttl=10)
    now = rig.clock.now
    put(storage, make_entry(variant="x", created_at=now), b"x" * 100)
    put(storage, make_entry(variant="y", created_at=now, ttl=1), b"y" * 100)
    put(storage, make_entry("http://example.com/b", created_at=now), b"z" * 100)
    rig.clock.advance(2)
    stats = storage.stats()
    assert (stats.entries, stats.expired) == (3, 1)
    assert stats.bytes >= 300


def test_s3_clear_leaves_foreign_objects_alone(rig: Rig) -> None:
    storage = rig.storage()
    foreign = "e/not-ours.txt"
    raw_put(storage, foreign, b"keep me")
    put(storage, make_entry())
    put(storage.with_namespace("child"), make_entry())
    assert (storage.stats()).entries == 2
    storage.clear()
    assert rig.names(storage) == [foreign]


def test_s3_namespace_lives_under_its_parent_prefix(rig: Rig) -> None:
    storage = rig.storage()
    child = storage.with_namespace("left").with_namespace("deep")
    assert child.key_prefix == storage.key_prefix + "ns/left/ns/deep/"
    assert child.namespace == "left/deep"
    put(child, make_entry())
    assert [e.request.url for e in listed(storage)] == ["http://example.com/a"]
    assert storage.get_entries("http://example.com/a") == []  # not the parent's own
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
        S3Storage(bucket_name="b", hit_flush_interval=-1)
    with pytest.raises(ConfigurationError):
        S3Storage(bucket_name="b", client=object(), endpoint_url="http://127.0.0.1:1")
    assert S3Storage(bucket_name="b", key_prefix="p").key_prefix == "p/"
    monkeypatch.setitem(sys.modules, s3_module._REQUIRED_MODULE, None)
    with pytest.raises(ConfigurationError, match=r"pip install 'httpcache\[s3\]'"):
        S3Storage(bucket_name="b")
