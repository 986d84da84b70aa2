"""The values the engine takes and returns: a request as the policy sees it, and decisions.

Frozen, validated values (h11's events are the model): :func:`~._engine.on_request`
returns one :data:`RequestDecision`, :func:`~._engine.on_response` one
:class:`ResponsePlan`; the transports act on them and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._models import Entry, Headers

__all__ = [
    "CacheRequest",
    "Forward",
    "GatewayTimeout",
    "RequestDecision",
    "ResponsePlan",
    "Revalidate",
    "Serve",
]


@dataclass(frozen=True, slots=True)
class CacheRequest:
    """An incoming request, as the policy sees it.

    ``headers`` are the headers as they go on the wire (after httpx merged the
    client's defaults, R-14). The flags carry per-request controls, already
    resolved against the client's options by the transport (``offline`` and
    ``refresh`` are the request's extension, or ``CacheOptions.offline`` /
    ``CacheOptions.refresh`` without one).

    ``body_keyed`` marks an opted-in POST (``CacheOptions.cache_post``) whose ``key``
    already holds its body's digest: it is looked up and stored like a GET under that
    key, never validated, and invalidates nothing. Only a POST may be body-keyed.

    Raises:
        ValueError: ``body_keyed`` for a method other than POST.
    """

    method: str
    url: str
    headers: Headers
    key: str
    bypass: bool = False
    refresh: bool = False
    only_if_cached: bool = False
    offline: bool = False
    force_cache: bool = False
    ttl: float | None = None
    validated_since: float | None = None
    """A collapsed request's own arrival time: a stored response that the origin sent or
    validated at or after it, for another request this one waited for, is as good as
    an answer to this one and is served without validating it again."""
    body_keyed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        if self.body_keyed and self.method != "POST":
            raise ValueError(f"only a POST may be body-keyed, not a {self.method}")


@dataclass(frozen=True, slots=True)
class Serve:
    """Answer from storage without contacting the origin."""

    entry: Entry
    status: int
    headers: Headers
    age: int
    ttl: int
    stale: bool = False
    with_body: bool = True
    background: Revalidate | Forward | None = None
    """A request to send behind the response, which is served stale meanwhile (RFC 5861 §3)."""
    content_range: tuple[int, int] | None = None
    """For a 206 (RFC 9110 §14.4, §15.3.7): the first and last positions, inclusive, of the
    stored body's bytes that the response carries; ``None`` for the whole body."""


@dataclass(frozen=True, slots=True)
class Revalidate:
    """Send the request with validators for ``entry`` added (RFC 9111 §4.3.1)."""

    entry: Entry
    candidates: tuple[Entry, ...]
    conditional_headers: Headers
    reason: str


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the request to the origin as it is.

    ``reason`` is the RFC 9211 ``fwd`` value; ``storable`` says whether the answer
    may be stored at all; ``candidates`` are the stored responses the request
    selects (a 304 or a HEAD answer may still freshen them); ``fallback`` is a
    stale entry that may stand in for an origin error.
    """

    reason: str
    storable: bool = True
    candidates: tuple[Entry, ...] = ()
    fallback: Entry | None = None


@dataclass(frozen=True, slots=True)
class GatewayTimeout:
    """Answer 504 without contacting the origin (``only-if-cached``, RFC 9111 §5.2.1.7)."""


RequestDecision = Serve | Revalidate | Forward | GatewayTimeout


@dataclass(frozen=True, slots=True)
class ResponsePlan:
    """What to do with the origin's answer.

    Attributes:
        store: A new entry whose body is the origin's body.
        replaces: Variants of the same key that the new entry supersedes.
        update: Stored entries freshened by a 304 or HEAD answer (heads only).
        delete: Stored entries to remove.
        invalidate: Normalised URLs whose every stored response is removed.
        serve: Answer from storage instead of passing the origin's answer on.
        retry: Send the request again without conditionals (U-3, U-12).
    """

    store: Entry | None = None
    replaces: tuple[str, ...] = ()
    update: tuple[Entry, ...] = ()
    delete: tuple[Entry, ...] = ()
    invalidate: tuple[str, ...] = field(default=())
    serve: Serve | None = None
    retry: bool = False
