"""Validation: conditional requests, 304 freshening and local preconditions.

RFC 9111 §4.3.1 (sending a validation request), §4.3.2 (answering a client's
conditional request from storage), §4.3.4 (freshening stored responses with a
304), §4.3.5 (freshening them with a HEAD answer) and §3.2 (updating stored
header fields).
"""

from __future__ import annotations

from collections.abc import Sequence

from .._models import Entry, Headers
from . import _headers
from ._dates import format_http_date, parse_http_date
from ._etags import is_weak, split_entity_tags, strong_match, weak_match
from ._freshness import date_value
from ._storing import excluded_fields

__all__ = [
    "ORIGIN_ONLY_PRECONDITIONS",
    "USER_CONDITIONALS",
    "conditional_headers",
    "evaluate_preconditions",
    "has_validator",
    "head_verdict",
    "is_user_conditional",
    "merge_headers",
    "not_modified_headers",
    "select_for_update",
]

ORIGIN_ONLY_PRECONDITIONS = (b"if-match", b"if-unmodified-since", b"if-range")
"""Preconditions a cache leaves for the origin (RFC 9110 §13.1.1, §13.1.4; V-12)."""

USER_CONDITIONALS = frozenset({b"if-none-match", b"if-modified-since"})
"""The fields that make a user's request conditional on its own validators (RFC 9111 §4.3.2)."""

_MERGE_EXEMPT = frozenset(
    {b"content-length", b"content-encoding", b"content-range", b"transfer-encoding"}
)
"""Fields a 304 does not overwrite: the stored body defines them (U-7, U-9)."""


def has_validator(entry: Entry) -> bool:
    """Tell whether the entry can be validated: an ETag or a usable Last-Modified."""
    headers = entry.response.headers
    if _headers.get_first(headers, b"etag") is not None:
        return True
    raw = _headers.get_first(headers, b"last-modified")
    return raw is not None and parse_http_date(raw) is not None


def is_user_conditional(request_headers: Headers) -> bool:
    """Tell whether the user's request carries its own ``If-None-Match``/``If-Modified-Since``."""
    return any(_headers.has(request_headers, name) for name in USER_CONDITIONALS)


def conditional_headers(entry: Entry) -> Headers:
    """Return the validators to add to a revalidation of ``entry`` (RFC 9111 §4.3.1).

    ``If-None-Match`` with the stored entity tag exactly as received, weak or not
    (V-1, P-31), and ``If-Modified-Since`` copied verbatim from a valid stored
    ``Last-Modified`` (V-2, P-27). Never a validator made up from ``Date``.
    """
    headers = entry.response.headers
    added: list[tuple[bytes, bytes]] = []
    etag = _headers.get_first(headers, b"etag")
    if etag is not None and etag.strip():
        added.append((b"If-None-Match", etag.strip()))
    last_modified = _headers.get_first(headers, b"last-modified")
    if last_modified is not None and parse_http_date(last_modified) is not None:
        added.append((b"If-Modified-Since", last_modified.strip()))
    return tuple(added)


def _validators(headers: Headers) -> tuple[bytes | None, bytes | None]:
    etag = _headers.get_first(headers, b"etag")
    last_modified = _headers.get_first(headers, b"last-modified")
    return (
        etag.strip() if etag is not None else None,
        last_modified.strip() if last_modified is not None else None,
    )


def _most_recent(entries: Sequence[Entry]) -> Entry:
    return max(
        entries, key=lambda e: (date_value(e.response.headers, e.response_time), e.response_time)
    )


def select_for_update(
    candidates: Sequence[Entry], not_modified: Headers, validated: Entry | None = None
) -> list[Entry]:
    """Choose the stored responses a 304 freshens (RFC 9111 §4.3.4).

    A strong entity tag updates every candidate carrying it (U-2); a weak one (or
    only ``Last-Modified``) the most recent matching candidate (U-4). A 304 with no
    validator of its own answers for ``validated``, the one stored response the
    cache built its conditional request from, while it is still a candidate: the
    origin need not repeat ``ETag`` or ``Last-Modified`` (RFC 9110 §15.4.5), and
    §4.3.4's "no validator" rule is for conditionals the cache did not generate.
    For those (``validated`` is ``None``, a user's own conditional) it updates only
    a lone candidate that has no validator either (U-5). An empty result means
    nothing may be updated (U-3).
    """
    if not candidates:
        return []
    etag, last_modified = _validators(not_modified)
    if etag is not None:
        if not is_weak(etag):
            strong = [
                c
                for c in candidates
                if (tag := _validators(c.response.headers)[0]) is not None
                and strong_match(tag, etag)
            ]
            # U-3: a strong validator no candidate carries updates nothing (V-7).
            return strong
        weak = [
            c
            for c in candidates
            if (tag := _validators(c.response.headers)[0]) is not None and weak_match(tag, etag)
        ]
        return [_most_recent(weak)] if weak else []
    if last_modified is not None:
        matching = [c for c in candidates if _validators(c.response.headers)[1] == last_modified]
        return [_most_recent(matching)] if matching else []
    if validated is not None:
        mine = [c for c in candidates if c.variant == validated.variant]
        if mine:
            return mine[:1]
    if len(candidates) == 1 and _validators(candidates[0].response.headers) == (None, None):
        return [candidates[0]]
    return []


