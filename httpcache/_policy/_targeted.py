"""Targeted cache-control fields such as ``CDN-Cache-Control`` (RFC 9213).

A shared cache configured with a *target list* (``CacheOptions.targeted_fields``, most
specific first) takes a response's caching policy from the first listed field that is
present, valid and non-empty, and then ignores that response's ``Cache-Control`` and
``Expires`` (RFC 9213 §2.2, E-14). :func:`effective_cache_control` is the one place that
choice is made; the freshness, storing and serving code reads its result.

Invariants:

* Nothing here raises on received values. A targeted field is an RFC 8941 Dictionary,
  parsed strictly (:func:`parse_dictionary`); a field that fails to parse or is empty is
  ignored as a whole, as if absent (RFC 9213 §2.1, E-15).
* Values of the wrong type are never coerced (RFC 9213 §2.1, E-16): an invalid directive
  never makes the cache less careful. ``max-age``/``s-maxage`` that are not non-negative
  Integers make the response stale (``0``, as an invalid ``max-age`` does in
  ``Cache-Control``, RFC 9111 §4.2.1); invalid ``stale-while-revalidate``/``stale-if-error``
  are ignored; restrictive flags (``no-store``, ``no-cache``, ``private``,
  ``must-revalidate``, ``proxy-revalidate``, ``no-transform``) count whatever their value;
  permissive ones (``public``, ``immutable``, ``must-understand``) count only as Boolean
  true. Parameters on members are parsed and ignored.
* Private caches and an empty target list ignore every targeted field (E-19); a field
  never becomes targeted by its ``-Cache-Control`` suffix alone (RFC 9213 §2.4). The
  fields stay on the stored and served response (RFC 9213 §2.2, §3: passed through).
* ``Age`` and the age calculation are unaffected (RFC 9213 §2.3 sets no requirement);
  ``Pragma`` is, like ``Cache-Control``, not consulted when a targeted field applies.
"""

from __future__ import annotations

import base64
import binascii
import functools
import string
from typing import TYPE_CHECKING, TypeAlias

from .._models import Headers
from ._cache_control import (
    MAX_DELTA_SECONDS,
    ResponseCacheControl,
    parse_response_cache_control,
)
from ._headers import get_values

if TYPE_CHECKING:  # pragma: no cover
    from .._options import CacheOptions

__all__ = [
    "BareItem",
    "Token",
    "effective_cache_control",
    "parse_dictionary",
    "targeted_cache_control",
]


class Token(str):
    """An sf-token (RFC 8941 §3.3.4), told apart from an sf-string (a plain ``str``)."""

    __slots__ = ()


BareItem: TypeAlias = int | float | str | Token | bytes | bool
"""An RFC 8941 bare item: Integer, Decimal, String, Token, Byte Sequence or Boolean."""

Member: TypeAlias = BareItem | tuple[BareItem, ...]
"""A Dictionary member's value: an Item or an Inner List (parameters dropped)."""


class _Invalid(Exception):
    """A parse failure; never escapes this module."""


_LCALPHA = frozenset(string.ascii_lowercase)
_ALPHA = frozenset(string.ascii_letters)
_DIGITS = frozenset(string.digits)
_KEY_FIRST = _LCALPHA | {"*"}
_KEY_CHARS = _LCALPHA | _DIGITS | frozenset("_-.*")
_TCHAR = _ALPHA | _DIGITS | frozenset("!#$%&'*+-.^_`|~")
_TOKEN_CHARS = _TCHAR | frozenset(":/")
_BASE64 = _ALPHA | _DIGITS | frozenset("+/=")
_OWS = " \t"


