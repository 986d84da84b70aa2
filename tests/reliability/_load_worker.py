"""One OS process of the load test: many threads (or tasks) on one shared storage.

Run as ``python -m tests.reliability._load_worker '<json config>'``. The worker
builds its storage from ``config["storage"]`` (a storage URL), one cache client
shared by every thread or task, prints ``ready``, waits for a line on stdin, runs
for ``config["seconds"]`` and prints one JSON summary line.

Each thread picks, at random: a GET of one of ``config["urls"]`` URLs (half of
them fresh for an hour, half ``max-age=0`` with an ETag, so revalidated on every
use), a GET of a URL never used before (a miss), or a POST/DELETE to a URL
followed by a GET of it (an invalidation). Every body received is checked against
:func:`~tests.reliability._load_origin.body_for` of its URL and ``X-Version``.
Storage trouble that the cache hides from the caller (it fails open) is still
counted: every WARNING the ``httpcache`` loggers emit is a finding.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import httpx

from httpcache import (
    AsyncCacheClient,
    AsyncManagedStorage,
    CacheClient,
    Entry,
    ManagedStorage,
    async_storage_from_url,
    storage_from_url,
)
from tests.reliability._load_origin import body_for

_SAMPLES = 5


@dataclass
class Tally:
    """What one thread or task saw; merged into the process's summary."""

    requests: int = 0
    gets: int = 0
    invalidations: int = 0
    misses: int = 0
    hits: int = 0
    revalidated: int = 0
    exceptions: int = 0
    wrong_bodies: int = 0
    max_latency: float = 0.0
    samples: list[str] = field(default_factory=list)
    stored: int = -1  # entries found by the worker's own audit (-1: none made)
    wrong_stored: list[str] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        for name in (
            "requests",
            "gets",
            "invalidations",
            "misses",
            "hits",
            "revalidated",
            "exceptions",
            "wrong_bodies",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_latency = max(self.max_latency, other.max_latency)
        self.samples.extend(other.samples[: _SAMPLES - len(self.samples)])

    def note(self, text: str) -> None:
        if len(self.samples) < _SAMPLES:
            self.samples.append(text)


class Warnings(logging.Handler):
    """Count (and keep a few of) the WARNING records of the ``httpcache`` loggers.

    A storage call that missed the transport's deadline (``storage_timeout``) is counted
    apart, in ``deadline_misses``: on a loaded machine that is the cache working as
    designed (it went to the network), not a fault of the storage.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.deadline_misses = 0
        self.samples: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = f"{record.name}: {record.getMessage()}"
        with self._guard:
            if "did not return within" in message:
                self.deadline_misses += 1
                return
            self.count += 1
            if len(self.samples) < _SAMPLES:
                self.samples.append(message)


@dataclass(frozen=True)
class Step:
    """One request to make: ``method`` on ``path``; ``kind`` says why."""

    kind: str  # "get", "miss", "change" (a POST/DELETE, then a GET of the same path)
    method: str
    path: str


def plan(rng: random.Random, urls: int, prefix: str, counter: list[int]) -> list[Step]:
    """Return the next steps of one thread: a GET, a miss, or an invalidation and a GET.

    A thread's first two turns are a miss and an invalidation, so every run has some.
    """
    roll = rng.random() if counter[1] > 1 else (0.0, 0.08)[counter[1]]
    counter[1] += 1
    number = rng.randrange(urls)
    path = f"/{'fresh' if number % 2 == 0 else 'reval'}/{number}"
    if roll < 0.05:
        counter[0] += 1
        return [Step("miss", "GET", f"/fresh/new-{prefix}-{counter[0]}")]
    if roll < 0.12:
        method = "POST" if rng.random() < 0.5 else "DELETE"
        return [Step("change", method, path), Step("get", "GET", path)]
    return [Step("get", "GET", path)]


def check(tally: Tally, step: Step, response: httpx.Response, body: bytes, took: float) -> None:
    """Count ``response`` and check its body against its URL and version."""
    tally.requests += 1
    tally.max_latency = max(tally.max_latency, took)
    if step.method != "GET":
        tally.invalidations += 1
        if response.status_code not in (200, 204):
            tally.wrong_bodies += 1
            tally.note(f"{step.method} {step.path}: status {response.status_code}")
        return
    tally.gets += 1
    tally.misses += step.kind == "miss"
    tally.hits += bool(response.extensions.get("from_cache"))
    tally.revalidated += bool(response.extensions.get("revalidated"))
    version = response.headers.get("x-version", "")
    if response.status_code != 200 or not version.isdigit():
        tally.wrong_bodies += 1
        tally.note(f"GET {step.path}: status {response.status_code}, X-Version {version!r}")
        return
    if body != body_for(step.path, int(version)):
        tally.wrong_bodies += 1
        tally.note(
            f"GET {step.path}: wrong body for v{version} ({len(body)} bytes, "
            f"starts {body[:40]!r}, from_cache={response.extensions.get('from_cache')})"
        )


def _wrong(entry: Entry, body: bytes) -> str | None:
    """Tell what is wrong with a stored ``entry`` whose body is ``body`` (None: nothing)."""
    path = "/" + entry.request.url.split("/", 3)[3]
    versions = [v for k, v in entry.response.headers if k.lower() == b"x-version"]
    if len(versions) == 1 and versions[0].isdigit() and body == body_for(path, int(versions[0])):
        return None
    return f"stored {path}: X-Version {versions}, {len(body)} bytes {body[:40]!r}"


def audit(storage: ManagedStorage) -> tuple[int, list[str]]:
    """Read back every stored entry; return the entry count and what does not match its URL."""
    wrong: list[str] = []
    count = 0
    for entry in storage.iter_entries():
        count += 1
        if entry.body is not None:
            body = entry.body
        else:
            chunks = storage.open_body(entry)
            if chunks is None:  # the entry went meanwhile: a miss, not a torn entry
                continue
            body = b"".join(chunks)
        problem = _wrong(entry, body)
        if problem is not None:
            wrong.append(problem)
    return count, wrong


async def aaudit(storage: AsyncManagedStorage) -> tuple[int, list[str]]:
    """Do what :func:`audit` does, for an async storage."""
    wrong: list[str] = []
    count = 0
    async for entry in storage.iter_entries():
        count += 1
        if entry.body is not None:
            body = entry.body
        else:
            chunks = await storage.open_body(entry)
            if chunks is None:
                continue
            body = b"".join([chunk async for chunk in chunks])
        problem = _wrong(entry, body)
        if problem is not None:
            wrong.append(problem)
    return count, wrong


def run_threads(config: dict[str, Any], deadline: float) -> Tally:
    storage = storage_from_url(config["storage"])
    total = Tally()
    lock = threading.Lock()
    client = CacheClient(storage=storage, base_url=config["origin"], trust_env=False)

    def work(number: int) -> None:
        rng = random.Random(config["seed"] * 1000 + number)
        tally = Tally()
        counter = [0, 0]  # misses made, turns taken
        while time.monotonic() < deadline:
            for step in plan(rng, config["urls"], f"{config['name']}.{number}", counter):
                started = time.monotonic()
                try:
                    response = client.request(step.method, step.path)
                    body = response.content
                except Exception as exc:
                    tally.exceptions += 1
                    tally.note(f"{step.method} {step.path}: {exc!r}")
                    continue
                check(tally, step, response, body, time.monotonic() - started)
        with lock:
            total.merge(tally)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(config["workers"])]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if config["audit"]:
            total.stored, total.wrong_stored = audit(storage)
    finally:
        client.close()
        storage.close()
    return total


async def run_tasks(config: dict[str, Any], deadline: float) -> Tally:
    storage = async_storage_from_url(config["storage"])
    total = Tally()
    client = AsyncCacheClient(storage=storage, base_url=config["origin"], trust_env=False)

    async def work(number: int) -> None:
        rng = random.Random(config["seed"] * 1000 + number)
        tally = Tally()
        counter = [0, 0]  # misses made, turns taken
        while time.monotonic() < deadline:
            for step in plan(rng, config["urls"], f"{config['name']}.{number}", counter):
                started = time.monotonic()
                try:
                    response = await client.request(step.method, step.path)
                    body = response.content
                except Exception as exc:
                    tally.exceptions += 1
                    tally.note(f"{step.method} {step.path}: {exc!r}")
                    continue
                check(tally, step, response, body, time.monotonic() - started)
        total.merge(tally)

    try:
        await asyncio.gather(*(work(n) for n in range(config["workers"])))
        if config["audit"]:
            total.stored, total.wrong_stored = await aaudit(storage)
    finally:
        await client.aclose()
        await storage.aclose()
    return total


def main() -> None:
    config = json.loads(sys.argv[1])
    warnings = Warnings()
    logging.getLogger("httpcache").addHandler(warnings)
    print("ready", flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + config["seconds"]
    try:
        if config["mode"] == "async":
            tally = asyncio.run(run_tasks(config, deadline))
        else:
            tally = run_threads(config, deadline)
    except Exception:
        tally = Tally(exceptions=1, samples=[traceback.format_exc()])
    summary = {
        "requests": tally.requests,
        "gets": tally.gets,
        "invalidations": tally.invalidations,
        "misses": tally.misses,
        "hits": tally.hits,
        "revalidated": tally.revalidated,
        "exceptions": tally.exceptions,
        "wrong_bodies": tally.wrong_bodies,
        "max_latency": round(tally.max_latency, 4),
        "stored": tally.stored,
        "wrong_stored": tally.wrong_stored,
        "samples": tally.samples,
        "warnings": warnings.count,
        "deadline_misses": warnings.deadline_misses,
        "warning_samples": warnings.samples,
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
