"""A pure harness that drives the policy engine the way the transport does.

Checklist rows read "given a stored response, when GET at t=10, then hit"; this
harness lets tests say exactly that, with no I/O and no clock: an in-test origin
function answers forwarded requests, and entries live in a dict.

    cache = Scenario()
    cache.fetch("/a", origin=respond(200, {"Cache-Control": "max-age=60"}))
    outcome = cache.fetch("/a", at=10)
    assert outcome.hit
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from httpcache import CacheOptions
from httpcache._models import Entry, Headers, ResponseHead
from httpcache._policy import _headers
from httpcache._policy._dates import format_http_date
from httpcache._policy._engine import (
    CacheRequest,
    Forward,
    GatewayTimeout,
    Revalidate,
    Serve,
    on_request,
    on_response,
    stale_on_error,
)
from httpcache._policy._keys import primary_key

BASE = "http://example.com"
T0 = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT: t=0 in every scenario

HeaderInput = Mapping[str, str] | Sequence[tuple[str, str]] | Headers


def h(headers: HeaderInput | None = None) -> Headers:
    """Build a raw header tuple from a dict or a list of (name, value) pairs."""
    if headers is None:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: list[tuple[bytes, bytes]] = []
    for name, value in items:
        n = name if isinstance(name, bytes) else name.encode("latin-1")
        v = value if isinstance(value, bytes) else value.encode("latin-1")
        out.append((n, v))
    return tuple(out)


def http_date(t: float) -> str:
    """The IMF-fixdate of scenario time ``t`` (seconds after t=0)."""
    return format_http_date(T0 + t).decode("ascii")


@dataclass(frozen=True)
class OriginRequest:
    """What reached the origin."""

    method: str
    url: str
    headers: Headers

    def header(self, name: str) -> str | None:
        value = _headers.get_combined(self.headers, name.lower().encode())
        return None if value is None else value.decode("latin-1")


class OriginError(Exception):
    """Raised by an origin function to simulate a connection failure."""


Origin = Callable[[OriginRequest], tuple[int, Headers]]


def respond(status: int = 200, headers: HeaderInput | None = None, *, dated: bool = True) -> Origin:
    """An origin that always answers ``status`` with ``headers``.

    With ``dated`` (the default) a ``Date`` equal to the request time is added
    unless the headers carry one.
    """
    raw = h(headers)

    def origin(request: OriginRequest) -> tuple[int, Headers]:
        return status, raw

    origin.dated = dated  # type: ignore[attr-defined]
    return origin


def fail() -> Origin:
    """An origin that cannot be reached."""

    def origin(request: OriginRequest) -> tuple[int, Headers]:
        raise OriginError("connection refused")

    return origin


@dataclass
class Outcome:
    """What the user got and what happened on the way."""

    kind: str  # "hit", "swr", "revalidated", "forwarded", "504", "stale-on-error", "error"
    status: int
    headers: Headers
    sent: list[OriginRequest] = field(default_factory=list)
    decision: object = None

    @property
    def hit(self) -> bool:
        return self.kind in ("hit", "swr", "stale-on-error")

    @property
    def contacted_origin(self) -> bool:
        return bool(self.sent)

    def header(self, name: str) -> str | None:
        value = _headers.get_combined(self.headers, name.lower().encode())
        return None if value is None else value.decode("latin-1")

    def headers_named(self, name: str) -> list[str]:
        return [
            v.decode("latin-1") for v in _headers.get_values(self.headers, name.lower().encode())
        ]


class Scenario:
    """A cache (dict of entries) driven through the pure engine at chosen times."""

    def __init__(self, options: CacheOptions | None = None, **option_values: object) -> None:
        self.options = options or CacheOptions(**option_values)  # type: ignore[arg-type]
        self.entries: dict[str, dict[str, Entry]] = {}
        self.origin: Origin = respond(200, {"Cache-Control": "max-age=60"})

    def stored(self, path: str = "/a") -> list[Entry]:
        """Entries stored under the key of ``path``."""
        return list(self.entries.get(primary_key(BASE + path), {}).values())

    def _send(
        self, creq: CacheRequest, extra: Headers, origin: Origin, at: float, delay: float
    ) -> tuple[OriginRequest, int, Headers]:
        sent_headers = (
            tuple((k, v) for k, v in creq.headers if k.lower() not in {n.lower() for n, _ in extra})
            + extra
        )
        sent = OriginRequest(creq.method, creq.url, sent_headers)
        status, headers = origin(sent)
        if getattr(origin, "dated", True) and not _headers.has(headers, b"date"):
            headers = (*headers, (b"Date", format_http_date(T0 + at + delay)))
        return sent, status, headers

    def fetch(
        self,
        path: str = "/a",
        *,
        at: float = 0,
        method: str = "GET",
        headers: HeaderInput | None = None,
        origin: Origin | None = None,
        delay: float = 0,
        url: str | None = None,
        **flags: object,
    ) -> Outcome:
        """Send one request at scenario time ``at``; ``delay`` is the origin's latency."""
        if origin is not None:
            self.origin = origin
        full_url = url or BASE + path
        creq = CacheRequest(
            method=method,
            url=full_url,
            headers=h(headers),
            key=primary_key(full_url),
            **flags,  # type: ignore[arg-type]
        )
        now = T0 + at
        stored = list(self.entries.get(creq.key, {}).values())
        decision = on_request(creq, stored, now, self.options)
        if isinstance(decision, Serve):
            kind = "hit" if decision.background is None else "swr"  # stale-while-revalidate
            return Outcome(kind, decision.status, decision.headers, decision=decision)
        if isinstance(decision, GatewayTimeout):
            return Outcome("504", 504, (), decision=decision)
        return self._forward(creq, decision, now, at, delay)

    def refresh(
        self,
        outcome: Outcome,
        *,
        at: float,
        origin: Origin,
        path: str = "/a",
        headers: HeaderInput | None = None,
        delay: float = 0,
    ) -> Outcome:
        """Run the background revalidation behind a ``"swr"`` outcome, as the transport does.

        Like the transport, it sends a GET without the user's conditional fields.
        """
        assert isinstance(outcome.decision, Serve) and outcome.decision.background is not None
        full_url = BASE + path
        creq = CacheRequest("GET", full_url, h(headers), primary_key(full_url))
        previous, self.origin = self.origin, origin
        try:
            return self._forward(creq, outcome.decision.background, T0 + at, at, delay)
        finally:
            self.origin = previous

    def _forward(
        self,
        creq: CacheRequest,
        decision: Revalidate | Forward,
        now: float,
        at: float,
        delay: float,
    ) -> Outcome:
        extra = decision.conditional_headers if isinstance(decision, Revalidate) else ()
        fallback = decision.entry if isinstance(decision, Revalidate) else decision.fallback
        sent_log: list[OriginRequest] = []
        try:
            sent, status, headers = self._send(creq, extra, self.origin, at, delay)
        except OriginError:
            if fallback is not None:
                served = stale_on_error(creq, fallback, None, now + delay, self.options)
                if served is not None:
                    return Outcome(
                        "stale-on-error", served.status, served.headers, decision=decision
                    )
            return Outcome("error", 0, (), decision=decision)
        sent_log.append(sent)
        if fallback is not None and status in (500, 502, 503, 504):
            served = stale_on_error(creq, fallback, status, now + delay, self.options)
            if served is not None:
                return Outcome("stale-on-error", served.status, served.headers, sent_log, decision)
        response = ResponseHead(status, headers)
        plan = on_response(creq, decision, response, now, now + delay, self.options)
        for url in plan.invalidate:
            self.entries.pop(primary_key(url), None)
        bucket = self.entries.setdefault(creq.key, {})
        for entry in plan.update:
            if entry.variant in bucket:
                bucket[entry.variant] = entry
        for entry in plan.delete:
            bucket.pop(entry.variant, None)
        if plan.retry:
            retry = self._forward(creq, Forward(decision.reason), now, at, delay)
            retry.sent[:0] = sent_log
            return retry
        if plan.store is not None:
            for variant in plan.replaces:
                bucket.pop(variant, None)
            bucket[plan.store.variant] = plan.store
        if plan.serve is not None:
            served = plan.serve
            return Outcome("revalidated", served.status, served.headers, sent_log, decision)
        return Outcome("forwarded", status, headers, sent_log, decision)
