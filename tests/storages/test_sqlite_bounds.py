"""A sync SQLiteStorage bounds its own waits, so the transport may call it directly (DESIGN §3)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from httpcache import CacheOptions, CacheTransport, Entry, SQLiteStorage, StorageError
from httpcache._guard import StorageGuard
from httpcache._storages.sqlite._sync_shared import enter_wal


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


# -- switching a new database to WAL while another process does ----------------------------


class _Contended:
    """A connection whose first ``locked`` WAL switches fail as SQLite's deadlock answer does."""

    def __init__(self, locked: int, error: str = "database is locked") -> None:
        self.locked = locked
        self.error = error
        self.tries = 0

    def execute(self, sql: str) -> _Contended:
        assert sql == "PRAGMA journal_mode=WAL"
        self.tries += 1
        if self.tries <= self.locked:
            raise sqlite3.OperationalError(self.error)
        return self

    def fetchall(self) -> list[tuple[str]]:
        return [("wal",)]


def test_enter_wal_retries_while_another_process_switches() -> None:
    conn = _Contended(locked=3)
    enter_wal(conn, timeout=5.0)  # type: ignore[arg-type]
    assert conn.tries == 4


def test_enter_wal_gives_up_after_the_busy_timeout() -> None:
    conn = _Contended(locked=10**9)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enter_wal(conn, timeout=0.05)  # type: ignore[arg-type]
    assert conn.tries >= 2


def test_enter_wal_other_errors_are_not_retried() -> None:
    conn = _Contended(locked=1, error="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk"):
        enter_wal(conn, timeout=5.0)  # type: ignore[arg-type]
    assert conn.tries == 1


def test_two_processes_open_a_new_database_at_once(tmp_path: Path) -> None:
    """Both open (and switch to WAL) the same new file at the same moment, 10 times."""
    context = multiprocessing.get_context("spawn")
    for n in range(10):
        database = str(tmp_path / f"new-{n}.db")
        barrier = context.Barrier(2)
        processes = [context.Process(target=_open_new, args=(database, barrier)) for _ in range(2)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
        assert [p.exitcode for p in processes] == [0, 0]


def _open_new(database: str, barrier: Any) -> None:
    storage = SQLiteStorage(path=database)
    barrier.wait(timeout=30)
    try:
        assert storage.get_entries("https://example.com/") == []
    finally:
        storage.close()
