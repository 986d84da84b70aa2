"""Whether a response may be stored, and which of its fields are kept (RFC 9111 §3).

Invariants: the functions here never raise on received values; a field that
cannot be read falls back to what RFC 9111 prescribes for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._models import Headers
from . import _headers
from ._cache_control import RequestCacheControl, ResponseCacheControl
from ._dates import format_http_date, parse_http_date
from ._keys import normalize_url, resolve_reference

if TYPE_CHECKING:  # pragma: no cover
    from .._options import CacheOptions

__all__ = [
    "HEURISTIC_STATUSES",
    "UNDERSTOOD_STATUSES",
    "headers_for_storage",
    "may_store",
    "post_stores_as_get",
]

HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
"""Heuristically cacheable statuses (RFC 9110 §15.1, RFC 9111 §4.2.2)."""

UNDERSTOOD_STATUSES = frozenset(
    {200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 305, 307, 308}
    | set(range(400, 418))
    | {421, 422, 426}
    | set(range(500, 506))
)
"""Final statuses whose caching rules httpcache implements, for ``must-understand``.

RFC 9110's statuses except 206 (no range support) and 304 (never an entry).
"""

_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"transfer-encoding",
        b"upgrade",
        b"trailer",
        b"proxy-authenticate",
        b"proxy-authentication-info",
        b"proxy-authorization",
    }
)


def excluded_fields(headers: Headers) -> frozenset[bytes]:
    """Return the lower-cased names a cache must not store (RFC 9111 §3.1, §3.2).

    ``Connection`` and the fields it lists, the other hop-by-hop fields
    (RFC 9110 §7.6.1) and the proxy-specific fields.
    """
    listed = {name.lower() for name in _headers.list_members(headers, b"connection")}
    return _HOP_BY_HOP | frozenset(listed)


def headers_for_storage(headers: Headers, response_time: float) -> Headers:
    """Return the header section to store for a received response.

    Strips the fields of :func:`excluded_fields` (S-14 to S-16) and gives the
    response a valid ``Date`` (RFC 9110 §6.6.1): the receipt time replaces a
    missing, invalid or conflicting one (S-19, S-20).
    """
    kept = _headers.remove(headers, excluded_fields(headers))
    dates = _headers.get_values(kept, b"date")
    parsed = {parse_http_date(value) for value in dates}
    if len(dates) >= 1 and len(parsed) == 1 and None not in parsed:
        if len(dates) == 1:
            return kept
        return _headers.set_header(kept, b"date", dates[0])
    return _headers.set_header(kept, b"date", format_http_date(response_time))


def _must_understand_ok(status: int, cc: ResponseCacheControl) -> bool | None:
    """Apply ``must-understand`` (RFC 9111 §5.2.2.3): True/False decides, None defers."""
    if not cc.must_understand:
        return None
    return status in UNDERSTOOD_STATUSES


def _has_expires(headers: Headers, cc: ResponseCacheControl) -> bool:
    """An ``Expires`` field that counts: not when a targeted field applies (RFC 9213 §2.2)."""
    return cc.target is None and _headers.has(headers, b"expires")


def _has_permission(status: int, cc: ResponseCacheControl, headers: Headers, shared: bool) -> bool:
    """RFC 9111 §3: something in the response permits storing it.

    ``Expires`` does not count when ``cc`` comes from a targeted field (RFC 9213 §2.2).
    """
    if cc.public or cc.max_age is not None or _has_expires(headers, cc):
        return True
    if shared and cc.s_maxage is not None:
        return True
    if not shared and cc.private:
        return True
    return status in HEURISTIC_STATUSES


def may_store(
    *,
    method: str,
    status: int,
    request_headers: Headers,
    response_headers: Headers,
    request_cc: RequestCacheControl,
    response_cc: ResponseCacheControl,
    options: CacheOptions,
    body_keyed: bool = False,
) -> bool:
    """Tell whether RFC 9111 §3 allows storing this response.

    Covers the cacheable method (S-1, S-24), final status (S-1, S-11), request and
    response ``no-store`` (S-2, Q-7), ``must-understand`` (S-12, D-2), ``private``
    and ``Authorization`` in a shared cache (S-4, S-6) and storage permission (S-7
    to S-10). Whether the response can ever be reused is decided by the caller.
    A ``body_keyed`` POST (``CacheOptions.cache_post``) is its own opt-in: its
    method need not be in ``cacheable_methods``; every other rule applies as to GET.
    """
    if not body_keyed and method not in options.cacheable_methods:
        return False
    if status < 200 or status in (206, 304):
        return False
    if options.cacheable_status_codes is not None and status not in options.cacheable_status_codes:
        return False
    if request_cc.no_store:
        return False
    understood = _must_understand_ok(status, response_cc)
    if understood is False:
        return False
    if understood is None and response_cc.no_store:
        return False
    if options.shared:
        if response_cc.private:
            return False
        if _headers.has(request_headers, b"authorization") and not (
            response_cc.public or response_cc.s_maxage is not None or response_cc.must_revalidate
        ):
            return False
    return _has_permission(status, response_cc, response_headers, options.shared)


def post_stores_as_get(
    url: str, status: int, response_headers: Headers, cc: ResponseCacheControl
) -> bool:
    """S-24, RFC 9110 §9.3.3: a POST answer is reusable for GET with explicit freshness
    and a ``Content-Location`` equal to the target URI (``url``)."""
    if not 200 <= status < 300:
        return False
    location = _headers.get_first(response_headers, b"content-location")
    if location is None:
        return False
    target = normalize_url(url)
    explicit = cc.max_age is not None or _has_expires(response_headers, cc)
    return explicit and resolve_reference(target, location) == target
