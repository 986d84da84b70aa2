"""The cache's decisions: RFC 9111 composed from the topic modules.

Two entry points, both pure (``now`` and the stored entries are arguments):

* :func:`on_request` turns an incoming request and the stored entries of its key
  into one of :class:`Serve`, :class:`Revalidate`, :class:`Forward` or
  :class:`GatewayTimeout`.
* :func:`on_response` turns the origin's answer to a forwarded or revalidating
  request into a :class:`ResponsePlan`: what to store, freshen, delete or
  invalidate, and whether to answer from storage after all.

:func:`stale_on_error` (from :mod:`._serving`) says whether a stored response may
stand in for an origin error (RFC 9111 §4.2.4, RFC 5861 §4). A :class:`Serve` with a
``background`` request serves a stale response while that request revalidates it
(``stale-while-revalidate``, RFC 5861 §3).

Invariants: nothing here raises on received values; every served response's
``Age`` is the current age (RFC 9111 §4, A-8); stale content is only served when
something explicitly allows it (X-1) and nothing forbids it (X-2, X-3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .._models import Entry, Headers, RequestHead, ResponseHead
from . import _ranges
from ._cache_control import (
    RequestCacheControl,
    parse_request_cache_control,
)
from ._decisions import (
    CacheRequest,
    Forward,
    GatewayTimeout,
    RequestDecision,
    ResponsePlan,
    Revalidate,
    Serve,
)
from ._freshness import date_value
from ._invalidation import SAFE_METHODS, invalidated_urls
from ._keys import (
    normalize_url,
    stored_request_headers,
    variant_key,
    vary_values_match,
)
from ._serving import Freshness as _Freshness
from ._serving import freshness as _freshness
from ._serving import in_background, stale_on_error, stale_use_allowed, while_revalidating
from ._serving import serve as _serve
from ._serving import stale_forbidden as _stale_forbidden
from ._storing import HEURISTIC_STATUSES, headers_for_storage, may_store, post_stores_as_get
from ._targeted import effective_cache_control
from ._validation import (
    ORIGIN_ONLY_PRECONDITIONS,
    USER_CONDITIONALS,
    conditional_headers,
    has_validator,
    head_verdict,
    is_user_conditional,
    merge_headers,
    select_for_update,
)
from ._vary import parse_vary

if TYPE_CHECKING:  # pragma: no cover
    from .._options import CacheOptions

__all__ = [
    "CacheRequest",
    "Forward",
    "GatewayTimeout",
    "RequestDecision",
    "ResponsePlan",
    "Revalidate",
    "Serve",
    "body_lost",
    "on_request",
    "on_response",
    "stale_on_error",
]

_REQUEST_DIRECTIVE_FIELDS = frozenset({b"cache-control", b"pragma"})
"""The only fields :func:`parse_request_cache_control` reads (RFC 9111 §5.2.1, §5.4)."""

_NO_REQUEST_DIRECTIVES = RequestCacheControl()
"""What a request without ``Cache-Control`` or ``Pragma`` asks for: nothing."""


# --- selection -------------------------------------------------------------


def _answers(entry_method: str, request_method: str, body_keyed: bool = False) -> bool:
    """RFC 9111 §4, R-5, S-24: GET answers GET and HEAD; HEAD answers HEAD.

    A POST answer reusable for GET (RFC 9110 §9.3.3) is stored as a GET's. A stored
    POST (``CacheOptions.cache_post``) answers only a body-keyed POST.
    """
    if request_method == "GET":
        return entry_method == "GET"
    if request_method == "HEAD":
        return entry_method in ("GET", "HEAD")
    return body_keyed and request_method == entry_method == "POST"


def _selected(
    request: CacheRequest, entries: Sequence[Entry], names: frozenset[bytes] | set[bytes]
) -> list[Entry]:
    """Return the stored responses the request selects (RFC 9111 §4, §4.1).

    ``names`` are the request's lower-cased field names. An entry without ``Vary``
    that kept no request field matches any request without ``Authorization``
    (the only field nominated then) without re-reading the request's headers.
    """
    anonymous = b"authorization" not in names
    return [
        entry
        for entry in entries
        if _answers(entry.request.method, request.method, request.body_keyed)
        and (
            (anonymous and not entry.request.headers and parse_vary(entry.response.headers) == ())
            or vary_values_match(
                parse_vary(entry.response.headers), entry.request.headers, request.headers
            )
        )
    ]


def _preference(entry: Entry) -> tuple[bool, bool, float, float]:
    """R-7 most recent ``Date``; R-12 prefer a valid ``Vary``; GET over HEAD entries."""
    vary = parse_vary(entry.response.headers)
    return (
        bool(vary),
        entry.request.method != "HEAD",
        date_value(entry.response.headers, entry.response_time),
        entry.response_time,
    )


def _immutable_applies(entry: Entry, state: _Freshness) -> bool:
    """RFC 8246 §2, §3: only for fresh responses that came over HTTPS (E-1, E-3, E-5)."""
    return state.cc.immutable and state.fresh and entry.request.url.startswith("https:")


def _reuse_without_validation(
    entry: Entry,
    state: _Freshness,
    req_cc: RequestCacheControl,
    request: CacheRequest,
    options: CacheOptions,
) -> tuple[bool, bool]:
    """Return (may serve, served stale) for a selected entry (RFC 9111 §4, §5.2.1)."""
    if entry.force_cached:
        return state.fresh, False
    if entry.invalidated or state.cc.no_cache or options.always_revalidate:
        return False, False
    if req_cc.no_cache:
        return False, False
    if _immutable_applies(entry, state):
        return True, False
    if req_cc.max_age is not None and state.age > req_cc.max_age:
        return False, False
    if state.fresh:
        if req_cc.min_fresh is not None and state.lifetime < state.age + req_cc.min_fresh:
            return False, False
        return True, False
    if (
        req_cc.max_stale is not None
        and req_cc.min_fresh is None
        and state.staleness <= req_cc.max_stale
        and not _stale_forbidden(state.cc, options)
    ):
        return True, True
    return False, False


def _miss(request: CacheRequest, entries: Sequence[Entry]) -> Forward | Revalidate:
    """No stored response may be reused: forward, conditionally where possible.

    A response whose ``Vary`` is ``*`` (or unusable) never matches (RFC 9111 §4.1,
    R-11), but the origin can still confirm it with a 304: validate it when it
    has validators and answers the same method and credentials. A body-keyed POST
    is never validated (an origin answers a conditional POST with 412, not 304).
    """
    answering = [
        e for e in entries if _answers(e.request.method, request.method, request.body_keyed)
    ]
    if not answering:
        return Forward("uri-miss")
    if request.body_keyed:
        return Forward("vary-miss")
    unmatchable = [
        e
        for e in answering
        if parse_vary(e.response.headers) is None
        and vary_values_match((), e.request.headers, request.headers)
        and has_validator(e)
        and not is_user_conditional(request.headers)
    ]
    if unmatchable:
        best = max(unmatchable, key=_preference)
        return Revalidate(best, tuple(unmatchable), conditional_headers(best), "vary-miss")
    return Forward("vary-miss")


def _offline(
    request: CacheRequest,
    entries: Sequence[Entry],
    now: float,
    options: CacheOptions,
) -> RequestDecision:
    """Answer offline: ``only-if-cached`` (RFC 9111 §5.2.1.7) accepting any stale response.

    The user asked never to contact the origin (a disconnected cache, §4.2.4), so
    nothing is validated and ``no-cache``/``must-revalidate`` responses are served
    too, unlike §5.2.2.2. Selection (method, Vary) still applies; a single ``Range``
    is answered from what is served (:func:`_ranged`); what only the origin can
    answer (unsafe methods other than a body-keyed POST, several ranges,
    ``If-Match``...) or bypass is a 504. Never a :class:`Forward` or
    :class:`Revalidate`.
    """
    if request.bypass or (request.method not in ("GET", "HEAD") and not request.body_keyed):
        return GatewayTimeout()
    names = {name.lower() for name, _ in request.headers}
    if b"range" in names:  # RFC 9110 §14: a stored response answers a range too (._ranges)
        return _ranged(request, entries, now, options)
    if not names.isdisjoint(ORIGIN_ONLY_PRECONDITIONS):
        return GatewayTimeout()
    conditional = not names.isdisjoint(USER_CONDITIONALS)
    if conditional and request.body_keyed:  # RFC 9110 §13.1.2: only the origin answers it
        return GatewayTimeout()
    selected = _selected(request, entries, names)
    if not selected:
        return GatewayTimeout()
    best = selected[0] if len(selected) == 1 else max(selected, key=_preference)
    state = _freshness(best, now, options)
    stale = best.invalidated or not state.fresh
    return _serve(best, state, request, stale=stale, conditional=conditional)


def _ranged(
    request: CacheRequest,
    entries: Sequence[Entry],
    now: float,
    options: CacheOptions,
) -> RequestDecision:
    """Decide a request with ``Range`` (RFC 9110 §14, :mod:`._ranges`).

    One range: decided as the same request without ``Range`` and ``If-Range``, then a
    stored 200 served is sliced (206, or 416), and whatever needs the origin goes to it
    as a bypass, as every Range request did before. Several ranges: the origin's.
    """
    wanted = _ranges.requested_range(request.method, request.headers)
    if wanted is _ranges.FORWARD:
        return _ranges.forward(request)
    plain = replace(request, headers=_ranges.without_range(request.headers))
    return _ranges.answer(on_request(plain, entries, now, options), wanted, request)


def body_lost(request: CacheRequest) -> Forward | GatewayTimeout:
    """Decide again after the chosen response's body vanished (U-12).

    A miss, or a 504 for a request that must not contact the origin (offline,
    ``only-if-cached``: RFC 9111 §5.2.1.7).
    """
    if request.offline or request.only_if_cached:
        return GatewayTimeout()
    if parse_request_cache_control(request.headers).only_if_cached:
        return GatewayTimeout()
    return Forward("uri-miss")


def on_request(
    request: CacheRequest,
    entries: Sequence[Entry],
    now: float,
    options: CacheOptions,
) -> RequestDecision:
    """Decide how to answer ``request`` given the stored ``entries`` of its key (RFC 9111 §4).

    ``entries`` are every stored response under ``request.key`` (any method,
    any variant); selection applies the method and Vary rules itself. A body-keyed
    POST is decided as a GET is, except that it is never validated (nor served 304):
    a stale one is forwarded as it is, with the entry as its stale-if-error fallback.
    """
    if request.offline:
        return _offline(request, entries, now, options)
    if request.bypass:
        return Forward("bypass", storable=False)
    if request.method not in ("GET", "HEAD") and not request.body_keyed:
        return Forward("method", storable=request.method in options.cacheable_methods)
    names = {name.lower() for name, _ in request.headers}  # one pass over the request's fields
    if b"range" in names:  # RFC 9110 §14: answered from a stored 200 if it can be (._ranges)
        return _ranged(request, entries, now, options)
    if not names.isdisjoint(ORIGIN_ONLY_PRECONDITIONS):
        return Forward("bypass", storable=False)
    if request.body_keyed and not names.isdisjoint(USER_CONDITIONALS):
        return Forward("bypass", storable=False)  # RFC 9110 §13.1.2: the origin's to answer
    if names.isdisjoint(_REQUEST_DIRECTIVE_FIELDS):
        req_cc = _NO_REQUEST_DIRECTIVES
    else:
        req_cc = parse_request_cache_control(request.headers)
    conditional = not names.isdisjoint(USER_CONDITIONALS)

    selected = _selected(request, entries, names)
    only_if_cached = req_cc.only_if_cached or request.only_if_cached
    if not selected:
        if only_if_cached:
            return GatewayTimeout()
        return _miss(request, entries)

    best = selected[0] if len(selected) == 1 else max(selected, key=_preference)
    state = _freshness(best, now, options)
    candidates = tuple(selected)
    if request.refresh:
        # A forced reload (E-2): a full response from the origin, which replaces these;
        # with only-if-cached nothing may answer (as for ``no-cache, only-if-cached``).
        if only_if_cached:
            return GatewayTimeout()
        return Forward("request", candidates=candidates)
    may_serve, stale = _reuse_without_validation(best, state, req_cc, request, options)
    if (
        not may_serve
        and request.validated_since is not None
        and best.response_time >= request.validated_since
        and not best.invalidated
    ):
        may_serve, stale = True, False  # collapsed: validated for us while we waited
    if may_serve:
        return _serve(best, state, request, stale=stale, conditional=conditional)
    if not request.body_keyed and while_revalidating(best, state, req_cc, options):  # RFC 5861 §3
        validators = conditional_headers(best) if has_validator(best) else None
        background = None if only_if_cached else in_background(best, candidates, validators)
        return _serve(
            best, state, request, stale=True, conditional=conditional, background=background
        )
    if only_if_cached:
        return GatewayTimeout()

    reason = "stale" if not state.fresh or best.invalidated else "request"
    fallback = best if not state.fresh else None
    if conditional:
        return Forward(reason, candidates=candidates, fallback=fallback)
    if has_validator(best) and not request.body_keyed:
        return Revalidate(best, candidates, conditional_headers(best), reason)
    return Forward(reason, candidates=candidates, fallback=fallback)


# --- responses -------------------------------------------------------------


def _new_entry(
    request: CacheRequest,
    response: ResponseHead,
    request_time: float,
    response_time: float,
    *,
    method: str,
    force_cached: bool,
    options: CacheOptions,
) -> Entry:
    stored_response = ResponseHead(
        response.status,
        headers_for_storage(response.headers, response_time),
        response.reason,
        response.http_version,
    )
    vary = parse_vary(stored_response.headers)
    request_fields = stored_request_headers(request.headers, vary)
    ttl = request.ttl
    if ttl is None and force_cached:
        ttl = options.force_cache_ttl
    return Entry(
        key=request.key,
        variant=variant_key(method, request_fields),
        request=RequestHead(method, normalize_url(request.url), request_fields),
        response=stored_response,
        request_time=request_time,
        response_time=response_time,
        created_at=response_time,
        ttl=ttl,
        force_cached=force_cached,
    )


def _worth_storing(entry: Entry, options: CacheOptions) -> bool:
    """Choices table: a response with no validator, no freshness and no stale use is never reused.

    A stored POST (body-keyed) is never validated: only freshness or stale use makes
    it reusable. A response stale on arrival is kept when a stale use of it is allowed
    (:func:`~._serving.stale_use_allowed`).
    """
    if entry.force_cached or (has_validator(entry) and entry.request.method != "POST"):
        return True
    state = _freshness(entry, entry.response_time, options)
    return state.fresh or stale_use_allowed(entry, state, options)


def _plan_store(
    request: CacheRequest,
    decision: Revalidate | Forward,
    response: ResponseHead,
    request_time: float,
    response_time: float,
    options: CacheOptions,
) -> ResponsePlan:
    req_cc = parse_request_cache_control(request.headers)
    cc = effective_cache_control(response.headers, options)
    force = options.force_cache or request.force_cache
    method = request.method
    if force:
        allowed_status = options.cacheable_status_codes or (HEURISTIC_STATUSES - {206})
        storable = (
            (
                request.body_keyed
                or (method in options.cacheable_methods and method in ("GET", "HEAD"))
            )
            and response.status in allowed_status
            and not req_cc.no_store
        )
    elif method == "POST" and not request.body_keyed:
        storable = "POST" in options.cacheable_methods and post_stores_as_get(
            request.url, response.status, response.headers, cc
        )
        method = "GET"
    else:
        storable = may_store(
            method=method,
            status=response.status,
            request_headers=request.headers,
            response_headers=response.headers,
            request_cc=req_cc,
            response_cc=cc,
            options=options,
            body_keyed=request.body_keyed,
        )
    if isinstance(decision, Forward) and not decision.storable:
        storable = False
    if not storable:
        return ResponsePlan()
    entry = _new_entry(
        request,
        response,
        request_time,
        response_time,
        method=method,
        force_cached=force,
        options=options,
    )
    if not _worth_storing(entry, options):
        return ResponsePlan()
    candidates = decision.candidates
    replaces = tuple(
        c.variant
        for c in candidates
        if c.variant != entry.variant and c.request.method == entry.request.method
    )
    return ResponsePlan(store=entry, replaces=replaces)


def _refreshed(entry: Entry, headers: Headers, request_time: float, response_time: float) -> Entry:
    """The entry with merged headers, timed by the validating exchange (A-10, U-10)."""
    return entry.freshened(headers, request_time, response_time)


def _freshen(
    candidates: Sequence[Entry],
    response: ResponseHead,
    request_time: float,
    response_time: float,
    options: CacheOptions,
    validated: Entry | None = None,
) -> tuple[list[Entry], list[Entry], Entry | None]:
    """Apply a 304 to the candidates (RFC 9111 §4.3.4): (updated, deleted, chosen).

    ``validated`` is the stored response the cache's own conditional was built from.
    """
    updated: list[Entry] = []
    deleted: list[Entry] = []
    for entry in select_for_update(candidates, response.headers, validated):
        merged = merge_headers(entry.response.headers, response.headers, response_time)
        fresh_entry = _refreshed(entry, merged, request_time, response_time)
        cc = effective_cache_control(merged, options)
        if cc.no_store and not cc.must_understand:
            deleted.append(fresh_entry)  # U-13: serve this once, then forget it
        else:
            updated.append(fresh_entry)
    chosen = updated + deleted
    return updated, deleted, (max(chosen, key=_preference) if chosen else None)


def on_response(
    request: CacheRequest,
    decision: Revalidate | Forward,
    response: ResponseHead,
    request_time: float,
    response_time: float,
    options: CacheOptions,
) -> ResponsePlan:
    """Decide what the origin's answer changes in storage (RFC 9111 §3, §4.3, §4.4).

    ``request_time``/``response_time`` are clock readings taken around the
    exchange (A-1).
    """
    invalidate = tuple(
        invalidated_urls(
            request.method,
            request.url,
            response.status,
            response.headers,
            body_keyed=request.body_keyed,
        )
    )
    if request.method not in SAFE_METHODS:
        plan = _plan_store(request, decision, response, request_time, response_time, options)
        if request.body_keyed:  # a query: it replaces its own variants, invalidates nothing
            return plan
        return ResponsePlan(store=plan.store, invalidate=invalidate)

    if response.status == 304:
        candidates = decision.candidates
        validated = decision.entry if isinstance(decision, Revalidate) else None
        updated, deleted, best = _freshen(
            candidates, response, request_time, response_time, options, validated
        )
        conditional = is_user_conditional(request.headers)
        user_conditional = isinstance(decision, Forward) and conditional
        if best is None:
            # U-3, U-12: nothing to freshen; the user asked for a full response.
            return ResponsePlan(retry=isinstance(decision, Revalidate))
        if user_conditional:
            return ResponsePlan(update=tuple(updated), delete=tuple(deleted))
        state = _freshness(best, response_time, options)
        served = _serve(best, state, request, stale=False, conditional=conditional)
        return ResponsePlan(update=tuple(updated), delete=tuple(deleted), serve=served)

    if request.method == "HEAD" and response.status >= 200:
        plan = _plan_store(request, decision, response, request_time, response_time, options)
        updated, deleted = _freshen_from_head(
            decision.candidates, response, request_time, response_time, options
        )
        return ResponsePlan(
            store=plan.store, replaces=plan.replaces, update=tuple(updated), delete=tuple(deleted)
        )

    return _plan_store(request, decision, response, request_time, response_time, options)


def _freshen_from_head(
    candidates: Sequence[Entry],
    response: ResponseHead,
    request_time: float,
    response_time: float,
    options: CacheOptions,
) -> tuple[list[Entry], list[Entry]]:
    """RFC 9111 §4.3.5: a HEAD answer updates or invalidates stored GET responses (U-14, U-15).

    Only stored GET responses the request could have chosen (§4.1: a ``Vary: *``
    one never could); :func:`~._validation.head_verdict` says what the answer means
    for each. As with a 304 (U-13), one whose merged fields forbid storing is deleted.
    """
    updated: list[Entry] = []
    deleted: list[Entry] = []
    for entry in candidates:
        if entry.request.method != "GET" or parse_vary(entry.response.headers) is None:
            continue
        verdict = head_verdict(entry, response.status, response.headers)
        if verdict is None:
            continue
        if not verdict:
            updated.append(replace(entry, invalidated=True))
            continue
        merged = merge_headers(entry.response.headers, response.headers, response_time)
        cc = effective_cache_control(merged, options)
        if cc.no_store and not cc.must_understand:
            deleted.append(entry)
        else:
            updated.append(_refreshed(entry, merged, request_time, response_time))
    return updated, deleted
