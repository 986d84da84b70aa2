"""Case-insensitive reads over raw header sections (RFC 9110 §5.1, §5.2, §5.3).

Every function takes a :data:`~httpcache._models.Headers` tuple and a lower-case
field name. Nothing here raises on malformed values; parsing lives in the topic
modules.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._models import Headers

__all__ = [
    "get_combined",
    "get_first",
    "get_values",
    "has",
    "list_members",
    "remove",
    "set_header",
]


def get_values(headers: Headers, name: bytes) -> list[bytes]:
    """Return every value of field ``name`` in order (RFC 9110 §5.2)."""
    return [value for key, value in headers if key.lower() == name]


def get_first(headers: Headers, name: bytes) -> bytes | None:
    """Return the first value of field ``name``, or ``None`` when absent."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def get_combined(headers: Headers, name: bytes) -> bytes | None:
    """Return all lines of ``name`` joined with ``", "`` (RFC 9110 §5.3), or ``None``."""
    values = get_values(headers, name)
    if not values:
        return None
    return b", ".join(values)


def has(headers: Headers, name: bytes) -> bool:
    """Tell whether field ``name`` is present at all."""
    return any(key.lower() == name for key, _ in headers)


def list_members(headers: Headers, name: bytes) -> list[bytes]:
    """Split every line of a list-based field at commas, trimmed, empties dropped.

    Only for fields whose members cannot contain quoted commas (``Connection``,
    ``Vary``); RFC 9110 §5.6.1.2 asks recipients to tolerate empty members.
    """
    members: list[bytes] = []
    for value in get_values(headers, name):
        for part in value.split(b","):
            part = part.strip(b" \t")
            if part:
                members.append(part)
    return members


def remove(headers: Headers, names: Iterable[bytes]) -> Headers:
    """Return ``headers`` without any field whose lower-cased name is in ``names``."""
    drop = frozenset(names)
    return tuple((key, value) for key, value in headers if key.lower() not in drop)


def set_header(headers: Headers, name: bytes, value: bytes) -> Headers:
    """Replace every line of ``name`` with one line carrying ``value``.

    The new line takes the place of the first old one, or goes last.
    """
    out: list[tuple[bytes, bytes]] = []
    placed = False
    for key, old in headers:
        if key.lower() == name:
            if not placed:
                out.append((key, value))
                placed = True
            continue
        out.append((key, old))
    if not placed:
        out.append((name, value))
    return tuple(out)
