"""Pure helpers shared by :class:`S3Storage` and :class:`AsyncS3Storage` (no I/O).

``boto3`` and ``aiobotocore`` do not line up closely enough for the sync half to be
generated from the async one (DESIGN §2), so the two storages are written by hand over
these helpers (object names, listing groups, error codes) and over the record framing
in :mod:`httpcache._storages.s3._record`.

Object layout under a storage's ``key_prefix`` (``P``)::

    P e/<sha256(key)>/record            the primary record: every variant of the key,
                                        heads and small bodies inline (``_record``)
    P e/<sha256(key)>/<id>.body         the raw body of one large variant, named by the
                                        fresh id of the write that made it (immutable)
    P ns/<name>/...                     a child namespace, same layout

Invariants:

* Key material never appears in an object name: keys are hashed, ids are random.
* One ``GetObject`` of the record finds every variant of a key; a hit on a small body
  needs nothing else. A large body is never overwritten: every write uploads it under a
  fresh id before the record naming it is written, so replacing the record is the commit
  point and a reader never sees a head with another write's body.
* The objects of one key are adjacent in a listing (S3 lists in UTF-8 binary order and
  they share the prefix ``e/<sha256(key)>/``), so a listing is grouped by key in one
  pass, page after page.
* Objects of the first layout (``<sha256(variant)>.head`` and ``.<id>.body``, format 1)
  sit in the same directories; they are never read, and ``delete_expired``/``clear``
  remove them as unreadable records.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..._exceptions import ConfigurationError, StorageError
from .._loops import WRONG_LOOP, is_loop_error

__all__ = [
    "CONFLICT_RETRIES",
    "CONNECT_TIMEOUT",
    "DEFAULT_PREFIX",
    "DELETE_BATCH",
    "HIT_FLUSH_INTERVAL",
    "INLINE_LIMIT",
    "MEMO_BYTES",
    "MEMO_SIZE",
    "ORPHAN_GRACE",
    "PAGE_SIZE",
    "PART_SIZE",
    "PRUNE_CONCURRENCY",
    "READ_CHUNK",
    "READ_TIMEOUT",
    "RETRIES",
    "KeyGroup",
    "KeyGrouper",
    "KeyPlace",
    "ObjectInfo",
    "body_name",
    "child_prefix",
    "client_config",
    "digest",
    "error_code",
    "import_extra",
    "is_conflict",
    "is_not_found",
    "is_unsupported",
    "key_dir",
    "new_id",
    "normalize_prefix",
    "object_info",
    "orphans",
    "record_name",
    "stale_bodies",
    "storage_errors",
    "written_before",
]

KiB = 1024
MiB = 1024 * KiB
DEFAULT_PREFIX = "httpcache/"
INLINE_LIMIT = 64 * KiB
"""Bodies up to this size are kept inside the record: a hit on them is one ``GetObject``."""
PART_SIZE = 8 * MiB
"""Multipart part size: S3's minimum is 5 MiB (except the last part); at most 10,000 parts."""
READ_CHUNK = 256 * KiB
"""Bytes per chunk when a large stored body is streamed back."""
PAGE_SIZE = 1000
"""Objects per ``list_objects_v2`` page (S3's maximum)."""
DELETE_BATCH = 1000
"""Keys per ``delete_objects`` call (S3's maximum)."""
PRUNE_CONCURRENCY = 8
"""Requests ``delete_expired``, ``stats`` and a hit write-back keep in flight."""
ORPHAN_GRACE = 3600.0
"""Seconds (server time) before a body no record names counts as debris."""
HIT_FLUSH_INTERVAL = 60.0
"""Default seconds between two write-backs of buffered hits (each is a PUT per key)."""
CONFLICT_RETRIES = 5
"""Read-modify-write attempts on a record before a write gives up (lost races)."""
MEMO_SIZE = 1024
"""Records a storage remembers (by key) so a store or 304 right after a read is one PUT."""
MEMO_BYTES = 8 * MiB
"""Bytes of remembered records at most (inline bodies included)."""
CONNECT_TIMEOUT = 0.5
"""Seconds a client the storage makes waits to connect."""
READ_TIMEOUT = 2.0
"""Seconds a client the storage makes waits for data on a socket (per read, not per body).

Longer than the connect timeout: S3 answers ``CompleteMultipartUpload`` and a large part's
upload only once it has put them together, which takes more than 0.5 s on a busy server
(seen with moto; a timed-out completion is retried against an upload that is gone). A
request never waits for it beyond ``CacheOptions.storage_timeout``: the guard stops waiting
(async: cancels) at that deadline."""
RETRIES = 1
"""Retries (after the first attempt) of a client the storage makes: botocore's standard
mode, which waits a random 0-1 s before its first retry and gives up on most errors."""

_HEX64 = "[0-9a-f]{64}"
_NAME = re.compile(  # an object name relative to a storage's prefix
    rf"(?:ns/[^/]+/)*e/(?P<key>{_HEX64})/"
    rf"(?:(?P<record>record)|(?P<body>[0-9a-f]{{32}})\.body"
    rf"|(?P<legacy>{_HEX64}\.(?:head|[0-9a-f]{{32}}\.body)))"
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


def client_config() -> Any:
    """Return the ``botocore`` ``Config`` of a client the storage makes (cache-suited).

    A cache call is better failed (the request goes to the network) than waited for:
    short timeouts and one retry instead of botocore's 60 s timeouts and legacy retries.
    """
    config = import_extra("botocore.config", "S3Storage")
    return config.Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"max_attempts": RETRIES, "mode": "standard"},
    )


