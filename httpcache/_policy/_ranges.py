"""Range requests answered from a stored complete response (RFC 9110 §14, RFC 9111 §3.3).

A ``Range: bytes=`` request with one range is decided as the same request without
``Range`` and ``If-Range`` would be; when that answer is a :class:`Serve` of a stored
complete 200 whose length is known, :func:`ranged` turns it into a 206 carrying the
requested bytes (``Serve.content_range``, which the transport slices out of the stored
body as it streams it) or a 416 when no byte of the range exists. :func:`answer` says
what becomes of the other decisions: whatever needs the origin goes to it as a bypass
(nothing stored, as before this module existed), so a 206 never replaces a stored 200
and is never stored at all (RFC 9111 §3.3, §3.4 are not implemented: a stored entry is
one complete body in every storage).

Invariants:

* Pure, and nothing here raises on received values: a ``Range`` that does not parse is
  ignored (RFC 9110 §14.2: the whole 200 is served), as is one in another unit.
* Only a stored 200 with a known length is ever sliced; a 304 to the user's own
  conditional (RFC 9110 §13.2.2: evaluated before ``Range``) and any other status are
  served as they are.
* Several ranges are the origin's to answer (:data:`FORWARD`): a multipart/byteranges
  body is not built here (RFC 9110 §14.6).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from .._models import Entry, Headers
from . import _headers
from ._cache_control import parse_request_cache_control
from ._dates import parse_http_date
from ._decisions import CacheRequest, Forward, GatewayTimeout, RequestDecision, Serve
from ._etags import strong_match

__all__ = [
    "FORWARD",
    "ByteRange",
    "OriginOnly",
    "answer",
    "forward",
    "if_range_holds",
    "known_length",
    "parse_range",
    "ranged",
    "requested_range",
    "resolve",
    "without_range",
]

_MAX_DIGITS = 1000
"""Significant digits read in a position: far past any length, and well below CPython's
limit on ``int()`` of a long decimal string (a longer number makes the field invalid)."""

_RANGE_FIELDS = (b"range", b"if-range")
"""The fields removed to decide a Range request as a plain one."""

_CONTENT_DIGESTS = frozenset({b"content-digest", b"content-md5"})
"""Digests of the message content, which a part does not have (RFC 9530 §2, RFC 1864)."""

_NO_CONTENT_FIELDS = _CONTENT_DIGESTS | {b"content-type", b"content-encoding"}
"""Fields describing content, left off a 416, which carries none (RFC 9110 §15.5.17)."""


class OriginOnly(enum.Enum):
    """A Range request only the origin answers."""

    RANGES = "ranges"
    """Several ranges (a multipart/byteranges answer, RFC 9110 §14.6), or a ``Range`` on
    a method other than GET and HEAD."""


FORWARD = OriginOnly.RANGES
"""What :func:`parse_range` and :func:`requested_range` return for several ranges."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    """One byte-range-spec (RFC 9110 §14.1.2).

    Either an int-range, ``first``..``last`` inclusive (``last`` is ``None`` for the
    open-ended ``first-``), or a suffix-range of the last ``suffix_length`` bytes.

    Raises:
        ValueError: neither or both forms, a negative position, or ``last < first``.
    """

    first: int | None = None
    last: int | None = None
    suffix_length: int | None = None

    def __post_init__(self) -> None:
        if (self.first is None) == (self.suffix_length is None):
            raise ValueError("a byte range has a first position or a suffix length")
        if self.suffix_length is not None and self.last is not None:
            raise ValueError("a suffix range has no last position")
        for value in (self.first, self.last, self.suffix_length):
            if value is not None and value < 0:
                raise ValueError("byte positions are never negative")
        if self.first is not None and self.last is not None and self.last < self.first:
            raise ValueError("a byte range's last position is before its first")


def _number(digits: bytes) -> int | None:
    """Read ``1*DIGIT`` (RFC 9110 §14.1.2), or ``None`` when it is anything else."""
    if not digits.isdigit():  # ASCII digits only, never empty
        return None
    significant = digits.lstrip(b"0")
    if len(significant) > _MAX_DIGITS:
        return None
    return int(significant or b"0")


def _range_spec(member: bytes) -> ByteRange | None:
    """Parse one ``int-range`` or ``suffix-range`` (RFC 9110 §14.1.2); ``None`` if invalid."""
    first_text, dash, last_text = member.partition(b"-")
    if not dash:
        return None
    if not first_text:
        suffix = _number(last_text)
        return None if suffix is None else ByteRange(suffix_length=suffix)
    first = _number(first_text)
    last = _number(last_text) if last_text else None
    if first is None or (last_text and last is None):
        return None
    if last is not None and last < first:
        return None  # "invalid if the last-pos value is present and less than the first-pos"
    return ByteRange(first=first, last=last)


def parse_range(value: bytes) -> ByteRange | OriginOnly | None:
    """Parse a ``Range`` field value (RFC 9110 §14.1, §14.2).

    Returns the one requested :class:`ByteRange`, :data:`FORWARD` for several, or
    ``None`` for a value to ignore: a unit other than ``bytes`` (compared
    case-insensitively, §14.1), or a ranges-specifier that is not valid, for instance
    one whose range has its last position before its first (§14.1.1). Empty list
    members are skipped (RFC 9110 §5.6.1.2).
    """
    unit, equals, range_set = value.strip(b" \t").partition(b"=")
    if not equals or unit.lower() != b"bytes":
        return None
    members = [member.strip(b" \t") for member in range_set.split(b",")]
    specs = [_range_spec(member) for member in members if member]
    if not specs or any(spec is None for spec in specs):
        return None
    if len(specs) > 1:
        return FORWARD
    return specs[0]


def requested_range(method: str, headers: Headers) -> ByteRange | OriginOnly | None:
    """Return the range a request asks for (RFC 9110 §14.2), as :func:`parse_range` does.

    ``Range`` is defined for GET only: on a HEAD it is ignored (``None``); on any other
    method (a body-keyed POST) the request is the origin's (:data:`FORWARD`). Several
    ``Range`` lines make an invalid value, ignored.
    """
    if method == "HEAD":
        return None
    if method != "GET":
        return FORWARD
    value = _headers.get_combined(headers, b"range")
    return None if value is None else parse_range(value)


def without_range(headers: Headers) -> Headers:
    """The request's header section without ``Range`` and ``If-Range``."""
    return _headers.remove(headers, _RANGE_FIELDS)


