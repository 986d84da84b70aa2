"""Serving a stored response: its freshness, the headers it is served with, and stale use.

Pure helpers shared by :mod:`httpcache._policy._engine`: :func:`freshness` of a stored
entry at ``now``, :func:`serve` (the ``Age`` it is served with, or a 304 for a user's
conditional request), and the two ways a stale response may be used without validating
it first (RFC 5861): :func:`stale_on_error` instead of an origin error, and
:func:`while_revalidating` while the cache revalidates it in the background.
:func:`stale_use_allowed` tells whether a response already stale when it arrives
can have any such use, and so is worth storing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._models import Entry, Headers
from . import _headers
from ._age import MAX_AGE_VALUE, current_age
from ._cache_control import (
    RequestCacheControl,
    ResponseCacheControl,
    parse_request_cache_control,
)
from ._decisions import CacheRequest, Forward, Revalidate, Serve
from ._freshness import freshness_lifetime
from ._targeted import effective_cache_control
from ._validation import (
    evaluate_preconditions,
    is_user_conditional,
    not_modified_headers,
)

if TYPE_CHECKING:  # pragma: no cover
    from .._options import CacheOptions

__all__ = [
    "Freshness",
    "freshness",
    "serve",
    "served_headers",
    "stale_forbidden",
    "stale_on_error",
    "stale_use_allowed",
    "in_background",
    "while_revalidating",
]

_ERROR_STATUSES = frozenset({500, 502, 503, 504})
"""What RFC 5861 §4 counts as an error, besides failing to connect (X-15)."""


@dataclass(frozen=True, slots=True)
class Freshness:
    """A stored response's current age and freshness lifetime (seconds), and its directives."""

    age: float
    lifetime: float
    cc: ResponseCacheControl

    @property
    def fresh(self) -> bool:
        return self.lifetime > self.age

    @property
    def staleness(self) -> float:
        return self.age - self.lifetime


def freshness(entry: Entry, now: float, options: CacheOptions) -> Freshness:
    """Return the current age, freshness lifetime and directives of ``entry`` at ``now``.

    The directives are the response's ``Cache-Control``, or in a shared cache its first
    usable targeted field (RFC 9213 §2.2).
    """
    headers = entry.response.headers
    age = current_age(headers, entry.request_time, entry.response_time, now)
    cc = effective_cache_control(headers, options)
    if entry.force_cached:
        ttl = entry.ttl if entry.ttl is not None else options.force_cache_ttl
        forced = float(MAX_AGE_VALUE) if ttl is None else ttl
        return Freshness(max(0.0, now - entry.response_time), forced, cc)
    lifetime = freshness_lifetime(entry.response.status, headers, cc, entry.response_time, options)
    return Freshness(age, lifetime.seconds, cc)


def served_headers(entry: Entry, age: float) -> Headers:
    """The stored header section with ``Age`` set to the current age (A-8, A-9)."""
    value = min(max(int(age), 0), MAX_AGE_VALUE)
    return _headers.set_header(entry.response.headers, b"age", str(value).encode("ascii"))


def serve(
    entry: Entry,
    state: Freshness,
    request: CacheRequest,
    *,
    stale: bool,
    conditional: bool | None = None,
    background: Revalidate | Forward | None = None,
) -> Serve:
    """Serve ``entry``: with its current ``Age``, or as a 304 to a matching conditional."""
    headers = served_headers(entry, state.age)
    ttl = int(state.lifetime - state.age)
    if conditional is None:
        conditional = is_user_conditional(request.headers)
    if conditional and evaluate_preconditions(request.headers, entry):
        return Serve(
            entry,
            304,
            not_modified_headers(headers),
            int(state.age),
            ttl,
            stale,
            False,
            background,
        )
    return Serve(
        entry,
        entry.response.status,
        headers,
        int(min(state.age, MAX_AGE_VALUE)),
        ttl,
        stale,
        request.method != "HEAD",
        background,
    )


def stale_forbidden(cc: ResponseCacheControl, options: CacheOptions) -> bool:
    """X-2, X-3, D-9: directives that forbid serving a stale response."""
    if cc.must_revalidate or cc.no_cache:
        return True
    return options.shared and (cc.proxy_revalidate or cc.s_maxage is not None)


