"""Pure helpers shared by :class:`S3Storage` and :class:`AsyncS3Storage` (no I/O).

``boto3`` and ``aiobotocore`` do not line up closely enough for the sync half to be
generated from the async one (DESIGN §2), so the two storages are written by hand over
these helpers: object names, head metadata, listing groups and the expiry arithmetic.

Object layout under a storage's ``key_prefix`` (``P``)::

    P e/<sha256(key)>/<sha256(variant)>.head            serialized Entry + metadata
    P e/<sha256(key)>/<sha256(variant)>.<id>.body       raw body bytes of one write
    P ns/<name>/...                                     a child namespace, same layout

Invariants:

* Key material never appears in an object name: keys and variants are hashed.
* A head names the body it belongs to (metadata ``httpcache-body``); every write puts its
  body under a fresh ``<id>`` and writes the head last, so replacing the head is the
  commit point: a reader sees the old entry or the new one, never a mix.
* The objects of one variant are adjacent in a listing (S3 lists in UTF-8 binary order,
  and they share the prefix ``...<sha256(variant)>.``), which lets a listing be grouped
  by variant in one pass, page after page.
* Expiry is recorded in the head's metadata (``httpcache-stored-at``, ``httpcache-ttl``
  and, for people and lifecycle tools, ``httpcache-expires-at``), so pruning needs no
  deserialisation; it is enforced on every read with :mod:`httpcache._storages._expiry`.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib
import math
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from ..._exceptions import ConfigurationError, SerializationError, StorageError
from ..._models import Entry
from ..._serializers import Serializer
from .._expiry import Lifetime, expires_at

__all__ = [
    "DEFAULT_PREFIX",
    "DELETE_BATCH",
    "MEMO_SIZE",
    "ORPHAN_GRACE",
    "PAGE_SIZE",
    "PART_SIZE",
    "PRUNE_CONCURRENCY",
    "READ_CHUNK",
    "HeadMeta",
    "ObjectInfo",
    "VariantGroup",
    "VariantGrouper",
    "body_name",
    "child_prefix",
    "decode_head",
    "digest",
    "head_metadata",
    "head_name",
    "import_extra",
    "is_not_found",
    "key_dir",
    "new_body_id",
    "normalize_prefix",
    "object_info",
    "parse_head_metadata",
    "prune_plan",
    "same_entry",
    "storage_errors",
]

MiB = 1024 * 1024
DEFAULT_PREFIX = "httpcache/"
PART_SIZE = 8 * MiB
"""Multipart part size: S3's minimum is 5 MiB (except the last part); at most 10,000 parts."""
READ_CHUNK = 256 * 1024
"""Bytes per chunk when a stored body is streamed back."""
PAGE_SIZE = 1000
"""Objects per ``list_objects_v2`` page (S3's maximum)."""
DELETE_BATCH = 1000
"""Keys per ``delete_objects`` call (S3's maximum)."""
PRUNE_CONCURRENCY = 8
"""Metadata reads ``delete_expired`` keeps in flight."""
ORPHAN_GRACE = 3600.0
"""Seconds (server time) before an unreferenced body or a bodiless head counts as debris."""
MEMO_SIZE = 1024
"""Entries whose body object a storage remembers, so a hit reads its body in one request."""

_META_FORMAT = "httpcache-format"
_META_BODY = "httpcache-body"
_META_STORED_AT = "httpcache-stored-at"
_META_TTL = "httpcache-ttl"
_META_CREATED_AT = "httpcache-created-at"
_META_ACCESSED_AT = "httpcache-accessed-at"
_META_EXPIRES_AT = "httpcache-expires-at"
_FORMAT = "1"

_HEX64 = "[0-9a-f]{64}"
_NAME = re.compile(  # an object name relative to a storage's prefix
    rf"(?:ns/[^/]+/)*e/(?P<key>{_HEX64})/(?P<variant>{_HEX64})\."
    r"(?:head|(?P<body>[0-9a-f]{32})\.body)"
)


# -- optional dependencies and errors ----------------------------------------------------


def import_extra(module: str, owner: str) -> ModuleType:
    """Import ``module`` or raise :class:`ConfigurationError` naming the ``s3`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigurationError(
            f"{owner} needs {module.split('.')[0]}: pip install 'httpcache[s3]'"
        ) from exc


def is_not_found(exc: BaseException) -> bool:
    """Tell whether a botocore ``ClientError`` means the object (or bucket) is missing."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Re-raise botocore's errors as :class:`StorageError` (the original is the cause)."""
    exceptions = importlib.import_module("botocore.exceptions")
    try:
        yield
    except (exceptions.BotoCoreError, exceptions.ClientError) as exc:
        raise StorageError(f"S3 {what} failed: {exc}") from exc


