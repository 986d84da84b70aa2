"""AsyncFileStorage: permissions, hashed paths, atomic writes, amortised sweeps, processes.

The behaviour every storage shares is in test_storage_contract.py; these tests cover
what only the file backend promises (DESIGN §3, §5). What a hit and a store cost, in
file-system calls, is in test_file_storage_costs.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import multiprocessing
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from httpcache import (
    AsyncManagedStorage,
    AsyncStorage,
    ConfigurationError,
    Entry,
    JSONSerializer,
    RequestHead,
    ResponseHead,
    StorageError,
)
from httpcache._storages.file import _layout as layout
from httpcache._storages.file._async import AsyncFileStorage
from httpcache._storages.file._core import FileCore

from .support import BASE, T0, Clock

KiB = 1024
LARGE = 100 * KiB  # past INLINE_LIMIT: the body gets a file of its own
POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def make_entry(path: str = "/a", variant: str = "v", *, at: float = T0, body: bytes = b"") -> Entry:
    return Entry(
        key=BASE + path,
        variant=variant,
        request=RequestHead("GET", BASE + path),
        response=ResponseHead(
            200,
            (
                (b"Cache-Control", b"max-age=60"),
                (b"X-Sha256", hashlib.sha256(body).hexdigest().encode()),
            ),
        ),
        request_time=at,
        response_time=at,
        created_at=at,
    )


async def put(
    storage: AsyncFileStorage, entry: Entry, body: bytes = b"hello", chunk: int = 64 * KiB
) -> Entry:
    writer = await storage.open_writer(entry)
    for start in range(0, len(body), chunk):
        await writer.write(body[start : start + chunk])
    return await writer.commit()


async def read_body(storage: AsyncFileStorage, entry: Entry) -> bytes | None:
    chunks = await storage.open_body(entry)
    if chunks is None:
        return None
    return b"".join([chunk async for chunk in chunks])


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def records_under(root: Path) -> list[Path]:
    return [p for p in files_under(root) if p.name.endswith(layout.RECORD_SUFFIX)]


def bodies_under(root: Path) -> list[Path]:
    return [p for p in files_under(root) if p.name.endswith(layout.BODY_SUFFIX)]


def temps_under(root: Path) -> list[Path]:
    return [p for p in files_under(root) if p.name.endswith(layout.TEMP_SUFFIX)]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def storage(base: Path, clock: Clock) -> AsyncFileStorage:
    return AsyncFileStorage(base_path=base, clock=clock)


@pytest.fixture
def zero_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


# -- construction -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_file_storage_satisfies_storage_protocols(storage: AsyncFileStorage) -> None:
    """DESIGN §3: the file storage implements the storage and management protocols."""
    assert isinstance(storage, AsyncStorage)
    assert isinstance(storage, AsyncManagedStorage)


@pytest.mark.anyio
async def test_file_storage_default_base_path_is_dot_httpcache_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented default: ``.httpcache`` in the working directory, fixed at creation."""
    monkeypatch.chdir(tmp_path)
    storage = AsyncFileStorage()
    assert storage.base_path == tmp_path / ".httpcache"
    assert isinstance(storage._serializer, JSONSerializer)
    await put(storage, make_entry())
    assert (tmp_path / ".httpcache" / layout.ENTRIES_DIR).is_dir()


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"ttl": -1}, id="negative-ttl"),
        pytest.param({"check_ttl_every": -1}, id="negative-check-ttl-every"),
    ],
)
def test_file_storage_bad_option_raises(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        AsyncFileStorage(base_path=tmp_path, **kwargs)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("a/b", id="slash"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("..", id="dotdot"),
        pytest.param(".hidden", id="hidden"),
        pytest.param("-x", id="dash"),
        pytest.param("x" * 129, id="too-long"),
        pytest.param("caf\u00e9", id="non-ascii"),
    ],
)
def test_file_storage_unsafe_namespace_raises(storage: AsyncFileStorage, name: str) -> None:
    """DESIGN §5: a namespace becomes a directory name, so only safe names are allowed."""
    with pytest.raises(ConfigurationError):
        storage.with_namespace(name)