def resolve(byte_range: ByteRange, length: int) -> tuple[int, int] | None:
    """Return the inclusive positions ``byte_range`` selects in ``length`` bytes.

    RFC 9110 §14.1.2: a last position past the end is clipped to it, a suffix longer
    than the representation selects all of it. ``None`` when no byte is selected: the
    range is unsatisfiable (§14.1.1: a first position at or past the end, a suffix of
    length 0), or it is a suffix of an empty representation (satisfiable, but there is
    no part to send: :func:`ranged` serves the whole, empty, response instead).
    """
    if byte_range.suffix_length is not None:
        if byte_range.suffix_length == 0 or length == 0:
            return None
        return max(length - byte_range.suffix_length, 0), length - 1
    first = byte_range.first
    assert first is not None  # the other form (__post_init__)
    if first >= length:
        return None
    last = length - 1 if byte_range.last is None else min(byte_range.last, length - 1)
    return first, last


def known_length(entry: Entry) -> int | None:
    """The length of the stored body: inline, recorded by the storage, or ``Content-Length``.

    Entries become visible only once their body is complete (and, with a
    ``Content-Length``, of that length: S-18), so each of these is the whole body's.
    """
    if entry.body is not None:
        return len(entry.body)
    if entry.size is not None:
        return entry.size
    raw = _headers.get_first(entry.response.headers, b"content-length")
    return None if raw is None else _number(raw.strip(b" \t"))


def _strong_last_modified(headers: Headers, value: bytes) -> bool:
    """RFC 9110 §8.8.2.2: a stored ``Last-Modified`` one second or more before its ``Date``."""
    modified = parse_http_date(value)
    raw_date = _headers.get_first(headers, b"date")
    date = parse_http_date(raw_date) if raw_date is not None else None
    return modified is not None and date is not None and date - modified >= 1


