"""The primary record: one S3 object per cache key holding every variant (pure, no I/O).

Squid's layout (DESIGN §3): all variants of a key sit in one object, so one
``GetObject`` answers ``get_entries``. Each variant is a :class:`Slot`: the serialized
head, its bookkeeping, and either its body inline (small bodies) or the id of the
immutable object that holds it (``<id>.body``, see :mod:`._common`).

Framing (integers big-endian)::

    b"HCS3\\x02"                      magic and format version (2)
    u32 length of the index, index    UTF-8 JSON: {"k": sha256(key), "s": [slot, ...]}
    blobs                             per slot, in index order: its head, then its
                                      inline body (if any)

with each slot of the index a list
``[id, sha256(variant), created_at, written_at, accessed_at, ttl, hits, size,
head_length, inline]``.

Invariants:

* ``hits`` and ``accessed_at`` in the index are authoritative (the serialized head's own
  are not read back): writing back hits patches the index, never re-serializes a head.
* A slot describes one stored response: its ``id`` is fresh per write, so an entry that
  carries it (``Entry.body_ref``) names exactly that response.
* Bodies are raw bytes beside the head, never base64 inside the serialized record.
* Expiry inputs are copied into the object's metadata (``httpcache-times``) so that
  ``delete_expired`` and ``stats`` judge a record with ``HeadObject`` alone, under the
  reading storage's lifetime.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from ..._exceptions import SerializationError
from ..._models import Entry
from ..._serializers import Serializer
from .._expiry import Lifetime
from .._hits import PendingHit
from ._common import digest

__all__ = [
    "FORMAT",
    "Record",
    "RecordMeta",
    "Slot",
    "add_hits",
    "decode_record",
    "drop_body",
    "drop_expired",
    "drop_variants",
    "dropped_bodies",
    "encode_record",
    "freshen",
    "new_slot",
    "parse_record_metadata",
    "put_slot",
    "record_metadata",
    "slot_entry",
]

FORMAT = "2"
_MAGIC = b"HCS3\x02"
_LENGTH = struct.Struct(">I")
_HEADER = len(_MAGIC) + _LENGTH.size
_ID = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIMES_LIMIT = 1600  # characters of httpcache-times; S3 allows 2 KiB of user metadata

_META_FORMAT = "httpcache-format"
_META_ENTRIES = "httpcache-entries"
_META_TIMES = "httpcache-times"
_META_EXPIRES_AT = "httpcache-expires-at"

Times = tuple[float, float, float | None, float | None]
"""(created_at, written_at, accessed_at, entry ttl) of one slot: what its expiry depends on."""


def _deadline(times: Times, lifetime: Lifetime) -> float | None:
    created_at, written_at, accessed_at, entry_ttl = times
    return lifetime.deadline_of(
        created_at=created_at, written_at=written_at, accessed_at=accessed_at, entry_ttl=entry_ttl
    )


def _expired(times: Times, lifetime: Lifetime, now: float) -> bool:
    deadline = _deadline(times, lifetime)
    return deadline is not None and now >= deadline


@dataclass(frozen=True, slots=True)
class Slot:
    """One stored variant inside a record."""

    id: str
    variant_hash: str
    created_at: float
    written_at: float
    accessed_at: float | None
    entry_ttl: float | None
    hits: int
    size: int
    head: bytes
    body: bytes | None  # the body inline, or None: it is the object "<id>.body"

    @property
    def times(self) -> Times:
        return (self.created_at, self.written_at, self.accessed_at, self.entry_ttl)

    def expired(self, lifetime: Lifetime, now: float) -> bool:
        """Tell whether this variant has outlived ``lifetime`` at ``now``."""
        return _expired(self.times, lifetime, now)

    def describes(self, entry: Entry, variant_hash: str) -> bool:
        """Tell whether this slot still holds the stored response ``entry`` came from."""
        if self.variant_hash != variant_hash:
            return False
        if entry.body_ref is not None:
            return entry.body_ref == self.id
        return entry.created_at == self.created_at and entry.size == self.size


@dataclass(frozen=True, slots=True)
class Record:
    """Every stored variant of one key."""

    key_hash: str
    slots: tuple[Slot, ...] = ()

    def body_ids(self) -> frozenset[str]:
        """The ids of the large-body objects this record names."""
        return frozenset(slot.id for slot in self.slots if slot.body is None)

    @property
    def nbytes(self) -> int:
        """Bytes of heads and inline bodies (what remembering the record costs)."""
        return sum(len(s.head) + (0 if s.body is None else len(s.body)) for s in self.slots)


def new_slot(entry: Entry, head: bytes, body: bytes | None, body_id: str) -> Slot:
    """Return the slot of a freshly written ``entry`` (``body`` None: a large body object)."""
    if body is not None and len(body) != (entry.size or 0):
        raise ValueError("an inline body must hold exactly Entry.size bytes")
    return Slot(
        id=body_id,
        variant_hash=digest(entry.variant),
        created_at=entry.created_at,
        written_at=max(entry.created_at, entry.response_time),
        accessed_at=entry.accessed_at,
        entry_ttl=None if entry.ttl is None else float(entry.ttl),
        hits=entry.hits,
        size=entry.size or 0,
        head=head,
        body=body,
    )


# -- framing ---------------------------------------------------------------------------


def encode_record(record: Record) -> bytes:
    """Return the bytes of ``record`` (see the module docstring)."""
    index = {
        "k": record.key_hash,
        "s": [
            [
                s.id,
                s.variant_hash,
                s.created_at,
                s.written_at,
                s.accessed_at,
                s.entry_ttl,
                s.hits,
                s.size,
                len(s.head),
                s.body is not None,
            ]
            for s in record.slots
        ],
    }
    text = json.dumps(index, separators=(",", ":"), allow_nan=False).encode("ascii")
    parts = [_MAGIC, _LENGTH.pack(len(text)), text]
    for s in record.slots:
        parts.append(s.head)
        if s.body is not None:
            parts.append(s.body)
    return b"".join(parts)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SerializationError("record index holds a non-number where a number belongs")
    if not math.isfinite(value):
        raise SerializationError("record index holds a non-finite number")
    return float(value)


def _optional(value: object) -> float | None:
    return None if value is None else _number(value)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SerializationError("record index holds an invalid count")
    return value


def decode_record(data: bytes, key_hash: str) -> Record:
    """Read a record stored for the key hashed to ``key_hash``.

    Raises:
        SerializationError: The bytes are not a record of this format, are truncated, or
            belong to another key.
    """
    if not data.startswith(_MAGIC) or len(data) < _HEADER:
        raise SerializationError("not an httpcache S3 record (format 2)")
    (length,) = _LENGTH.unpack_from(data, len(_MAGIC))
    end = _HEADER + length
    try:
        index = json.loads(data[_HEADER:end])
    except ValueError as exc:
        raise SerializationError("record index is not JSON") from exc
    if not isinstance(index, dict) or index.get("k") != key_hash:
        raise SerializationError("record is stored under another key")
    raw = index.get("s")
    if not isinstance(raw, list):
        raise SerializationError("record index has no slot list")
    view = memoryview(data)
    slots: list[Slot] = []
    seen: set[str] = set()
    offset = end
    for item in raw:
        if not isinstance(item, list) or len(item) != 10:
            raise SerializationError("record index holds a malformed slot")
        body_id, variant_hash, created, written, accessed, ttl, hits, size, head_len, inline = item
        if not isinstance(body_id, str) or not _ID.fullmatch(body_id):
            raise SerializationError("record slot has no valid id")
        if not isinstance(variant_hash, str) or not _HEX64.fullmatch(variant_hash):
            raise SerializationError("record slot has no valid variant digest")
        if variant_hash in seen or not isinstance(inline, bool):
            raise SerializationError("record holds a variant twice, or a malformed slot")
        seen.add(variant_hash)
        size, head_len = _count(size), _count(head_len)
        head_end = offset + head_len
        body_end = head_end + (size if inline else 0)
        if body_end > len(data):
            raise SerializationError("record is truncated")
        slots.append(
            Slot(
                id=body_id,
                variant_hash=variant_hash,
                created_at=_number(created),
                written_at=_number(written),
                accessed_at=_optional(accessed),
                entry_ttl=_optional(ttl),
                hits=_count(hits),
                size=size,
                head=bytes(view[offset:head_end]),
                body=bytes(view[head_end:body_end]) if inline else None,
            )
        )
        offset = body_end
    if offset != len(data):
        raise SerializationError("record has trailing bytes")
    return Record(key_hash, tuple(slots))


def slot_entry(
    serializer: Serializer,
    key_hash: str,
    slot: Slot,
    pending: Callable[[str, str, float], PendingHit | None] | None = None,
) -> Entry:
    """Decode the entry of ``slot``, with its body inline (if kept so) and its id as ``body_ref``.

    ``pending(key, variant, created_at)`` tells this process's hits on it not yet
    written back: they count too.

    Raises:
        SerializationError: The head is unreadable, or not the entry the slot describes.
    """
    entry = serializer.loads(slot.head)
    if (
        digest(entry.key) != key_hash
        or digest(entry.variant) != slot.variant_hash
        or entry.created_at != slot.created_at
        or entry.size != slot.size
    ):
        raise SerializationError("record slot holds another entry than it names")
    hits, accessed_at = slot.hits, slot.accessed_at
    unwritten = None if pending is None else pending(entry.key, entry.variant, entry.created_at)
    if unwritten is not None:
        hits += unwritten.count
        accessed_at = (
            unwritten.accessed_at
            if accessed_at is None
            else max(accessed_at, unwritten.accessed_at)
        )
    return replace(entry, hits=hits, accessed_at=accessed_at, body=slot.body, body_ref=slot.id)


# -- object metadata -------------------------------------------------------------------


def _text(value: float | None) -> str:
    return "-" if value is None else repr(value)


def record_metadata(record: Record, lifetime: Lifetime) -> dict[str, str]:
    """Return the S3 user metadata of ``record`` (ASCII values only)."""
    times = ";".join(",".join(_text(v) for v in slot.times) for slot in record.slots)
    deadlines = [_deadline(slot.times, lifetime) for slot in record.slots]
    last = None if None in deadlines else max((d for d in deadlines if d is not None), default=0)
    meta = {
        _META_FORMAT: FORMAT,
        _META_ENTRIES: str(len(record.slots)),
        _META_EXPIRES_AT: "never" if last is None else repr(last),
    }
    if len(times) <= _TIMES_LIMIT:
        meta[_META_TIMES] = times
    return meta


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """What a record's metadata says: how many variants, and (if it fits) their times."""

    entries: int
    times: tuple[Times, ...] | None  # None: too many variants, read the record to judge

    def expired(self, lifetime: Lifetime, now: float) -> int | None:
        """Return how many variants are past their lifetime (``None``: cannot tell)."""
        if self.times is None:
            return None
        return sum(_expired(t, lifetime, now) for t in self.times)


