"""Event loops: every async storage keeps serving across ``asyncio.run`` calls, never
keeps the interpreter alive when it is not closed, and says so when a caller's client
belongs to a loop that has ended.

Each scenario drives real loops with ``asyncio.run`` (not the anyio plugin), through
``AsyncCacheClient`` over an ``httpx.MockTransport`` origin that counts its calls. Redis
is the loopback server of the contract suite, S3 the suite's moto server. A test ends
with ``gc.collect()``, so a socket, session or connection left open by a storage shows
up as a ``ResourceWarning`` (an error under ``filterwarnings = error``) in that test.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import textwrap
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import httpx
import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff

import httpcache
from httpcache import (
    AsyncCacheClient,
    AsyncFileStorage,
    AsyncInMemoryStorage,
    AsyncRedisStorage,
    AsyncS3Storage,
    AsyncSQLiteStorage,
    StorageError,
    async_storage_from_url,
)
from tests._async import storage_backends  # noqa: F401  (imports the backends in order)
from tests._async.backend_redis import REDIS_URL, TEST_PREFIX
from tests._async.backend_s3 import BUCKET, endpoint_url

URL = "https://origin.test/page"
BODY = b"cached across loops"
ROOT = Path(__file__).resolve().parents[2]

Factory = Callable[[], Any]


class Origin:
    """An origin that counts its calls and answers with a cacheable response."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return httpx.Response(200, headers={"Cache-Control": "max-age=600"}, content=BODY)


async def _fetch(storage: Any, origin: Origin) -> bool:
    transport = httpx.MockTransport(origin)
    async with AsyncCacheClient(storage=storage, transport=transport) as client:
        response = await client.get(URL)
        assert response.content == BODY
        return bool(response.extensions["from_cache"])


async def _finish(storage: Any) -> None:
    await storage.clear()
    await storage.aclose()


def _unique() -> str:
    return uuid.uuid4().hex[:10]


def _redis_namespace() -> str:
    return f"{TEST_PREFIX}:loops-{_unique()}"


def _constructed(kind: str, tmp_path: Path) -> Any:
    if kind == "memory":
        return AsyncInMemoryStorage()
    if kind == "file":
        return AsyncFileStorage(base_path=tmp_path / "files")
    if kind == "sqlite":
        return AsyncSQLiteStorage(path=tmp_path / "cache.db")
    if kind == "sqlite-memory":
        return AsyncSQLiteStorage()  # one private in-memory database: it must survive the loop
    if kind == "redis":
        return AsyncRedisStorage(namespace=_redis_namespace())  # redis.asyncio.Redis() of its own
    if kind == "s3":
        return AsyncS3Storage(
            bucket_name=BUCKET, key_prefix=f"loops/{_unique()}/", endpoint_url=endpoint_url()
        )
    raise AssertionError(kind)


def _from_url(kind: str, tmp_path: Path) -> Any:
    urls = {
        "memory": "memory://?capacity=10",
        "file": f"file://{tmp_path}/files",
        "sqlite": f"sqlite:///{tmp_path}/cache.db",
        "redis": f"{REDIS_URL}?namespace={_redis_namespace()}",
        "s3": f"s3://{BUCKET}/loops/{_unique()}?endpoint_url={endpoint_url()}",
    }
    return async_storage_from_url(urls[kind])


