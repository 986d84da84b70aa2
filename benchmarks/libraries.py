"""The libraries under test, each on the storage kinds it has, behind one interface.

Every library module is imported lazily, inside the function that needs it, so this
file loads in any of the benchmark's virtualenvs: httpcache's own, or a peer's, where
only that peer (and httpx or requests) is installed.

Each :class:`Library` turns (storage kind, mode) into a driver factory for
``harness.WorkloadCase``. Storages are named after a per-case ``name`` that embeds the
run's unique namespace: a directory or SQLite file under the run's temporary
directory, a Redis key prefix, an S3 key prefix. Closing a client removes what its
storage holds (Redis keys by that prefix only; never a FLUSHDB).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["LIBRARIES", "Env", "Library", "purge_redis"]

STORAGES = ("memory", "file", "sqlite", "redis", "s3")


@dataclass(frozen=True)
class Env:
    """Where the storages of one run live.

    Attributes:
        tmp: A temporary directory for files and SQLite databases.
        redis_url: ``redis://127.0.0.1:6379/0``.
        namespace: Unique to the run; every Redis key and S3 key the run makes holds it.
        s3_endpoint: The moto server's URL, or ``None`` without S3.
        s3_bucket: An existing bucket on it.
    """

    tmp: str
    redis_url: str
    namespace: str
    s3_endpoint: str | None = None
    s3_bucket: str | None = None

    @property
    def base_url(self) -> str:
        """The origin's base URL; its host holds the namespace too (CacheControl keys by URL)."""
        return f"http://{self.namespace}.origin.test"


