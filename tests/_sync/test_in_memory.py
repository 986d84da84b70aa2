"""InMemoryStorage: LRU by count and bytes, TTL, visibility on commit, management."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from httpcache import (
    InMemoryStorage,
    ManagedStorage,
    Storage,
    ConfigurationError,
    Entry,
    JSONSerializer,
    RequestHead,
    ResponseHead,
    StorageStats,
)

from .support import BASE, T0, Clock, stored_body


def make_entry(path: str = "/a", variant: str = "v", *, at: float = T0, **changes: Any) -> Entry:
    entry = Entry(
        key=BASE + path if path.startswith("/") else path,
        variant=variant,
        request=RequestHead("GET", BASE + path if path.startswith("/") else path),
        response=ResponseHead(200, ((b"Cache-Control", b"max-age=60"),)),
        request_time=at,
        response_time=at,
        created_at=at,
    )
    return replace(entry, **changes)


def put(storage: InMemoryStorage, entry: Entry, body: bytes = b"hello") -> Entry:
    writer = storage.open_writer(entry)
    writer.write(body)
    return writer.commit()


def paths(storage: InMemoryStorage) -> list[str]:
    return sorted([entry.request.url[len(BASE) :] for entry in storage.iter_entries()])


def run_blocking(func: Callable[..., Any], *args: Any) -> Any:
    """Call `func` on this thread; run it to completion if it is a coroutine function."""
    result = func(*args)
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    return result


def test_in_memory_satisfies_storage_protocols() -> None:
    """DESIGN §3: the built-in storage implements the storage and management protocols."""
    storage = InMemoryStorage()
    assert isinstance(storage, Storage)
    assert isinstance(storage, ManagedStorage)


def test_in_memory_capacity_evicts_least_recently_used() -> None:
    """DESIGN §3: over capacity, the least recently used variant goes; a read entry survives."""
    storage = InMemoryStorage(capacity=2)
    a = put(storage, make_entry("/a"))
    put(storage, make_entry("/b"))
    assert stored_body(storage, a) == b"hello"  # /a is now the most recently used
    put(storage, make_entry("/c"))
    assert paths(storage) == ["/a", "/c"]
    storage.record_hit(a)
    put(storage, make_entry("/d"))
    assert paths(storage) == ["/a", "/d"]


def test_in_memory_max_bytes_evicts_oldest_bodies() -> None:
    """DESIGN §3: the optional byte budget evicts least recently used bodies."""
    storage = InMemoryStorage(max_bytes=10)
    put(storage, make_entry("/a"), b"123456")
    put(storage, make_entry("/b"), b"1234")
    assert storage.stats() == StorageStats(entries=2, bytes=10)
    put(storage, make_entry("/c"), b"1")
    assert paths(storage) == ["/b", "/c"]
    assert storage.stats() == StorageStats(entries=2, bytes=5)


def test_in_memory_ttl_expires_with_injected_clock() -> None:
    """DESIGN §3: `ttl` counts from the entry's last write, read from the injected clock."""
    clock = Clock()
    storage = InMemoryStorage(ttl=10, clock=clock)
    entry = put(storage, make_entry())
    clock.advance(9.5)
    assert storage.get_entries(entry.key) == [entry]
    clock.advance(0.5)
    assert storage.get_entries(entry.key) == []
    assert storage.stats() == StorageStats(entries=0, bytes=0)


def test_in_memory_entry_ttl_overrides_storage_ttl() -> None:
    """DESIGN §6: an entry's own ttl (`httpcache_ttl`) replaces the storage's."""
    clock = Clock()
    storage = InMemoryStorage(ttl=100, clock=clock)
    entry = put(storage, make_entry(ttl=5))
    clock.advance(5)
    assert storage.get_entries(entry.key) == []


def test_in_memory_entry_invisible_until_commit() -> None:
    """DESIGN §3: an entry becomes visible only when its writer commits."""
    storage = InMemoryStorage()
    entry = make_entry()
    writer = storage.open_writer(entry)
    writer.write(b"hel")
    writer.write(b"lo")
    assert storage.get_entries(entry.key) == []
    assert storage.stats() == StorageStats(entries=0, bytes=0)
    committed = writer.commit()
    assert committed == replace(entry, size=5)
    assert storage.get_entries(entry.key) == [committed]
    assert stored_body(storage, committed) == b"hello"


