"""What a hit and a store cost FileStorage, counted in real file-system calls (DESIGN §3).

A hit is one ``open`` + ``read`` of the key's record and no write; a store is one
temporary file renamed into place; hits are written back in batches (once per flush
interval, at once for a sliding renewal, and on close) and another storage on the
same directory, standing in for another process, sees them only then.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

import httpcache
from httpcache import Entry, JSONSerializer, RequestHead, ResponseHead
from httpcache._storages._hits import FLUSH_INTERVAL
from httpcache._storages.file import _layout as layout
from httpcache._storages.file._sync import FileStorage

from .support import BASE, T0, Clock

KiB = 1024
WRITES = ("write", "replace", "rename", "mkdir", "unlink", "rmdir", "create")


class Calls:
    """Counts file-system calls made by any thread while :meth:`counting` is active."""

    NAMES = ("open", "read", "write", "replace", "rename", "mkdir", "unlink", "rmdir", "listdir")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: Counter[str] = Counter()
        self._on = False
        for name in self.NAMES:
            monkeypatch.setattr(os, name, self._wrap(name, getattr(os, name)))
        monkeypatch.setattr(builtins, "open", self._wrap("builtin_open", builtins.open))

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            if self._on:
                self.counts[name] += 1
                if name == "open" and len(args) > 1 and args[1] & os.O_CREAT:
                    self.counts["create"] += 1
            return fn(*args, **kwargs)

        return counted

    @contextlib.contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        self.counts.clear()
        self._on = True
        try:
            yield self.counts
        finally:
            self._on = False

    def writes(self) -> dict[str, int]:
        return {name: self.counts[name] for name in WRITES if self.counts[name]}


class CountingSerializer(JSONSerializer):
    def __init__(self) -> None:
        super().__init__()
        self.loads_calls = 0

    def loads(self, data: bytes) -> Entry:
        self.loads_calls += 1
        return super().loads(data)


def make_entry(path: str = "/a", variant: str = "v", *, at: float = T0) -> Entry:
    return Entry(
        key=BASE + path,
        variant=variant,
        request=RequestHead("GET", BASE + path),
        response=ResponseHead(200, ((b"Cache-Control", b"max-age=60"),)),
        request_time=at,
        response_time=at,
        created_at=at,
    )


def put(storage: FileStorage, entry: Entry, body: bytes = b"hello") -> Entry:
    writer = storage.open_writer(entry)
    for start in range(0, len(body), 16 * KiB):
        writer.write(body[start : start + 16 * KiB])
    return writer.commit()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    return Calls(monkeypatch)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "cache"


# -- a hit -----------------------------------------------------------------------------------


def test_file_storage_small_hit_is_one_read_and_no_write(
    base: Path, clock: Clock, calls: Calls
) -> None:
    storage = FileStorage(base_path=base, clock=clock)
    put(storage, make_entry(variant="en"), b"english")
    put(storage, make_entry(variant="de"), b"deutsch")
    storage.get_entries(BASE + "/a")  # the first operation checks the sweep marker
    with calls.counting() as counts:
        found = storage.get_entries(BASE + "/a")
        for entry in found:
            storage.record_hit(entry)
    assert {e.variant: e.body for e in found} == {"en": b"english", "de": b"deutsch"}
    assert (counts["open"], counts["read"]) == (1, 1)
    assert calls.writes() == {}
    assert counts["listdir"] == counts["builtin_open"] == 0


def test_file_storage_hit_through_the_transport_never_opens_the_body(
    base: Path, clock: Clock, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = FileStorage(base_path=base, clock=clock)
    opened: list[Entry] = []
    original = storage.open_body

    def open_body(entry: Entry) -> Any:
        opened.append(entry)
        return original(entry)

    monkeypatch.setattr(storage, "open_body", open_body)
    origin = httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=b"x")
    )
    options = httpcache.CacheOptions(clock=clock)
    with httpcache.CacheClient(
        storage=storage, transport=origin, options=options
    ) as client:
        client.get(BASE + "/page")
        with calls.counting() as counts:
            response = client.get(BASE + "/page")
        assert response.extensions["from_cache"] is True
        assert response.content == b"x"
    assert (counts["open"], counts["read"]) == (1, 1)
    assert calls.writes() == {}
    assert opened == []


def test_file_storage_unchanged_record_is_decoded_once(base: Path, clock: Clock) -> None:
    """Decoding is memoised by the record's exact bytes; a rewritten record is read afresh."""
    serializer = CountingSerializer()
    storage = FileStorage(base_path=base, clock=clock, serializer=serializer)
    other = FileStorage(base_path=base, clock=clock)  # another process
    committed = put(storage, make_entry())
    for _ in range(5):
        [found] = storage.get_entries(committed.key)
    assert serializer.loads_calls == 1
    fresher = ResponseHead(200, ((b"Cache-Control", b"max-age=600"),))
    [theirs] = other.get_entries(committed.key)
    other.update_entry(replace(theirs, response=fresher))
    [found] = storage.get_entries(committed.key)
    assert serializer.loads_calls == 2
    assert found.response == fresher


