"""Shared test doubles: a fake clock, a counting origin and hand-made body streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

import httpx

from httpcache import AsyncStorage, Entry

BASE = "http://example.com"
T0 = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT


class Clock:
    """A clock that moves only when told to: `CacheOptions(clock=...)`, `storage(clock=...)`."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Handler = Callable[[httpx.Request], httpx.Response]


def respond(
    status: int = 200,
    headers: dict[str, str] | Sequence[tuple[str, str]] | None = None,
    content: bytes = b"hello",
) -> Handler:
    """Return a handler answering every request with a fresh copy of one response."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, content=content)

    return handler


class Origin:
    """An `httpx.MockTransport` handler that records every request it answers."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler if handler is not None else respond()
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def calls(self) -> int:
        return len(self.requests)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


class ChunkedStream(httpx.AsyncByteStream):
    """A body sent in several chunks, optionally failing after them (a dropped connection)."""

    def __init__(self, chunks: Sequence[bytes], *, fail: bool = False) -> None:
        self._chunks = list(chunks)
        self._fail = fail
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        if self._fail:
            raise httpx.ReadError("connection dropped mid-body")

    async def aclose(self) -> None:
        self.closed = True


async def stored_body(storage: AsyncStorage, entry: Entry) -> bytes | None:
    """Read the whole stored body of `entry` back from `storage`."""
    chunks = await storage.open_body(entry)
    if chunks is None:
        return None
    return b"".join([chunk async for chunk in chunks])