# -- object names ----------------------------------------------------------------------


def normalize_prefix(prefix: str) -> str:
    """Return ``prefix`` ending in ``/`` (so ``a`` never reaches ``ab/``); ``""`` stays."""
    if not isinstance(prefix, str):
        raise ConfigurationError("key_prefix must be a string")
    if prefix.startswith("/"):
        raise ConfigurationError("key_prefix must not start with '/'")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix


def child_prefix(prefix: str, name: str) -> str:
    """Return the key prefix of namespace ``name`` under ``prefix``."""
    if not name or "/" in name or name in {".", ".."}:
        raise ConfigurationError("a namespace name must be non-empty and contain no '/'")
    return f"{prefix}ns/{name}/"


def digest(text: str) -> str:
    """Return the SHA-256 of ``text`` in hex: how key material appears in object names."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def key_dir(prefix: str, key: str) -> str:
    """Return the common prefix of every object of primary key ``key``."""
    return f"{prefix}e/{digest(key)}/"


def head_name(prefix: str, key: str, variant: str) -> str:
    """Return the name of the head object of one variant."""
    return f"{key_dir(prefix, key)}{digest(variant)}.head"


def body_name(prefix: str, key: str, variant: str, body_id: str) -> str:
    """Return the name of the body object written as ``body_id`` for one variant."""
    return f"{key_dir(prefix, key)}{digest(variant)}.{body_id}.body"


def new_body_id() -> str:
    """Return a fresh body id (each write gets its own body object)."""
    return uuid.uuid4().hex


# -- head metadata ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeadMeta:
    """What a head object's metadata says: its body and the times its expiry depends on."""

    body_id: str
    stored_at: float
    entry_ttl: float | None
    created_at: float
    accessed_at: float | None = None

    def deadline(self, lifetime: Lifetime) -> float | None:
        """Return when the entry expires under ``lifetime`` (mirrors ``Lifetime.deadline``)."""
        return lifetime.deadline_of(
            created_at=self.created_at,
            written_at=self.stored_at,
            accessed_at=self.accessed_at,
            entry_ttl=self.entry_ttl,
        )

    def is_expired(self, lifetime: Lifetime, now: float) -> bool:
        """Tell whether the entry has outlived its storage lifetime at ``now``."""
        deadline = self.deadline(lifetime)
        return deadline is not None and now >= deadline


def head_metadata(entry: Entry, lifetime: Lifetime, body_id: str) -> dict[str, str]:
    """Return the S3 user metadata of the head of ``entry`` (ASCII values only)."""
    deadline = expires_at(entry, lifetime)
    return {
        _META_FORMAT: _FORMAT,
        _META_BODY: body_id,
        _META_STORED_AT: repr(max(entry.created_at, entry.response_time)),
        _META_CREATED_AT: repr(entry.created_at),
        _META_ACCESSED_AT: "none" if entry.accessed_at is None else repr(entry.accessed_at),
        _META_TTL: "none" if entry.ttl is None else repr(float(entry.ttl)),
        _META_EXPIRES_AT: "never" if deadline is None else repr(deadline),
    }