def error_code(exc: BaseException) -> str:
    """Return the S3 error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def is_not_found(exc: BaseException) -> bool:
    """Tell whether a botocore ``ClientError`` means the object (or bucket) is missing."""
    return error_code(exc) in {"404", "NoSuchKey", "NotFound"}


def is_conflict(exc: BaseException) -> bool:
    """Tell whether a conditional write lost a race (the record changed since it was read).

    ``If-Match`` on a record that is gone answers ``NoSuchKey``: a conflict too.
    """
    return error_code(exc) in {
        "412",
        "PreconditionFailed",
        "409",
        "ConditionalRequestConflict",
        "NoSuchKey",
        "404",
    }


def is_unsupported(exc: BaseException) -> bool:
    """Tell whether a service refused a conditional request as not implemented."""
    return error_code(exc) in {"501", "NotImplemented"}


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Re-raise botocore's errors as :class:`StorageError` (the original is the cause)."""
    exceptions = importlib.import_module("botocore.exceptions")
    try:
        yield
    except (exceptions.BotoCoreError, exceptions.ClientError) as exc:
        if is_loop_error(exc):
            raise StorageError(f"S3 {what} failed: {WRONG_LOOP} ({exc})") from exc
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


def key_dir(prefix: str, key_hash: str) -> str:
    """Return the common prefix of every object of the key hashed to ``key_hash``."""
    return f"{prefix}e/{key_hash}/"


def record_name(prefix: str, key_hash: str) -> str:
    """Return the name of the primary record of the key hashed to ``key_hash``."""
    return f"{prefix}e/{key_hash}/record"


def body_name(prefix: str, key_hash: str, body_id: str) -> str:
    """Return the name of the large body written as ``body_id`` for a key."""
    return f"{prefix}e/{key_hash}/{body_id}.body"


def new_id() -> str:
    """Return a fresh id for one write (32 hex digits)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class KeyPlace:
    """Where the objects of one cache key live: a (namespace's) prefix and the key's digest."""

    prefix: str
    key_hash: str

    @property
    def record(self) -> str:
        """The name of the key's record."""
        return record_name(self.prefix, self.key_hash)

    def body(self, body_id: str) -> str:
        """The name of the large body written as ``body_id``."""
        return body_name(self.prefix, self.key_hash, body_id)


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
class KeyGroup:
    """The objects of one cache key: its record (if any), large bodies, and old-layout debris."""

    place: KeyPlace
    record: ObjectInfo | None = None
    bodies: dict[str, ObjectInfo] = field(default_factory=dict)
    legacy: list[ObjectInfo] = field(default_factory=list)

    @property
    def key_hash(self) -> str:
        return self.place.key_hash

    def names(self) -> list[str]:
        """Return every object name, the record first (it disappears before its bodies)."""
        first = [] if self.record is None else [self.record.name]
        return first + [i.name for i in self.legacy] + [i.name for i in self.bodies.values()]

    @property
    def size(self) -> int:
        """Bytes of the record and its bodies (old-layout objects left out)."""
        record = 0 if self.record is None else self.record.size
        return record + sum(info.size for info in self.bodies.values())

    @property
    def legacy_heads(self) -> int:
        """How many old-layout heads (unreadable entries) the group holds."""
        return sum(info.name.endswith(".head") for info in self.legacy)


class KeyGrouper:
    """Group a sorted listing, page after page, into :class:`KeyGroup` values.

    ``prefix`` is the storage's key prefix; names under it that do not follow the layout
    (foreign objects) are ignored.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._current: KeyGroup | None = None
        self._dir = ""

    def add(self, info: ObjectInfo) -> KeyGroup | None:
        """Take the next object; return the group it completed, if any."""
        if not info.name.startswith(self._prefix):
            return None
        match = _NAME.fullmatch(info.name, len(self._prefix))
        if match is None:
            return None
        directory = info.name[: match.end("key") + 1]
        done: KeyGroup | None = None
        if self._current is None or self._dir != directory:
            done = self._current
            place = KeyPlace(directory[: match.start("key") - 2], match["key"])
            self._current, self._dir = KeyGroup(place), directory
        if match["record"] is not None:
            self._current.record = info
        elif match["body"] is not None:
            self._current.bodies[match["body"]] = info
        else:
            self._current.legacy.append(info)
        return done

    def finish(self) -> KeyGroup | None:
        """Return the last, still open group."""
        done, self._current = self._current, None
        return done


def _older_than_grace(info: ObjectInfo, wall_now: datetime.datetime) -> bool:
    if info.last_modified is None:
        return False
    return (wall_now - info.last_modified).total_seconds() > ORPHAN_GRACE


def orphans(group: KeyGroup, referenced: frozenset[str], wall_now: datetime.datetime) -> list[str]:
    """Return the names of the group's bodies not in ``referenced`` and old enough to go.

    ``referenced`` is the body ids the key's record names (empty when it has none). Only
    objects older than :data:`ORPHAN_GRACE` go, so a writer that has uploaded its body and
    is about to write the record is never disturbed.
    """
    return [
        info.name
        for body_id, info in group.bodies.items()
        if body_id not in referenced and _older_than_grace(info, wall_now)
    ]


def written_before(group: KeyGroup, record: ObjectInfo) -> list[str]:
    """Return the group's bodies not newer than its ``record`` (a dead record's own bodies).

    A body written after the record belongs to a writer that has not committed yet.
    """
    if record.last_modified is None:
        return []
    return [
        info.name
        for info in group.bodies.values()
        if info.last_modified is not None and info.last_modified <= record.last_modified
    ]


def stale_bodies(group: KeyGroup, wall_now: datetime.datetime) -> bool:
    """Tell whether the group has bodies old enough that the record must be read to judge them."""
    return any(_older_than_grace(info, wall_now) for info in group.bodies.values())