class _Reader:
    """The input string of RFC 8941 §4.2, consumed from the left."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        if not char:
            raise _Invalid
        self.pos += 1
        return char

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def key(self) -> str:
        """RFC 8941 §4.2.3.3: ``( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )``."""
        if self.peek() not in _KEY_FIRST:
            raise _Invalid
        start = self.pos
        while self.peek() and self.peek() in _KEY_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def parameters(self) -> None:
        """RFC 8941 §4.2.3.2: parse ``;key[=value]`` parameters and drop them (RFC 9213 §2.1)."""
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            self.key()
            if self.peek() == "=":
                self.pos += 1
                self.bare_item()

    def item_or_list(self) -> Member:
        """RFC 8941 §4.2.1.1: an Inner List or an Item."""
        if self.peek() != "(":
            return self.item()
        self.pos += 1
        items: list[BareItem] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                self.parameters()
                return tuple(items)
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise _Invalid

    def item(self) -> BareItem:
        """RFC 8941 §4.2.3: a bare item and its (ignored) parameters."""
        value = self.bare_item()
        self.parameters()
        return value

    def bare_item(self) -> BareItem:
        """RFC 8941 §4.2.3.1."""
        char = self.peek()
        if char == "-" or (char and char in _DIGITS):
            return self.number()
        if char == '"':
            return self.string()
        if char == "*" or (char and char in _ALPHA):
            return self.token()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        raise _Invalid

    def number(self) -> int | float:
        """RFC 8941 §4.2.4: at most 15 integer digits; a Decimal has 12 + 3 at most."""
        sign = 1
        if self.peek() == "-":
            self.pos += 1
            sign = -1
        if not self.peek() or self.peek() not in _DIGITS:
            raise _Invalid
        start = self.pos
        decimal = False
        while self.peek():
            char = self.peek()
            if char in _DIGITS:
                self.pos += 1
            elif char == "." and not decimal:
                if self.pos - start > 12:
                    raise _Invalid
                decimal = True
                self.pos += 1
            else:
                break
            if self.pos - start > (16 if decimal else 15):
                raise _Invalid
        digits = self.text[start : self.pos]
        if not decimal:
            return sign * int(digits)
        fraction = digits.partition(".")[2]
        if not fraction or len(fraction) > 3:
            raise _Invalid
        return sign * float(digits)

    def string(self) -> str:
        """RFC 8941 §4.2.5: printable ASCII; only ``\\"`` and ``\\\\`` escapes."""
        self.pos += 1
        out: list[str] = []
        while True:
            char = self.take()
            if char == "\\":
                escaped = self.take()
                if escaped not in ('"', "\\"):
                    raise _Invalid
                out.append(escaped)
            elif char == '"':
                return "".join(out)
            elif not " " <= char <= "~":
                raise _Invalid
            else:
                out.append(char)

    def token(self) -> Token:
        """RFC 8941 §4.2.6."""
        start = self.pos
        self.pos += 1
        while self.peek() and self.peek() in _TOKEN_CHARS:
            self.pos += 1
        return Token(self.text[start : self.pos])

    def byte_sequence(self) -> bytes:
        """RFC 8941 §4.2.7: base64 between colons; missing ``=`` padding is tolerated."""
        self.pos += 1
        end = self.text.find(":", self.pos)
        if end < 0:
            raise _Invalid
        content = self.text[self.pos : end]
        if any(char not in _BASE64 for char in content):
            raise _Invalid
        self.pos = end + 1
        try:
            return base64.b64decode(content + "=" * (-len(content) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise _Invalid from None

    def boolean(self) -> bool:
        """RFC 8941 §4.2.8: ``?1`` or ``?0``."""
        self.pos += 1
        char = self.take()
        if char not in ("0", "1"):
            raise _Invalid
        return char == "1"


def parse_dictionary(text: str) -> dict[str, Member] | None:
    """Parse an RFC 8941 Dictionary field value (RFC 8941 §4.2, §4.2.2).

    Strict, as RFC 9213 §2.1 requires: lower-case keys, no trailing comma, only SP
    around the whole value. A key given twice keeps its last value. A member without
    ``=`` is Boolean true. Parameters are parsed (so malformed ones fail) and dropped.

    Returns:
        The members in order (empty for an empty value), or ``None`` when ``text`` is
        not a valid Dictionary.
    """
    reader = _Reader(text)
    members: dict[str, Member] = {}
    try:
        reader.skip(" ")
        while reader.peek():
            name = reader.key()
            if reader.peek() == "=":
                reader.pos += 1
                members[name] = reader.item_or_list()
            else:
                reader.parameters()
                members[name] = True
            reader.skip(_OWS)
            if not reader.peek():
                break
            if reader.take() != ",":
                raise _Invalid
            reader.skip(_OWS)
            if not reader.peek():
                raise _Invalid  # a trailing comma
    except _Invalid:
        return None
    return members


def _seconds(value: Member) -> int | None:
    """A non-negative sf-integer as delta-seconds (capped, RFC 9111 §1.2.2), else ``None``."""
    if type(value) is not int or value < 0:
        return None
    return min(value, MAX_DELTA_SECONDS)


def _qualified(members: dict[str, Member], name: str) -> tuple[bool, frozenset[str]]:
    """``no-cache``/``private``: present, and the field names of a String value (§5.2.2.4)."""
    if name not in members:
        return False, frozenset()
    value = members[name]
    if type(value) is not str:
        return True, frozenset()
    names = (part.strip(" \t").lower() for part in value.split(","))
    return True, frozenset(part for part in names if part)


def _directives(members: dict[str, Member], target: str) -> ResponseCacheControl:
    """Map a targeted field's members to the directives the cache acts on (RFC 9213 §2.2)."""

    def strict(name: str) -> int | None:
        if name not in members:
            return None
        seconds = _seconds(members[name])
        return 0 if seconds is None else seconds

    def optional(name: str) -> int | None:
        return _seconds(members[name]) if name in members else None

    def flag(name: str) -> bool:
        return members.get(name) is True

    no_cache, no_cache_fields = _qualified(members, "no-cache")
    private, private_fields = _qualified(members, "private")
    return ResponseCacheControl(
        present=True,
        max_age=strict("max-age"),
        s_maxage=strict("s-maxage"),
        no_store="no-store" in members,
        no_cache=no_cache,
        no_cache_fields=no_cache_fields,
        private=private,
        private_fields=private_fields,
        public=flag("public"),
        must_revalidate="must-revalidate" in members,
        proxy_revalidate="proxy-revalidate" in members,
        must_understand=flag("must-understand"),
        immutable=flag("immutable"),
        no_transform="no-transform" in members,
        stale_while_revalidate=optional("stale-while-revalidate"),
        stale_if_error=optional("stale-if-error"),
        target=target,
    )


@functools.lru_cache(maxsize=4096)  # pure: memoised for the hit path
def targeted_cache_control(
    headers: Headers, targets: tuple[str, ...]
) -> ResponseCacheControl | None:
    """Return the directives of the first usable targeted field (RFC 9213 §2.2, E-14).

    ``targets`` is the target list, most specific first. A field's lines are joined
    with ``", "`` and parsed as one Dictionary (RFC 8941 §4.2); a field that is absent,
    empty or invalid is skipped (RFC 9213 §2.1, E-15).

    Returns:
        The directives, with ``target`` set to the lower-cased field name, or ``None``
        when no listed field is usable (``Cache-Control`` and ``Expires`` then apply).
    """
    for target in targets:
        name = target.lower()
        lines = get_values(headers, name.encode("ascii"))
        if not lines:
            continue
        members = parse_dictionary(b", ".join(lines).decode("latin-1"))
        if members:
            return _directives(members, name)
    return None


def effective_cache_control(headers: Headers, options: CacheOptions) -> ResponseCacheControl:
    """Return the response directives this cache acts on (RFC 9111 §5.2.2, RFC 9213 §2.2).

    In a shared cache with ``targeted_fields``, the first usable targeted field's
    directives replace ``Cache-Control`` (and ``Expires`` is ignored: the result's
    ``target`` is set). Otherwise, and always in a private cache (E-19), the response's
    ``Cache-Control``.
    """
    if options.shared and options.targeted_fields:
        targeted = targeted_cache_control(headers, tuple(options.targeted_fields))
        if targeted is not None:
            return targeted
    return parse_response_cache_control(headers)
