"""Backend faults (the fault suite): a dead, failing or locked backend costs a request nothing.

For each fault, through the public clients with the default options (a 0.5 s storage
deadline, a circuit breaker cooling down from 1 s): every request succeeds from the origin
with the right body, none waits much longer than the deadline, one WARNING marks the
outage and one INFO the recovery, and caching resumes by itself once the backend is back.

Set ``HTTPCACHE_FAULT_FIGURES=<file>`` to append each scenario's figures there as JSON lines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from httpcache import (
    AsyncCacheClient,
    AsyncRedisStorage,
    AsyncS3Storage,
    AsyncSQLiteStorage,
    CacheClient,
    CacheOptions,
    RedisStorage,
    S3Storage,
    SQLiteStorage,
)
from tests.reliability._outage import DEADLINE, Figures, adrive, drive, origin

ROOT = Path(__file__).resolve().parents[2]
BASE = "http://origin.test"
OPTIONS = CacheOptions(storage_timeout=DEADLINE)  # the default, whatever the test environment says


def record(name: str, figures: Figures) -> None:
    target = os.environ.get("HTTPCACHE_FAULT_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as file:
            file.write(json.dumps({"scenario": name, **dataclasses.asdict(figures)}) + "\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fail_or_skip(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


# -- a private redis-server, killed and restarted -------------------------------------------


class RedisServer:
    """A ``redis-server`` of our own on a free loopback port, which the test may kill."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _fail_or_skip("redis-server is not on the PATH")
        assert binary is not None
        for _ in range(50):  # the port may linger a moment after a kill
            self.process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.dir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ready():
                return
            self.kill()
            time.sleep(0.1)
        _fail_or_skip(f"redis-server did not start on port {self.port}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return True
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


def test_redis_killed_and_restarted_sync(redis_server: RedisServer) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_server.port)  # redis-py's defaults
    storage = RedisStorage(client=client, namespace=f"faults-{uuid.uuid4().hex}")
    mock, _ = origin()
    with CacheClient(storage=storage, transport=mock, base_url=BASE, options=OPTIONS) as http:
        figures = drive(http, redis_server.kill, redis_server.start)
    storage.close()
    client.close()
    record("redis killed, sync", figures)
    figures.check()


@pytest.mark.anyio
async def test_redis_killed_and_restarted_async(redis_server: RedisServer) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis(host="127.0.0.1", port=redis_server.port)

    async def kill() -> None:
        redis_server.kill()

    async def start() -> None:
        await anyio.to_thread.run_sync(redis_server.start)

    storage = AsyncRedisStorage(client=client, namespace=f"faults-{uuid.uuid4().hex}")
    mock, _ = origin()
    async with AsyncCacheClient(
        storage=storage, transport=mock, base_url=BASE, options=OPTIONS
    ) as http:
        figures = await adrive(http, kill, start)
    await storage.aclose()
    await client.aclose()
    record("redis killed, async", figures)
    figures.check()


# -- an S3 endpoint that stops, or answers 500 ------------------------------------------------


class FaultyS3:
    """moto's S3 app behind a switch: serving, answering 500, or not listening at all."""

    def __init__(self) -> None:
        self.failing = False
        self.port = 0
        self.server: Any = None
        self.bucket = f"faults-{uuid.uuid4().hex[:12]}"

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.failing:
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return [b""]
        return self._moto(environ, start_response)

    def start(self) -> None:
        import threading

        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        self._moto = DomainDispatcherApplication(create_backend_app)
        for _ in range(50):
            try:
                self.server = make_server(
                    "127.0.0.1", self.port, self._app, True, request_handler=MotoRequestHandler
                )
                break
            except OSError:
                time.sleep(0.1)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def faulty_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyS3]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ):
        monkeypatch.setenv(name, value)
    try:
        server = FaultyS3()
        server.start()
    except ImportError as exc:
        _fail_or_skip(f"moto is not installed: {exc}")
    yield server
    server.stop()


def _sync_s3_client(url: str) -> Any:
    import boto3

    return boto3.session.Session().client("s3", endpoint_url=url, region_name="us-east-1")


