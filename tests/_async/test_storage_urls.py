"""Storage URLs everywhere: `storage="sqlite:///cache.db"` and the `HTTPCACHE_STORAGE` variable.

Precedence: an explicit `storage=` (object or URL) > `HTTPCACHE_STORAGE` > a new in-memory
storage. A storage built from a URL (or by default) is owned, closed with its client or
transport; a storage object passed in is not.
"""

from __future__ import annotations

import os
import pathlib
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio
from redis.exceptions import RedisError

from httpcache import (
    AsyncCacheClient,
    AsyncCacheTransport,
    AsyncFileStorage,
    AsyncInMemoryStorage,
    AsyncRedisStorage,
    AsyncSQLiteStorage,
    AsyncStorage,
    ConfigurationError,
)

from .support import BASE, Origin, respond

FRESH = {"Cache-Control": "max-age=60"}
VARIABLE = "HTTPCACHE_STORAGE"
# As in backend_redis.py, which this module does not import (it would import every contract
# backend): the server, and the prefix every test namespace lives under.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_PREFIX = "httpcache-test"


async def _require_redis() -> None:
    """Skip (or fail under ``CI=true``) unless the test Redis server answers."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        message = f"no Redis server at {REDIS_URL}: {exc}"
        if os.environ.get("CI") == "true":
            raise RuntimeError(message) from exc
        pytest.skip(message)
    finally:
        await client.aclose()


def _count_closes(monkeypatch: pytest.MonkeyPatch, storage: AsyncStorage) -> list[int]:
    """Make `storage.aclose` record each call (in a list, whose length is the count)."""
    closes: list[int] = []
    original = storage.aclose

    async def aclose() -> None:
        closes.append(1)
        await original()

    monkeypatch.setattr(storage, "aclose", aclose)
    return closes


async def _two_gets(client: AsyncCacheClient) -> tuple[httpx.Response, httpx.Response]:
    first = await client.get("/a")
    second = await client.get("/a")
    return first, second


# -- each scheme that needs no server, through the client ------------------------------------


@pytest.mark.parametrize(
    ("make_url", "kind"),
    [
        pytest.param(lambda tmp: "memory://?capacity=10", AsyncInMemoryStorage, id="memory"),
        pytest.param(lambda tmp: f"file://{tmp}/files", AsyncFileStorage, id="file"),
        pytest.param(lambda tmp: f"sqlite:///{tmp}/cache.db", AsyncSQLiteStorage, id="sqlite"),
        pytest.param(lambda tmp: str(tmp / "plain"), AsyncFileStorage, id="plain-path"),
    ],
)
@pytest.mark.anyio
async def test_client_storage_url_second_request_is_a_hit(
    tmp_path: Path, make_url: Callable[[Path], str], kind: type
) -> None:
    """A URL names the backend; the second request is served from it."""
    origin = Origin(respond(200, FRESH))
    async with AsyncCacheClient(
        storage=make_url(tmp_path), transport=httpx.MockTransport(origin), base_url=BASE
    ) as client:
        assert isinstance(client.storage, kind)
        first, second = await _two_gets(client)
    assert first.extensions["from_cache"] is False
    assert second.extensions["from_cache"] is True
    assert second.content == b"hello"
    assert origin.calls == 1


@pytest.mark.anyio
async def test_client_sqlite_url_persists_across_clients(tmp_path: Path) -> None:
    """Two clients built from one sqlite:// URL share the database file."""
    url = f"sqlite:///{tmp_path}/shared.db"
    origin = Origin(respond(200, FRESH))
    async with AsyncCacheClient(
        storage=url, transport=httpx.MockTransport(origin), base_url=BASE
    ) as client:
        assert (await client.get("/a")).extensions["from_cache"] is False
    async with AsyncCacheClient(
        storage=url, transport=httpx.MockTransport(origin), base_url=BASE
    ) as client:
        assert (await client.get("/a")).extensions["from_cache"] is True
    assert origin.calls == 1
    assert (tmp_path / "shared.db").is_file()


@pytest.mark.redis
@pytest.mark.anyio
async def test_client_redis_url_second_request_is_a_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    """redis:// against the test server, in a namespace of its own (cleared afterwards)."""
    await _require_redis()
    namespace = f"{TEST_PREFIX}:urls-{uuid.uuid4().hex[:8]}"
    url = f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}namespace={namespace}"
    origin = Origin(respond(200, FRESH))
    client = AsyncCacheClient(storage=url, transport=httpx.MockTransport(origin), base_url=BASE)
    storage = client.storage
    assert isinstance(storage, AsyncRedisStorage)
    closes = _count_closes(monkeypatch, storage)
    try:
        first, second = await _two_gets(client)
        assert [entry.request.url async for entry in storage.iter_entries()] == [BASE + "/a"]
    finally:
        await storage.clear()
        await client.aclose()
    assert first.extensions["from_cache"] is False
    assert second.extensions["from_cache"] is True
    assert origin.calls == 1
    assert closes == [1]


