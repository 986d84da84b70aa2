"""What the corruption, hostile-input and privacy modules of the fault suite share.

* :func:`build` / :func:`abuild` make a sync or async storage of one backend with the
  contract suite's builders (``tests/_sync|_async/backend_*.py``), in a fresh namespace.
* :class:`Raw` reaches behind a storage, straight to the backend (files, the SQLite
  database through its own ``sqlite3`` connection, Redis through its own client, S3
  through boto3): read, overwrite and delete the record of one key, or the body of one
  large entry; list every name the storage created; dump every byte it keeps.
* :class:`Origin` counts the requests an ``httpx.MockTransport`` origin answers.

Raw access is always synchronous (it is the test's own view of the backend), so the
async tests use it too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import redis

import httpcache
from httpcache import Entry, JSONSerializer, Serializer
from httpcache._storages.file._record import Frame, decode_record, encode_record
from httpcache._storages.redis._keys import body_prefix, index_key, scope_pattern
from httpcache._storages.redis._records import head_field
from httpcache._storages.s3 import _record as s3_record
from httpcache._storages.s3._common import body_name, digest, record_name
from tests._async import storage_backends as async_backends
from tests._async.backend_redis import REDIS_URL, TEST_PREFIX
from tests._async.backend_s3 import BUCKET, endpoint_url
from tests._sync import storage_backends as sync_backends

__all__ = [
    "BUCKET",
    "NAMES",
    "PERSISTENT",
    "REDIS_URL",
    "TEST_PREFIX",
    "Origin",
    "Raw",
    "abuild",
    "acorrupt",
    "aclose_async",
    "build",
    "cli_build",
    "cache_options",
    "cli_url",
    "close_sync",
    "corrupt",
    "endpoint_url",
    "foreign_head",
]

NAMES = ("memory", "file", "sqlite", "redis", "s3")
PERSISTENT = ("file", "sqlite", "redis", "s3")
_SYNC = {b.name: b for b in sync_backends.BACKENDS}
_ASYNC = {b.name: b for b in async_backends.BACKENDS}


class Origin:
    """An origin handler that counts its calls (``httpx.MockTransport(origin)``)."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.calls = 0
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.requests.append(request)
        return self.handler(request)


def cache_options(**changes: Any) -> httpcache.CacheOptions:
    """Return options without the storage deadline and circuit breaker.

    These tests are about what a storage returns, not about how long it takes: on a
    loaded machine a 0.5 s deadline could turn a slow read into a skipped one.
    """
    return httpcache.CacheOptions(storage_timeout=None, storage_cooldown=0, **changes)


def _context(tmp_path: Path, serializer: Serializer | None) -> Any:
    return sync_backends.Context(
        tmp_path=tmp_path,
        clock=sync_backends.FakeClock(),
        namespace=f"rel-{uuid.uuid4().hex[:12]}",
        serializer=serializer,
    )


def build(name: str, tmp_path: Path, serializer: Serializer | None = None) -> Any:
    """Return a sync storage of backend ``name`` in a fresh namespace (JSON by default)."""
    return _SYNC[name].build(_context(tmp_path, serializer or JSONSerializer()), {})


async def abuild(name: str, tmp_path: Path, serializer: Serializer | None = None) -> Any:
    """Return an async storage of backend ``name`` in a fresh namespace (JSON by default)."""
    return await _ASYNC[name].build(_context(tmp_path, serializer or JSONSerializer()), {})


def corrupt(name: str, storage: Any, entry: Entry) -> None:
    """Overwrite ``entry``'s record with the contract suite's garbage (sync storages)."""
    _SYNC[name].corrupt(storage, entry)


async def acorrupt(name: str, storage: Any, entry: Entry) -> None:
    """Overwrite ``entry``'s record with the contract suite's garbage (async storages)."""
    await _ASYNC[name].corrupt(storage, entry)


def foreign_head(head: bytes) -> bytes:
    """Return the JSON record ``head`` as if a future httpcache had written it (version 99)."""
    record = json.loads(head)
    record["httpcache"] = 99
    return json.dumps(record).encode()


_S3_CLIENTS: dict[str, Any] = {}


