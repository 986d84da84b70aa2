"""RedisStorage against a real server: key layout, clear, expiry, chunks, processes.

The contract suite (``test_storage_contract.py``) covers what every storage does;
these tests cover what only Redis can get wrong. Each test uses its own namespace
under ``httpcache-test:`` and removes only its own keys (with SCAN, never KEYS).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import multiprocessing
import os
import sys
import uuid
from collections.abc import Iterator, Iterable
from dataclasses import replace
from typing import Any

import pytest
import redis
from redis.exceptions import RedisError, ResponseError

from httpcache import (
    ConfigurationError,
    Entry,
    JSONSerializer,
    RequestHead,
    ResponseHead,
    StorageError,
)
from httpcache._storages.redis._sync import RedisStorage
from httpcache._storages.redis._keys import BODY_CHUNK, index_key
from httpcache._storages.redis._records import INLINE_LIMIT

pytestmark = pytest.mark.redis

# As in backend_redis.py, which this module does not import: importing it first would
# import every contract backend half-way, and the spawned writers need none of them.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_PREFIX = "httpcache-test"
MiB = 1024 * 1024
T0 = 1_000_000.0


def make_entry(url: str = "http://example.com/a", variant: str = "v", **changes: Any) -> Entry:
    entry = Entry(
        key=url,
        variant=variant,
        request=RequestHead("GET", url),
        response=ResponseHead(200, ((b"Cache-Control", b"max-age=60"),), "OK"),
        request_time=T0,
        response_time=T0,
        created_at=T0,
    )
    return replace(entry, **changes)


def put(storage: RedisStorage, entry: Entry, body: bytes = b"hello") -> Entry:
    writer = storage.open_writer(entry)
    for start in range(0, len(body), 300_000):
        writer.write(body[start : start + 300_000])
    return writer.commit()


def chunks_of(storage: RedisStorage, entry: Entry) -> list[bytes]:
    stream = storage.open_body(entry)
    assert stream is not None
    return [chunk for chunk in stream]


def scan(client: redis.Redis, prefix: str) -> set[bytes]:
    return {key for key in client.scan_iter(match=prefix + "*", count=1000)}


def recording_client(log: list[tuple[Any, ...]]) -> redis.Redis:
    """Return a client that appends every command it sends to ``log``."""

    class Recording(redis.Connection):
        def send_command(self, *args: Any, **kwargs: Any) -> None:
            log.append(args)
            super().send_command(*args, **kwargs)

        def pack_commands(self, commands: Iterable[Any]) -> Any:
            commands = [tuple(command) for command in commands]
            log.extend(commands)
            return super().pack_commands(commands)

    return redis.Redis.from_url(REDIS_URL, connection_class=Recording)


def keys_named(client: redis.Redis, log: list[tuple[Any, ...]]) -> set[str]:
    """Return every key the logged commands name, as the server itself reads them."""
    keys: set[str] = set()
    for args in log:
        short = [b"x" if isinstance(a, bytes | str) and len(a) > 1024 else a for a in args]
        # A command that names no key (PING, SCAN, MULTI, CLIENT SETINFO...) is refused.
        with contextlib.suppress(ResponseError):
            named = client.command_getkeys(*short)
            keys.update(k.decode() if isinstance(k, bytes) else k for k in named)
    return keys


def command_names(log: list[tuple[Any, ...]]) -> set[str]:
    names = set()
    for args in log:
        name = args[0]
        names.add((name.decode() if isinstance(name, bytes) else str(name)).upper())
    return names


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    """A client for the test server; skip when it is down, or fail under ``CI=true``."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        client.close()
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Redis server at {REDIS_URL}: {exc}")
    yield client
    client.close()


@pytest.fixture
def namespace(client: redis.Redis) -> Iterator[str]:
    """A fresh namespace; every key starting with it is removed afterwards."""
    name = f"{TEST_PREFIX}:{uuid.uuid4().hex[:12]}"
    yield name
    leftovers = scan(client, name)
    if leftovers:
        client.unlink(*leftovers)


