"""AsyncFileStorage: lookups made at once share one worker-thread hop (async only)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from httpcache import Entry, RequestHead, ResponseHead, StorageError
from httpcache._storages.file import _batch
from httpcache._storages.file._async import AsyncFileStorage

BASE = "http://example.com"


def make_entry(path: str) -> Entry:
    return Entry(
        key=BASE + path,
        variant="",
        request=RequestHead("GET", BASE + path),
        response=ResponseHead(200, ((b"Cache-Control", b"max-age=60"),)),
        request_time=1.0,
        response_time=1.0,
        created_at=1.0,
    )


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the batch size of every worker-thread hop the lookups make."""
    sizes: list[int] = []
    original = _batch.arun_blocking

    async def counted(fn: Callable[..., Any], *args: Any) -> Any:
        sizes.append(len(args[0]))
        return await original(fn, *args)

    monkeypatch.setattr(_batch, "arun_blocking", counted)
    return sizes


async def stored(tmp_path: Path, count: int) -> AsyncFileStorage:
    storage = AsyncFileStorage(base_path=tmp_path / "cache", clock=lambda: 2.0)
    for n in range(count):
        writer = await storage.open_writer(make_entry(f"/{n}"))
        await writer.write(f"body {n}".encode())
        await writer.commit()
    await storage.get_entries(BASE + "/0")  # the first operation checks the sweep marker
    return storage


@pytest.mark.anyio
async def test_file_lookups_made_at_once_share_one_hop(tmp_path: Path, hops: list[int]) -> None:
    storage = await stored(tmp_path, 20)
    hops.clear()
    found: dict[int, list[Entry]] = {}

    async def look(n: int) -> None:
        found[n] = await storage.get_entries(f"{BASE}/{n}")

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(look, n)
    assert hops == [20]
    assert {n: [e.body for e in entries] for n, entries in found.items()} == {
        n: [f"body {n}".encode()] for n in range(20)
    }


@pytest.mark.anyio
async def test_file_lookups_one_after_another_each_take_a_hop(
    tmp_path: Path, hops: list[int]
) -> None:
    storage = await stored(tmp_path, 3)
    hops.clear()
    for n in range(3):
        assert len(await storage.get_entries(f"{BASE}/{n}")) == 1
    assert hops == [1, 1, 1]


@pytest.mark.anyio
async def test_file_lookup_failing_in_a_batch_fails_only_its_own_task(tmp_path: Path) -> None:
    storage = await stored(tmp_path, 3)
    storage._record_path(BASE + "/1").unlink()
    storage._record_path(BASE + "/1").mkdir()  # reading it fails: EISDIR
    outcome: dict[int, object] = {}

    async def look(n: int) -> None:
        try:
            outcome[n] = len(await storage.get_entries(f"{BASE}/{n}"))
        except StorageError as exc:
            outcome[n] = exc

    async with anyio.create_task_group() as group:
        for n in range(3):
            group.start_soon(look, n)
    assert outcome[0] == outcome[2] == 1
    assert isinstance(outcome[1], StorageError)