class Raw:
    """Direct access to what one storage keeps in its backend (see the module docstring).

    The *record* of an entry is the unit a backend reads for a lookup: the memory
    storage's serialized entry, the file storage's record file, the SQLite row's head,
    the Redis head field, the S3 record object.
    """

    def __init__(self, name: str, storage: Any, tmp_path: Path) -> None:
        self.name = name
        self.storage = storage
        self.tmp_path = tmp_path

    # -- plumbing ------------------------------------------------------------------------

    def _sql(self) -> sqlite3.Connection:
        return sqlite3.connect(self.storage._shared.database, timeout=10, isolation_level=None)

    def _redis(self) -> redis.Redis:
        return redis.Redis.from_url(REDIS_URL)

    def _s3(self) -> Any:
        endpoint = self.storage._holder._endpoint_url
        if endpoint not in _S3_CLIENTS:  # making a boto3 client costs a good part of a second
            import boto3

            _S3_CLIENTS[endpoint] = boto3.session.Session().client(
                "s3", endpoint_url=endpoint, region_name="us-east-1"
            )
        return _S3_CLIENTS[endpoint]

    def _where(self, entry: Entry) -> tuple[str, str, str]:
        return (self.storage.namespace, entry.key, entry.variant)

    # -- the record ----------------------------------------------------------------------

    def record(self, entry: Entry) -> bytes | None:
        """Return the stored record of ``entry`` (``None`` when there is none)."""
        if self.name == "memory":
            found = self.storage._core.records.get(self._where(entry))
            return None if found is None else found.entry
        if self.name == "file":
            path = self.storage._record_path(entry.key)
            return path.read_bytes() if path.exists() else None
        if self.name == "sqlite":
            with self._sql() as conn:
                row = conn.execute(
                    f'SELECT head FROM "{self.storage.table_name}"'
                    " WHERE namespace = ? AND cache_key = ? AND variant = ?",
                    self._where(entry),
                ).fetchone()
            return None if row is None else bytes(row[0])
        if self.name == "redis":
            client = self._redis()
            try:
                index = index_key(self.storage._base, entry.key)
                value = client.hget(index, head_field(entry.variant))
            finally:
                client.close()
            return value if isinstance(value, bytes) else None
        client = self._s3()
        name = record_name(self.storage.key_prefix, digest(entry.key))
        try:
            response = client.get_object(Bucket=self.storage.bucket_name, Key=name)
        except client.exceptions.NoSuchKey:
            return None
        data: bytes = response["Body"].read()
        return data

    def set_record(self, entry: Entry, data: bytes) -> None:
        """Overwrite the record of ``entry`` with ``data`` (it must exist)."""
        if self.name == "memory":
            self.storage._core.records[self._where(entry)].entry = data
        elif self.name == "file":
            self.storage._record_path(entry.key).write_bytes(data)
        elif self.name == "sqlite":
            with self._sql() as conn:
                changed = conn.execute(
                    f'UPDATE "{self.storage.table_name}" SET head = ?'
                    " WHERE namespace = ? AND cache_key = ? AND variant = ?",
                    (data, *self._where(entry)),
                ).rowcount
            assert changed == 1
        elif self.name == "redis":
            client = self._redis()
            try:
                index = index_key(self.storage._base, entry.key)
                client.hset(index, head_field(entry.variant), data)
            finally:
                client.close()
        else:
            client = self._s3()
            name = record_name(self.storage.key_prefix, digest(entry.key))
            meta = client.head_object(Bucket=self.storage.bucket_name, Key=name)["Metadata"]
            client.put_object(Bucket=self.storage.bucket_name, Key=name, Body=data, Metadata=meta)

    def set_head(self, entry: Entry, head: bytes) -> None:
        """Replace the serialized head inside ``entry``'s record, keeping its framing."""
        data = self.record(entry)
        assert data is not None
        if self.name == "file":
            frames = [
                Frame(head, f.size, f.body, f.token)
                for f in decode_record(data, 1 << 30)
                if json.loads(f.head)["entry"]["variant"] == entry.variant
            ]
            self.set_record(entry, encode_record(frames))
        elif self.name == "s3":
            record = s3_record.decode_record(data, digest(entry.key))
            slots = tuple(dataclasses.replace(slot, head=head) for slot in record.slots)
            self.set_record(
                entry, s3_record.encode_record(s3_record.Record(record.key_hash, slots))
            )
        else:
            self.set_record(entry, head)

    def head(self, entry: Entry) -> bytes:
        """Return the serialized head of ``entry`` (unwrapped from a file or S3 record)."""
        data = self.record(entry)
        assert data is not None
        if self.name == "file":
            return decode_record(data, 1 << 30)[0].head
        if self.name == "s3":
            return s3_record.decode_record(data, digest(entry.key)).slots[0].head
        return data

    # -- large bodies ----------------------------------------------------------------------

    def break_body(self, entry: Entry, how: str) -> None:
        """Damage the body of a large ``entry``: ``missing`` or ``truncated`` (or ``gap``).

        ``gap`` removes a middle chunk (backends that keep chunks: SQLite, Redis).
        """
        if self.name == "file":
            data = self.record(entry)
            assert data is not None
            token = decode_record(data, 1 << 30)[0].token
            assert token is not None
            path = Path(self.storage._core.place(entry.key).body(token))
            if how == "missing":
                path.unlink()
            else:
                with path.open("r+b") as file:
                    file.truncate(path.stat().st_size // 2)
        elif self.name == "sqlite":
            table = self.storage.table_name
            with self._sql() as conn:
                (body_id,) = conn.execute(
                    f'SELECT body_id FROM "{table}"'
                    " WHERE namespace = ? AND cache_key = ? AND variant = ?",
                    self._where(entry),
                ).fetchone()
                assert body_id is not None
                bodies = f'"{table}_bodies"'
                if how == "missing":
                    conn.execute(f"DELETE FROM {bodies} WHERE body_id = ?", (body_id,))
                elif how == "gap":
                    conn.execute(f"DELETE FROM {bodies} WHERE body_id = ? AND seq = 1", (body_id,))
                else:
                    conn.execute(
                        f"UPDATE {bodies} SET chunk = substr(chunk, 1, length(chunk) / 2)"
                        " WHERE body_id = ? AND seq = (SELECT MAX(seq) FROM"
                        f" {bodies} WHERE body_id = ?)",
                        (body_id, body_id),
                    )
        elif self.name == "redis":
            client = self._redis()
            try:
                index = index_key(self.storage._base, entry.key)
                value = client.hget(index, b"b:" + entry.variant.encode())
                assert isinstance(value, bytes) and value[:1] == b"#"
                key = body_prefix(self.storage._base) + value[1:]
                if how == "missing":
                    client.delete(key)
                elif how == "gap":
                    client.lset(key, 1, b"\x00gone")
                    client.lrem(key, 1, b"\x00gone")
                else:
                    last = client.lindex(key, -1)
                    assert isinstance(last, bytes)
                    client.lset(key, -1, last[: len(last) // 2])
            finally:
                client.close()
        else:
            client = self._s3()
            data = self.record(entry)
            assert data is not None
            body_id = s3_record.decode_record(data, digest(entry.key)).slots[0].id
            name = body_name(self.storage.key_prefix, digest(entry.key), body_id)
            bucket = self.storage.bucket_name
            if how == "missing":
                client.delete_object(Bucket=bucket, Key=name)
            else:
                body = client.get_object(Bucket=bucket, Key=name)["Body"].read()
                client.put_object(Bucket=bucket, Key=name, Body=body[: len(body) // 2])

    # -- everything the storage keeps ----------------------------------------------------

    def names(self) -> set[str]:
        """Return every name the backend holds that could belong to this storage's tree.

        Files: every path under ``tmp_path``; SQLite: every ``namespace`` value of the
        table; Redis: every key that starts with the storage's namespace (siblings whose
        name extends it included); S3: every object of the bucket.
        """
        if self.name in ("file", "memory"):
            return {str(p.relative_to(self.tmp_path)) for p in self.tmp_path.rglob("*")}
        if self.name == "sqlite":
            with self._sql() as conn:
                rows = conn.execute(
                    f'SELECT DISTINCT namespace FROM "{self.storage.table_name}"'
                ).fetchall()
            return {str(row[0]) for row in rows}
        if self.name == "redis":
            client = self._redis()
            try:
                return {
                    key.decode("utf-8", "surrogateescape")
                    for key in client.scan_iter(match=f"{self.storage._base}*", count=1000)
                }
            finally:
                client.close()
        client = self._s3()
        paginator = client.get_paginator("list_objects_v2")
        found: set[str] = set()
        for page in paginator.paginate(Bucket=self.storage.bucket_name):
            found.update(item["Key"] for item in page.get("Contents", ()))
        return found

    def tables(self) -> list[tuple[str]]:
        """Return the names of the SQLite database's tables."""
        with self._sql() as conn:
            return conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()

    def own_prefix(self) -> str:
        """Return what every name of this storage starts with (see :meth:`names`)."""
        if self.name in ("file", "memory"):
            return str(Path(self.storage._core.dir).relative_to(self.tmp_path)) + os.sep
        if self.name == "sqlite":
            return str(self.storage.namespace)
        if self.name == "redis":
            return str(self.storage.key_prefix)
        return str(self.storage.key_prefix)

    def dump(self) -> bytes:
        """Return every byte this storage keeps, concatenated (files, rows, values, objects)."""
        return b"\n".join(self._dump())

    def _dump(self) -> Iterator[bytes]:
        if self.name == "file":
            for path in sorted(self.tmp_path.rglob("*")):
                if path.is_file():
                    yield path.name.encode()
                    yield path.read_bytes()
        elif self.name == "sqlite":
            # Every byte of the database, its WAL and its shared-memory index, and every
            # value of every row, read through SQL (a WAL not yet checkpointed included).
            for path in sorted(self.tmp_path.rglob("*")):
                if path.is_file():
                    yield path.read_bytes()
            with self._sql() as conn:
                for table in (self.storage.table_name, f"{self.storage.table_name}_bodies"):
                    for row in conn.execute(f'SELECT * FROM "{table}"'):
                        yield repr(row).encode()
        elif self.name == "redis":
            client = self._redis()
            try:
                for key in client.scan_iter(match=scope_pattern(self.storage._base), count=1000):
                    yield key
                    dumped = client.dump(key)
                    if isinstance(dumped, bytes):
                        yield dumped
                    kind = client.type(key)
                    if kind == b"hash":
                        for field, value in client.hgetall(key).items():
                            yield field + b"=" + value
                    elif kind == b"list":
                        yield from client.lrange(key, 0, -1)
            finally:
                client.close()
        elif self.name == "s3":
            client = self._s3()
            bucket = self.storage.bucket_name
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=self.storage.key_prefix):
                for item in page.get("Contents", ()):
                    yield item["Key"].encode()
                    response = client.get_object(Bucket=bucket, Key=item["Key"])
                    yield repr(response.get("Metadata")).encode()
                    yield response["Body"].read()
        else:
            for record in self.storage._core.records.values():
                yield (
                    record.entry if isinstance(record.entry, bytes) else repr(record.entry).encode()
                )
                yield record.body


def cli_url(backend: str, storage: Any, tmp_path: Path) -> str:
    """Return the URL the ``httpcache`` command opens a :func:`cli_build` storage by."""
    if backend == "file":
        return f"file://{tmp_path / 'cache'}"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'cache.db'}"
    if backend == "redis":
        return f"{REDIS_URL}?namespace={storage.namespace}"
    prefix = storage.key_prefix.rstrip("/")
    return f"s3://{BUCKET}/{prefix}?endpoint_url={endpoint_url()}"


def cli_build(backend: str, tmp_path: Path, serializer: Serializer | None = None) -> Any:
    """Return a root storage the command can name by URL (no child namespace)."""
    if backend == "file":
        return httpcache.FileStorage(base_path=tmp_path / "cache", serializer=serializer)
    if backend == "sqlite":
        return httpcache.SQLiteStorage(path=tmp_path / "cache.db", serializer=serializer)
    if backend == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        storage = httpcache.RedisStorage(
            client=client,
            namespace=f"{TEST_PREFIX}:cli-{uuid.uuid4().hex[:12]}",
            serializer=serializer,
        )
        storage._owns_client = True
        return storage
    return httpcache.S3Storage(
        bucket_name=BUCKET,
        key_prefix=f"cli-{uuid.uuid4().hex[:12]}/",
        endpoint_url=endpoint_url(),
        serializer=serializer,
    )


def close_sync(storage: Any) -> None:
    """Clear (a persistent backend is shared) and close a sync storage."""
    try:
        storage.clear()
    finally:
        storage.close()


async def aclose_async(storage: Any) -> None:
    """Clear and close an async storage."""
    try:
        await storage.clear()
    finally:
        await storage.aclose()