# -- key layout ------------------------------------------------------------------------


def test_redis_storage_every_key_lives_under_the_namespace(
    client: redis.Redis, namespace: str
) -> None:
    log: list[tuple[Any, ...]] = []
    recorder = recording_client(log)
    storage = RedisStorage(client=recorder, namespace=namespace, ttl=600, clock=lambda: T0)
    child = storage.with_namespace("child")
    try:
        first = put(storage, make_entry(variant="en"), b"x" * (2 * MiB + 5))
        put(storage, make_entry(variant="de"), b"")
        put(child, make_entry("http://example.com/c"), b"child")
        storage.update_entry(replace(first, response_time=T0 + 1))
        storage.record_hit(first)
        assert len(storage.get_entries(first.key)) == 2
        assert b"".join(chunks_of(storage, first)) == b"x" * (2 * MiB + 5)
        assert len([e for e in storage.iter_entries("http://example.com/*")]) == 3
        assert (storage.stats()).entries == 3
        assert storage.delete_expired() == 0
        aborted = storage.open_writer(make_entry(variant="gone"))
        aborted.write(b"y" * (MiB + 1))
        aborted.abort()
        storage.delete_entries(first.key, ["de"])
        child.delete_entries("http://example.com/c")

        sent = command_names(log)
        assert {"HGETALL", "LINDEX", "RPUSH", "EVALSHA", "SCAN", "UNLINK"} <= sent
        assert not sent & {"KEYS", "FLUSHDB", "FLUSHALL"}
        named = keys_named(client, log)
        assert any(":@child:#i:" in key for key in named)
        assert any(":#b:" in key for key in named)
        assert {key for key in named if not key.startswith(storage.key_prefix)} == set()
        stored = scan(client, storage.key_prefix)
        assert {key.split(b":")[-2] for key in stored} <= {b"#i", b"#b"}
    finally:
        storage.clear()
        recorder.close()


def test_redis_storage_clear_scans_and_spares_everything_else(
    client: redis.Redis, namespace: str
) -> None:
    log: list[tuple[Any, ...]] = []
    recorder = recording_client(log)
    mine = RedisStorage(client=recorder, namespace=namespace)
    longer = RedisStorage(client=client, namespace=namespace + "x")  # shares a text prefix
    globbed = RedisStorage(client=client, namespace=namespace + "*")  # a glob character
    nested = RedisStorage(client=client, namespace=namespace + ":#i")  # looks like a marker
    unrelated = [f"{namespace}:plain".encode(), f"{namespace}x-plain".encode()]
    try:
        for storage in (mine, mine.with_namespace("kid"), longer, globbed, nested):
            put(storage, make_entry(), b"body" * 1000)
        for key in unrelated:
            client.set(key, b"keep me")
        longer.with_namespace("kid").clear()  # a child of another namespace
        globbed.clear()  # escaped: its pattern cannot reach `mine`
        assert len(mine.get_entries("http://example.com/a")) == 1

        log.clear()
        mine.clear()
        assert "SCAN" in command_names(log)
        assert not command_names(log) & {"KEYS", "FLUSHDB", "FLUSHALL"}
        assert mine.get_entries("http://example.com/a") == []
        assert mine.with_namespace("kid").get_entries("http://example.com/a") == []
        for survivor in (longer, nested):
            assert len(survivor.get_entries("http://example.com/a")) == 1
        for key in unrelated:
            assert client.get(key) == b"keep me"
    finally:
        for storage in (longer, globbed, nested):
            storage.clear()
        client.unlink(*unrelated)
        recorder.close()


