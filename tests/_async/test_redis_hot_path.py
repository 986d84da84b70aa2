"""AsyncRedisStorage's hot path, proven by counting the commands Redis receives.

A hit with a small body is one ``HGETALL`` and no write; storing a small body is one
script call; hits are written back in batches (after the flush interval, at once for a
sliding renewal, and on close); large bodies still go through bounded chunks. Each test
uses its own namespace under ``httpcache-test:`` and removes only its own keys.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis.asyncio
from redis.exceptions import RedisError

from httpcache import AsyncCacheClient, Entry, JSONSerializer, RequestHead, ResponseHead
from httpcache._storages.redis import _scripts
from httpcache._storages.redis._async import AsyncRedisStorage
from httpcache._storages.redis._keys import BODY_CHUNK, index_key
from httpcache._storages.redis._records import INLINE_LIMIT

pytestmark = pytest.mark.redis

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_PREFIX = "httpcache-test"
MiB = 1024 * 1024
T0 = 1_000_000.0
URL = "http://example.com/a"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def counting_client(trips: list[list[str]]) -> redis.asyncio.Redis:
    """Return a client that appends the command names of every round trip to ``trips``."""

    def name(args: Any) -> str:
        first = args[0]
        return (first.decode() if isinstance(first, bytes) else str(first)).upper()

    class Counting(redis.asyncio.Connection):
        async def send_command(self, *args: Any, **kwargs: Any) -> None:
            trips.append([name(args)])
            await super().send_command(*args, **kwargs)

        def pack_commands(self, commands: Iterable[Any]) -> Any:
            commands = [tuple(command) for command in commands]
            trips.append([name(command) for command in commands])
            return super().pack_commands(commands)

    return redis.asyncio.Redis.from_url(REDIS_URL, connection_class=Counting)


def make_entry(url: str = URL, variant: str = "v", **changes: Any) -> Entry:
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


async def put(storage: AsyncRedisStorage, entry: Entry, body: bytes, piece: int = 1024) -> Entry:
    writer = await storage.open_writer(entry)
    for start in range(0, len(body), piece):
        await writer.write(body[start : start + piece])
    return await writer.commit()


async def read(storage: AsyncRedisStorage, entry: Entry) -> list[bytes]:
    stream = await storage.open_body(entry)
    assert stream is not None
    return [chunk async for chunk in stream]


@pytest.fixture
async def client() -> AsyncIterator[redis.asyncio.Redis]:
    """A client for the test server; skip when it is down, or fail under ``CI=true``."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Redis server at {REDIS_URL}: {exc}")
    yield client
    await client.aclose()


@pytest.fixture
async def namespace(client: redis.asyncio.Redis) -> AsyncIterator[str]:
    """A fresh namespace; every key starting with it is removed afterwards."""
    name = f"{TEST_PREFIX}:{uuid.uuid4().hex[:12]}"
    yield name
    leftovers = [key async for key in client.scan_iter(match=name + "*", count=1000)]
    if leftovers:
        await client.unlink(*leftovers)


@pytest.fixture
async def counted(namespace: str) -> AsyncIterator[tuple[AsyncRedisStorage, list[list[str]]]]:
    """A storage over a command-counting client (connected already), and its log."""
    trips: list[list[str]] = []
    recorder = counting_client(trips)
    await recorder.ping()
    storage = AsyncRedisStorage(client=recorder, namespace=namespace, clock=Clock())
    # A fresh server has no script cached: load them all, so counts never include a reload.
    for source in (
        _scripts.COMMIT,
        _scripts.UPDATE,
        _scripts.HITS,
        _scripts.REMOVE,
        _scripts.DROP,
        _scripts.OPEN,
        _scripts.FORGET,
    ):
        await recorder.script_load(source)
    trips.clear()
    yield storage, trips
    await storage.clear()
    await storage.aclose()
    await recorder.aclose()


# -- through the cache transport ---------------------------------------------------------

SMALL = b"s" * 1024
LARGE = b"L" * (2 * MiB + 5)