def test_file_storage_namespaces_nest_under_ns(storage: AsyncFileStorage, base: Path) -> None:
    child = storage.with_namespace("a").with_namespace("b_1.x-y")
    assert child.namespace == "a/b_1.x-y"
    assert child._dir == base / "ns" / "a" / "ns" / "b_1.x-y"
    assert child.base_path == storage.base_path == base


# -- security -----------------------------------------------------------------------------


@POSIX
@pytest.mark.anyio
async def test_file_storage_files_are_0600_and_directories_0700(
    base: Path, clock: Clock, zero_umask: None
) -> None:
    """DESIGN §5: modes hold even under a permissive umask."""
    storage = AsyncFileStorage(base_path=base, clock=clock, ttl=100).with_namespace("ns1")
    committed = await put(storage, make_entry())
    await put(storage, make_entry("/large"), b"L" * LARGE)
    await storage.record_hit(committed)
    await storage.aclose()  # writes the hit back
    await storage.update_entry(committed)
    clock.advance(61)
    await storage.get_entries(committed.key)  # a sweep, which leaves its marker file
    writer = await storage.open_writer(make_entry("/b"))  # a spilled body file, in flight
    await writer.write(b"p" * LARGE)
    paths = [base, *base.rglob("*")]
    dirs = [p for p in paths if p.is_dir()]
    files = [p for p in paths if p.is_file()]
    assert {stat.S_IMODE(p.stat().st_mode) for p in dirs} == {0o700}
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    assert any(p.name.endswith(layout.TEMP_SUFFIX) for p in files)
    assert any(p.name.endswith(layout.BODY_SUFFIX) for p in files)
    assert any(p.name == layout.SWEEP_MARKER for p in files)
    await writer.abort()


@pytest.mark.anyio
async def test_file_storage_paths_hold_no_key_material(base: Path, clock: Clock) -> None:
    """DESIGN §5: keys and variants are hashed before they name anything on disk."""
    storage = AsyncFileStorage(base_path=base, clock=clock).with_namespace("space")
    secret_path = "/users/alice-secret/profile?token=s3cr3t-t0ken"
    await put(storage, make_entry(secret_path, variant="authorization=hunter2"))
    assert len(records_under(base)) == 1
    for path in [*base.rglob("*")]:
        relative = path.relative_to(base).as_posix()
        for fragment in ("example", "alice", "secret", "s3cr3t", "token", "hunter2", "users"):
            assert fragment not in relative


# -- atomic writes ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_file_storage_small_body_stays_in_memory_until_commit(
    storage: AsyncFileStorage, base: Path
) -> None:
    """A small body touches the disk once: with its head, in the key's record."""
    writer = await storage.open_writer(make_entry())
    await writer.write(b"part one, ")
    await writer.write(b"part two")
    assert files_under(base) == []
    assert await storage.get_entries(BASE + "/a") == []
    await writer.commit()
    assert [p.name for p in files_under(base)] == [f"{layout.digest(BASE + '/a')}.head"]
    [found] = await storage.get_entries(BASE + "/a")
    assert found.body == b"part one, part two"
    assert await read_body(storage, found) == b"part one, part two"


@pytest.mark.parametrize(
    ("size", "spills"),
    [
        pytest.param(layout.INLINE_LIMIT, False, id="at-the-limit-inline"),
        pytest.param(layout.INLINE_LIMIT + 1, True, id="past-the-limit-spills"),
    ],
)
@pytest.mark.anyio
async def test_file_storage_body_past_the_inline_limit_spills_to_a_file(
    storage: AsyncFileStorage, base: Path, size: int, spills: bool
) -> None:
    body = os.urandom(size)
    writer = await storage.open_writer(make_entry())
    for start in range(0, size, 16 * KiB):
        await writer.write(body[start : start + 16 * KiB])
    assert len(temps_under(base)) == int(spills)
    assert await storage.get_entries(BASE + "/a") == []
    await writer.commit()
    assert temps_under(base) == []
    assert len(records_under(base)) == 1
    assert len(bodies_under(base)) == int(spills)
    [found] = await storage.get_entries(BASE + "/a")
    assert (found.body is None) == spills
    assert (found.body_ref is not None) == spills
    assert await read_body(storage, found) == body