def _finite(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise SerializationError(f"metadata {name!r} is not a number") from exc
    if not math.isfinite(value):
        raise SerializationError(f"metadata {name!r} is not finite")
    return value


def parse_head_metadata(metadata: Mapping[str, str] | None) -> HeadMeta:
    """Read a head's metadata; raise :class:`SerializationError` if it is not ours."""
    meta = {str(k).lower(): str(v) for k, v in (metadata or {}).items()}
    if meta.get(_META_FORMAT) != _FORMAT:
        raise SerializationError("head object has no httpcache metadata")
    body_id = meta.get(_META_BODY, "")
    if not re.fullmatch(r"[0-9a-f]{32}", body_id):
        raise SerializationError("head metadata names no valid body")
    ttl_text = meta.get(_META_TTL, "")
    stored_at = _finite(meta.get(_META_STORED_AT, ""), _META_STORED_AT)
    created_text = meta.get(_META_CREATED_AT)
    accessed_text = meta.get(_META_ACCESSED_AT, "none")
    return HeadMeta(
        body_id=body_id,
        stored_at=stored_at,
        entry_ttl=None if ttl_text == "none" else _finite(ttl_text, _META_TTL),
        created_at=stored_at if created_text is None else _finite(created_text, _META_CREATED_AT),
        accessed_at=None if accessed_text == "none" else _finite(accessed_text, _META_ACCESSED_AT),
    )


def decode_head(
    serializer: Serializer,
    data: bytes,
    metadata: Mapping[str, str] | None,
    *,
    key_hash: str,
    variant_hash: str,
) -> tuple[Entry, HeadMeta]:
    """Decode a head object stored under ``key_hash``/``variant_hash``.

    Raises:
        SerializationError: The record is corrupt, foreign, or not where it belongs.
    """
    meta = parse_head_metadata(metadata)
    entry = serializer.loads(data)
    if digest(entry.key) != key_hash or digest(entry.variant) != variant_hash:
        raise SerializationError("record is stored under another key or variant")
    return entry, meta


def same_entry(stored: Entry, wanted: Entry) -> bool:
    """Tell whether a stored head still describes ``wanted`` (hit bookkeeping aside)."""
    return replace(stored, hits=0, accessed_at=None) == replace(wanted, hits=0, accessed_at=None)


# -- listings --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object of a listing page."""

    name: str
    size: int
    last_modified: datetime.datetime | None


def object_info(item: Mapping[str, Any]) -> ObjectInfo:
    """Return the :class:`ObjectInfo` of one ``Contents`` item of ``list_objects_v2``."""
    modified = item.get("LastModified")
    return ObjectInfo(
        name=str(item["Key"]),
        size=int(item.get("Size", 0)),
        last_modified=modified if isinstance(modified, datetime.datetime) else None,
    )


@dataclass(slots=True)
class VariantGroup:
    """The objects of one stored variant: its head (if any) and every body object."""

    group: str  # the names' common part, ending in "<sha256(variant)>."
    key_hash: str
    variant_hash: str
    head: ObjectInfo | None = None
    bodies: dict[str, ObjectInfo] = field(default_factory=dict)

    @property
    def head_name(self) -> str:
        return self.group + "head"

    def names(self) -> list[str]:
        """Return every object name, the head first (it disappears before its body)."""
        heads = [] if self.head is None else [self.head.name]
        return heads + [info.name for info in self.bodies.values()]

    @property
    def size(self) -> int:
        return sum(info.size for info in self.bodies.values()) + (
            0 if self.head is None else self.head.size
        )


class VariantGrouper:
    """Group a sorted listing, page after page, into :class:`VariantGroup` values.

    ``prefix`` is the storage's key prefix; names under it that do not follow the layout
    (foreign objects) are ignored.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._current: VariantGroup | None = None

    def add(self, info: ObjectInfo) -> VariantGroup | None:
        """Take the next object; return the group it completed, if any."""
        if not info.name.startswith(self._prefix):
            return None
        match = _NAME.fullmatch(info.name, len(self._prefix))
        if match is None:
            return None
        group = info.name[: match.end("variant") + 1]
        done: VariantGroup | None = None
        if self._current is None or self._current.group != group:
            done = self._current
            self._current = VariantGroup(group, match["key"], match["variant"])
        if match["body"] is None:
            self._current.head = info
        else:
            self._current.bodies[match["body"]] = info
        return done

    def finish(self) -> VariantGroup | None:
        """Return the last, still open group."""
        done, self._current = self._current, None
        return done


def _older_than_grace(info: ObjectInfo, wall_now: datetime.datetime) -> bool:
    if info.last_modified is None:
        return False
    return (wall_now - info.last_modified).total_seconds() > ORPHAN_GRACE


def prune_plan(
    group: VariantGroup, meta: HeadMeta | None, wall_now: datetime.datetime
) -> list[str]:
    """Return the debris of a live variant: bodies no head names and a head with no body.

    ``meta`` is the head's metadata (``None`` when there is no head). Only objects older
    than :data:`ORPHAN_GRACE` go, so a writer that has uploaded its body and is about to
    write its head is never disturbed.
    """
    referenced = None if meta is None else meta.body_id
    debris = [
        info.name
        for body_id, info in group.bodies.items()
        if body_id != referenced and _older_than_grace(info, wall_now)
    ]
    if (
        group.head is not None
        and referenced is not None
        and referenced not in group.bodies
        and _older_than_grace(group.head, wall_now)
    ):
        debris.insert(0, group.head.name)
    return debris