def origin(body: bytes, max_age: int) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Cache-Control": f"max-age={max_age}", "ETag": '"v1"'}
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers=headers)
        return httpx.Response(200, headers=headers, content=body)

    return httpx.MockTransport(handler)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "max_age", "warm", "expected"),
    [
        pytest.param(SMALL, 3600, True, [["HGETALL"]], id="small-hit-one-read-no-write"),
        # A miss or a revalidation also takes the key's lease (SET NX PX) before the origin
        # request and gives it back (EVALSHA) after: request collapsing across processes.
        pytest.param(
            SMALL,
            3600,
            False,
            [["HGETALL"], ["SET"], ["EVALSHA"], ["EVALSHA"]],
            id="small-miss-then-one-commit",
        ),
        pytest.param(
            SMALL,
            0,
            True,
            [["HGETALL"], ["SET"], ["EVALSHA"], ["EVALSHA"]],
            id="small-304-one-update",
        ),
        pytest.param(
            LARGE,
            3600,
            True,
            [["HGETALL"], ["EVALSHA"], ["LINDEX"], ["LINDEX"]],
            id="large-hit-checks-the-list-then-streams-three-chunks",
        ),
        pytest.param(
            LARGE,
            3600,
            False,
            [["HGETALL"], ["SET"], ["MULTI", "RPUSH", "PEXPIRE", "EXEC"], ["EVALSHA"], ["EVALSHA"]],
            id="large-miss-stages-full-chunks-then-commits-the-rest",
        ),
    ],
)
async def test_redis_transport_request_costs_the_expected_round_trips(
    counted: tuple[AsyncRedisStorage, list[list[str]]],
    body: bytes,
    max_age: int,
    warm: bool,
    expected: list[list[str]],
) -> None:
    storage, trips = counted
    async with AsyncCacheClient(storage=storage, transport=origin(body, max_age)) as http:
        guard = http._transport._guard  # type: ignore[attr-defined]
        if warm:
            assert (await http.get(URL)).content == body
            await guard.drain()  # the warm-up's lease release, run on a worker when sync
        trips.clear()
        response = await http.get(URL)
        assert response.content == body
        assert response.extensions["from_cache"] is (warm and max_age > 0)
        await guard.drain()
        assert trips == expected


