"""Freshness lifetime, explicit and heuristic (RFC 9111 §4.2.1, §4.2.2).

A lifetime is in seconds and never negative. Invalid freshness information
never raises: it gives a lifetime of 0 (stale from the start).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._models import Headers
from . import _headers
from ._cache_control import ResponseCacheControl
from ._dates import parse_http_date
from ._storing import HEURISTIC_STATUSES

if TYPE_CHECKING:  # pragma: no cover
    from .._options import CacheOptions

__all__ = ["Lifetime", "date_value", "freshness_lifetime", "heuristic_lifetime"]


@dataclass(frozen=True, slots=True)
class Lifetime:
    """A freshness lifetime and where it came from."""

    seconds: float
    heuristic: bool = False


def date_value(headers: Headers, response_time: float) -> float:
    """Return the response's ``Date``, or ``response_time`` when unusable (RFC 9111 §4.2.1).

    RFC 9110 §6.6.1 lets a recipient use the receipt time in place of a missing
    or invalid ``Date`` (F-8).
    """
    raw = _headers.get_first(headers, b"date")
    parsed = parse_http_date(raw, now=response_time) if raw is not None else None
    return response_time if parsed is None else parsed


def heuristic_lifetime(
    status: int,
    headers: Headers,
    cc: ResponseCacheControl,
    response_time: float,
    options: CacheOptions,
) -> float:
    """Return a heuristic lifetime (RFC 9111 §4.2.2), or 0 when none applies.

    Only for responses without explicit expiry (H-2) whose status is
    heuristically cacheable, or that are marked ``public`` (or ``private`` in a
    private cache) (H-3, H-4). The lifetime is ``heuristic_fraction`` of
    ``Date - Last-Modified`` (H-5), 0 without a usable ``Last-Modified`` (H-6,
    P-27) or when it is later than ``Date`` (H-7), capped at ``heuristic_max_age``.
    """
    if not options.allow_heuristics:
        return 0.0
    if not (status in HEURISTIC_STATUSES or cc.public or (cc.private and not options.shared)):
        return 0.0
    raw = _headers.get_first(headers, b"last-modified")
    if raw is None:
        return 0.0
    last_modified = parse_http_date(raw, now=response_time)
    if last_modified is None:
        return 0.0
    interval = date_value(headers, response_time) - last_modified
    if interval <= 0:
        return 0.0
    return float(min(interval * options.heuristic_fraction, options.heuristic_max_age))


def freshness_lifetime(
    status: int,
    headers: Headers,
    cc: ResponseCacheControl,
    response_time: float,
    options: CacheOptions,
) -> Lifetime:
    """Return the freshness lifetime of a stored response (RFC 9111 §4.2.1).

    Order: ``s-maxage`` in a shared cache (F-2, F-3), then ``max-age`` (F-4, F-5),
    then ``Expires - Date`` (F-7 to F-9; an invalid ``Expires`` means 0, P-19,
    P-20; the first of several lines decides, P-9), then a heuristic (H rows).
    ``Expires`` is ignored when ``cc`` comes from a targeted field (RFC 9213 §2.2, E-14).
    """
    if options.shared and cc.s_maxage is not None:
        return Lifetime(float(cc.s_maxage))
    if cc.max_age is not None:
        return Lifetime(float(cc.max_age))
    expires_raw = _headers.get_first(headers, b"expires") if cc.target is None else None
    if expires_raw is not None:
        expires = parse_http_date(expires_raw, now=response_time)
        if expires is None:
            return Lifetime(0.0)
        return Lifetime(max(0.0, expires - date_value(headers, response_time)))
    heuristic = heuristic_lifetime(status, headers, cc, response_time, options)
    return Lifetime(heuristic, heuristic=heuristic > 0)
