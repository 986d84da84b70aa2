"""What every benchmark process shares: the workloads, the origin, the timing loop.

Standard library only, so that the same module runs inside every peer's virtualenv
(``runner.py`` imports it there) as well as in httpcache's own. The HTTP stacks
(``stack_httpx``, ``stack_requests``) wrap :class:`Origin` in a transport or an
adapter; :func:`interleave` times the cases of one workload, the repeat loop outside
and the cases inside, so that machine noise falls on all of them alike.
"""

from __future__ import annotations

import asyncio
import gc
import io
import statistics
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol, TypeVar

_T = TypeVar("_T")

__all__ = [
    "BODY",
    "CHUNK",
    "LARGE_DEFAULT_MIB",
    "STORAGE_FACTORS",
    "WORKLOADS",
    "Case",
    "Driver",
    "Measurement",
    "Origin",
    "OriginBody",
    "Outcome",
    "VerificationError",
    "WorkloadCase",
    "WorkloadSpec",
    "interleave",
    "large_chunks",
    "median",
    "proc_status_kib",
    "request_count",
    "run_async",
    "scaled",
]

BODY = b"x" * 1024
"""The 1 KiB body of every small response."""

CHUNK = 64 * 1024
"""W4's origin streams its body in chunks of this size."""

LARGE_DEFAULT_MIB = 256
"""W4's response size, in MiB, in a full run."""

STORAGE_FACTORS: dict[str, float] = {"file": 0.4, "redis": 0.4, "s3": 0.02}
"""The fraction of each workload's requests that a slow storage runs, to keep a default
run to a few minutes: today a file or Redis request costs ~1 ms, an S3 one (moto over
loopback) 15-20 ms. Figures are per request, so they stay comparable; ``run.py
--full-counts`` runs every storage at the full count."""


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """One request-rate workload.

    Attributes:
        key: ``W1``...
        title: A few words for the table.
        urls: Distinct URLs cycled through (``0``: every request has a URL of its own).
        requests: Requests in one timed run, in a full run.
        concurrency: Concurrent asyncio tasks sharing those requests (``1``: a plain loop).
        path: The origin path prefix, which picks the origin's behaviour.
    """

    key: str
    title: str
    urls: int
    requests: int
    concurrency: int = 1
    path: str = "/hit"


WORKLOADS: dict[str, WorkloadSpec] = {
    "W1": WorkloadSpec("W1", "hit", 100, 5000, path="/hit"),
    "W2": WorkloadSpec("W2", "miss + store", 0, 2000, path="/miss"),
    "W3": WorkloadSpec("W3", "revalidate (304)", 100, 2000, path="/etag"),
    "W5": WorkloadSpec("W5", "async hit, 100 tasks", 100, 5000, concurrency=100, path="/hit"),
}
"""The request-rate workloads. W4 (one large body) is run by ``runner.py --large``."""


def scaled(spec: WorkloadSpec, scale: float) -> WorkloadSpec:
    """``spec`` for a smaller run (``scale`` < 1): fewer URLs and tasks too, at least 10."""
    if scale >= 1:
        return spec
    return replace(
        spec,
        urls=max(10, round(spec.urls * scale)) if spec.urls else 0,
        concurrency=max(1, min(spec.concurrency, max(10, round(spec.concurrency * scale)))),
    )


def request_count(
    spec: WorkloadSpec, scale: float, storage: str | None, *, full: bool = False
) -> int:
    """How many requests one timed run of ``spec`` makes, at ``scale``, on ``storage``.

    ``spec`` is the one :func:`scaled` returns for ``scale``; ``storage`` ``None`` is the
    floor. Unless ``full``, a storage of :data:`STORAGE_FACTORS` runs that fraction. At
    least one request per URL (W2: 10) and per task, and a multiple of the task count.
    """
    kind = (storage or "").removesuffix("-separate")
    factor = scale * (1.0 if full else STORAGE_FACTORS.get(kind, 1.0))
    minimum = max(spec.urls or 10, spec.concurrency)
    count = max(minimum, round(spec.requests * factor))
    return count - count % spec.concurrency


class VerificationError(AssertionError):
    """A workload did not do what it claims (a hit that went to the origin, say)."""