# -- the writer and the reader -------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("size", "inline"),
    [
        pytest.param(0, True, id="empty"),
        pytest.param(INLINE_LIMIT, True, id="at-the-inline-limit"),
        pytest.param(INLINE_LIMIT + 1, False, id="just-past-the-limit"),
        pytest.param(BODY_CHUNK, False, id="one-full-chunk"),
        pytest.param(2 * BODY_CHUNK + 1, False, id="three-chunks"),
    ],
)
async def test_redis_writer_small_body_is_inline_and_large_body_is_chunked(
    counted: tuple[AsyncRedisStorage, list[list[str]]], size: int, inline: bool
) -> None:
    storage, trips = counted
    body = os.urandom(size)
    await put(storage, make_entry(), body, piece=16 * 1024)
    commits = [trip for trip in trips if trip == ["EVALSHA"]]
    stages = [trip for trip in trips if "RPUSH" in trip]
    assert len(commits) == 1
    assert len(stages) == (0 if inline else size // BODY_CHUNK)

    trips.clear()
    [found] = await storage.get_entries(URL)
    assert trips == [["HGETALL"]]
    assert (found.body is not None) is inline
    assert (found.body_ref is not None) is not inline
    chunks = await read(storage, found)
    assert b"".join(chunks) == body
    assert all(len(chunk) <= BODY_CHUNK for chunk in chunks)
    reads = len(trips) - 1
    assert reads == (0 if inline else -(-size // BODY_CHUNK))


@pytest.mark.anyio
async def test_redis_open_body_without_a_reference_never_pairs_an_old_head_with_a_new_body(
    client: redis.asyncio.Redis, namespace: str
) -> None:
    storage = AsyncRedisStorage(client=client, namespace=namespace, clock=Clock())
    old = await put(storage, make_entry(), b"old body")
    [seen] = await storage.get_entries(URL)
    await put(storage, make_entry(created_at=T0 + 5, response_time=T0 + 5), b"the new body")
    assert b"".join(await read(storage, seen)) == b"old body"  # the body read with the head
    assert await storage.open_body(replace(seen, body=None)) is None
    await storage.update_entry(replace(seen, response=ResponseHead(200, ((b"ETag", b"old"),))))
    await storage.record_hit(seen)
    await storage.aclose()  # writes the hit back: it must not land on the newer response
    [current] = await storage.get_entries(old.key)
    assert (current.created_at, current.hits) == (T0 + 5, 0)
    assert (b"ETag", b"old") not in current.response.headers
    assert b"".join(await read(storage, replace(current, body=None))) == b"the new body"
    await storage.clear()


@pytest.mark.anyio
async def test_redis_record_from_the_older_layout_is_a_miss_and_removed(
    client: redis.asyncio.Redis, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    serializer = JSONSerializer()
    storage = AsyncRedisStorage(client=client, namespace=namespace, serializer=serializer)
    entry = make_entry(size=5)
    index = index_key(storage._base, entry.key)
    old_id = uuid.uuid4().hex
    body = f"{storage.key_prefix}#b:{old_id}".encode()
    await client.hset(index, mapping={b"h:v": serializer.dumps(entry), b"b:v": old_id})
    await client.rpush(body, b"hello")
    with caplog.at_level(logging.WARNING, logger="httpcache.storage"):
        assert await storage.get_entries(entry.key) == []
    assert [r.name for r in caplog.records] == ["httpcache.storage"]
    assert await client.exists(index) == 0
    assert 0 < await client.pttl(body) <= 60_000  # its body list is retired too
    await storage.clear()


# -- hits -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_redis_hits_are_written_back_after_the_interval_and_on_close(
    counted: tuple[AsyncRedisStorage, list[list[str]]], client: redis.asyncio.Redis
) -> None:
    storage, trips = counted
    clock = storage._clock
    assert isinstance(clock, Clock)
    other = AsyncRedisStorage(client=client, namespace=storage.namespace, clock=clock)
    committed = await put(storage, make_entry(), b"x" * 100)
    urls = [f"http://example.com/{n}" for n in range(50)]
    for url in urls:
        await put(storage, make_entry(url), b"y")

    trips.clear()
    for _ in range(3):
        await storage.record_hit(committed)
    for url in urls:
        await storage.record_hit(make_entry(url, size=1))
    assert trips == []  # a hit never writes on the request path
    [mine] = await storage.get_entries(URL)
    [theirs] = await other.get_entries(URL)
    assert (mine.hits, mine.accessed_at) == (3, T0)  # this process sees its own hits
    assert (theirs.hits, theirs.accessed_at) == (0, None)  # others see them after the flush

    clock.now = T0 + 1  # the interval has passed: the next hit writes the batch back
    trips.clear()
    await storage.record_hit(committed)
    assert trips == [["EVALSHA"]]  # one script call for the whole batch
    [theirs] = await other.get_entries(URL)
    assert (theirs.hits, theirs.accessed_at) == (4, T0 + 1)
    for url in urls:
        [found] = await other.get_entries(url)
        assert found.hits == 1

    await storage.record_hit(committed)
    await storage.aclose()
    await storage.aclose()  # closing twice is safe and writes nothing twice
    [theirs] = await other.get_entries(URL)
    assert theirs.hits == 5


@pytest.mark.anyio
async def test_redis_deleted_entries_lose_their_pending_hits(
    client: redis.asyncio.Redis, namespace: str
) -> None:
    storage = AsyncRedisStorage(client=client, namespace=namespace, clock=Clock())
    committed = await put(storage, make_entry(), b"x")
    await storage.record_hit(committed)
    await storage.delete_entries(URL, ["v"])
    again = await put(storage, make_entry(), b"x")  # the same stamp as the deleted one
    await storage.aclose()
    [found] = await storage.get_entries(again.key)
    assert found.hits == 0
    await storage.clear()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("at", "renewal"),
    [
        pytest.param(T0 + 50, True, id="renewal-due-writes-at-once"),
        pytest.param(T0 + 1, False, id="interval-write-back-also-slides"),
    ],
)
async def test_redis_sliding_hit_write_back_pushes_native_expiry_back(
    client: redis.asyncio.Redis, namespace: str, at: float, renewal: bool
) -> None:
    clock = Clock()
    storage = AsyncRedisStorage(
        client=client, namespace=namespace, ttl=100, sliding=True, grace=0, clock=clock
    )
    committed = await put(storage, make_entry(), b"z" * (INLINE_LIMIT + 1))
    keys = [key async for key in client.scan_iter(match=storage.key_prefix + "*")]
    assert len(keys) == 2  # the index and the body list
    for key in keys:  # as if most of the lifetime had passed on the server
        await client.pexpire(key, 5_000)
    clock.now = at
    await storage.record_hit(committed)
    if not renewal:
        for key in keys:
            assert await client.pttl(key) <= 5_000  # buffered, not written yet
        clock.now = at + 1
        await storage.record_hit(committed)  # the interval passed: written back
    expected = 100_000  # the last hit + ttl, from now
    for key in keys:
        left = await client.pttl(key)
        assert expected - 10_000 < left <= expected, (key, left)
    [found] = await storage.get_entries(URL)
    assert found.accessed_at == clock.now
    await storage.clear()


@pytest.mark.anyio
async def test_redis_hits_written_back_by_two_storages_add_up(
    client: redis.asyncio.Redis, namespace: str
) -> None:
    first, second = (
        AsyncRedisStorage(client=client, namespace=namespace, clock=Clock()) for _ in range(2)
    )
    committed = await put(first, make_entry(), b"x")
    for storage, count in ((first, 3), (second, 4)):
        for _ in range(count):
            await storage.record_hit(committed)
    await first.aclose()
    await second.aclose()
    reader = AsyncRedisStorage(client=client, namespace=namespace, clock=Clock())
    [found] = await reader.get_entries(URL)
    assert found.hits == 7
    await reader.clear()


class CountingSerializer(JSONSerializer):
    def __init__(self) -> None:
        super().__init__()
        self.loads_calls = 0

    def loads(self, data: bytes) -> Entry:
        self.loads_calls += 1
        return super().loads(data)


@pytest.mark.anyio
async def test_redis_hot_head_is_decoded_once_until_it_changes(
    client: redis.asyncio.Redis, namespace: str
) -> None:
    serializer = CountingSerializer()
    storage = AsyncRedisStorage(
        client=client, namespace=namespace, serializer=serializer, clock=Clock()
    )
    committed = await put(storage, make_entry(), b"x")
    for _ in range(5):
        [found] = await storage.get_entries(URL)
        assert found.body == b"x"
    assert serializer.loads_calls == 1
    await storage.update_entry(replace(committed, response=ResponseHead(200, ((b"ETag", b"2"),))))
    [found] = await storage.get_entries(URL)
    assert found.response.headers == ((b"ETag", b"2"),)
    assert serializer.loads_calls == 2
    await storage.clear()
