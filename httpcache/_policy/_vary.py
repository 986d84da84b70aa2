"""The ``Vary`` header field and the comparison of nominated fields.

RFC 9110 §12.5.5 defines ``Vary``; RFC 9111 §4.1 says how a cache matches the
request fields it nominates. Nothing here raises on malformed values.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from .._models import Headers
from ._headers import list_members

__all__ = ["normalize_field_value", "parse_vary"]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@functools.lru_cache(maxsize=4096)  # pure: memoised for the hit path
def parse_vary(headers: Headers) -> tuple[bytes, ...] | None:
    """Return the field names ``Vary`` nominates (RFC 9110 §12.5.5).

    All lines are merged into one list; members are trimmed and lower-cased,
    and empty or repeated ones dropped (RFC 9110 §5.6.1.2).

    Returns:
        The sorted, lower-cased names; ``()`` when nothing is nominated; or
        ``None`` ("never matches") when a member is ``*`` or is not a field
        name at all.
    """
    names: set[bytes] = set()
    for member in list_members(headers, b"vary"):
        if member == b"*" or _TOKEN.fullmatch(member) is None:
            return None
        names.add(member.lower())
    return tuple(sorted(names))


def normalize_field_value(values: Sequence[bytes]) -> bytes:
    """Normalise a nominated request field for comparison (RFC 9111 §4.1).

    Lines are joined with ``", "`` (RFC 9110 §5.3) and the whitespace around
    each comma-separated member is trimmed; nothing is reordered or
    lower-cased. ``gzip,br``, ``gzip, br`` and the lines ``gzip`` + ``br`` all
    give ``b"gzip, br"``; no lines give ``b""``.
    """
    members = b",".join(values).split(b",")
    return b", ".join(member.strip(b" \t") for member in members)