_HEAD_SAYS_NOTHING = frozenset({206, 405, 408, 429})
"""HEAD statuses about the request or the exchange, not the resource (and every 5xx)."""


def _length(raw: bytes | None) -> int | None:
    text = raw.strip() if raw is not None else b""
    return int(text) if text.isdigit() else None


def _same_date(received: bytes, stored: bytes | None, now: float) -> bool:
    if stored is None:
        return False
    if received.strip() == stored.strip():
        return True
    when = parse_http_date(received, now=now)
    return when is not None and when == parse_http_date(stored, now=now)


def head_verdict(entry: Entry, status: int, head: Headers) -> bool | None:
    """Tell what a HEAD answer says about a stored GET response (RFC 9111 §4.3.5).

    ``True``: update the stored response with the HEAD answer's fields (U-14).
    ``False``: it is out of date, consider it stale (U-15). ``None``: the answer says
    nothing about it, leave it alone.

    With the stored response's status, the HEAD answer's received validators
    (``ETag``, ``Last-Modified``: the ones it carries) must match the stored ones,
    and its ``Content-Length``, when present, the stored length (the stored field,
    else the stored body's size). A stored response without validators is
    updatable, the very case §4.3.5 is for. A stored 404 or 301 is freshened by a
    HEAD 404 or 301 as a 200 is by a 200. A HEAD answer with another status shows
    the stored one out of date, unless it is about the request or the server
    rather than the resource: 206, 405, 408, 429 and any 5xx.
    """
    stored = entry.response
    if status != stored.status:
        return None if status >= 500 or status in _HEAD_SAYS_NOTHING else False
    headers = stored.headers
    etag = _headers.get_first(head, b"etag")
    if etag is not None:
        tag = _headers.get_first(headers, b"etag")
        if tag is None or tag.strip() != etag.strip():
            return False
    last_modified = _headers.get_first(head, b"last-modified")
    if last_modified is not None and not _same_date(
        last_modified, _headers.get_first(headers, b"last-modified"), entry.response_time
    ):
        return False
    length = _headers.get_first(head, b"content-length")
    if length is not None:
        raw = _headers.get_first(headers, b"content-length")
        expected = _length(raw) if raw is not None else entry.size
        received = _length(length)
        if received is None or received != expected:
            return False
    return True


def merge_headers(stored: Headers, update: Headers, response_time: float) -> Headers:
    """Update a stored header section with those of a 304 or HEAD response (RFC 9111 §3.2).

    Every field in ``update`` replaces all stored lines of that name; fields it
    lacks are kept (U-6). Excluded fields are never copied in (U-8), and
    ``Content-Length``/``Content-Encoding``/``Content-Range`` stay as the stored
    body defines them (U-7, U-9). ``Age`` and ``Date`` describe the validating
    exchange (A-10): a stored ``Age`` the update lacks is dropped, and an update
    without a valid ``Date`` is dated with its receipt time.
    """
    update_date = _headers.get_first(update, b"date")
    if update_date is None or parse_http_date(update_date) is None:
        # RFC 9110 §6.6.1: a recipient records the receipt time as the Date.
        update = _headers.set_header(update, b"date", format_http_date(response_time))
    skip = excluded_fields(update) | _MERGE_EXEMPT
    replacing = [(k, v) for k, v in update if k.lower() not in skip]
    names = {k.lower() for k, _ in replacing} | {b"age"}
    merged = [(k, v) for k, v in stored if k.lower() not in names]
    merged.extend(replacing)
    return tuple(merged)


def not_modified_headers(stored: Headers) -> Headers:
    """Return the fields a locally generated 304 carries (RFC 9110 §15.4.5; V-5)."""
    keep = {b"date", b"etag", b"vary", b"content-location", b"cache-control", b"expires", b"age"}
    return tuple((k, v) for k, v in stored if k.lower() in keep)


def evaluate_preconditions(request_headers: Headers, entry: Entry) -> bool:
    """Tell whether a client's conditional GET/HEAD matches ``entry`` (RFC 9111 §4.3.2).

    Returns True when the cache should answer 304. ``If-None-Match`` uses weak
    comparison, ``*`` matches anything (V-6), and when present ``If-Modified-Since``
    is ignored (V-8). An invalid or list-valued ``If-Modified-Since`` is ignored
    (V-9); otherwise 304 when the stored ``Last-Modified`` (else ``Date``, V-11)
    is not later than it (V-10).
    """
    stored = entry.response.headers
    inm_lines = _headers.get_values(request_headers, b"if-none-match")
    if inm_lines:
        tags = [t for line in inm_lines for t in split_entity_tags(line)]
        etag = _headers.get_first(stored, b"etag")
        if b"*" in tags:
            return True
        if etag is None:
            return False
        return any(weak_match(etag.strip(), tag) for tag in tags)
    ims_lines = _headers.get_values(request_headers, b"if-modified-since")
    if len(ims_lines) != 1:
        return False
    since = parse_http_date(ims_lines[0], now=entry.response_time)
    if since is None:
        return False
    raw_lm = _headers.get_first(stored, b"last-modified")
    last_modified = parse_http_date(raw_lm, now=entry.response_time) if raw_lm else None
    if last_modified is None:
        last_modified = date_value(stored, entry.response_time)
    return last_modified <= since
