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
import redis
from redis.exceptions import RedisError

from httpcache import (
    CacheClient,
    CacheTransport,
    FileStorage,
    InMemoryStorage,
    RedisStorage,
    SQLiteStorage,
    Storage,
    ConfigurationError,
)

from .support import BASE, Origin, respond

FRESH = {"Cache-Control": "max-age=60"}
VARIABLE = "HTTPCACHE_STORAGE"
# As in backend_redis.py, which this module does not import (it would import every contract
# backend): the server, and the prefix every test namespace lives under.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_PREFIX = "httpcache-test"


def _require_redis() -> None:
    """Skip (or fail under ``CI=true``) unless the test Redis server answers."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        message = f"no Redis server at {REDIS_URL}: {exc}"
        if os.environ.get("CI") == "true":
            raise RuntimeError(message) from exc
        pytest.skip(message)
    finally:
        client.close()


def _count_closes(monkeypatch: pytest.MonkeyPatch, storage: Storage) -> list[int]:
    """Make `storage.close` record each call (in a list, whose length is the count)."""
    closes: list[int] = []
    original = storage.close

    def close() -> None:
        closes.append(1)
        original()

    monkeypatch.setattr(storage, "close", close)
    return closes


def _two_gets(client: CacheClient) -> tuple[httpx.Response, httpx.Response]:
    first = client.get("/a")
    second = client.get("/a")
    return first, second


# -- each scheme that needs no server, through the client ------------------------------------


@pytest.mark.parametrize(
    ("make_url", "kind"),
    [
        pytest.param(lambda tmp: "memory://?capacity=10", InMemoryStorage, id="memory"),
        pytest.param(lambda tmp: f"file://{tmp}/files", FileStorage, id="file"),
        pytest.param(lambda tmp: f"sqlite:///{tmp}/cache.db", SQLiteStorage, id="sqlite"),
        pytest.param(lambda tmp: str(tmp / "plain"), FileStorage, id="plain-path"),
    ],
)
def test_client_storage_url_second_request_is_a_hit(
    tmp_path: Path, make_url: Callable[[Path], str], kind: type
) -> None:
    """A URL names the backend; the second request is served from it."""
    origin = Origin(respond(200, FRESH))
    with CacheClient(
        storage=make_url(tmp_path), transport=httpx.MockTransport(origin), base_url=BASE
    ) as client:
        assert isinstance(client.storage, kind)
        first, second = _two_gets(client)
    assert first.extensions["from_cache"] is False
    assert second.extensions["from_cache"] is True
    assert second.content == b"hello"
    assert origin.calls == 1


def test_client_sqlite_url_persists_across_clients(tmp_path: Path) -> None:
    """Two clients built from one sqlite:// URL share the database file."""
    url = f"sqlite:///{tmp_path}/shared.db"
    origin = Origin(respond(200, FRESH))
    with CacheClient(
        storage=url, transport=httpx.MockTransport(origin), base_url=BASE
    ) as client:
        assert (client.get("/a")).extensions["from_cache"] is False
    with CacheClient(
        storage=url, transport=httpx.MockTransport(origin), base_url=BASE
    ) as client:
        assert (client.get("/a")).extensions["from_cache"] is True
    assert origin.calls == 1
    assert (tmp_path / "shared.db").is_file()


@pytest.mark.redis
def test_client_redis_url_second_request_is_a_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    """redis:// against the test server, in a namespace of its own (cleared afterwards)."""
    _require_redis()
    namespace = f"{TEST_PREFIX}:urls-{uuid.uuid4().hex[:8]}"
    url = f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}namespace={namespace}"
    origin = Origin(respond(200, FRESH))
    client = CacheClient(storage=url, transport=httpx.MockTransport(origin), base_url=BASE)
    storage = client.storage
    assert isinstance(storage, RedisStorage)
    closes = _count_closes(monkeypatch, storage)
    try:
        first, second = _two_gets(client)
        assert [entry.request.url for entry in storage.iter_entries()] == [BASE + "/a"]
    finally:
        storage.clear()
        client.close()
    assert first.extensions["from_cache"] is False
    assert second.extensions["from_cache"] is True
    assert origin.calls == 1
    assert closes == [1]


# -- ownership -------------------------------------------------------------------------------


def test_client_url_storage_closed_once_with_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client owns a storage it built from a URL; its transports do not close it again."""
    client = CacheClient(
        storage=f"sqlite:///{tmp_path}/owned.db",
        transport=httpx.MockTransport(Origin(respond(200, FRESH))),
        mounts={"http://other.example": httpx.MockTransport(Origin())},
        base_url=BASE,
    )
    closes = _count_closes(monkeypatch, client.storage)
    with client:
        client.get("/a")
        assert closes == []
    assert closes == [1]


def test_client_url_storage_closed_by_aclose(monkeypatch: pytest.MonkeyPatch) -> None:
    """`close()` without `with` closes an owned storage too."""
    client = CacheClient(storage="memory://", transport=httpx.MockTransport(Origin()))
    closes = _count_closes(monkeypatch, client.storage)
    client.close()
    assert closes == [1]


def test_transport_url_storage_closed_with_the_transport(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transport owns a storage it built from a URL, and serves hits from it."""
    origin = Origin(respond(200, FRESH))
    transport = CacheTransport(httpx.MockTransport(origin), storage=f"file://{tmp_path}/files")
    assert isinstance(transport.storage, FileStorage)
    closes = _count_closes(monkeypatch, transport.storage)
    with httpx.Client(transport=transport, base_url=BASE) as client:
        first = client.get("/a")
        second = client.get("/a")
    assert (first.extensions["from_cache"], second.extensions["from_cache"]) == (False, True)
    assert origin.calls == 1
    assert closes == [1]


