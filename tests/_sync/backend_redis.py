"""The Redis backend of the storage contract: a real server on loopback.

The server is found from ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). If it
does not answer, the tests are skipped, or fail under ``CI=true``. Every storage
uses its own namespace under ``httpcache-test:`` and its own client.
"""

from __future__ import annotations

import os

import pytest
import redis
from redis.exceptions import RedisError

from httpcache import Entry
from httpcache._storages.redis._sync import RedisStorage
from httpcache._storages.redis._keys import index_key
from httpcache._storages.redis._records import head_field
from tests._sync.storage_backends import Backend, Context, Lifetime

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_PREFIX = "httpcache-test"


def connect() -> redis.Redis:
    """Return a client for the test server; skip (or fail under ``CI=true``) if it is down."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        client.close()
        message = f"no Redis server at {REDIS_URL}: {exc}"
        if os.environ.get("CI") == "true":
            raise RuntimeError(message) from exc
        pytest.skip(message)
    return client


def build(ctx: Context, lifetime: Lifetime) -> RedisStorage:
    storage = RedisStorage(
        client=connect(),
        namespace=f"{TEST_PREFIX}:{ctx.namespace}",
        **lifetime,
        serializer=ctx.serializer,
        clock=ctx.clock,
    )
    # The harness closes each storage it built: hand it this client, as if it had made it.
    storage._owns_client = True
    return storage


def corrupt(storage: RedisStorage, entry: Entry) -> None:
    index = index_key(storage._base, entry.key)
    storage._client.hset(index, head_field(entry.variant), b"\x00not a record")


BACKEND = Backend("redis", build, corrupt)
