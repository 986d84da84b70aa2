"""Immutable values shared by every layer: request/response heads and stored entries.

Invariants:

* Nothing here performs I/O, reads the clock or imports httpx; the policy, the
  storages and the serializers all build on these values.
* Header sections are tuples of ``(name, value)`` byte pairs in wire order. Names
  keep the case they arrived with; every lookup is case-insensitive (RFC 9110 §5.1).
* An :class:`Entry` is the head of one stored response (one Vary variant). Its body
  lives beside it in the storage and is streamed separately, unless the storage that
  returned the entry keeps it inline (small bodies): then ``Entry.body`` holds it, so
  a hit needs no second read. ``body`` and ``body_ref`` belong to the storage that set
  them; they are never serialized and never compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Entry", "Headers", "RequestHead", "ResponseHead", "StorageStats"]

Headers = tuple[tuple[bytes, bytes], ...]
"""A header section: ``(name, value)`` pairs of raw bytes, in order, repeats kept."""


def _check_headers(headers: object, owner: str) -> None:
    if not isinstance(headers, tuple):
        raise TypeError(f"{owner}.headers must be a tuple of (bytes, bytes) pairs")
    for pair in headers:
        if (
            not isinstance(pair, tuple)
            or len(pair) != 2
            or not isinstance(pair[0], bytes)
            or not isinstance(pair[1], bytes)
        ):
            raise TypeError(f"{owner}.headers must be a tuple of (bytes, bytes) pairs")


@dataclass(frozen=True, slots=True)
class RequestHead:
    """The parts of a request the cache keeps: method, absolute URL and headers.

    Stored request headers are only those a response's ``Vary`` nominates; values of
    credential fields are kept as a hash, never in plain text.

    Attributes:
        method: The request method, such as ``"GET"``.
        url: The absolute request URL.
        headers: The kept request header fields, as ``(name, value)`` byte pairs in
            their order.
    """

    method: str
    url: str
    headers: Headers = ()

    def __post_init__(self) -> None:
        if not self.method or not isinstance(self.method, str):
            raise ValueError("RequestHead.method must be a non-empty string")
        _check_headers(self.headers, "RequestHead")


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """Status line and header section of a response.

    Attributes:
        status: The status code (100 to 999).
        headers: The header fields, as ``(name, value)`` byte pairs in their order,
            repeats kept.
        reason: The reason phrase.
        http_version: The HTTP version of the response, such as ``"HTTP/1.1"``.
    """

    status: int
    headers: Headers = ()
    reason: str = ""
    http_version: str = "HTTP/1.1"

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or not 100 <= self.status <= 999:
            raise ValueError(f"ResponseHead.status must be an int in 100..999, not {self.status!r}")
        _check_headers(self.headers, "ResponseHead")


@dataclass(frozen=True, slots=True)
class Entry:
    """The head and metadata of one stored response.

    Attributes:
        key: The primary cache key (the normalised target URI, plus a credential
            partition). Every Vary variant of one URI shares it.
        variant: The secondary key that tells variants of ``key`` apart.
        request: The request that produced the response (method, URL, and the
            request headers ``Vary`` nominates).
        response: The stored response head, hop-by-hop fields removed.
        request_time: Clock reading when the request that produced (or last
            validated) the response was sent (RFC 9111 §4.2.3).
        response_time: Clock reading when that response was received.
        created_at: Clock reading when the entry was first stored.
        hits: How many times the entry has answered a request.
        size: Body length in bytes, once known.
        invalidated: Set when the entry must be validated before any reuse
            (RFC 9111 §4.4, §4.3.5).
        ttl: A per-entry storage lifetime in seconds (overrides the storage's own
            ``ttl``), or ``None``.
        force_cached: Stored by the non-RFC ``force_cache`` mode; ``ttl`` then
            doubles as its freshness lifetime.
        accessed_at: Clock reading of the entry's last hit, or ``None`` before the
            first one. A storage with sliding expiry counts its lifetime from here.
        body: The whole stored body, when the storage that returned this entry
            keeps it inline; the transport then serves it without calling
            ``open_body``. ``None`` means "ask ``open_body``".
        body_ref: An opaque reference to the stored body, set by the storage that
            returned the entry (a file token, a row id, an object key), so that its
            ``open_body`` needs no second lookup of the head.
    """

    key: str
    variant: str
    request: RequestHead
    response: ResponseHead
    request_time: float
    response_time: float
    created_at: float
    hits: int = 0
    size: int | None = None
    invalidated: bool = False
    ttl: float | None = None
    force_cached: bool = False
    accessed_at: float | None = None
    body: bytes | None = field(default=None, compare=False, repr=False)
    body_ref: str | None = field(default=None, compare=False, repr=False)

    def counted(self, hits: int, accessed_at: float | None) -> Entry:
        """Return this entry with ``hits`` and ``accessed_at`` set (``replace`` without its cost).

        The hit path's copy: a storage counting a hit, or showing hits not yet written back.
        """
        return Entry(
            self.key,
            self.variant,
            self.request,
            self.response,
            self.request_time,
            self.response_time,
            self.created_at,
            hits,
            self.size,
            self.invalidated,
            self.ttl,
            self.force_cached,
            accessed_at,
            self.body,
            self.body_ref,
        )

    def freshened(self, headers: Headers, request_time: float, response_time: float) -> Entry:
        """Return this entry with new response headers, timed by a validating exchange.

        What a 304 or HEAD answer does to a stored response (RFC 9111 §3.2, §4.3.4):
        the status line and body stay, ``invalidated`` is cleared.
        """
        response = self.response
        return Entry(
            self.key,
            self.variant,
            self.request,
            ResponseHead(response.status, headers, response.reason, response.http_version),
            request_time,
            response_time,
            self.created_at,
            self.hits,
            self.size,
            False,
            self.ttl,
            self.force_cached,
            self.accessed_at,
            self.body,
            self.body_ref,
        )

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("Entry.key must not be empty")
        if self.request_time > self.response_time:
            raise ValueError("Entry.request_time must not be later than response_time")
        if self.hits < 0:
            raise ValueError("Entry.hits must not be negative")
        if self.size is not None and self.size < 0:
            raise ValueError("Entry.size must not be negative")
        if self.body is not None and self.size is not None and len(self.body) != self.size:
            raise ValueError("Entry.body must hold exactly Entry.size bytes")


@dataclass(frozen=True, slots=True)
class StorageStats:
    """Counts a storage reports about itself (used by ``stats()`` and the CLI).

    Attributes:
        entries: Stored entries (one per variant), expired ones not yet deleted
            included.
        bytes: Bytes held for them, as the backend measures it (bodies in memory;
            records and bodies on disk or in objects; see each storage's page).
        expired: How many of ``entries`` are past their lifetime; 0 where a backend
            does not count them.
    """

    entries: int
    bytes: int
    expired: int = 0