@pytest.mark.anyio
async def test_file_storage_abort_leaves_no_file_behind(
    storage: AsyncFileStorage, base: Path
) -> None:
    writer = await storage.open_writer(make_entry())
    await writer.write(b"x" * LARGE)
    assert len(temps_under(base)) == 1
    await writer.abort()
    await writer.abort()  # twice is harmless
    assert files_under(base) == []
    with pytest.raises(RuntimeError):
        await writer.write(b"more")
    with pytest.raises(RuntimeError):
        await writer.commit()


@pytest.mark.anyio
async def test_file_storage_replacing_a_variant_removes_the_old_body(
    storage: AsyncFileStorage, base: Path
) -> None:
    await put(storage, make_entry(), b"o" * LARGE)
    await put(storage, make_entry(at=T0 + 1), b"n" * LARGE)
    assert len(records_under(base)) == 1
    [body] = bodies_under(base)
    assert body.read_bytes() == b"n" * LARGE
    await put(storage, make_entry(at=T0 + 2), b"small again")
    assert bodies_under(base) == []


@pytest.mark.anyio
async def test_file_storage_variants_share_one_record_and_keep_their_bodies(
    storage: AsyncFileStorage, base: Path
) -> None:
    await put(storage, make_entry(variant="en"), b"english")
    await put(storage, make_entry(variant="de"), b"d" * LARGE)
    await put(storage, make_entry(variant="fr"), b"francais")
    assert len(records_under(base)) == 1
    found = {e.variant: e for e in await storage.get_entries(BASE + "/a")}
    assert {v: await read_body(storage, e) for v, e in found.items()} == {
        "en": b"english",
        "de": b"d" * LARGE,
        "fr": b"francais",
    }
    await storage.delete_entries(BASE + "/a", ["de"])
    assert bodies_under(base) == []
    assert sorted(e.variant for e in await storage.get_entries(BASE + "/a")) == ["en", "fr"]


@pytest.mark.anyio
async def test_file_storage_body_streams_in_64k_chunks(storage: AsyncFileStorage) -> None:
    """DESIGN §3: bodies are read back in bounded chunks, never whole."""
    body = os.urandom(300 * KiB)
    committed = await put(storage, make_entry(), body, chunk=100 * KiB)
    chunks = await storage.open_body(committed)
    assert chunks is not None
    sizes = [len(chunk) async for chunk in chunks]
    assert max(sizes) == 64 * KiB
    assert sum(sizes) == len(body)
    await chunks.aclose()  # after the end: harmless


@pytest.mark.anyio
async def test_file_storage_body_closed_early_releases_its_file(
    storage: AsyncFileStorage,
) -> None:
    committed = await put(storage, make_entry(), b"y" * 200 * KiB)
    chunks = await storage.open_body(committed)
    assert chunks is not None
    assert len(await chunks.__anext__()) == 64 * KiB
    await chunks.aclose()
    assert [chunk async for chunk in chunks] == []


# -- stale pairs and vanished files ------------------------------------------------------


@pytest.mark.parametrize("size", [pytest.param(10, id="inline"), pytest.param(LARGE, id="file")])
@pytest.mark.anyio
async def test_file_storage_old_entry_is_never_paired_with_a_new_body(
    storage: AsyncFileStorage, size: int
) -> None:
    """A head read before another writer replaced the variant gets no body and no update."""
    old = await put(storage, make_entry(at=T0), b"o" * size)
    [seen] = await storage.get_entries(old.key)
    await put(storage, make_entry(at=T0 + 5), b"the new body")
    assert await storage.open_body(seen) is None
    await storage.update_entry(replace(seen, response=ResponseHead(200, ((b"ETag", b"old"),))))
    await storage.record_hit(seen)
    await storage.aclose()  # the hit is written back, to nothing
    [current] = await storage.get_entries(old.key)
    assert current.created_at == T0 + 5
    assert current.hits == 0
    assert (b"ETag", b"old") not in current.response.headers
    assert await read_body(storage, current) == b"the new body"


@pytest.mark.anyio
async def test_file_storage_vanished_body_is_a_miss_and_drops_the_head(
    storage: AsyncFileStorage, base: Path
) -> None:
    committed = await put(storage, make_entry(), b"b" * LARGE)
    [body] = bodies_under(base)
    body.unlink()
    [found] = await storage.get_entries(committed.key)  # the head alone is still there
    assert await storage.open_body(found) is None
    assert records_under(base) == []
    assert await storage.get_entries(committed.key) == []