def _parse_times(text: str) -> tuple[Times, ...]:
    found: list[Times] = []
    for item in text.split(";") if text else ():
        fields = item.split(",")
        if len(fields) != 4:
            raise SerializationError("record metadata holds malformed times")
        try:
            values = [None if f == "-" else float(f) for f in fields]
        except ValueError as exc:
            raise SerializationError("record metadata holds malformed times") from exc
        created, written, accessed, ttl = values
        if created is None or written is None:
            raise SerializationError("record metadata holds malformed times")
        found.append((created, written, accessed, ttl))
    return tuple(found)


def parse_record_metadata(metadata: Mapping[str, str] | None) -> RecordMeta:
    """Read a record's metadata; raise :class:`SerializationError` if it is not ours."""
    meta = {str(k).lower(): str(v) for k, v in (metadata or {}).items()}
    if meta.get(_META_FORMAT) != FORMAT:
        raise SerializationError("record object has no httpcache format 2 metadata")
    entries = meta.get(_META_ENTRIES, "")
    if not entries.isdigit():
        raise SerializationError("record metadata has no entry count")
    times = meta.get(_META_TIMES)
    parsed = None if times is None else _parse_times(times)
    if parsed is not None and len(parsed) != int(entries):
        raise SerializationError("record metadata disagrees with itself")
    return RecordMeta(int(entries), parsed)


