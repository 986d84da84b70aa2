"""A sync SQLiteStorage bounds its own waits, so the transport may call it directly (DESIGN §3)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from httpcache import CacheOptions, CacheTransport, Entry, SQLiteStorage, StorageError
from httpcache._guard import StorageGuard


def test_max_wait_is_twice_the_busy_timeout_of_its_own_connection(tmp_path: Path) -> None:
    assert SQLiteStorage(path=tmp_path / "a.db").max_wait == 0.5  # the 0.25 s default
    assert SQLiteStorage(path=tmp_path / "b.db", timeout=2).max_wait == 4
    connection = sqlite3.connect(tmp_path / "c.db", check_same_thread=False)
    try:
        assert SQLiteStorage(connection=connection).max_wait is None  # its settings are yours
    finally:
        connection.close()


def test_the_transport_calls_it_directly_only_within_the_deadline(tmp_path: Path) -> None:
    storage = SQLiteStorage(path=tmp_path / "a.db")
    assert StorageGuard(storage, CacheOptions(storage_timeout=0.5))._direct
    assert not StorageGuard(storage, CacheOptions(storage_timeout=0.2))._direct
    storage.close()


def test_a_call_waits_for_the_connection_no_longer_than_the_busy_timeout(tmp_path: Path) -> None:
    storage = SQLiteStorage(path=tmp_path / "a.db", timeout=0.05)
    storage.get_entries("https://example.com/")  # opened
    shared = storage._shared
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with shared.locked():
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(StorageError, match="busy"):
            storage.get_entries("https://example.com/")
    finally:
        release.set()
        holder.join()
    assert storage.get_entries("https://example.com/") == []
    storage.close()


def test_a_hit_through_the_transport_runs_on_the_request_thread(tmp_path: Path) -> None:
    threads: set[str] = set()

    class Recording(SQLiteStorage):
        def get_entries(self, key: str) -> list[Entry]:
            threads.add(threading.current_thread().name)
            return super().get_entries(key)

    def origin(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=b"hi")

    options = CacheOptions(storage_timeout=0.5)
    storage = Recording(path=tmp_path / "a.db")
    transport = CacheTransport(httpx.MockTransport(origin), storage=storage, options=options)
    with httpx.Client(transport=transport) as client:
        client.get("https://example.com/")
        assert client.get("https://example.com/").extensions["from_cache"] is True
    storage.close()
    assert threads == {threading.current_thread().name}