def test_storage_object_passed_in_is_not_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A storage object you pass stays open, for the client and for the transport."""
    storage = InMemoryStorage()
    closes = _count_closes(monkeypatch, storage)
    with CacheClient(storage=storage, transport=httpx.MockTransport(Origin())) as c:
        assert c.storage is storage
    with CacheTransport(httpx.MockTransport(Origin()), storage=storage) as t:
        assert t.storage is storage
    assert closes == []


# -- the HTTPCACHE_STORAGE environment variable ----------------------------------------------


def test_client_environment_variable_names_the_default_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `storage=`, HTTPCACHE_STORAGE is the storage; the client owns and closes it."""
    monkeypatch.setenv(VARIABLE, f"sqlite:///{tmp_path}/env.db")
    origin = Origin(respond(200, FRESH))
    client = CacheClient(transport=httpx.MockTransport(origin), base_url=BASE)
    assert isinstance(client.storage, SQLiteStorage)
    closes = _count_closes(monkeypatch, client.storage)
    with client:
        first, second = _two_gets(client)
    assert (first.extensions["from_cache"], second.extensions["from_cache"]) == (False, True)
    assert origin.calls == 1
    assert closes == [1]
    assert (tmp_path / "env.db").is_file()


def test_transport_environment_variable_names_the_default_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transport reads HTTPCACHE_STORAGE too, and owns what it builds from it."""
    monkeypatch.setenv(VARIABLE, f"file://{tmp_path}/env-files")
    origin = Origin(respond(200, FRESH))
    transport = CacheTransport(httpx.MockTransport(origin))
    assert isinstance(transport.storage, FileStorage)
    closes = _count_closes(monkeypatch, transport.storage)
    with httpx.Client(transport=transport, base_url=BASE) as client:
        client.get("/a")
        assert (client.get("/a")).extensions["from_cache"] is True
    assert origin.calls == 1
    assert closes == [1]
    assert (tmp_path / "env-files").is_dir()


def test_environment_variable_read_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each client reads the variable when it is made; a later change affects later clients."""
    monkeypatch.setenv(VARIABLE, "memory://")
    first = CacheClient()
    monkeypatch.setenv(VARIABLE, f"file://{tmp_path}/later")
    second = CacheClient()
    try:
        assert isinstance(first.storage, InMemoryStorage)
        assert isinstance(second.storage, FileStorage)
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("value", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_without_storage_or_variable_the_default_is_in_memory(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    """An unset, empty or blank HTTPCACHE_STORAGE means a new in-memory storage."""
    if value is None:
        monkeypatch.delenv(VARIABLE, raising=False)
    else:
        monkeypatch.setenv(VARIABLE, value)
    with CacheClient() as client, CacheTransport() as transport:
        assert isinstance(client.storage, InMemoryStorage)
        assert isinstance(transport.storage, InMemoryStorage)
        assert client.storage is not transport.storage


# -- precedence ------------------------------------------------------------------------------


def test_explicit_storage_object_wins_over_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`storage=<object>` > HTTPCACHE_STORAGE: the variable is not used (nor built)."""
    monkeypatch.setenv(VARIABLE, f"file://{tmp_path}/unused")
    storage = InMemoryStorage()
    with (
        CacheClient(storage=storage) as client,
        CacheTransport(storage=storage) as transport,
    ):
        assert client.storage is storage
        assert transport.storage is storage
    assert not (tmp_path / "unused").exists()


def test_explicit_storage_url_wins_over_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`storage=<url>` > HTTPCACHE_STORAGE."""
    monkeypatch.setenv(VARIABLE, "memory://")
    with CacheClient(storage=f"sqlite:///{tmp_path}/explicit.db") as client:
        assert isinstance(client.storage, SQLiteStorage)
    with CacheTransport(storage=f"file://{tmp_path}/explicit") as transport:
        assert isinstance(transport.storage, FileStorage)


def test_explicit_storage_ignores_an_invalid_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The variable is only read when there is no `storage=`, so a bad value is no error then."""
    monkeypatch.setenv(VARIABLE, "ftp://nowhere")
    with CacheClient(storage="memory://") as client:
        assert isinstance(client.storage, InMemoryStorage)
    with CacheTransport(storage=InMemoryStorage()) as transport:
        assert isinstance(transport.storage, InMemoryStorage)


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
    "build", [CacheClient, CacheTransport], ids=["client", "transport"]
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
    "build", [CacheClient, CacheTransport], ids=["client", "transport"]
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
    "build", [CacheClient, CacheTransport], ids=["client", "transport"]
)
def test_storage_of_another_type_raises_type_error(
    value: object, build: Callable[..., object]
) -> None:
    """Anything but a storage, a URL string or None is a TypeError saying what is accepted."""
    with pytest.raises(TypeError, match=r"storage object .* storage URL string") as caught:
        build(storage=value)
    assert type(value).__name__ in str(caught.value)