# -- changes (each returns the new record, or None when nothing changes) ----------------


def put_slot(
    record: Record | None, key_hash: str, slot: Slot, lifetime: Lifetime, now: float
) -> Record:
    """Return ``record`` with ``slot`` replacing its variant; expired variants go too."""
    kept = tuple(
        s
        for s in (() if record is None else record.slots)
        if s.variant_hash != slot.variant_hash and not s.expired(lifetime, now)
    )
    return Record(key_hash, (*kept, slot))


def drop_variants(record: Record | None, hashes: frozenset[str] | None) -> Record | None:
    """Return ``record`` without the variants digested to ``hashes`` (all when None)."""
    if record is None:
        return None
    kept = tuple(s for s in record.slots if hashes is not None and s.variant_hash not in hashes)
    return None if len(kept) == len(record.slots) else Record(record.key_hash, kept)


def drop_body(record: Record | None, body_id: str) -> Record | None:
    """Return ``record`` without the variant whose large body is ``body_id`` (lost or cut)."""
    if record is None:
        return None
    kept = tuple(s for s in record.slots if s.body is not None or s.id != body_id)
    return None if len(kept) == len(record.slots) else Record(record.key_hash, kept)


def drop_expired(record: Record | None, lifetime: Lifetime, now: float) -> Record | None:
    """Return ``record`` without its variants past their lifetime at ``now``."""
    if record is None:
        return None
    kept = tuple(s for s in record.slots if not s.expired(lifetime, now))
    return None if len(kept) == len(record.slots) else Record(record.key_hash, kept)


