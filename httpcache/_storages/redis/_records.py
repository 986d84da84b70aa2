"""The fields of a Redis variant index and how to read them (pure; shared by sync and async).

A variant index is one Redis hash per primary key. Each variant ``v`` (its raw
UTF-8 bytes) has up to five fields, all written together by the commit script:

=========  ============================================================================
``h:v``    the serialized head (an :class:`Entry` without its body)
``b:v``    the body: ``=`` then the body's bytes when it is kept inline (at most
           :data:`INLINE_LIMIT` bytes, the empty body included), or ``#`` then the id of
           the list that holds it in chunks (``<base>:#b:<id>``)
``m:v``    the stamp of the stored response, ``repr(created_at) size``: the hit and
           update scripts change a variant only while its stamp is the one they expect,
           so a write meant for a response never lands on a newer one
``n:v``    hits written back so far (absent: none); the head's own ``hits`` is ignored
``a:v``    the last hit written back, ``repr(time)`` (absent: none)
=========  ============================================================================

So one ``HGETALL`` returns every variant's head, its metadata and (small bodies) its
body: a hit is one round trip. A record whose body field is not one of the two
forms above (the layout before inline bodies, or something foreign) is unreadable:
a miss that the read removes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ..._exceptions import SerializationError
from ..._models import Entry
from .._expiry import Lifetime, is_expired
from .._hits import PendingHit
from ._keys import index_belongs_to

__all__ = [
    "INLINE_LIMIT",
    "Pending",
    "Sifted",
    "encode_variant",
    "head_field",
    "inline_value",
    "ref_value",
    "sift",
    "stamp",
]

INLINE_LIMIT = 64 * 1024
"""Largest body, in bytes, kept inline in the variant index (larger ones go to a list)."""

_HEAD, _BODY, _STAMP, _HITS, _ACCESSED = b"h", b"b", b"m", b"n", b"a"
_INLINE, _REF = b"="[0], b"#"[0]

Pending = Callable[[str, str, float], PendingHit | None]
"""Hits this process counted but has not written back, by ``(key, variant, created_at)``
(:meth:`HitBuffer.pending`)."""


def encode_variant(variant: str) -> bytes:
    """Return the bytes a variant is spelled with in field names."""
    return variant.encode("utf-8", "surrogatepass")


def head_field(variant: str) -> bytes:
    """Return the field that holds the serialized head of ``variant``."""
    return b"h:" + encode_variant(variant)


def stamp(created_at: float, size: int | None) -> bytes:
    """Return the stamp that tells one stored response from a newer one of the same variant."""
    return f"{created_at!r} {'' if size is None else size}".encode("ascii")


def inline_value(body: bytes) -> bytes:
    """Return the body field of a body kept inline."""
    return b"=" + body


def ref_value(body_id: str) -> bytes:
    """Return the body field of a body kept in the list ``body_id``."""
    return b"#" + body_id.encode("ascii")


@dataclass(slots=True)
class Sifted:
    """One variant index, read: what is usable, what is past its lifetime, what must go."""

    live: list[Entry] = field(default_factory=list)
    expired: list[Entry] = field(default_factory=list)
    doomed: list[tuple[bytes, bytes]] = field(default_factory=list)  # (variant, head as read)
    removed: int = 0  # how many of the doomed were removed (not changed meanwhile)
    warnings: list[str] = field(default_factory=list)  # why records were found unreadable


def _group(fields: Mapping[bytes | str, bytes | str]) -> dict[bytes, dict[bytes, bytes]]:
    variants: dict[bytes, dict[bytes, bytes]] = {}
    for name, value in fields.items():
        if not isinstance(name, bytes) or not isinstance(value, bytes) or name[1:2] != b":":
            continue  # a client that decodes responses is refused at construction
        variants.setdefault(name[2:], {})[name[:1]] = value
    return variants


def _entry(
    index: bytes,
    variant: bytes,
    parts: dict[bytes, bytes],
    loads: Callable[[bytes], Entry],
    pending: Pending,
) -> Entry:
    """Decode one variant's fields into an entry, or raise :class:`SerializationError`."""
    entry = loads(parts[_HEAD])
    if encode_variant(entry.variant) != variant or not index_belongs_to(index, entry.key):
        raise SerializationError("the record is stored under another key or variant")
    if parts.get(_STAMP) != stamp(entry.created_at, entry.size):
        raise SerializationError("the record's stamp does not match its head")
    value = parts.get(_BODY, b"")
    body: bytes | None = None
    ref: str | None = None
    if value[:1] and value[0] == _INLINE:
        body = value[1:]
        if len(body) != entry.size:
            raise SerializationError("the inline body does not have the recorded size")
    elif value[:1] and value[0] == _REF and len(value) > 1:
        ref = value[1:].decode("ascii", "replace")
    else:
        raise SerializationError("the record has no body in a known form")
    try:
        hits = int(parts.get(_HITS, b"0"))
        accessed = parts.get(_ACCESSED)
        accessed_at = None if accessed is None else float(accessed)
    except ValueError as exc:
        raise SerializationError(f"the record's hit count or time is unreadable: {exc}") from exc
    seen = pending(entry.key, entry.variant, entry.created_at)
    if seen is not None:  # counted here, not yet written back
        hits += seen.count
        accessed_at = (
            seen.accessed_at if accessed_at is None else max(seen.accessed_at, accessed_at)
        )
    return replace(entry, hits=hits, accessed_at=accessed_at, body=body, body_ref=ref)


def sift(
    index: bytes,
    fields: Mapping[bytes | str, bytes | str],
    loads: Callable[[bytes], Entry],
    lifetime: Lifetime,
    now: float,
    pending: Pending,
) -> Sifted:
    """Decode the variants of one index and sort them by what must happen to them.

    ``loads`` decodes a head (the serializer's, possibly memoised). Hits in
    ``pending`` are added to the entries they belong to, as if written back.
    """
    sifted = Sifted()
    for variant, parts in _group(fields).items():
        record = parts.get(_HEAD)
        if record is None:
            sifted.warnings.append("a cache body without a record")
            sifted.doomed.append((variant, b""))
            continue
        try:
            entry = _entry(index, variant, parts, loads, pending)
        except SerializationError as exc:
            sifted.warnings.append(f"an unreadable cache record: {exc}")
            sifted.doomed.append((variant, record))
            continue
        if is_expired(entry, lifetime, now):
            sifted.expired.append(entry)
            sifted.doomed.append((variant, record))
        else:
            sifted.live.append(entry)
    return sifted