def if_range_holds(value: bytes, entry: Entry) -> bool:
    """Evaluate an ``If-Range`` value against the stored response (RFC 9110 §13.1.5).

    An entity-tag (a ``DQUOTE`` in its first three characters) holds only when it
    matches the stored ``ETag`` strongly (§8.8.3.2: never a weak tag). An HTTP-date
    holds only when it is exactly the stored ``Last-Modified`` field value and that is a
    strong validator: at least one second before the stored ``Date`` (§8.8.2.2, the
    cache comparing with its own entry). Anything else does not hold.
    """
    value = value.strip(b" \t")
    headers = entry.response.headers
    if b'"' in value[:3]:
        etag = _headers.get_first(headers, b"etag")
        return etag is not None and strong_match(value, etag.strip(b" \t"))
    last_modified = _headers.get_first(headers, b"last-modified")
    if last_modified is None or last_modified.strip(b" \t") != value:
        return False
    return _strong_last_modified(headers, value)


def ranged(serve: Serve, byte_range: ByteRange, request_headers: Headers) -> Serve:
    """Turn the serving of a stored 200 into a 206 or 416 for ``byte_range`` (RFC 9110 §14).

    Served as it is (the range ignored, RFC 9110 §14.2) unless the stored response is a
    200 with a body and a known length: a 304 to the user's own conditional stays a 304
    (§13.2.2), a HEAD has no body, an ``If-Range`` that does not hold asks for the whole
    response (§13.1.5), and a suffix range of an empty body selects all of it, nothing.

    The 206 (§15.3.7) carries the stored header section (``Age`` as served) with
    ``Content-Range: bytes first-last/length`` and the part's ``Content-Length``
    (§14.4); the range applies to the stored bytes, so to the encoded ones when the
    stored response has a ``Content-Encoding``. Digests of the whole content are left
    off. The 416 (§15.5.17) has no body and says ``Content-Range: bytes */length``.
    """
    entry = serve.entry
    if serve.status != 200 or not serve.with_body or entry.response.status != 200:
        return serve
    length = known_length(entry)
    if length is None:
        return serve
    conditions = _headers.get_values(request_headers, b"if-range")
    if conditions and not (len(conditions) == 1 and if_range_holds(conditions[0], entry)):
        return serve
    if length == 0 and byte_range.suffix_length:
        return serve
    bounds = resolve(byte_range, length)
    if bounds is None:
        headers = _headers.remove(serve.headers, _NO_CONTENT_FIELDS)
        headers = _headers.set_header(headers, b"content-range", b"bytes */%d" % length)
        headers = _headers.set_header(headers, b"content-length", b"0")
        return replace(serve, status=416, headers=headers, with_body=False)
    first, last = bounds
    headers = _headers.remove(serve.headers, _CONTENT_DIGESTS)
    headers = _headers.set_header(
        headers, b"content-range", b"bytes %d-%d/%d" % (first, last, length)
    )
    headers = _headers.set_header(headers, b"content-length", b"%d" % (last - first + 1))
    return replace(serve, status=206, headers=headers, content_range=(first, last))


def answer(
    decision: RequestDecision, byte_range: ByteRange | None, request: CacheRequest
) -> RequestDecision:
    """Turn the decision for a request without its ``Range`` into one for the request.

    ``byte_range`` is what :func:`requested_range` returned (``None``: the range is
    ignored). A :class:`Serve` from storage is :func:`ranged`; a 504 stays one. Any
    other decision needs the origin, which answers the ``Range`` itself: the request is
    forwarded as a bypass and nothing is stored (RFC 9111 §3.3: a cache that does not
    combine partial content stores no 206). That includes a stale response that could
    be served while revalidated in the background (``stale-while-revalidate``): the
    background request would carry the ``Range`` too.
    """
    if isinstance(decision, GatewayTimeout):
        return decision
    if isinstance(decision, Serve) and decision.background is None:
        return decision if byte_range is None else ranged(decision, byte_range, request.headers)
    return forward(request)


def forward(request: CacheRequest) -> Forward | GatewayTimeout:
    """Send a Range request to the origin, or a 504 when it must not be contacted.

    Offline or ``only-if-cached`` (RFC 9111 §5.2.1.7): a 504.
    """
    if request.offline or request.only_if_cached:
        return GatewayTimeout()
    if parse_request_cache_control(request.headers).only_if_cached:
        return GatewayTimeout()
    return Forward("bypass", storable=False)