@pytest.mark.parametrize("fault", ["stopped", "500"])
def test_s3_endpoint_fails_sync(faulty_s3: FaultyS3, fault: str) -> None:
    client = _sync_s3_client(faulty_s3.url)  # botocore's defaults: retries with backoff
    client.create_bucket(Bucket=faulty_s3.bucket)

    def on() -> None:
        if fault == "stopped":
            faulty_s3.stop()
        faulty_s3.failing = True

    def off() -> None:
        faulty_s3.failing = False
        if faulty_s3.server is None:
            faulty_s3.start()

    storage = S3Storage(bucket_name=faulty_s3.bucket, client=client)
    mock, _ = origin()
    with CacheClient(storage=storage, transport=mock, base_url=BASE, options=OPTIONS) as http:
        figures = drive(http, on, off)
    storage.close()
    client.close()
    record(f"s3 {fault}, sync", figures)
    figures.check()


@contextlib.asynccontextmanager
async def _async_s3_client(url: str) -> AsyncIterator[Any]:
    from aiobotocore.session import get_session

    async with get_session().create_client(
        "s3", endpoint_url=url, region_name="us-east-1"
    ) as client:
        yield client


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["stopped", "500"])
async def test_s3_endpoint_fails_async(faulty_s3: FaultyS3, fault: str) -> None:
    async def on() -> None:
        if fault == "stopped":
            await anyio.to_thread.run_sync(faulty_s3.stop)
        faulty_s3.failing = True

    async def off() -> None:
        faulty_s3.failing = False
        if faulty_s3.server is None:
            await anyio.to_thread.run_sync(faulty_s3.start)

    async with _async_s3_client(faulty_s3.url) as client:
        await client.create_bucket(Bucket=faulty_s3.bucket)
        storage = AsyncS3Storage(bucket_name=faulty_s3.bucket, client=client)
        mock, _ = origin()
        async with AsyncCacheClient(
            storage=storage, transport=mock, base_url=BASE, options=OPTIONS
        ) as http:
            figures = await adrive(http, on, off)
        await storage.aclose()
    record(f"s3 {fault}, async", figures)
    figures.check()


# -- a SQLite file locked by another process ----------------------------------------------------

_LOCKER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(120)
"""


class Locker:
    """Another process holding an exclusive transaction on a SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.process: subprocess.Popen[str] | None = None

    def lock(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LOCKER, str(self.path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "locked"

    def unlock(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None


@pytest.fixture
def locker(tmp_path: Path) -> Iterator[Locker]:
    holder = Locker(tmp_path / "cache.db")
    yield holder
    holder.unlock()


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback-journal"])
def test_sqlite_locked_by_another_process_sync(locker: Locker, wal: bool) -> None:
    storage = SQLiteStorage(path=locker.path, wal=wal)
    mock, _ = origin()
    with CacheClient(storage=storage, transport=mock, base_url=BASE, options=OPTIONS) as http:
        figures = drive(http, locker.lock, locker.unlock)
    storage.close()
    record(f"sqlite locked ({'wal' if wal else 'rollback'}), sync", figures)
    figures.check()


@pytest.mark.anyio
@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback-journal"])
async def test_sqlite_locked_by_another_process_async(locker: Locker, wal: bool) -> None:
    async def lock() -> None:
        await anyio.to_thread.run_sync(locker.lock)

    async def unlock() -> None:
        await anyio.to_thread.run_sync(locker.unlock)

    storage = AsyncSQLiteStorage(path=locker.path, wal=wal)
    mock, _ = origin()
    async with AsyncCacheClient(
        storage=storage, transport=mock, base_url=BASE, options=OPTIONS
    ) as http:
        figures = await adrive(http, lock, unlock)
    await storage.aclose()
    record(f"sqlite locked ({'wal' if wal else 'rollback'}), async", figures)
    figures.check()


# -- disk writes failing: a read-only directory, a full disk --------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("fault", ["read-only", "full-disk"])
def test_file_storage_writes_fail(tmp_path: Path, fault: str, mode: str) -> None:
    """Run in a child process: RLIMIT_FSIZE and dropped root privileges must not touch pytest."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability._file_faults", fault, mode, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    figures = Figures(**json.loads(done.stdout.strip().splitlines()[-1]))
    record(f"file {fault}, {mode}", figures)
    figures.check()