# -- expiry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "grace", "expected"),
    [
        pytest.param(60, 3600, 3660_000, id="default-grace"),
        pytest.param(60, 0, 60_000, id="no-grace"),
        pytest.param(None, 3600, -1, id="no-ttl"),
    ],
)
def test_redis_storage_ttl_sets_native_expiry_on_every_key(
    client: redis.Redis,
    namespace: str,
    ttl: float | None,
    grace: float,
    expected: int,
) -> None:
    storage = RedisStorage(
        client=client, namespace=namespace, ttl=ttl, grace=grace, clock=lambda: T0
    )
    try:
        put(storage, make_entry(variant="empty"), b"")
        committed = put(storage, make_entry(variant="full"), b"z" * (MiB + 1))
        storage.update_entry(committed)  # renews the same expiry
        keys = scan(client, storage.key_prefix)
        assert len(keys) == 2  # one index, one body (the empty body has no key)
        for key in keys:
            left = client.pttl(key)
            if expected < 0:
                assert left == -1, key
            else:
                assert expected - 10_000 < left <= expected, (key, left)
    finally:
        storage.clear()


@pytest.mark.parametrize("sliding", [True, False], ids=["sliding", "absolute"])
def test_redis_storage_sliding_hit_pushes_native_expiry_back(
    client: redis.Redis, namespace: str, sliding: bool
) -> None:
    now = [T0]
    storage = RedisStorage(
        client=client, namespace=namespace, ttl=100, sliding=sliding, grace=0, clock=lambda: now[0]
    )
    try:
        committed = put(storage, make_entry(), b"z" * (INLINE_LIMIT + 1))
        keys = scan(client, storage.key_prefix)
        assert len(keys) == 2  # the index and the body list
        for key in keys:  # as if most of the lifetime had passed on the server
            client.pexpire(key, 5_000)
        now[0] = T0 + 50
        storage.record_hit(committed)
        for key in keys:
            left = client.pttl(key)
            if sliding:  # renewed to the last hit + ttl: 100 s from now
                assert 90_000 < left <= 100_000, (key, left)
            else:
                assert 0 < left <= 5_000, (key, left)
    finally:
        storage.clear()


# -- health, closing, configuration ------------------------------------------------------


def test_redis_storage_health_false_and_errors_wrapped_when_unreachable() -> None:
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    storage = RedisStorage(client=down, namespace=f"{TEST_PREFIX}:down")
    try:
        assert storage.health() is False
        with pytest.raises(StorageError) as caught:
            storage.get_entries("http://example.com/a")
        assert caught.value.__cause__ is not None
    finally:
        down.close()


def test_redis_storage_close_leaves_a_user_client_open(namespace: str) -> None:
    user = redis.Redis.from_url(REDIS_URL, single_connection_client=True)
    try:
        before = user.client_id()
        with RedisStorage(client=user, namespace=namespace) as storage:
            assert storage.health() is True
            storage.with_namespace("kid").close()
        storage.close()
        assert user.client_id() == before  # the same connection: never closed
    finally:
        user.close()


def test_redis_storage_close_closes_only_a_client_it_made() -> None:
    storage = RedisStorage()  # redis.Redis() on localhost; connects lazily
    calls: list[str] = []
    original = storage._client.close

    def spy() -> None:
        calls.append("closed")
        original()

    storage._client.close = spy
    storage.with_namespace("kid").close()
    assert calls == []
    storage.close()
    storage.close()
    assert calls == ["closed", "closed"]  # redis-py's own close is idempotent


def test_redis_storage_configuration_errors(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoding = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        with pytest.raises(ConfigurationError, match="decode_responses"):
            RedisStorage(client=decoding)
    finally:
        decoding.close()
    for bad in ({"ttl": -1}, {"grace": -1}, {"namespace": ""}):
        with pytest.raises(ConfigurationError):
            RedisStorage(client=client, **bad)
    with pytest.raises(ConfigurationError):
        RedisStorage(client=client).with_namespace("a/b")
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigurationError, match=r"httpcache\[redis\]"):
        RedisStorage()


# -- bodies --------------------------------------------------------------------------------