# -- ownership -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_client_url_storage_closed_once_with_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client owns a storage it built from a URL; its transports do not close it again."""
    client = AsyncCacheClient(
        storage=f"sqlite:///{tmp_path}/owned.db",
        transport=httpx.MockTransport(Origin(respond(200, FRESH))),
        mounts={"http://other.example": httpx.MockTransport(Origin())},
        base_url=BASE,
    )
    closes = _count_closes(monkeypatch, client.storage)
    async with client:
        await client.get("/a")
        assert closes == []
    assert closes == [1]


@pytest.mark.anyio
async def test_client_url_storage_closed_by_aclose(monkeypatch: pytest.MonkeyPatch) -> None:
    """`aclose()` without `async with` closes an owned storage too."""
    client = AsyncCacheClient(storage="memory://", transport=httpx.MockTransport(Origin()))
    closes = _count_closes(monkeypatch, client.storage)
    await client.aclose()
    assert closes == [1]


@pytest.mark.anyio
async def test_transport_url_storage_closed_with_the_transport(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transport owns a storage it built from a URL, and serves hits from it."""
    origin = Origin(respond(200, FRESH))
    transport = AsyncCacheTransport(httpx.MockTransport(origin), storage=f"file://{tmp_path}/files")
    assert isinstance(transport.storage, AsyncFileStorage)
    closes = _count_closes(monkeypatch, transport.storage)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        first = await client.get("/a")
        second = await client.get("/a")
    assert (first.extensions["from_cache"], second.extensions["from_cache"]) == (False, True)
    assert origin.calls == 1
    assert closes == [1]


@pytest.mark.anyio
async def test_storage_object_passed_in_is_not_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A storage object you pass stays open, for the client and for the transport."""
    storage = AsyncInMemoryStorage()
    closes = _count_closes(monkeypatch, storage)
    async with AsyncCacheClient(storage=storage, transport=httpx.MockTransport(Origin())) as c:
        assert c.storage is storage
    async with AsyncCacheTransport(httpx.MockTransport(Origin()), storage=storage) as t:
        assert t.storage is storage
    assert closes == []


# -- the HTTPCACHE_STORAGE environment variable ----------------------------------------------


@pytest.mark.anyio
async def test_client_environment_variable_names_the_default_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `storage=`, HTTPCACHE_STORAGE is the storage; the client owns and closes it."""
    monkeypatch.setenv(VARIABLE, f"sqlite:///{tmp_path}/env.db")
    origin = Origin(respond(200, FRESH))
    client = AsyncCacheClient(transport=httpx.MockTransport(origin), base_url=BASE)
    assert isinstance(client.storage, AsyncSQLiteStorage)
    closes = _count_closes(monkeypatch, client.storage)
    async with client:
        first, second = await _two_gets(client)
    assert (first.extensions["from_cache"], second.extensions["from_cache"]) == (False, True)
    assert origin.calls == 1
    assert closes == [1]
    assert (tmp_path / "env.db").is_file()


@pytest.mark.anyio
async def test_transport_environment_variable_names_the_default_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transport reads HTTPCACHE_STORAGE too, and owns what it builds from it."""
    monkeypatch.setenv(VARIABLE, f"file://{tmp_path}/env-files")
    origin = Origin(respond(200, FRESH))
    transport = AsyncCacheTransport(httpx.MockTransport(origin))
    assert isinstance(transport.storage, AsyncFileStorage)
    closes = _count_closes(monkeypatch, transport.storage)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        await client.get("/a")
        assert (await client.get("/a")).extensions["from_cache"] is True
    assert origin.calls == 1
    assert closes == [1]
    assert (tmp_path / "env-files").is_dir()


@pytest.mark.anyio
async def test_environment_variable_read_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each client reads the variable when it is made; a later change affects later clients."""
    monkeypatch.setenv(VARIABLE, "memory://")
    first = AsyncCacheClient()
    monkeypatch.setenv(VARIABLE, f"file://{tmp_path}/later")
    second = AsyncCacheClient()
    try:
        assert isinstance(first.storage, AsyncInMemoryStorage)
        assert isinstance(second.storage, AsyncFileStorage)
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.parametrize("value", [None, "", "   "], ids=["unset", "empty", "blank"])
@pytest.mark.anyio
async def test_without_storage_or_variable_the_default_is_in_memory(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    """An unset, empty or blank HTTPCACHE_STORAGE means a new in-memory storage."""
    if value is None:
        monkeypatch.delenv(VARIABLE, raising=False)
    else:
        monkeypatch.setenv(VARIABLE, value)
    async with AsyncCacheClient() as client, AsyncCacheTransport() as transport:
        assert isinstance(client.storage, AsyncInMemoryStorage)
        assert isinstance(transport.storage, AsyncInMemoryStorage)
        assert client.storage is not transport.storage


# -- precedence ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_explicit_storage_object_wins_over_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`storage=<object>` > HTTPCACHE_STORAGE: the variable is not used (nor built)."""
    monkeypatch.setenv(VARIABLE, f"file://{tmp_path}/unused")
    storage = AsyncInMemoryStorage()
    async with (
        AsyncCacheClient(storage=storage) as client,
        AsyncCacheTransport(storage=storage) as transport,
    ):
        assert client.storage is storage
        assert transport.storage is storage
    assert not (tmp_path / "unused").exists()


@pytest.mark.anyio
async def test_explicit_storage_url_wins_over_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`storage=<url>` > HTTPCACHE_STORAGE."""
    monkeypatch.setenv(VARIABLE, "memory://")
    async with AsyncCacheClient(storage=f"sqlite:///{tmp_path}/explicit.db") as client:
        assert isinstance(client.storage, AsyncSQLiteStorage)
    async with AsyncCacheTransport(storage=f"file://{tmp_path}/explicit") as transport:
        assert isinstance(transport.storage, AsyncFileStorage)


@pytest.mark.anyio
async def test_explicit_storage_ignores_an_invalid_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The variable is only read when there is no `storage=`, so a bad value is no error then."""
    monkeypatch.setenv(VARIABLE, "ftp://nowhere")
    async with AsyncCacheClient(storage="memory://") as client:
        assert isinstance(client.storage, AsyncInMemoryStorage)
    async with AsyncCacheTransport(storage=AsyncInMemoryStorage()) as transport:
        assert isinstance(transport.storage, AsyncInMemoryStorage)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("ftp://user:s3cret@example.com/", id="unknown-scheme"),
        pytest.param("sqlite://", id="no-path"),
        pytest.param("memory://?capacity=lots&password=s3cret", id="bad-parameter"),
    ],
)
@pytest.mark.parametrize(
    "build", [AsyncCacheClient, AsyncCacheTransport], ids=["client", "transport"]
)
def test_invalid_variable_raises_configuration_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str, build: Callable[[], object]
) -> None:
    """A bad HTTPCACHE_STORAGE is a ConfigurationError that names the variable, not its value."""
    monkeypatch.setenv(VARIABLE, value)
    with pytest.raises(ConfigurationError, match=VARIABLE) as caught:
        build()
    assert "s3cret" not in str(caught.value)
    assert isinstance(caught.value.__cause__, ConfigurationError)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ftp://example.com/", id="unknown-scheme"),
        pytest.param("", id="empty"),
        pytest.param("file://", id="no-directory"),
        pytest.param("memory://?colour=blue", id="unknown-parameter"),
    ],
)
@pytest.mark.parametrize(
    "build", [AsyncCacheClient, AsyncCacheTransport], ids=["client", "transport"]
)
def test_invalid_storage_url_raises_configuration_error(
    url: str, build: Callable[..., object]
) -> None:
    """A bad `storage=` URL is a ConfigurationError (also a ValueError)."""
    with pytest.raises(ConfigurationError):
        build(storage=url)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(42, id="int"),
        pytest.param(b"memory://", id="bytes"),
        pytest.param(pathlib.Path("cache"), id="path"),
        pytest.param(object(), id="object"),
    ],
)
@pytest.mark.parametrize(
    "build", [AsyncCacheClient, AsyncCacheTransport], ids=["client", "transport"]
)
def test_storage_of_another_type_raises_type_error(
    value: object, build: Callable[..., object]
) -> None:
    """Anything but a storage, a URL string or None is a TypeError saying what is accepted."""
    with pytest.raises(TypeError, match=r"storage object .* storage URL string") as caught:
        build(storage=value)
    assert type(value).__name__ in str(caught.value)
