"""The requests side: the origin as a transport adapter, and the timed loop.

Imports only requests, urllib3 and the standard library (besides ``harness``), for the
requests-based peers' virtualenvs. :class:`OriginAdapter` answers as the shared
:class:`harness.Origin` does and hands back a real ``urllib3.HTTPResponse``
(``preload_content=False``) over a :class:`harness.OriginBody`, a file object that
behaves like the ``http.client.HTTPResponse`` ``HTTPAdapter`` would have after a network
round trip, so caching libraries see what they see in production. The floor is a plain
``requests.Session`` with that adapter mounted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from harness import Origin, OriginBody, Outcome, proc_status_kib
from requests.adapters import HTTPAdapter

__all__ = [
    "OriginAdapter",
    "RequestsDriver",
    "SessionBuild",
    "floor_session",
    "large_body_run",
    "origin_response",
]

Probe = Callable[[requests.Response], tuple[bool, bool]]
SessionBuild = Callable[[Origin, str], tuple[requests.Session, Callable[[], None]]]
"""Build a session whose requests reach ``origin``, for a storage named after a tag."""


def origin_response(origin: Origin, request: requests.PreparedRequest) -> urllib3.HTTPResponse:
    """The ``urllib3.HTTPResponse`` that ``origin`` gives for ``request``."""
    path = urllib3.util.parse_url(request.url or "/").path or "/"
    status, headers, body = origin.respond(path, request.headers.get("If-None-Match"))
    return urllib3.HTTPResponse(
        body=OriginBody(body),
        headers=headers,
        status=status,
        reason="Not Modified" if status == 304 else "OK",
        preload_content=False,
        decode_content=False,
        request_method=request.method,
        request_url=request.url,
    )


class OriginAdapter(HTTPAdapter):
    """A transport adapter (``requests.adapters.BaseAdapter`` via ``HTTPAdapter``) that
    answers from an :class:`Origin` instead of the network.

    Only :meth:`send` is replaced: ``HTTPAdapter.build_response`` still turns the urllib3
    response into a ``requests.Response``, so ``raw`` is the urllib3 object. Libraries
    that are adapters themselves (CacheControl) put this class after theirs in the MRO.
    """

    def __init__(self, origin: Origin, *args: Any, **kwargs: Any) -> None:
        self.origin = origin
        super().__init__(*args, **kwargs)

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Answer ``request`` from the origin, as a network round trip would."""
        return self.build_response(request, origin_response(self.origin, request))


def no_probe(response: requests.Response) -> tuple[bool, bool]:
    """The floor's probe (it looks the attribute up, as the caches' probes do)."""
    return getattr(response, "from_cache", False), False


@dataclass
class RequestsDriver:
    """A :class:`harness.Driver` over a ``requests.Session``."""

    build: SessionBuild
    probe: Probe = no_probe
    reports: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._session: requests.Session | None = None
        self._close: Callable[[], None] | None = None

    def open(self, origin: Origin, tag: str) -> None:
        """Build the session on ``origin``."""
        self._session, self._close = self.build(origin, tag)

    def run(self, urls: Sequence[str], requests_: int, concurrency: int) -> Outcome:
        """Time ``requests_`` GETs of ``urls`` round-robin, reading every body."""
        if concurrency != 1:
            raise ValueError("requests has no asyncio API")
        assert self._session is not None
        get = self._session.get
        probe = self.probe
        count = len(urls)
        body_bytes = hits = revalidated = 0
        started = time.perf_counter()
        for i in range(requests_):
            response = get(urls[i % count])
            body_bytes += len(response.content)
            hit, fresh = probe(response)
            hits += hit
            revalidated += fresh
        seconds = time.perf_counter() - started
        return Outcome(seconds, requests_, body_bytes, hits, revalidated)

    def close(self) -> None:
        """Close the session and let the library clean its storage."""
        close, self._close, self._session = self._close, None, None
        if close is not None:
            close()


def floor_session() -> RequestsDriver:
    """The requests floor: a plain ``requests.Session`` with :class:`OriginAdapter`."""

    def build(origin: Origin, tag: str) -> tuple[requests.Session, Callable[[], None]]:
        session = requests.Session()
        adapter = OriginAdapter(origin)
        session.mount("http://", adapter)
        return session, session.close

    return RequestsDriver(build)


def large_body_run(
    build: SessionBuild, base_url: str, size: int, reads: int, cached: bool
) -> dict[str, Any]:
    """W4 on requests: stream one ``size``-byte response, then read it back ``reads`` times.

    Same contract as ``stack_httpx.large_body_run``.
    """
    origin = Origin()
    session, close = build(origin, "large")
    url = f"{base_url}/large/{size}"
    times: list[float] = []
    baseline = proc_status_kib("VmRSS")
    try:
        for attempt in range(reads + 1):
            started = time.perf_counter()
            received = 0
            with session.get(url, stream=True) as response:
                for chunk in response.iter_content(64 * 1024):
                    received += len(chunk)
            times.append(time.perf_counter() - started)
            if received != size:
                raise AssertionError(f"read {received} bytes of {size}")
            expected = 1 if cached else attempt + 1
            if origin.full != expected:
                raise AssertionError(f"read {attempt} reached the origin ({origin.full} requests)")
        peak = proc_status_kib("VmHWM")
    finally:
        close()
    return {"store_s": times[0], "read_s": times[1:], "baseline_kib": baseline, "peak_kib": peak}