class _DateHeader:
    """An HTTP ``Date`` value, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second, self._value = now, formatdate(now, usegmt=True)
        return self._value


def large_chunks(total: int) -> Iterator[bytes]:
    """Yield ``total`` bytes in :data:`CHUNK`-sized pieces, never holding more than one."""
    block = b"x" * CHUNK
    full, rest = divmod(total, CHUNK)
    for _ in range(full):
        yield block
    if rest:
        yield block[:rest]


class OriginBody(io.RawIOBase):
    """A response body that reads the way ``http.client.HTTPResponse`` does.

    Bytes, or a streamed size (:func:`large_chunks`), behind a file object for
    ``urllib3.HTTPResponse``. Like http.client, it reports itself done as soon as its
    last byte has been read: ``fp`` becomes ``None`` and ``isclosed()`` true. Caches
    that wrap the body (CacheControl) rely on that to know the response is complete
    and store it; a bare ``BytesIO`` never says so.
    """

    def __init__(self, body: bytes | int) -> None:
        if isinstance(body, int):
            self._chunks: Iterator[bytes] = large_chunks(body)
            self._left = body
        else:
            self._chunks = iter((body,))
            self._left = len(body)
        self._pending = b""
        self.fp: str | None = "open" if self._left else None

    def readable(self) -> bool:
        """Always true."""
        return True

    def isclosed(self) -> bool:
        """Whether the whole body has been read, as ``http.client.HTTPResponse.isclosed``."""
        return self.fp is None

    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes (all that is left for ``-1``)."""
        if self.fp is None:
            return b""
        if size is None or size < 0:
            data = self._pending + b"".join(self._chunks)
            self._pending = b""
        else:
            while len(self._pending) < size:
                piece = next(self._chunks, None)
                if piece is None:
                    break
                self._pending = self._pending + piece if self._pending else piece
            data, self._pending = self._pending[:size], self._pending[size:]
        self._left -= len(data)
        if self._left <= 0:
            self.fp = None
        return data

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer``; return how many bytes were read."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


class Origin:
    """The origin server's behaviour, independent of the HTTP stack in front of it.

    Paths pick the behaviour:

    * ``/hit/...`` and ``/miss/...``: 200, 1 KiB, ``Cache-Control: max-age=3600``;
    * ``/etag/...``: 200, 1 KiB, ``Cache-Control: no-cache`` and an ``ETag``; a request
      whose ``If-None-Match`` holds that tag gets a bodiless 304 instead;
    * ``/large/<bytes>``: 200 with that many bytes, streamed in 64 KiB chunks, with a
      ``Content-Length`` and ``Cache-Control: max-age=3600``.

    Every response carries a ``Date`` (some caches compute freshness only with one).
    The counters tell what the origin actually saw, which is how the benchmark checks
    that a cache did hit or revalidate.
    """

    def __init__(self) -> None:
        self.full = 0
        self.not_modified = 0
        self.conditional = 0
        self._date = _DateHeader()

    @property
    def calls(self) -> int:
        """Every request the origin answered."""
        return self.full + self.not_modified

    def snapshot(self) -> tuple[int, int, int]:
        """(full responses, 304s, conditional requests) so far."""
        return self.full, self.not_modified, self.conditional

    def respond(
        self, path: str, if_none_match: str | None
    ) -> tuple[int, list[tuple[str, str]], bytes | int]:
        """Answer a GET: (status, headers, body bytes or the size of a streamed body)."""
        if if_none_match is not None:
            self.conditional += 1
        date = self._date()
        if path.startswith("/etag/"):
            tag = '"' + path[6:] + '"'
            if if_none_match == tag:
                self.not_modified += 1
                return 304, [("Date", date), ("Cache-Control", "no-cache"), ("ETag", tag)], b""
            self.full += 1
            return (
                200,
                [
                    ("Date", date),
                    ("Cache-Control", "no-cache"),
                    ("ETag", tag),
                    ("Content-Type", "text/plain"),
                    ("Content-Length", str(len(BODY))),
                ],
                BODY,
            )
        self.full += 1
        if path.startswith("/large/"):
            total = int(path.rsplit("/", 1)[1])
            return (
                200,
                [
                    ("Date", date),
                    ("Cache-Control", "max-age=3600"),
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Length", str(total)),
                ],
                total,
            )
        return (
            200,
            [
                ("Date", date),
                ("Cache-Control", "max-age=3600"),
                ("Content-Type", "text/plain"),
                ("Content-Length", str(len(BODY))),
            ],
            BODY,
        )