def stale_use_allowed(entry: Entry, state: Freshness, options: CacheOptions) -> bool:
    """Tell whether a stale ``entry`` could still be served stale (RFC 9111 §4.2.4, RFC 5861).

    For a response that is stale on arrival (``state`` taken at its receipt) and
    has no validator, the one thing that makes it worth storing. Never when a
    directive forbids stale use (``must-revalidate``, ``no-cache``; when shared
    ``proxy-revalidate``, ``s-maxage``: X-2, X-3). Otherwise when ``allow_stale`` is
    on (any staleness), or when the response's ``stale-if-error`` or
    ``stale-while-revalidate`` window (else the ``CacheOptions.stale_while_revalidate``
    option's) still covers its staleness: staleness only grows, so a window already
    passed could never be used. A stored POST is never revalidated in the background,
    nor is anything under ``always_revalidate``, so no ``stale-while-revalidate`` then.

    Request directives (``max-stale``, a request's ``stale-if-error``) apply to their
    own request only (Q-11, X-14): they never make a response worth storing, but a
    later request's ``max-stale`` may use one stored for the reasons above.
    """
    cc = state.cc
    if entry.invalidated or stale_forbidden(cc, options):
        return False
    if options.allow_stale:
        return True
    windows: list[float | None] = [cc.stale_if_error]
    if entry.request.method != "POST" and not options.always_revalidate:
        swr = cc.stale_while_revalidate
        windows.append(options.stale_while_revalidate if swr is None else swr)
    return any(window is not None and state.staleness <= window for window in windows)


def stale_on_error(
    request: CacheRequest,
    entry: Entry,
    error_status: int | None,
    now: float,
    options: CacheOptions,
) -> Serve | None:
    """Return a stale response to serve instead of an origin error, or ``None``.

    ``error_status`` is the origin's status, or ``None`` when it could not be
    reached. Only 500, 502, 503 and 504 count as errors (X-15). Allowed by the
    response's ``stale-if-error`` (X-12, X-13), the request's (X-14) or the
    ``allow_stale`` option (X-5), and never against ``must-revalidate``,
    ``no-cache`` or, when shared, ``proxy-revalidate``/``s-maxage`` (X-2, X-4, D-9).
    """
    if error_status is not None and error_status not in _ERROR_STATUSES:
        return None
    state = freshness(entry, now, options)
    if state.fresh or entry.invalidated or stale_forbidden(state.cc, options):
        return None
    req_cc = parse_request_cache_control(request.headers)
    allowed = options.allow_stale
    for limit in (state.cc.stale_if_error, req_cc.stale_if_error):
        if limit is not None and state.staleness <= limit:
            allowed = True
    if not allowed:
        return None
    return serve(entry, state, request, stale=True)


def while_revalidating(
    entry: Entry,
    state: Freshness,
    req_cc: RequestCacheControl,
    options: CacheOptions,
) -> bool:
    """Tell whether stale ``entry`` may be served while it is revalidated in the background.

    RFC 5861 §3: within the response's ``stale-while-revalidate`` window (or, when the
    response has none, the ``CacheOptions.stale_while_revalidate`` window) past its
    freshness lifetime. Never for a response that must not be served stale
    (``must-revalidate``, ``no-cache``; when shared ``proxy-revalidate``,
    ``s-maxage``: RFC 9111 §5.2.2.2, §5.2.2.4, §5.2.2.8, §5.2.2.10), nor against a
    request that asks for a validated or fresh response (``no-cache``, ``max-age``,
    ``min-fresh``: RFC 9111 §5.2.1), nor when every stored response must be validated
    (``always_revalidate``). Invalidated and force-cached entries are never served so.
    """
    if state.fresh or entry.invalidated or entry.force_cached or options.always_revalidate:
        return False
    if stale_forbidden(state.cc, options):
        return False
    if req_cc.no_cache or req_cc.min_fresh is not None:
        return False
    if req_cc.max_age is not None and state.age > req_cc.max_age:
        return False
    window: float | None = state.cc.stale_while_revalidate
    if window is None:
        window = options.stale_while_revalidate
    return window is not None and state.staleness <= window


def in_background(
    best: Entry, candidates: tuple[Entry, ...], validators: Headers | None
) -> Revalidate | Forward:
    """The request the cache sends behind a response served stale (RFC 5861 §3).

    Conditional on ``best``'s ``validators`` when it has any, otherwise a plain request
    whose answer replaces the stored responses the request selected.
    """
    if validators:
        return Revalidate(best, candidates, validators, "stale")
    return Forward("stale", candidates=candidates)
