"""The ``Age`` header field and the age calculation (RFC 9111 §5.1, §4.2.3)."""

from __future__ import annotations

from .._models import Headers
from ._cache_control import MAX_DELTA_SECONDS, parse_delta_seconds
from ._dates import parse_http_date
from ._headers import get_first, get_values

__all__ = ["MAX_AGE_VALUE", "current_age", "parse_age"]

MAX_AGE_VALUE = MAX_DELTA_SECONDS
"""The largest ``Age`` ever computed or sent (RFC 9111 §1.2.2, A-9, P-18)."""


def parse_age(headers: Headers) -> int:
    """Return the ``Age`` a response arrived with, in seconds (RFC 9111 §5.1).

    A list value (``10, 20`` or several lines) uses its first non-empty member.
    A value that is not delta-seconds (non-numeric, fractional, negative,
    empty) is ignored and gives 0; a huge one is capped at
    :data:`~httpcache._policy._cache_control.MAX_DELTA_SECONDS` (§1.2.2).
    """
    for value in get_values(headers, b"age"):
        for member in value.split(b","):
            member = member.strip(b" \t")
            if member:
                return parse_delta_seconds(member.decode("latin-1")) or 0
    return 0


def current_age(headers: Headers, request_time: float, response_time: float, now: float) -> float:
    """Return the current age of a stored response in seconds (RFC 9111 §4.2.3).

    ``apparent_age = max(0, response_time - date_value)`` (A-3);
    ``corrected_age_value = age_value + (response_time - request_time)`` (A-4);
    the initial age is the conservative maximum of the two (A-5); the time the
    response has been resident is added (A-6). A missing or invalid ``Date``
    counts as the response time. The result is capped at :data:`MAX_AGE_VALUE`.
    """
    raw_date = get_first(headers, b"date")
    date_value = parse_http_date(raw_date, now=response_time) if raw_date is not None else None
    if date_value is None:
        date_value = response_time
    apparent_age = max(0.0, response_time - date_value)
    response_delay = max(0.0, response_time - request_time)
    corrected_age_value = parse_age(headers) + response_delay
    corrected_initial_age = max(apparent_age, corrected_age_value)
    resident_time = max(0.0, now - response_time)
    return float(min(corrected_initial_age + resident_time, MAX_AGE_VALUE))