@pytest.mark.anyio
async def test_file_storage_vanished_head_is_a_miss(storage: AsyncFileStorage, base: Path) -> None:
    committed = await put(storage, make_entry())
    [record] = records_under(base)
    record.unlink()
    assert await storage.get_entries(committed.key) == []
    assert await storage.open_body(committed) is None
    await storage.update_entry(committed)
    await storage.record_hit(committed)
    await storage.aclose()
    assert records_under(base) == []


@pytest.mark.anyio
async def test_file_storage_vanished_directory_is_an_empty_cache(
    storage: AsyncFileStorage, base: Path
) -> None:
    committed = await put(storage, make_entry())
    shutil.rmtree(base)
    assert await storage.get_entries(committed.key) == []
    assert await storage.open_body(committed) is None
    await storage.update_entry(committed)
    await storage.record_hit(committed)
    await storage.delete_entries(committed.key)
    assert [e async for e in storage.iter_entries()] == []
    assert (await storage.stats()).entries == 0
    assert await storage.delete_expired() == 0
    await storage.clear()
    assert await storage.health() is True  # and the directory is back
    await put(storage, make_entry())
    assert len(await storage.get_entries(committed.key)) == 1


@pytest.mark.anyio
async def test_file_storage_truncated_body_is_a_logged_miss(
    storage: AsyncFileStorage, base: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A body cut short (a crash before the data reached the disk) is never served."""
    committed = await put(storage, make_entry(), b"0123456789" * (LARGE // 10))
    [body] = bodies_under(base)
    body.write_bytes(b"01234")
    [found] = await storage.get_entries(committed.key)
    with caplog.at_level(logging.WARNING, logger="httpcache.storage"):
        assert await storage.open_body(found) is None
    assert any("incomplete" in r.getMessage() for r in caplog.records)
    assert records_under(base) == []


@pytest.mark.anyio
async def test_file_storage_head_under_the_wrong_key_is_dropped(
    storage: AsyncFileStorage, base: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A head copied into another key's directory is foreign: removed and logged."""
    a = await put(storage, make_entry("/a"))
    b = await put(storage, make_entry("/b"))
    target = storage._head_path(b.key, b.variant)
    target.write_bytes(storage._head_path(a.key, a.variant).read_bytes())
    with caplog.at_level(logging.WARNING, logger="httpcache.storage"):
        assert await storage.get_entries(b.key) == []
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert not target.exists()
    assert len(await storage.get_entries(a.key)) == 1


@pytest.mark.parametrize("size", [pytest.param(4, id="inline"), pytest.param(LARGE, id="file")])
@pytest.mark.parametrize("cleared", ["self", "parent"])
@pytest.mark.anyio
async def test_file_storage_commit_after_clear_fails_and_stores_nothing(
    storage: AsyncFileStorage, base: Path, size: int, cleared: str
) -> None:
    child = storage.with_namespace("kid")
    writer = await child.open_writer(make_entry())
    await writer.write(b"d" * size)
    await (child if cleared == "self" else storage).clear()
    with pytest.raises(StorageError):
        await writer.commit()
    assert await child.get_entries(BASE + "/a") == []
    assert files_under(base) == []
    await put(child, make_entry())  # a writer opened after the clear stores as usual
    assert len(await child.get_entries(BASE + "/a")) == 1


@pytest.mark.anyio
async def test_file_storage_unusable_directory_is_unhealthy_and_raises_storage_error(
    tmp_path: Path,
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    storage = AsyncFileStorage(base_path=not_a_dir)
    assert await storage.health() is False
    assert await storage.get_entries(BASE + "/a") == []
    writer = await storage.open_writer(make_entry())  # no file work until the commit
    await writer.write(b"body")
    with pytest.raises(StorageError):
        await writer.commit()


# -- expiry sweeps ------------------------------------------------------------------------


@pytest.fixture
def sweeps(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record the directory of every sweep any file storage runs."""
    calls: list[Path] = []
    original = FileCore.sweep

    def spy(self: FileCore, directory: str, now: float, wall_now: float) -> int:
        calls.append(Path(directory))
        return original(self, directory, now, wall_now)

    monkeypatch.setattr(FileCore, "sweep", spy)
    return calls


@pytest.mark.anyio
async def test_file_storage_sweep_runs_at_most_every_check_ttl_every(
    base: Path, clock: Clock, sweeps: list[Path]
) -> None:
    """Amortised expiry: ordinary operations trigger a sweep only once per interval."""
    storage = AsyncFileStorage(base_path=base, clock=clock, ttl=5, check_ttl_every=60)
    await put(storage, make_entry("/a"))
    assert sweeps == []  # nothing was stored yet when the first operation looked
    clock.advance(60)
    await storage.get_entries(BASE + "/a")
    assert sweeps == [base]
    for _ in range(5):
        await storage.get_entries(BASE + "/a")
        await put(storage, make_entry("/b"))
    clock.advance(59)
    await storage.get_entries(BASE + "/a")
    assert len(sweeps) == 1
    clock.advance(1)
    await storage.get_entries(BASE + "/zzz")
    assert len(sweeps) == 2


@pytest.mark.anyio
async def test_file_storage_sweep_interval_is_shared_between_processes(
    base: Path, clock: Clock, sweeps: list[Path]
) -> None:
    """The marker file keeps a second storage on the same directory from sweeping again."""
    first = AsyncFileStorage(base_path=base, clock=clock, check_ttl_every=60)
    second = AsyncFileStorage(base_path=base, clock=clock, check_ttl_every=60)
    await put(first, make_entry())
    await second.get_entries(BASE + "/a")
    assert len(sweeps) == 1
    await first.get_entries(BASE + "/a")
    assert len(sweeps) == 1
    clock.advance(61)
    await second.get_entries(BASE + "/a")
    assert len(sweeps) == 2
    await first.get_entries(BASE + "/a")  # due by its own count, but the marker is recent
    assert len(sweeps) == 2


@pytest.mark.anyio
async def test_file_storage_sweep_removes_expired_entries_it_never_read(
    base: Path, clock: Clock
) -> None:
    storage = AsyncFileStorage(base_path=base, clock=clock, ttl=10, check_ttl_every=30)
    for n in range(5):
        await put(storage, make_entry(f"/{n}", at=clock.now))
    await put(storage, make_entry("/large", at=clock.now), b"L" * LARGE)
    clock.advance(31)
    await storage.get_entries(BASE + "/unrelated")  # triggers the sweep
    assert records_under(base) == []
    assert bodies_under(base) == []
    assert files_under(base / layout.ENTRIES_DIR) == []


@pytest.mark.anyio
async def test_file_storage_sweep_removes_only_stale_garbage(
    storage: AsyncFileStorage, base: Path
) -> None:
    """Leftovers of crashed writers go once they are old; a writer in flight is left alone."""
    committed = await put(storage, make_entry(), b"c" * LARGE)
    [named] = bodies_under(base)
    shard = storage._record_path(committed.key).parent
    hashed = layout.digest(committed.key)
    in_flight = await storage.open_writer(make_entry("/b"))
    await in_flight.write(b"busy" * LARGE)
    stale_temp = shard / ".crashed.tmp"
    stale_temp.write_bytes(b"x")
    orphan = shard / layout.body_name(hashed, "0" * 32)
    orphan.write_bytes(b"x")
    fresh_orphan = shard / layout.body_name(hashed, "1" * 32)
    fresh_orphan.write_bytes(b"x")
    legacy = shard / ("f" * 64)  # a key directory of the 0.1 layout
    legacy.mkdir()
    (legacy / ("e" * 64 + ".head")).write_bytes(b"httpcache-file/1 old head")
    trash = base / f"{layout.TRASH_PREFIX}leftover"
    (trash / "deep").mkdir(parents=True)
    old = time.time() - layout.STALE_AFTER - 10
    for path in (stale_temp, orphan, named):
        os.utime(path, (old, old))
    assert await storage.delete_expired() == 0
    assert not stale_temp.exists()
    assert not orphan.exists()
    assert not legacy.exists()
    assert not trash.exists()
    assert fresh_orphan.exists()
    assert named.exists()  # old, but its record names it
    assert len(temps_under(base)) == 1  # the writer in flight
    await in_flight.commit()
    assert len(await storage.get_entries(BASE + "/b")) == 1
    [found] = await storage.get_entries(committed.key)
    assert await read_body(storage, found) == b"c" * LARGE


@pytest.mark.anyio
async def test_file_storage_stats_count_records_and_bodies_on_disk(
    base: Path, clock: Clock
) -> None:
    storage = AsyncFileStorage(base_path=base, clock=clock, ttl=10, check_ttl_every=1000)
    await put(storage, make_entry("/a", at=clock.now), b"x" * 1000)
    clock.advance(5)
    await put(storage.with_namespace("kid"), make_entry("/b", at=clock.now), b"y" * LARGE)
    clock.advance(6)
    stats = await storage.stats()
    on_disk = sum(p.stat().st_size for p in [*records_under(base), *bodies_under(base)])
    assert (stats.entries, stats.bytes, stats.expired) == (2, on_disk, 1)
    assert await storage.delete_expired() == 1
    assert (await storage.stats()).entries == 1


# -- several processes --------------------------------------------------------------------

PER_PROCESS = 50


def _body(name: str, n: int) -> bytes:
    """Bodies of 20 KiB and more, every fifth one too large to be kept inline."""
    size = 20 * KiB + n * 97 + (LARGE if n % 5 == 0 else 0)
    return (f"{name}:{n}:".encode() * (size // 4))[:size]


def _check_pair(entry: Entry, body: bytes | None) -> None:
    """Fail unless ``body`` is the one written with ``entry`` (or is gone: a miss)."""
    if body is None:
        return
    [digest] = [v for k, v in entry.response.headers if k == b"X-Sha256"]
    assert len(body) == entry.size, "a head paired with another body's length"
    assert hashlib.sha256(body).hexdigest().encode() == digest, "a head paired with a foreign body"


async def _write_and_read(base: Path, name: str, other: str) -> None:
    storage = AsyncFileStorage(base_path=base, check_ttl_every=0.05)
    for n in range(PER_PROCESS):
        body = _body(name, n)
        committed = await put(storage, make_entry(f"/{name}/{n}", at=time.time(), body=body), body)
        await storage.record_hit(committed)
        shared = make_entry("/shared", variant="same", at=time.time(), body=body)
        await put(storage, shared, body, chunk=7 * KiB)
        for key in (f"/{name}/{n}", f"/{other}/{n}", f"/{other}/{max(n - 1, 0)}", "/shared"):
            for entry in await storage.get_entries(BASE + key):
                _check_pair(entry, await read_body(storage, entry))
        if n % 10 == 0:
            assert len([e async for e in storage.iter_entries(f"{BASE}/{name}/*")]) == n + 1
    await storage.aclose()  # writes the buffered hits back


def _complete(fn: Callable[..., object], *args: object) -> None:
    """Call ``fn``, running its result to completion if it is a coroutine (async flavour)."""
    result = fn(*args)
    if inspect.iscoroutine(result):
        asyncio.run(result)


def _worker(base: str, name: str, other: str, barrier: Any) -> None:
    barrier.wait(timeout=60)
    _complete(_write_and_read, Path(base), name, other)


@pytest.mark.anyio
async def test_file_storage_two_processes_writing_at_once_never_tear_entries(
    base: Path,
) -> None:
    """Two processes write and read the same directory; every entry ends up whole."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    processes = [
        context.Process(target=_worker, args=(str(base), name, other, barrier))
        for name, other in (("one", "two"), ("two", "one"))
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0]

    storage = AsyncFileStorage(base_path=base)
    for name in ("one", "two"):
        for n in range(PER_PROCESS):
            [entry] = await storage.get_entries(f"{BASE}/{name}/{n}")
            assert entry.hits == 1
            body = await read_body(storage, entry)
            assert body == _body(name, n)
            _check_pair(entry, body)
    for entry in await storage.get_entries(BASE + "/shared"):
        _check_pair(entry, await read_body(storage, entry))
    assert (await storage.stats()).entries in (2 * PER_PROCESS, 2 * PER_PROCESS + 1)
    assert temps_under(base) == []