def purge_redis(redis_url: str, marker: str) -> int:
    """Delete the Redis keys containing ``marker`` (the run's namespace); return how many."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"*{marker}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        client.close()


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        for extra in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + extra).unlink(missing_ok=True)


def _purge_s3(env: Env, prefix: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=env.s3_endpoint)
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=env.s3_bucket, Prefix=prefix):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            client.delete_objects(Bucket=env.s3_bucket, Delete={"Objects": objects})


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class Library:
    """One caching library: what it runs on, and how to build its clients.

    Attributes:
        key: Short name used on the command line and in the JSON (``hishel01``).
        name: Display name (``hishel 0.1.5``).
        stack: ``httpx`` or ``requests``: which floor it is measured against.
        storages: The storage kinds it has, of :data:`STORAGES`.
        has_async: Whether it has an asyncio client.
        distributions: Package names whose versions the results record.
        make: ``make(storage, asynchronous, env, name)`` returns a driver.
    """

    key: str
    name: str
    stack: str
    storages: tuple[str, ...]
    has_async: bool
    distributions: tuple[str, ...]
    make: Callable[[str, bool, Env, str], Any]

    def versions(self) -> dict[str, str]:
        """The installed version of each of :attr:`distributions`."""
        return {name: _version(name) for name in self.distributions}


# --- httpcache ------------------------------------------------------------------------------


def _httpcache_url(storage: str, env: Env, name: str) -> str:
    if storage == "memory":
        return "memory://"
    if storage == "file":
        return f"file://{Path(env.tmp, name)}"
    if storage == "sqlite":
        return f"sqlite:///{Path(env.tmp, name + '.db')}"
    if storage == "redis":
        return f"{env.redis_url}?namespace={name}"
    if storage == "s3":
        return f"s3://{env.s3_bucket}/{name}?endpoint_url={env.s3_endpoint}"
    raise ValueError(storage)


def _httpcache_probe(response: Any) -> tuple[bool, bool]:
    extensions = response.extensions
    return extensions["from_cache"], extensions["revalidated"]


def _make_httpcache(storage: str, asynchronous: bool, env: Env, name: str) -> Any:
    from stack_httpx import HttpxDriver

    import httpcache

    reports = frozenset({"from_cache", "revalidated"})
    if not asynchronous:

        def build(transport: Any, tag: str) -> tuple[Any, Callable[[], None]]:
            store = httpcache.storage_from_url(_httpcache_url(storage, env, f"{name}-{tag}"))
            client = httpcache.CacheClient(storage=store, transport=transport)

            def close() -> None:
                client.close()
                store.clear()
                store.close()
                if storage in ("file", "sqlite"):
                    _remove(Path(env.tmp, f"{name}-{tag}" + (".db" if storage == "sqlite" else "")))

            return client, close

        return HttpxDriver(build=build, probe=_httpcache_probe, reports=reports)

    async def abuild(transport: Any, tag: str) -> tuple[Any, Callable[[], Any]]:
        store = httpcache.async_storage_from_url(_httpcache_url(storage, env, f"{name}-{tag}"))
        client = httpcache.AsyncCacheClient(storage=store, transport=transport)

        async def aclose() -> None:
            await client.aclose()
            await store.clear()
            await store.aclose()
            if storage in ("file", "sqlite"):
                _remove(Path(env.tmp, f"{name}-{tag}" + (".db" if storage == "sqlite" else "")))

        return client, aclose

    return HttpxDriver(abuild=abuild, probe=_httpcache_probe, reports=reports)


# --- hishel 0.1.5 ---------------------------------------------------------------------------


def _hishel01_probe(response: Any) -> tuple[bool, bool]:
    extensions = response.extensions
    return extensions["from_cache"], extensions["revalidated"]


def _make_hishel01(storage: str, asynchronous: bool, env: Env, name: str) -> Any:
    import hishel
    from hishel._utils import generate_key
    from stack_httpx import HttpxDriver

    reports = frozenset({"from_cache", "revalidated"})

    def controller(full_name: str) -> Any:
        # Keys carry the run's namespace, so the Redis and S3 leftovers can be found.
        def key(request: Any, body: bytes | None = b"") -> str:
            return f"{full_name}-{generate_key(request, body or b'')}"

        # allow_heuristics=True as httpcache's default: without it hishel 0.1.5 does not
        # store a response that has no explicit lifetime (W3's no-cache + ETag) at all.
        return hishel.Controller(key_generator=key, allow_heuristics=True)

    def cleanup(full_name: str) -> None:
        if storage in ("file", "sqlite"):
            _remove(Path(env.tmp, full_name + (".db" if storage == "sqlite" else "")))
        elif storage == "redis":
            purge_redis(env.redis_url, full_name)
        elif storage == "s3":
            _purge_s3(env, full_name)

    if not asynchronous:

        def make_storage(full_name: str) -> Any:
            if storage == "memory":
                return hishel.InMemoryStorage()
            if storage == "file":
                return hishel.FileStorage(base_path=Path(env.tmp, full_name))
            if storage == "sqlite":
                import sqlite3

                path = Path(env.tmp, full_name + ".db")
                return hishel.SQLiteStorage(
                    connection=sqlite3.connect(path, check_same_thread=False)
                )
            if storage == "redis":
                import redis

                return hishel.RedisStorage(client=redis.Redis.from_url(env.redis_url))
            import boto3

            client = boto3.client("s3", endpoint_url=env.s3_endpoint)
            return hishel.S3Storage(bucket_name=env.s3_bucket, client=client, path_prefix=full_name)

        def build(transport: Any, tag: str) -> tuple[Any, Callable[[], None]]:
            full_name = f"{name}-{tag}"
            client = hishel.CacheClient(
                transport=transport,
                storage=make_storage(full_name),
                controller=controller(full_name),
            )

            def close() -> None:
                client.close()
                cleanup(full_name)

            return client, close

        return HttpxDriver(build=build, probe=_hishel01_probe, reports=reports)

    async def make_async_storage(full_name: str) -> Any:
        if storage == "memory":
            return hishel.AsyncInMemoryStorage()
        if storage == "file":
            return hishel.AsyncFileStorage(base_path=Path(env.tmp, full_name))
        if storage == "sqlite":
            import anysqlite

            connection = await anysqlite.connect(str(Path(env.tmp, full_name + ".db")))
            return hishel.AsyncSQLiteStorage(connection=connection)
        if storage == "redis":
            import redis.asyncio

            return hishel.AsyncRedisStorage(client=redis.asyncio.Redis.from_url(env.redis_url))
        import boto3

        client = boto3.client("s3", endpoint_url=env.s3_endpoint)
        return hishel.AsyncS3Storage(
            bucket_name=env.s3_bucket, client=client, path_prefix=full_name
        )

    async def abuild(transport: Any, tag: str) -> tuple[Any, Callable[[], Any]]:
        full_name = f"{name}-{tag}"
        client = hishel.AsyncCacheClient(
            transport=transport,
            storage=await make_async_storage(full_name),
            controller=controller(full_name),
        )

        async def aclose() -> None:
            await client.aclose()
            cleanup(full_name)

        return client, aclose

    return HttpxDriver(abuild=abuild, probe=_hishel01_probe, reports=reports)


# --- hishel 2.x -----------------------------------------------------------------------------


def _hishel2_probe(response: Any) -> tuple[bool, bool]:
    status = response.extensions["caching"]
    return status["from_cache"], status["revalidated"]


def _make_hishel2(storage: str, asynchronous: bool, env: Env, name: str) -> Any:
    import hishel
    import hishel.httpx
    from stack_httpx import HttpxDriver

    reports = frozenset({"from_cache", "revalidated"})
    # RFC 9111 mode: hishel 2's default (rfc=False) caches every 2xx GET and ignores
    # Cache-Control, which would never revalidate and is not what the others do.
    # max_stream_size=None: its Redis storage skips bodies over 10 MiB by default (W4).

    def cleanup(full_name: str) -> None:
        if storage == "sqlite":
            _remove(Path(env.tmp, full_name + ".db"))
        else:
            purge_redis(env.redis_url, full_name)

    if not asynchronous:

        def make_storage(full_name: str) -> Any:
            if storage == "sqlite":
                return hishel.SqliteStorage(
                    database_path=Path(env.tmp, full_name + ".db"), max_stream_size=None
                )
            import redis

            return hishel.RedisStorage(
                redis.Redis.from_url(env.redis_url), key_prefix=full_name, max_stream_size=None
            )

        def build(transport: Any, tag: str) -> tuple[Any, Callable[[], None]]:
            full_name = f"{name}-{tag}"
            cache = hishel.httpx.CacheTransport(
                next_transport=transport, storage=make_storage(full_name), rfc=True
            )
            client = hishel.httpx.CacheClient(transport=cache)

            def close() -> None:
                client.close()
                cleanup(full_name)

            return client, close

        return HttpxDriver(build=build, probe=_hishel2_probe, reports=reports)

    def make_async_storage(full_name: str) -> Any:
        if storage == "sqlite":
            return hishel.AsyncSqliteStorage(
                database_path=Path(env.tmp, full_name + ".db"), max_stream_size=None
            )
        import redis.asyncio

        return hishel.AsyncRedisStorage(
            redis.asyncio.Redis.from_url(env.redis_url), key_prefix=full_name, max_stream_size=None
        )

    async def abuild(transport: Any, tag: str) -> tuple[Any, Callable[[], Any]]:
        full_name = f"{name}-{tag}"
        cache = hishel.httpx.AsyncCacheTransport(
            next_transport=transport, storage=make_async_storage(full_name), rfc=True
        )
        client = hishel.httpx.AsyncCacheClient(transport=cache)

        async def aclose() -> None:
            await client.aclose()
            cleanup(full_name)

        return client, aclose

    return HttpxDriver(abuild=abuild, probe=_hishel2_probe, reports=reports)


# --- requests-cache -------------------------------------------------------------------------


def _requests_cache_probe(response: Any) -> tuple[bool, bool]:
    return response.from_cache, getattr(response, "revalidated", False)


def _make_requests_cache(storage: str, asynchronous: bool, env: Env, name: str) -> Any:
    import requests_cache
    from stack_requests import OriginAdapter, RequestsDriver

    def backend(full_name: str) -> Any:
        if storage == "memory":
            return "memory"
        if storage == "file":
            return requests_cache.FileCache(Path(env.tmp, full_name))
        if storage == "sqlite":
            return requests_cache.SQLiteCache(Path(env.tmp, full_name + ".db"))
        import redis

        return requests_cache.RedisCache(
            namespace=full_name, connection=redis.Redis.from_url(env.redis_url)
        )

    def build(origin: Any, tag: str) -> tuple[Any, Callable[[], None]]:
        full_name = f"{name}-{tag}"
        # cache_control=True: follow Cache-Control/ETag instead of the default "keep forever".
        session = requests_cache.CachedSession(backend=backend(full_name), cache_control=True)
        session.mount("http://", OriginAdapter(origin))

        def close() -> None:
            session.close()
            if storage in ("file", "sqlite"):
                _remove(Path(env.tmp, full_name + (".db" if storage == "sqlite" else "")))
            elif storage == "redis":
                purge_redis(env.redis_url, full_name)

        return session, close

    return RequestsDriver(
        build, probe=_requests_cache_probe, reports=frozenset({"from_cache", "revalidated"})
    )


# --- CacheControl ---------------------------------------------------------------------------


def _cachecontrol_probe(response: Any) -> tuple[bool, bool]:
    return response.from_cache, False


def _make_cachecontrol(storage: str, asynchronous: bool, env: Env, name: str) -> Any:
    from cachecontrol import CacheControlAdapter
    from stack_requests import OriginAdapter, RequestsDriver

    class OriginCacheControlAdapter(CacheControlAdapter, OriginAdapter):
        """CacheControl's adapter whose ``super().send()`` reaches the origin."""

    def cache(full_name: str) -> Any:
        if storage == "memory":
            from cachecontrol.cache import DictCache

            return DictCache()
        if storage == "file":
            from cachecontrol.caches import FileCache

            return FileCache(str(Path(env.tmp, full_name)))
        if storage == "file-separate":
            from cachecontrol.caches import SeparateBodyFileCache

            return SeparateBodyFileCache(str(Path(env.tmp, full_name)))
        import redis
        from cachecontrol.caches import RedisCache

        # RedisCache keys are the URLs, whose host holds the run's namespace.
        return RedisCache(redis.Redis.from_url(env.redis_url))

    def build(origin: Any, tag: str) -> tuple[Any, Callable[[], None]]:
        import requests

        full_name = f"{name}-{tag}"
        session = requests.Session()
        session.mount("http://", OriginCacheControlAdapter(cache=cache(full_name), origin=origin))

        def close() -> None:
            session.close()
            if storage in ("file", "file-separate"):
                _remove(Path(env.tmp, full_name))
            elif storage == "redis":
                purge_redis(env.redis_url, env.namespace)

        return session, close

    return RequestsDriver(build, probe=_cachecontrol_probe, reports=frozenset({"from_cache"}))


LIBRARIES: dict[str, Library] = {
    lib.key: lib
    for lib in (
        Library(
            "httpcache",
            "httpcache",
            "httpx",
            STORAGES,
            True,
            ("httpcache", "httpx"),
            _make_httpcache,
        ),
        Library(
            "hishel01",
            "hishel 0.1.5",
            "httpx",
            STORAGES,
            True,
            ("hishel", "httpx", "redis", "boto3"),
            _make_hishel01,
        ),
        Library(
            "hishel2",
            "hishel 2",
            "httpx",
            ("sqlite", "redis"),
            True,
            ("hishel", "httpx", "redis"),
            _make_hishel2,
        ),
        Library(
            "requests_cache",
            "requests-cache",
            "requests",
            ("memory", "file", "sqlite", "redis"),
            False,
            ("requests-cache", "requests", "urllib3", "redis"),
            _make_requests_cache,
        ),
        Library(
            "cachecontrol",
            "CacheControl",
            "requests",
            ("memory", "file", "file-separate", "redis"),
            False,
            ("CacheControl", "requests", "urllib3", "redis", "filelock"),
            _make_cachecontrol,
        ),
    )
}
"""Every library the benchmark knows, by key."""