def test_in_memory_abort_leaves_nothing() -> None:
    """DESIGN §3: an aborted writer leaves no trace, not even over an older entry."""
    storage = InMemoryStorage()
    old = put(storage, make_entry(), b"old")
    writer = storage.open_writer(make_entry(hits=7))
    writer.write(b"new body")
    writer.abort()
    assert storage.get_entries(old.key) == [old]
    assert stored_body(storage, old) == b"old"
    assert storage.stats() == StorageStats(entries=1, bytes=3)
    with pytest.raises(RuntimeError):
        writer.commit()


def test_in_memory_commit_replaces_same_variant() -> None:
    """DESIGN §3: a commit replaces the entry with the same key and variant."""
    storage = InMemoryStorage()
    put(storage, make_entry(), b"old")
    new = put(storage, make_entry(at=T0 + 1), b"newer")
    assert storage.get_entries(new.key) == [new]
    assert storage.stats() == StorageStats(entries=1, bytes=5)


def test_in_memory_open_body_chunks_then_stops() -> None:
    """DESIGN §3: open_body streams the stored body; a missing entry gives None."""
    storage = InMemoryStorage()
    entry = put(storage, make_entry(), b"hello")
    chunks = storage.open_body(entry)
    assert chunks is not None
    assert chunks.__next__() == b"hello"
    with pytest.raises(StopIteration):
        chunks.__next__()
    assert storage.open_body(make_entry("/missing")) is None


def test_in_memory_update_entry_keeps_body() -> None:
    """DESIGN §3, RFC 9111 §3.2: update_entry replaces the head, the body stays."""
    storage = InMemoryStorage()
    entry = put(storage, make_entry(), b"hello")
    headers = ((b"Cache-Control", b"max-age=600"), (b"X-New", b"1"))
    updated = replace(entry, response=replace(entry.response, headers=headers))
    storage.update_entry(updated)
    assert storage.get_entries(entry.key) == [updated]
    assert stored_body(storage, updated) == b"hello"
    storage.update_entry(make_entry("/missing"))  # a gone entry is a no-op
    assert storage.get_entries(BASE + "/missing") == []


def test_in_memory_record_hit_increments_hits() -> None:
    """DESIGN §6: record_hit counts uses of an entry."""
    storage = InMemoryStorage()
    entry = put(storage, make_entry())
    for _ in range(3):
        storage.record_hit(entry)
    [stored] = storage.get_entries(entry.key)
    assert stored.hits == 3
    storage.record_hit(make_entry("/missing"))  # best effort: no error


@pytest.mark.parametrize(
    ("deleted", "left"),
    [
        pytest.param(["v1"], ["v2", "v3"], id="one"),
        pytest.param(["v1", "v3"], ["v2"], id="some"),
        pytest.param(["unknown"], ["v1", "v2", "v3"], id="unknown-variant"),
        pytest.param([], ["v1", "v2", "v3"], id="empty-list"),
        pytest.param(None, [], id="all"),
    ],
)
def test_in_memory_delete_entries_removes_variants(
    deleted: list[str] | None, left: list[str]
) -> None:
    """DESIGN §3: delete_entries drops the named variants of a key, or all of them."""
    storage = InMemoryStorage()
    for variant in ("v1", "v2", "v3"):
        put(storage, make_entry(variant=variant))
    other = put(storage, make_entry("/b"))
    storage.delete_entries(BASE + "/a", deleted)
    remaining = storage.get_entries(BASE + "/a")
    assert sorted(entry.variant for entry in remaining) == left
    assert storage.get_entries(other.key) == [other]
    assert (storage.stats()).entries == len(left) + 1


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        pytest.param(None, ["/a", "/a/b", "/c?x=1"], id="all"),
        pytest.param(BASE + "/a*", ["/a", "/a/b"], id="prefix"),
        pytest.param(BASE + "/c?x=*", ["/c?x=1"], id="query"),
        pytest.param("http://other.example/*", [], id="other-host"),
    ],
)
def test_in_memory_iter_entries_filters_by_glob(
    pattern: str | None, expected: list[str]
) -> None:
    """DESIGN §3: iter_entries lists entries, optionally by a URL glob."""
    storage = InMemoryStorage()
    for path in ("/a", "/a/b", "/c?x=1"):
        put(storage, make_entry(path))
    found = sorted([e.request.url[len(BASE) :] for e in storage.iter_entries(pattern)])
    assert found == expected