def test_redis_storage_body_is_kept_and_read_in_chunks_of_at_most_one_mib(
    client: redis.Redis, namespace: str
) -> None:
    storage = RedisStorage(client=client, namespace=namespace)
    body = os.urandom(2 * MiB + MiB // 2)
    try:
        committed = put(storage, make_entry(), body)
        [body_key] = [k for k in scan(client, storage.key_prefix) if b":#b:" in k]
        assert client.llen(body_key) == 3
        chunks = chunks_of(storage, committed)
        assert [len(chunk) for chunk in chunks] == [BODY_CHUNK, BODY_CHUNK, MiB // 2]
        assert b"".join(chunks) == body
    finally:
        storage.clear()


def test_redis_storage_replacing_an_entry_never_tears_a_read(
    client: redis.Redis, namespace: str
) -> None:
    storage = RedisStorage(client=client, namespace=namespace)
    old, new = b"o" * (3 * MiB), b"n" * (3 * MiB + 7)
    try:
        first = put(storage, make_entry(), old)
        stream = storage.open_body(first)
        assert stream is not None
        reading = [stream.__next__()]

        writer = storage.open_writer(make_entry())
        writer.write(new)  # three full chunks staged, not yet visible
        [seen] = storage.get_entries(first.key)
        assert seen.size == len(old)
        assert b"".join(chunks_of(storage, seen)) == old
        writer.commit()

        reading += [chunk for chunk in stream]  # the old body, whole, after the swap
        assert b"".join(reading) == old
        [now] = storage.get_entries(first.key)
        assert now.size == len(new)
        assert b"".join(chunks_of(storage, now)) == new
    finally:
        storage.clear()


def test_redis_storage_corrupt_record_is_removed_with_a_warning(
    client: redis.Redis, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    storage = RedisStorage(client=client, namespace=namespace, serializer=JSONSerializer())
    try:
        committed = put(storage, make_entry(), b"b" * (INLINE_LIMIT + 1))
        index = index_key(storage._base, committed.key)
        client.hset(index, b"h:v", b"{not json")
        with caplog.at_level(logging.WARNING, logger="httpcache.storage"):
            assert storage.get_entries(committed.key) == []
        assert [r.name for r in caplog.records] == ["httpcache.storage"]
        assert client.exists(index) == 0
        [body] = scan(client, storage.key_prefix)
        assert 0 < client.pttl(body) <= 60_000  # retired: gone within a minute
    finally:
        storage.clear()


# -- several processes -------------------------------------------------------------------


def body_for(worker: int, number: int) -> bytes:
    size = MiB + 3 if number % 10 == 0 else 2000 + number
    return f"{worker}:{number}:".encode() * (size // 8)


def _write_entries(namespace: str, worker: int) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    with RedisStorage(client=client, namespace=namespace) as storage:
        for number in range(50):
            url = f"http://example.com/{number}"
            put(storage, make_entry(url, f"w{worker}"), body_for(worker, number))
    client.close()


def _spawned_writer(namespace: str, worker: int, barrier: Any) -> None:
    barrier.wait(timeout=30)
    outcome = _write_entries(namespace, worker)
    if inspect.iscoroutine(outcome):  # the async module; the generated sync one already ran
        asyncio.run(outcome)


def test_redis_storage_two_processes_store_every_entry(
    client: redis.Redis, namespace: str
) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_spawned_writer, args=(namespace, worker, barrier))
        for worker in (1, 2)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
    assert [process.exitcode for process in workers] == [0, 0]

    storage = RedisStorage(client=client, namespace=namespace)
    try:
        assert (storage.stats()).entries == 100
        for number in range(50):
            found = storage.get_entries(f"http://example.com/{number}")
            assert sorted(entry.variant for entry in found) == ["w1", "w2"]
            for entry in found:
                expected = body_for(int(entry.variant[1:]), number)
                assert entry.size == len(expected)
                assert b"".join(chunks_of(storage, entry)) == expected
    finally:
        storage.clear()
