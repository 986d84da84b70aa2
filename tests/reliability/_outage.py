"""Drive a cache through an outage of its storage and measure what the user saw.

One scenario, for the sync and the async client alike: with the backend up, a response is
stored and served as a hit; the fault is injected and requests go on for a while (each must
succeed from the origin with the right body, and none may wait much longer than the storage
deadline); the fault is removed and requests go on until caching has resumed by itself
(a new response is stored and then served from the cache). The logs of the ``httpcache``
loggers are counted: one WARNING for the outage and one INFO for the recovery.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

OUTAGE_SECONDS = 2.0
"""How long requests go on while the fault is in place."""

RECOVERY_SECONDS = 40.0
"""How long caching may take to resume once the fault is gone (the cool-down has grown)."""

DEADLINE = 0.5
"""The default ``CacheOptions.storage_timeout`` the scenarios run with."""

LATENCY_BOUND = DEADLINE + 1.5
"""Longest acceptable request during the outage: the deadline, plus slack for a loaded machine."""


def body_for(path: str) -> bytes:
    return f"the body of {path} ".encode() * 64


def origin() -> tuple[httpx.MockTransport, list[str]]:
    """An origin whose body is derived from the URL; it counts the requests it answers."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(
            200, headers={"Cache-Control": "max-age=3600"}, content=body_for(request.url.path)
        )

    return httpx.MockTransport(handler), calls


@dataclasses.dataclass
class Figures:
    """What one outage cost: the fault suite's figures."""

    requests: int = 0
    outage_requests: int = 0
    exceptions: int = 0
    wrong_bodies: int = 0
    worst_outage_latency: float = 0.0
    recovery_seconds: float = 0.0
    resumed: bool = False
    warnings: list[str] = dataclasses.field(default_factory=list)
    infos: list[str] = dataclasses.field(default_factory=list)

    def check(self) -> None:
        """Assert the fault suite's promises for one outage."""
        assert self.exceptions == 0, self
        assert self.wrong_bodies == 0, self
        assert self.outage_requests >= 3, self
        assert self.worst_outage_latency < LATENCY_BOUND, self
        assert self.resumed, self
        assert len(self.warnings) == 1, self.warnings
        assert len(self.infos) == 1 and "recovered" in self.infos[0], self.infos


class LogCounter(logging.Handler):
    """Collects the ``httpcache`` loggers' WARNING and INFO messages."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> LogCounter:
        log = logging.getLogger("httpcache")
        self._level = log.level
        log.setLevel(logging.DEBUG)
        log.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        log = logging.getLogger("httpcache")
        log.removeHandler(self)
        log.setLevel(self._level)

    def fill(self, figures: Figures) -> None:
        for record in self.records:
            if record.levelno >= logging.WARNING:
                figures.warnings.append(record.getMessage())
            elif record.levelno == logging.INFO:
                figures.infos.append(record.getMessage())


def _checked(figures: Figures, path: str, response: httpx.Response) -> bool:
    figures.requests += 1
    if response.status_code != 200 or response.content != body_for(path):
        figures.wrong_bodies += 1
    return bool(response.extensions.get("from_cache"))


def drive(
    client: httpx.Client,
    fault_on: Callable[[], Any],
    fault_off: Callable[[], Any],
) -> Figures:
    """Run the outage scenario with a sync client over a cache that starts healthy."""
    figures = Figures()
    with LogCounter() as logs:
        _checked(figures, "/a", client.get("/a"))
        assert _checked(figures, "/a", client.get("/a")), "no hit before the fault"
        fault_on()
        ends = time.monotonic() + OUTAGE_SECONDS
        n = 0
        while time.monotonic() < ends:
            for path in ("/a", f"/o{n}"):
                started = time.monotonic()
                try:
                    _checked(figures, path, client.get(path))
                except Exception:
                    figures.exceptions += 1
                took = time.monotonic() - started
                figures.worst_outage_latency = max(figures.worst_outage_latency, took)
                figures.outage_requests += 1
            n += 1
        fault_off()
        started = time.monotonic()
        while time.monotonic() - started < RECOVERY_SECONDS:
            try:
                hit = _checked(figures, "/r", client.get("/r"))
            except Exception:
                figures.exceptions += 1
                hit = False
            if hit:
                figures.resumed = True
                break
            time.sleep(0.1)
        figures.recovery_seconds = time.monotonic() - started
    logs.fill(figures)
    return figures


async def adrive(
    client: httpx.AsyncClient,
    fault_on: Callable[[], Awaitable[Any]],
    fault_off: Callable[[], Awaitable[Any]],
) -> Figures:
    """Run the outage scenario with an async client over a cache that starts healthy."""
    figures = Figures()
    with LogCounter() as logs:
        _checked(figures, "/a", await client.get("/a"))
        assert _checked(figures, "/a", await client.get("/a")), "no hit before the fault"
        await fault_on()
        ends = time.monotonic() + OUTAGE_SECONDS
        n = 0
        while time.monotonic() < ends:
            for path in ("/a", f"/o{n}"):
                started = time.monotonic()
                try:
                    _checked(figures, path, await client.get(path))
                except Exception:
                    figures.exceptions += 1
                took = time.monotonic() - started
                figures.worst_outage_latency = max(figures.worst_outage_latency, took)
                figures.outage_requests += 1
            n += 1
        await fault_off()
        started = time.monotonic()
        while time.monotonic() - started < RECOVERY_SECONDS:
            try:
                hit = _checked(figures, "/r", await client.get("/r"))
            except Exception:
                figures.exceptions += 1
                hit = False
            if hit:
                figures.resumed = True
                break
            await anyio.sleep(0.1)
        figures.recovery_seconds = time.monotonic() - started
    logs.fill(figures)
    return figures