# -- a store ---------------------------------------------------------------------------------


def test_file_storage_small_store_is_one_temporary_file_and_one_rename(
    base: Path, clock: Clock, calls: Calls
) -> None:
    storage = FileStorage(base_path=base, clock=clock)
    put(storage, make_entry(variant="en"), b"english")  # creates the shard directories
    with calls.counting() as counts:
        put(storage, make_entry(variant="de"), b"deutsch")
    assert (counts["create"], counts["replace"]) == (1, 1)
    assert counts["mkdir"] == counts["rename"] == counts["unlink"] == counts["listdir"] == 0
    assert counts["read"] == 1  # the record, to keep the other variant
    assert len(storage.get_entries(BASE + "/a")) == 2


def test_file_storage_large_store_streams_then_renames_body_and_record(
    base: Path, clock: Clock, calls: Calls
) -> None:
    storage = FileStorage(base_path=base, clock=clock)
    put(storage, make_entry(variant="warm"))
    body = os.urandom(300 * KiB)
    with calls.counting() as counts:
        committed = put(storage, make_entry(variant="big"), body)
    assert (counts["create"], counts["replace"]) == (2, 2)  # the body file, then the record
    assert counts["mkdir"] == 0
    chunks = storage.open_body(committed)
    assert chunks is not None
    sizes = [len(chunk) for chunk in chunks]
    assert max(sizes) <= layout.CHUNK_SIZE and sum(sizes) == len(body)


# -- hits written back in batches --------------------------------------------------------------


def test_file_storage_hits_are_written_back_once_per_flush_interval(
    base: Path, clock: Clock, calls: Calls
) -> None:
    storage = FileStorage(base_path=base, clock=clock)
    other = FileStorage(base_path=base, clock=clock)  # another process
    committed = put(storage, make_entry())
    with calls.counting():
        for _ in range(5):
            storage.record_hit(committed)
    assert calls.writes() == {}
    [mine] = storage.get_entries(committed.key)
    [theirs] = other.get_entries(committed.key)
    assert (mine.hits, theirs.hits) == (5, 0)  # a process sees its own hits at once
    clock.advance(FLUSH_INTERVAL)
    with calls.counting() as counts:
        storage.record_hit(committed)
    assert (counts["create"], counts["replace"]) == (1, 1)
    [theirs] = other.get_entries(committed.key)
    assert theirs.hits == 6
    assert theirs.accessed_at == clock.now
    [mine] = storage.get_entries(committed.key)
    assert mine.hits == 6  # written back: not counted twice


def test_file_storage_close_writes_pending_hits_and_twice_is_safe(
    base: Path, clock: Clock
) -> None:
    storage = FileStorage(base_path=base, clock=clock)
    other = FileStorage(base_path=base, clock=clock)
    a = put(storage, make_entry("/a"))
    b = put(storage, make_entry("/b"))
    for entry in (a, a, b):
        storage.record_hit(entry)
    assert [e.hits for e in other.get_entries(a.key)] == [0]
    storage.close()
    storage.close()
    assert [e.hits for e in other.get_entries(a.key)] == [2]
    assert [e.hits for e in other.get_entries(b.key)] == [1]


def test_file_storage_hits_on_a_replaced_or_deleted_response_are_dropped(
    base: Path, clock: Clock
) -> None:
    storage = FileStorage(base_path=base, clock=clock)
    old = put(storage, make_entry("/a", at=T0))
    storage.record_hit(old)
    put(storage, make_entry("/a", at=T0 + 1))  # a new response, same variant
    gone = put(storage, make_entry("/b"))
    storage.record_hit(gone)
    storage.delete_entries(gone.key)
    put(storage, make_entry("/b"))
    storage.close()
    assert [e.hits for e in storage.get_entries(old.key)] == [0]
    assert [e.hits for e in storage.get_entries(gone.key)] == [0]


def test_file_storage_sliding_renewal_is_written_at_once(
    base: Path, clock: Clock, calls: Calls
) -> None:
    """A hit that renews a sliding lifetime does not wait for the flush interval."""
    storage = FileStorage(base_path=base, clock=clock, ttl=10, sliding=True)
    other = FileStorage(base_path=base, clock=clock, ttl=10, sliding=True)
    put(storage, make_entry(at=clock.now))
    clock.advance(0.5)  # under a tenth of the ttl: no renewal due, the hit waits
    [found] = storage.get_entries(BASE + "/a")
    with calls.counting():
        storage.record_hit(found)
    assert calls.writes() == {}
    clock.advance(7.5)
    [found] = storage.get_entries(BASE + "/a")
    with calls.counting() as counts:
        storage.record_hit(found)
    assert counts["replace"] == 1
    clock.advance(8)  # 16 s after the store, 8 s after the renewing hit
    [theirs] = other.get_entries(BASE + "/a")
    assert (theirs.hits, theirs.accessed_at) == (2, T0 + 8)
    clock.advance(2)
    assert other.get_entries(BASE + "/a") == []