def freshen(record: Record | None, entry: Entry, head: bytes) -> Record | None:
    """Return ``record`` with the head of ``entry`` (a 304) replacing its stored response's.

    The body, hit count and last access stay; nothing changes if the stored response is
    no longer the one ``entry`` came from.
    """
    if record is None:
        return None
    variant_hash = digest(entry.variant)
    for i, slot in enumerate(record.slots):
        if slot.describes(entry, variant_hash):
            fresh = replace(
                slot,
                head=head,
                written_at=max(entry.created_at, entry.response_time),
                entry_ttl=None if entry.ttl is None else float(entry.ttl),
            )
            return Record(record.key_hash, (*record.slots[:i], fresh, *record.slots[i + 1 :]))
    return None


def add_hits(record: Record | None, hits: Iterable[PendingHit]) -> Record | None:
    """Return ``record`` with buffered hits added to the stored responses they were on."""
    if record is None:
        return None
    by_slot = {(digest(h.variant), h.created_at, h.size): h for h in hits}
    changed = False
    slots = list(record.slots)
    for i, slot in enumerate(slots):
        hit = by_slot.get((slot.variant_hash, slot.created_at, slot.size))
        if hit is None:
            continue
        accessed = (
            hit.accessed_at if slot.accessed_at is None else max(slot.accessed_at, hit.accessed_at)
        )
        slots[i] = replace(slot, hits=slot.hits + hit.count, accessed_at=accessed)
        changed = True
    return Record(record.key_hash, tuple(slots)) if changed else None


def dropped_bodies(old: Record | None, new: Record | None) -> list[str]:
    """Return the large-body ids ``old`` names and ``new`` no longer does."""
    if old is None:
        return []
    keep = frozenset() if new is None else new.body_ids()
    return sorted(old.body_ids() - keep)
