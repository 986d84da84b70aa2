"""Cache-Control parsing for responses and requests (RFC 9111 §5.2).

Invariants:

* Nothing here raises: malformed members are skipped or mapped to the RFC
  fallback (RFC 9110 §2.3, §2.4).
* Every ``Cache-Control`` line is parsed on its own and the results are
  concatenated, so all lines form one list (RFC 9110 §5.3) while an
  unterminated quote cannot swallow the next line.
* Freshness directives use their first occurrence; an invalid ``max-age`` or
  ``s-maxage`` means stale (``0``), an invalid optional directive is ignored.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

from .._models import Headers
from ._headers import get_values

__all__ = [
    "MAX_DELTA_SECONDS",
    "RequestCacheControl",
    "ResponseCacheControl",
    "parse_delta_seconds",
    "parse_directives",
    "parse_request_cache_control",
    "parse_response_cache_control",
]

MAX_DELTA_SECONDS = 2147483648
"""The cap for any delta-seconds value too big to represent (RFC 9111 §1.2.2)."""

Directives: TypeAlias = tuple[tuple[str, str | None], ...]

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_MEMBER = re.compile(rf"({_TOKEN})(?:[ \t]*=[ \t]*(.*))?", re.DOTALL)
_QUOTED_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_DIGITS = re.compile(r"[0-9]+")


def _split_members(text: str) -> list[str]:
    """Split one field line at commas that are outside quoted strings."""
    members: list[str] = []
    start = 0
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == ",":
            members.append(text[start:index])
            start = index + 1
    members.append(text[start:])
    return members


def _parse_member(member: str) -> tuple[str, str | None] | None:
    """Parse ``token [= (token / quoted-string)]``; ``None`` for garbage."""
    match = _MEMBER.fullmatch(member.strip(" \t"))
    if match is None:
        return None
    name, argument = match[1].lower(), match[2]
    if argument is not None:
        argument = argument.strip(" \t")
        quoted = _QUOTED_STRING.fullmatch(argument)
        if quoted is not None:
            argument = _QUOTED_PAIR.sub(r"\1", quoted[1])
    return name, argument


def parse_directives(values: Iterable[bytes]) -> Directives:
    """Parse ``Cache-Control`` field lines into one directive list (RFC 9111 §5.2).

    Lines are decoded as latin-1 and read as one comma-separated list
    (RFC 9110 §5.3, §5.6.1). Names are lower-cased; quoted-string arguments are
    unquoted and unescaped (RFC 9110 §5.6.4). Empty members are skipped, and so
    are members that do not start with a token followed by the end or ``=``.
    A member with a valid name but a malformed argument keeps its raw
    argument text, so argument-less directives still count and numeric ones
    come out invalid.

    Returns:
        ``(name, argument)`` pairs in order; ``argument`` is ``None`` when the
        directive has none.
    """
    directives: list[tuple[str, str | None]] = []
    for value in values:
        for member in _split_members(value.decode("latin-1")):
            parsed = _parse_member(member)
            if parsed is not None:
                directives.append(parsed)
    return tuple(directives)


def parse_delta_seconds(argument: str | None) -> int | None:
    """Parse a delta-seconds argument (RFC 9111 §1.2.2).

    Only ASCII digits are valid: no sign, no fraction, not empty. Values above
    :data:`MAX_DELTA_SECONDS` are capped to it.

    Returns:
        The number of seconds, or ``None`` when ``argument`` is missing or
        invalid.
    """
    if argument is None or _DIGITS.fullmatch(argument) is None:
        return None
    digits = argument.lstrip("0")
    if len(digits) > len(str(MAX_DELTA_SECONDS)):
        return MAX_DELTA_SECONDS
    return min(int(digits or "0"), MAX_DELTA_SECONDS)


def _field_names(argument: str) -> frozenset[str]:
    """Split the field list of ``no-cache``/``private`` (RFC 9111 §5.2.2.4)."""
    names = (name.strip(" \t").lower() for name in argument.split(","))
    return frozenset(name for name in names if name)


def _qualified(directives: Directives, name: str) -> tuple[bool, frozenset[str]]:
    """Tell whether ``name`` is present and which fields it names, if any.

    A bare occurrence makes the directive unqualified (no fields).
    """
    arguments = [argument for key, argument in directives if key == name]
    if not arguments or None in arguments:
        return bool(arguments), frozenset()
    fields: frozenset[str] = frozenset()
    for argument in arguments:
        if argument is not None:
            fields |= _field_names(argument)
    return True, fields


def _first_strict(directives: Directives, name: str) -> int | None:
    """Return the first occurrence of ``name``; invalid means 0 (RFC 9111 §4.2.1)."""
    for key, argument in directives:
        if key == name:
            seconds = parse_delta_seconds(argument)
            return 0 if seconds is None else seconds
    return None


def _first_valid(directives: Directives, name: str) -> int | None:
    """Return the first valid delta-seconds of ``name``; invalid ones are ignored."""
    for key, argument in directives:
        if key == name:
            seconds = parse_delta_seconds(argument)
            if seconds is not None:
                return seconds
    return None


def _pragma_no_cache(headers: Headers) -> bool:
    """Tell whether ``Pragma`` carries ``no-cache`` (RFC 9111 §5.4)."""
    pragma = parse_directives(get_values(headers, b"pragma"))
    return any(name == "no-cache" for name, _ in pragma)


@dataclass(frozen=True, slots=True)
class ResponseCacheControl:
    """The response directives a cache acts on (RFC 9111 §5.2.2, RFC 5861, RFC 8246).

    ``present`` tells whether any ``Cache-Control`` line existed. The
    ``*_fields`` sets hold the lower-cased field names of a qualified
    ``no-cache``/``private``; they are empty when the directive is unqualified.
    ``target`` is the lower-cased name of the targeted field (RFC 9213 §2.2) the
    directives were read from instead, or ``None`` when they come from
    ``Cache-Control``; when it is set, the response's ``Expires`` is ignored.
    """

    present: bool = False
    max_age: int | None = None
    s_maxage: int | None = None
    no_store: bool = False
    no_cache: bool = False
    no_cache_fields: frozenset[str] = frozenset()
    private: bool = False
    private_fields: frozenset[str] = frozenset()
    public: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    must_understand: bool = False
    immutable: bool = False
    no_transform: bool = False
    stale_while_revalidate: int | None = None
    stale_if_error: int | None = None
    target: str | None = None


@functools.lru_cache(maxsize=4096)  # pure: memoised for the hit path
def parse_response_cache_control(headers: Headers) -> ResponseCacheControl:
    """Read the ``Cache-Control`` of a response (RFC 9111 §5.2.2).

    The first ``max-age``/``s-maxage`` decides; when its argument is missing
    or invalid the value is 0, i.e. stale (RFC 9111 §4.2.1, §1.2.2).
    Directives that take no argument count even when given one.
    ``stale-while-revalidate``/``stale-if-error`` (RFC 5861 §3, §4) without a
    valid argument are ignored, as are unknown directives (RFC 9111 §5.2.3).
    ``Pragma: no-cache`` counts as ``no-cache`` only when there is no
    ``Cache-Control`` line at all (RFC 9111 §5.4).
    """
    lines = get_values(headers, b"cache-control")
    if not lines:
        return ResponseCacheControl(no_cache=_pragma_no_cache(headers))
    directives = parse_directives(lines)
    names = {name for name, _ in directives}
    no_cache, no_cache_fields = _qualified(directives, "no-cache")
    private, private_fields = _qualified(directives, "private")
    return ResponseCacheControl(
        present=True,
        max_age=_first_strict(directives, "max-age"),
        s_maxage=_first_strict(directives, "s-maxage"),
        no_store="no-store" in names,
        no_cache=no_cache,
        no_cache_fields=no_cache_fields,
        private=private,
        private_fields=private_fields,
        public="public" in names,
        must_revalidate="must-revalidate" in names,
        proxy_revalidate="proxy-revalidate" in names,
        must_understand="must-understand" in names,
        immutable="immutable" in names,
        no_transform="no-transform" in names,
        stale_while_revalidate=_first_valid(directives, "stale-while-revalidate"),
        stale_if_error=_first_valid(directives, "stale-if-error"),
    )


@dataclass(frozen=True, slots=True)
class RequestCacheControl:
    """The request directives a cache honours (RFC 9111 §5.2.1, RFC 5861 §4).

    ``present`` tells whether any ``Cache-Control`` line existed. A bare
    ``max-stale`` is stored as :data:`MAX_DELTA_SECONDS` (any staleness).
    """

    present: bool = False
    max_age: int | None = None
    max_stale: int | None = None
    min_fresh: int | None = None
    no_cache: bool = False
    no_store: bool = False
    only_if_cached: bool = False
    stale_if_error: int | None = None


def _max_stale(directives: Directives) -> int | None:
    """Return the first usable ``max-stale``; bare means unlimited (§5.2.1.2)."""
    for key, argument in directives:
        if key == "max-stale":
            if argument is None:
                return MAX_DELTA_SECONDS
            seconds = parse_delta_seconds(argument)
            if seconds is not None:
                return seconds
    return None


@functools.lru_cache(maxsize=4096)  # pure: memoised for the hit path
def parse_request_cache_control(headers: Headers) -> RequestCacheControl:
    """Read the ``Cache-Control`` of a request (RFC 9111 §5.2.1).

    Numeric directives with a missing or invalid argument are ignored; the
    first valid occurrence wins. ``Pragma: no-cache`` counts as ``no-cache``
    only when the request has no ``Cache-Control`` (RFC 9111 §5.4). Unknown
    directives, ``immutable`` included, are ignored (RFC 9111 §5.2.3).
    """
    lines = get_values(headers, b"cache-control")
    if not lines:
        return RequestCacheControl(no_cache=_pragma_no_cache(headers))
    directives = parse_directives(lines)
    names = {name for name, _ in directives}
    return RequestCacheControl(
        present=True,
        max_age=_first_valid(directives, "max-age"),
        max_stale=_max_stale(directives),
        min_fresh=_first_valid(directives, "min-fresh"),
        no_cache="no-cache" in names,
        no_store="no-store" in names,
        only_if_cached="only-if-cached" in names,
        stale_if_error=_first_valid(directives, "stale-if-error"),
    )