@dataclass(slots=True)
class Outcome:
    """What one timed run did: its time and what the client saw."""

    seconds: float
    requests: int
    body_bytes: int = 0
    from_cache: int = 0
    revalidated: int = 0


@dataclass(slots=True)
class Measurement:
    """A case's figures over the repeats: microseconds per request, one per repeat."""

    label: str
    requests: int
    us: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median_us(self) -> float | None:
        """The median of :attr:`us`, or ``None`` when the case failed."""
        return median(self.us) if self.us and self.error is None else None


class Case(Protocol):
    """One configuration of one workload (a library, a storage, sync or async)."""

    label: str
    requests: int
    strict: bool
    """A verification failure aborts the whole run (httpcache) instead of marking n/a."""

    def setup(self) -> None:
        """Build the client and warm the cache; not timed."""

    def measure(self, repeat: int) -> Outcome:
        """Run the workload once, timed, and verify it; raise VerificationError if wrong."""

    def teardown(self) -> None:
        """Close the client and remove what the storage holds; not timed."""


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return float(statistics.median(values))


def interleave(
    cases: Sequence[Case],
    repeats: int,
    log: Callable[[str], None] = lambda _: None,
) -> list[Measurement]:
    """Time every case ``repeats`` times, the repeat loop outside, the cases inside.

    The order of the cases rotates from one repeat to the next, so no case always
    runs first or last. ``gc.collect()`` runs before every timed run. A failing
    non-strict case is marked with its error (shown as n/a) and skipped from then on;
    a failing strict case raises.
    """
    results = [Measurement(case.label, case.requests) for case in cases]
    live: list[int] = []
    try:
        for index, case in enumerate(cases):
            try:
                case.setup()
            except Exception as exc:
                if case.strict:
                    raise
                results[index].error = _describe(exc)
                log(f"  {case.label}: n/a ({results[index].error})")
                continue
            live.append(index)
        for repeat in range(repeats):
            if not live:
                break
            shift = repeat % len(live)
            for index in live[shift:] + live[:shift]:
                if results[index].error is not None:
                    continue
                gc.collect()
                try:
                    outcome = cases[index].measure(repeat)
                except Exception as exc:
                    if cases[index].strict:
                        raise
                    results[index].error = _describe(exc)
                    log(f"  {cases[index].label}: n/a ({results[index].error})")
                    continue
                results[index].us.append(outcome.seconds / outcome.requests * 1e6)
    finally:
        for index in live:
            try:
                cases[index].teardown()
            except Exception as exc:  # a failed cleanup must not hide the figures
                log(f"  {cases[index].label}: teardown failed: {_describe(exc)}")
    return results


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, VerificationError):
        return first
    return f"{type(exc).__name__}: {first}"[:300]


def proc_status_kib(field_name: str) -> int:
    """A ``kB`` field (``VmRSS``, ``VmHWM``) of ``/proc/self/status``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


_LOOP: asyncio.AbstractEventLoop | None = None


def run_async(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coroutine`` on the one event loop this process keeps for all async cases.

    Async clients live across repeats, so they need a loop that outlives one
    ``asyncio.run``.
    """
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP.run_until_complete(coroutine)


class Driver(Protocol):
    """A client of one library on one storage kind, sync or async, over an origin.

    ``reports`` names what its responses tell about themselves (``from_cache``,
    ``revalidated``); the counts in :class:`Outcome` mean something only for those.
    """

    reports: frozenset[str]

    def open(self, origin: Origin, tag: str) -> None:
        """Build the client (and a storage of its own, named after ``tag``)."""

    def run(self, urls: Sequence[str], requests: int, concurrency: int) -> Outcome:
        """GET ``urls`` round-robin ``requests`` times, reading every body; timed inside."""

    def close(self) -> None:
        """Close the client and remove everything its storage holds."""