def test_in_memory_delete_expired_counts_removed() -> None:
    """DESIGN §3: delete_expired drops entries past their lifetime and says how many."""
    clock = Clock()
    storage = InMemoryStorage(ttl=10, clock=clock)
    put(storage, make_entry("/a"))
    put(storage, make_entry("/b"))
    put(storage, make_entry("/c", at=T0 + 5))
    clock.advance(12)
    assert storage.delete_expired() == 2
    assert paths(storage) == ["/c"]
    assert storage.delete_expired() == 0
    assert storage.stats() == StorageStats(entries=1, bytes=5)


def test_in_memory_clear_removes_everything() -> None:
    """DESIGN §3: clear empties the storage."""
    storage = InMemoryStorage()
    for path in ("/a", "/b"):
        put(storage, make_entry(path))
    storage.clear()
    assert storage.stats() == StorageStats(entries=0, bytes=0)
    assert paths(storage) == []


def test_in_memory_stats_and_health_report() -> None:
    """DESIGN §3: stats counts entries and body bytes; memory is always healthy."""
    storage = InMemoryStorage()
    assert storage.stats() == StorageStats(entries=0, bytes=0)
    put(storage, make_entry("/a"), b"12345")
    put(storage, make_entry("/a", variant="w"), b"123")
    assert storage.stats() == StorageStats(entries=2, bytes=8)
    assert storage.health() is True


def test_in_memory_aclose_twice_is_safe() -> None:
    """RFC-free contract: close is idempotent, and the storage is a context manager."""
    with InMemoryStorage() as storage:
        put(storage, make_entry())
    storage.close()
    storage.close()


def test_in_memory_json_serializer_round_trips_entry() -> None:
    """P-32, DESIGN §4: with a serializer, heads are stored as records and read back equal."""
    storage = InMemoryStorage(serializer=JSONSerializer(), clock=Clock())
    headers = ((b"X-Name", b"caf\xe9"), (b"Link", b"</a>"), (b"Link", b"</b>"))
    entry = make_entry(response=ResponseHead(200, headers, "OK"), ttl=30.0)
    committed = put(storage, entry, b"body")
    [stored] = storage.get_entries(entry.key)
    assert stored == committed == replace(entry, size=4)
    storage.record_hit(stored)
    [hit] = storage.get_entries(entry.key)
    assert hit.hits == 1
    assert hit.response.headers == headers


class CorruptingSerializer:
    """Writes records that no serializer can read back."""

    def dumps(self, entry: Entry) -> bytes:
        return b"\x00 not a record"

    def loads(self, data: bytes) -> Entry:
        return JSONSerializer().loads(data)


def test_in_memory_corrupt_record_is_miss_removed_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """DESIGN §4: corrupt data is a cache miss: the entry is removed and a warning logged."""
    caplog.set_level(logging.WARNING, logger="httpcache")
    storage = InMemoryStorage(serializer=CorruptingSerializer())
    entry = put(storage, make_entry())
    assert storage.get_entries(entry.key) == []
    assert storage.stats() == StorageStats(entries=0, bytes=0)
    assert [r for r in caplog.records if r.name.startswith("httpcache")]


def test_in_memory_concurrent_writers_lose_nothing() -> None:
    """DESIGN §3: writers on several threads at once: every committed entry is kept."""
    storage = InMemoryStorage(capacity=1000)
    threads, per_thread = 4, 50
    barrier = threading.Barrier(threads)

    def writer(index: int) -> None:
        barrier.wait()
        for n in range(per_thread):
            put(storage, make_entry(f"/t{index}", variant=f"v{n}"), b"x" * (n + 1))
            storage.get_entries(BASE + f"/t{(index + 1) % threads}")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda index: run_blocking(writer, index), range(threads)))
    expected_bytes = threads * sum(range(1, per_thread + 1))
    assert storage.stats() == StorageStats(entries=threads * per_thread, bytes=expected_bytes)
    for index in range(threads):
        assert len(storage.get_entries(BASE + f"/t{index}")) == per_thread


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"capacity": 0}, id="capacity-zero"),
        pytest.param({"capacity": -1}, id="capacity-negative"),
        pytest.param({"max_bytes": -1}, id="max-bytes-negative"),
        pytest.param({"ttl": -0.5}, id="ttl-negative"),
    ],
)
def test_in_memory_invalid_arguments_raise_configuration_error(kwargs: dict[str, Any]) -> None:
    """STYLE 5: bad configuration is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        InMemoryStorage(**kwargs)


def test_in_memory_arguments_are_keyword_only() -> None:
    """STYLE 3: configuration arguments are keyword-only."""
    with pytest.raises(TypeError):
        InMemoryStorage(10)  # type: ignore[misc]