@pytest.fixture
def no_storage_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail if the transport logged a storage failure (it fails open, so look at the log)."""
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        yield
    failures = [r.getMessage() for r in caplog.records if r.name.startswith("httpcache")]
    assert failures == []


KINDS = ["memory", "file", "sqlite", "sqlite-memory", "redis", "s3"]


@pytest.mark.usefixtures("no_storage_warnings")
@pytest.mark.parametrize("kind", KINDS)
def test_event_loops_storage_serves_a_hit_in_a_second_asyncio_run(
    kind: str, tmp_path: Path
) -> None:
    storage = _constructed(kind, tmp_path)
    origin = Origin()
    assert asyncio.run(_fetch(storage, origin)) is False
    assert asyncio.run(_fetch(storage, origin)) is True
    assert origin.calls == 1
    asyncio.run(_finish(storage))  # a third loop closes it
    del storage
    gc.collect()


@pytest.mark.usefixtures("no_storage_warnings")
@pytest.mark.parametrize("kind", ["memory", "file", "sqlite", "redis", "s3"])
def test_event_loops_storage_from_url_serves_a_hit_in_a_second_asyncio_run(
    kind: str, tmp_path: Path
) -> None:
    storage = _from_url(kind, tmp_path)
    origin = Origin()
    assert asyncio.run(_fetch(storage, origin)) is False
    for _ in range(3):  # and in every later loop
        assert asyncio.run(_fetch(storage, origin)) is True
    assert origin.calls == 1
    asyncio.run(_finish(storage))
    del storage
    gc.collect()


def test_event_loops_storage_made_redis_client_is_closed_as_its_loop_ends() -> None:
    storage = AsyncRedisStorage(namespace=_redis_namespace())

    async def use() -> redis.asyncio.Redis:
        assert await storage.health() is True
        client = storage._client
        assert client.connection_pool._available_connections  # a live connection
        return client

    first = asyncio.run(use())
    assert not any(c.is_connected for c in first.connection_pool._available_connections)
    second = asyncio.run(use())
    assert second is not first  # a new client for the new loop
    asyncio.run(storage.aclose())
    gc.collect()


@pytest.mark.parametrize("kind", ["memory", "file", "sqlite", "redis", "s3"])
def test_event_loops_unclosed_storage_lets_the_interpreter_exit(kind: str, tmp_path: Path) -> None:
    namespace = _redis_namespace()
    prefix = f"loops/{_unique()}"
    urls = {
        "memory": "memory://",
        "file": f"file://{tmp_path}/files",
        "sqlite": f"sqlite:///{tmp_path}/cache.db",
        "redis": f"{REDIS_URL}?namespace={namespace}",
        "s3": f"s3://{BUCKET}/{prefix}?endpoint_url={endpoint_url() if kind == 's3' else ''}",
    }
    code = textwrap.dedent(
        f"""
        import asyncio, httpx, sys
        from httpcache import AsyncCacheClient, async_storage_from_url

        storage = async_storage_from_url({urls[kind]!r})
        calls = []

        def origin(request):
            calls.append(request)
            return httpx.Response(200, headers={{"Cache-Control": "max-age=600"}}, content=b"x")

        async def main():
            transport = httpx.MockTransport(origin)
            async with AsyncCacheClient(storage=storage, transport=transport) as client:
                for _ in range(3):
                    await client.get("https://origin.test/exit")
                await storage.record_hit((await storage.get_entries("https://origin.test/exit"))[0])

        asyncio.run(main())
        sys.exit(0 if len(calls) == 1 else 3)  # the storage is never closed
        """
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, timeout=20, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        if kind in ("redis", "s3"):
            asyncio.run(_finish(async_storage_from_url(urls[kind])))
    gc.collect()


def test_event_loops_caller_redis_client_of_an_ended_loop_raises_the_rule() -> None:
    namespace = _redis_namespace()

    async def make() -> redis.asyncio.Redis:
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        await client.ping()  # its connection now belongs to this loop, which ends
        return client

    stale = asyncio.run(make())
    storage = AsyncRedisStorage(client=stale, namespace=namespace)

    async def use(storage: AsyncRedisStorage) -> None:
        with pytest.raises(StorageError, match="pass a client created on the loop") as caught:
            await storage.get_entries(URL)
        assert isinstance(caught.value.__cause__, RuntimeError)
        origin = Origin()
        assert await _fetch(storage, origin) is False  # the transport fails open
        assert origin.calls == 1

    with warnings.catch_warnings():  # the caller's connection leaks, on purpose
        warnings.simplefilter("ignore", ResourceWarning)
        logging.getLogger("httpcache").disabled = True
        try:
            asyncio.run(use(storage))
        finally:
            logging.getLogger("httpcache").disabled = False
        del storage, stale
        gc.collect()


def test_event_loops_caller_redis_client_made_in_each_loop_works() -> None:
    namespace = _redis_namespace()
    origin = Origin()
    results = []

    async def run_once() -> None:
        async with redis.asyncio.Redis.from_url(REDIS_URL) as client:
            storage = AsyncRedisStorage(client=client, namespace=namespace)
            results.append(await _fetch(storage, origin))
            await storage.aclose()  # leaves the caller's client open

    asyncio.run(run_once())
    asyncio.run(run_once())
    assert results == [False, True]
    assert origin.calls == 1
    asyncio.run(_finish(AsyncRedisStorage(namespace=namespace)))
    gc.collect()


def test_event_loops_caller_aiosqlite_connection_serves_any_loop(tmp_path: Path) -> None:
    """aiosqlite resolves each call on the caller's loop: a caller's connection keeps working."""

    async def connect() -> aiosqlite.Connection:
        return await aiosqlite.connect(tmp_path / "user.db")

    conn = asyncio.run(connect())
    storage = AsyncSQLiteStorage(connection=conn)
    origin = Origin()
    assert asyncio.run(_fetch(storage, origin)) is False
    assert asyncio.run(_fetch(storage, origin)) is True
    assert origin.calls == 1
    asyncio.run(storage.aclose())
    asyncio.run(conn.close())
    gc.collect()


# -- the settings of clients a storage makes itself -------------------------------------------


def _redis_settings(client: Any) -> tuple[object, object, int, type]:
    kwargs = client.connection_pool.connection_kwargs
    retry = kwargs["retry"]
    return (
        kwargs["socket_connect_timeout"],
        kwargs["socket_timeout"],
        retry.get_retries(),
        type(retry._backoff),
    )


def test_event_loops_storage_made_redis_clients_have_cache_settings() -> None:
    expected = (0.5, 0.5, 1, NoBackoff)
    built = [
        AsyncRedisStorage(),
        httpcache.RedisStorage(),
        async_storage_from_url(f"{REDIS_URL}?namespace=x"),
        httpcache.storage_from_url(f"{REDIS_URL}?namespace=x"),
    ]
    for storage in built:
        assert _redis_settings(storage._holder.current) == expected, storage
    assert isinstance(built[0]._holder.current.get_retry(), redis.asyncio.retry.Retry)
    assert isinstance(built[1]._holder.current.get_retry(), redis.retry.Retry)


def test_event_loops_redis_url_parameters_override_the_cache_settings() -> None:
    url = f"{REDIS_URL}?namespace=x&socket_timeout=2&socket_connect_timeout=3"
    for storage in (async_storage_from_url(url), httpcache.storage_from_url(url)):
        connect, command, retries, _ = _redis_settings(storage._holder.current)
        assert (connect, command, retries) == (3.0, 2.0, 1)


def test_event_loops_caller_redis_client_is_left_as_it_is() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    storage = httpcache.RedisStorage(client=client)
    assert storage._holder.current is client
    assert client.connection_pool.connection_kwargs.get("socket_timeout") is None
    client.close()


def _s3_settings(client: Any) -> tuple[object, object, object]:
    config = client.meta.config
    return config.connect_timeout, config.read_timeout, config.retries


def test_event_loops_storage_made_s3_clients_have_cache_settings() -> None:
    expected = (0.5, 2.0, {"mode": "standard", "total_max_attempts": 2})  # one retry
    sync = httpcache.S3Storage(bucket_name=BUCKET, endpoint_url=endpoint_url())
    try:
        assert _s3_settings(sync._client()) == expected
    finally:
        sync.close()

    async def check() -> None:
        storage = AsyncS3Storage(bucket_name=BUCKET, endpoint_url=endpoint_url())
        try:
            assert _s3_settings(await storage._client()) == expected
        finally:
            await storage.aclose()

    asyncio.run(check())


def test_event_loops_storage_made_sqlite_connections_have_a_short_busy_timeout(
    tmp_path: Path,
) -> None:
    def busy(storage: Any) -> int:
        return int(storage._fetchall("PRAGMA busy_timeout")[0][0])

    for url, expected in [
        (f"sqlite:///{tmp_path}/a.db", 250),
        (f"sqlite:///{tmp_path}/b.db?timeout=2", 2000),
    ]:
        with httpcache.storage_from_url(url) as sync:
            assert busy(sync) == expected

        async def check(url: str = url, expected: int = expected) -> None:
            async with async_storage_from_url(url) as storage:
                rows = await storage._fetchall("PRAGMA busy_timeout")
                assert rows[0][0] == expected

        asyncio.run(check())


def test_event_loops_storage_made_aiosqlite_thread_is_a_daemon(tmp_path: Path) -> None:
    storage = AsyncSQLiteStorage(path=tmp_path / "d.db")

    async def use() -> threading.Thread:
        assert await storage.health() is True
        conn = storage._shared.connection
        assert conn is not None
        thread = conn._thread
        assert isinstance(thread, threading.Thread)
        return thread

    thread = asyncio.run(use())
    assert thread.daemon is True
    asyncio.run(storage.aclose())
    thread.join(5)
    assert not thread.is_alive()