@dataclass
class WorkloadCase:
    """A :class:`Case` for one request-rate workload, for any HTTP stack.

    ``cached=False`` makes it a floor: a plain client doing the same requests, which
    the origin must see every one of. ``cached=True`` checks the workload's claim:
    W1/W5 never reach the origin, W2 stores every response (a sample of them is read
    back as hits after the timed run), W3 gets a 304 for every request.
    """

    label: str
    spec: WorkloadSpec
    requests: int
    driver: Driver
    base_url: str
    cached: bool
    strict: bool = False
    origin: Origin = field(default_factory=Origin)

    @property
    def _urls(self) -> list[str]:
        return [f"{self.base_url}{self.spec.path}/{i}" for i in range(self.spec.urls)]

    def setup(self) -> None:
        """Open the client and warm it (W2: a throwaway round of misses)."""
        if self.spec.urls == 0:
            self.driver.open(self.origin, "warm")
            warm = [f"{self.base_url}{self.spec.path}/warm/{i}" for i in range(20)]
            self.driver.run(warm, len(warm), 1)
            self.driver.close()
            return
        self.driver.open(self.origin, "main")
        urls = self._urls
        self.driver.run(urls, len(urls), 1)  # the misses that fill the cache
        if self.cached and self.origin.full != len(urls):
            raise VerificationError(
                f"{self.label}: warming {len(urls)} URLs made {self.origin.full} origin requests"
            )
        self.driver.run(urls[:20], len(urls[:20]), 1)  # a short untimed pass of what is timed

    def measure(self, repeat: int) -> Outcome:
        """Run the workload once and check that it did what it claims."""
        if self.spec.urls == 0:
            return self._measure_misses(repeat)
        full, not_modified, _ = self.origin.snapshot()
        outcome = self.driver.run(self._urls, self.requests, self.spec.concurrency)
        self._check_bodies(outcome)
        got_full = self.origin.full - full
        got_304 = self.origin.not_modified - not_modified
        n = self.requests
        if not self.cached:
            self._expect(got_full == n, f"the origin answered {got_full} of {n} requests")
        elif self.spec.path == "/etag":
            self._expect(
                got_304 == n and got_full == 0,
                f"expected {n} revalidations (304s), the origin sent {got_304} 304s and "
                f"{got_full} full responses",
            )
            if "revalidated" in self.driver.reports:
                self._expect(
                    outcome.revalidated == n,
                    f"{outcome.revalidated} of {n} responses say revalidated",
                )
        else:
            self._expect(
                got_full + got_304 == 0,
                f"expected {n} hits, the origin answered {got_full + got_304} of them",
            )
            if "from_cache" in self.driver.reports:
                self._expect(
                    outcome.from_cache == n, f"{outcome.from_cache} of {n} responses are hits"
                )
        return outcome

    def _measure_misses(self, repeat: int) -> Outcome:
        urls = [f"{self.base_url}{self.spec.path}/{repeat}/{i}" for i in range(self.requests)]
        self.driver.open(self.origin, f"r{repeat}")
        try:
            full = self.origin.full
            outcome = self.driver.run(urls, len(urls), 1)
            self._check_bodies(outcome)
            got = self.origin.full - full
            self._expect(got == len(urls), f"the origin answered {got} of {len(urls)} misses")
            if self.cached and "from_cache" in self.driver.reports:
                self._expect(outcome.from_cache == 0, f"{outcome.from_cache} misses were hits")
            if self.cached:  # were they stored? read the last 50 back (untimed)
                sample = urls[-min(50, len(urls)) :]
                check = self.driver.run(sample, len(sample), 1)
                got = self.origin.full - full - len(urls)
                self._expect(got == 0, f"{got} of the last {len(sample)} stored URLs missed")
                if "from_cache" in self.driver.reports:
                    self._expect(
                        check.from_cache == len(sample),
                        f"only {check.from_cache} of {len(sample)} stored URLs were hits",
                    )
        finally:
            self.driver.close()
        return outcome

    def _check_bodies(self, outcome: Outcome) -> None:
        want = outcome.requests * len(BODY)
        self._expect(outcome.body_bytes == want, f"read {outcome.body_bytes} body bytes of {want}")

    def _expect(self, condition: bool, message: str) -> None:
        if not condition:
            raise VerificationError(f"{self.label} {self.spec.key}: {message}")

    def teardown(self) -> None:
        """Close the client (W2 closes its own after every run)."""
        if self.spec.urls:
            self.driver.close()
