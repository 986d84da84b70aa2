"""DESIGN §5: no secret is written to a persistent store in plain text.

Through the real client, an origin answers with a cookie and the request carries
credentials; afterwards no byte of the File or SQLite store (database and WAL) and no
value under the Redis namespace contains any of them, nor any secret key. With a
``secret_key`` (one key, or rotated keys with the new one first) the cookie is sealed and
replayed on a hit; without one it is left out, and the hit lacks it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

import httpcache
from httpcache import JSONSerializer, Serializer

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
KEY = "test-secret-key-0123456789"
OLD_KEY = "old-secret-key-0123456789"
SECRETS = (
    b"COOKIE-SECRET",
    b"BEARER-SECRET",
    b"REQUEST-COOKIE-SECRET",
    KEY.encode(),
    OLD_KEY.encode(),
)
KEYS: dict[str, str | list[str] | None] = {
    "no-key": None,
    "secret-key": KEY,
    "rotated-keys": [KEY, OLD_KEY],
}


def _origin() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={
                "Cache-Control": "private, max-age=600",
                "Vary": "Cookie",
                "Set-Cookie": "sid=COOKIE-SECRET; HttpOnly",
            },
            content=b"body",
        )

    return httpx.MockTransport(handler)


def _files_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def _redis_bytes(namespace: str) -> Iterator[bytes]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"{namespace}*", count=1000):
            yield key
            kind = client.type(key)
            if kind == b"hash":
                for name, value in client.hgetall(key).items():
                    yield name + b"=" + value
            elif kind == b"list":
                yield from client.lrange(key, 0, -1)
    finally:
        client.close()


def _backends(tmp_path: Path) -> dict[str, tuple[Callable[[Serializer], Any], Callable[[], bytes]]]:
    namespace = f"httpcache-test:secrets-{uuid.uuid4().hex[:8]}"

    def redis_storage(serializer: Serializer) -> Any:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            client.close()
            if os.environ.get("CI") == "true":
                raise
            pytest.skip(f"no Redis server at {REDIS_URL}: {exc}")
        storage = httpcache.RedisStorage(client=client, namespace=namespace, serializer=serializer)
        storage._owns_client = True
        return storage

    return {
        "file": (
            lambda s: httpcache.FileStorage(base_path=tmp_path / "files", serializer=s),
            lambda: _files_bytes(tmp_path / "files"),
        ),
        "sqlite": (
            lambda s: httpcache.SQLiteStorage(path=tmp_path / "cache.db", serializer=s),
            lambda: _files_bytes(tmp_path),
        ),
        "redis": (redis_storage, lambda: b"\n".join(_redis_bytes(namespace))),
    }


@pytest.mark.parametrize("backend", ["file", "sqlite", "redis"])
@pytest.mark.parametrize("keys", KEYS)
def test_no_secret_is_stored_in_plain_text(backend: str, keys: str, tmp_path: Path) -> None:
    make, raw = _backends(tmp_path)[backend]
    secret_key = KEYS[keys]
    sealed = secret_key is not None
    serializer = JSONSerializer(secret_key=secret_key)
    storage = make(serializer)
    headers = {"Authorization": "Bearer BEARER-SECRET", "Cookie": "c=REQUEST-COOKIE-SECRET"}
    try:
        with httpcache.CacheClient(storage=storage, transport=_origin()) as client:
            first = client.get("http://example.com/private", headers=headers)
            assert first.headers["Set-Cookie"].startswith("sid=COOKIE-SECRET")
            stored = raw()
            hit = client.get("http://example.com/private", headers=headers)
            assert hit.extensions["from_cache"] is True
            assert ("Set-Cookie" in hit.headers) is sealed
            if sealed:
                assert hit.headers["Set-Cookie"] == "sid=COOKIE-SECRET; HttpOnly"
        assert stored  # the entry really is there
        for secret in SECRETS:
            assert secret not in stored, secret
    finally:
        storage.clear()
        storage.close()
