"""storage_from_url: the URL forms of DESIGN §3 and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import httpcache
from httpcache import ConfigurationError
from httpcache._storages._url import StorageSpec, parse_storage_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("memory://", StorageSpec("memory", {}), id="memory"),
        pytest.param(
            "memory://?capacity=500&ttl=60",
            StorageSpec("memory", {"capacity": 500, "ttl": 60.0}),
            id="memory-params",
        ),
        pytest.param(
            "memory://?ttl=60&sliding=true&max_lifetime=3600",
            StorageSpec("memory", {"ttl": 60.0, "sliding": True, "max_lifetime": 3600.0}),
            id="sliding",
        ),
        pytest.param(
            "file:///c?sliding=off",
            StorageSpec("file", {"base_path": "/c", "sliding": False}),
            id="sliding-off",
        ),
        pytest.param(
            "sqlite:///c.db?serializer=PICKLE",
            StorageSpec("sqlite", {"path": "c.db", "serializer": "pickle"}),
            id="serializer",
        ),
        pytest.param("./.cache-dir", StorageSpec("file", {"base_path": "./.cache-dir"}), id="path"),
        pytest.param(
            "file:///var/cache/app", StorageSpec("file", {"base_path": "/var/cache/app"}), id="file"
        ),
        pytest.param(
            "sqlite:///cache.db", StorageSpec("sqlite", {"path": "cache.db"}), id="sqlite"
        ),
        pytest.param(
            "sqlite:////abs/cache.db?ttl=5",
            StorageSpec("sqlite", {"path": "/abs/cache.db", "ttl": 5.0}),
            id="sqlite-absolute",
        ),
        pytest.param(
            "redis://127.0.0.1:6379/0?namespace=x",
            StorageSpec("redis", {"namespace": "x"}, client_url="redis://127.0.0.1:6379/0"),
            id="redis",
        ),
        pytest.param(
            "s3://bucket/some/prefix",
            StorageSpec("s3", {"bucket_name": "bucket", "key_prefix": "some/prefix/"}),
            id="s3",
        ),
    ],
)
def test_parse_storage_url_known_forms_give_backend_and_arguments(
    url: str, expected: StorageSpec
) -> None:
    assert parse_storage_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("ftp://host/x", "unknown storage URL scheme 'ftp'", id="unknown-scheme"),
        pytest.param("s3://", "needs a bucket", id="s3-no-bucket"),
        pytest.param("sqlite://", "needs a database path", id="sqlite-no-path"),
        pytest.param("memory://?ttl=soon", "not a number", id="bad-ttl"),
        pytest.param("memory://?capacity=-1", "must not be negative", id="negative"),
        pytest.param("memory://?sliding=maybe", "not true or false", id="bad-flag"),
        pytest.param("memory://?serializer=xml", "is not one of json, pickle", id="bad-serializer"),
        pytest.param("memory://?colour=blue", "unknown parameter(s)", id="unknown-parameter"),
        pytest.param("", "empty", id="empty"),
    ],
)
def test_parse_storage_url_bad_input_raises_configuration_error(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_storage_url(url)


def test_storage_from_url_builds_the_serializer_named_or_given(tmp_path: Path) -> None:
    base = f"file://{tmp_path}/c"
    named = httpcache.storage_from_url(f"{base}?serializer=pickle")
    assert isinstance(named._serializer, httpcache.PickleSerializer)
    given = httpcache.JSONSerializer(secret_key="sixteen bytes or more")
    chosen = httpcache.async_storage_from_url(f"{base}?serializer=yaml", serializer=given)
    assert chosen._serializer is given


def test_storage_from_url_sliding_without_ttl_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="sliding expiry needs a ttl"):
        httpcache.storage_from_url("memory://?sliding=1")


def test_storage_from_url_memory_builds_sync_and_async_storages() -> None:
    sync = httpcache.storage_from_url("memory://?capacity=7")
    assert isinstance(sync, httpcache.InMemoryStorage)
    assert sync.capacity == 7
    asynchronous = httpcache.async_storage_from_url("memory://?capacity=9")
    assert isinstance(asynchronous, httpcache.AsyncInMemoryStorage)
    assert asynchronous.capacity == 9


def test_storage_from_url_redis_builds_a_storage_that_owns_its_client() -> None:
    """A redis:// URL builds the client itself, so closing the storage closes it."""
    import os
    import uuid

    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    namespace = f"httpcache-test:url-{uuid.uuid4().hex[:8]}"
    storage = httpcache.storage_from_url(f"{base}?namespace={namespace}&ttl=30")
    assert isinstance(storage, httpcache.RedisStorage)
    try:
        assert storage.health() is True
        assert storage.ttl == 30
    finally:
        storage.clear()
        storage.close()
    assert storage._owns_client is True


@pytest.mark.parametrize(
    ("template", "cls"),
    [
        pytest.param("{tmp}/files", httpcache.FileStorage, id="path"),
        pytest.param("file://{tmp}/files", httpcache.FileStorage, id="file"),
        pytest.param("sqlite:///{tmp}/cache.db", httpcache.SQLiteStorage, id="sqlite"),
    ],
)
def test_storage_from_url_local_backends_are_built(
    template: str, cls: type, tmp_path: Path
) -> None:
    storage = httpcache.storage_from_url(template.format(tmp=tmp_path))
    assert isinstance(storage, cls)
    assert storage.health() is True
    storage.close()


def test_storage_from_url_s3_builds_a_storage_for_the_bucket() -> None:
    storage = httpcache.storage_from_url("s3://bucket/some/prefix?endpoint_url=http://127.0.0.1:1")
    assert isinstance(storage, httpcache.S3Storage)
    storage.close()
