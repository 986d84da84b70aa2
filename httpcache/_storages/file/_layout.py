"""Where :class:`~httpcache.FileStorage` keeps things on disk (pure).

Everything here computes names and paths; nothing touches the file system or reads
the clock, so the sync and async storages share it unchanged. Paths are plain
strings (``os.path`` style), which is much cheaper on the hot path than ``Path``.
The layout::

    <base_path>/                      the root namespace
        .sweep                        clock reading of this namespace's last expiry sweep
        entries/<h[:2]>/              h = sha256(primary key): 256 shard directories
            <h>.head                  the key's record: every variant's head, small
                                      bodies inline (see _record)
            <h>.<token>.body          a large body, named by the record that owns it
            .<random>.tmp             a file being written (renamed into place when done)
        leases/<h>.lease              the lease of one key (cross-process collapsing):
                                      its token and wall-clock expiry (see _leases)
        ns/<name>/                    a child namespace, laid out the same way
        .trash-<random>/              a cleared tree being removed

Invariants:

* Key material never becomes a path component: keys are hashed. Namespace names
  are chosen by the program, not by the origin, and are restricted to a safe
  character set.
* A record names a large body by a random token, so a head can only ever be paired
  with the body written with it; a head whose body is gone is a miss, never a torn
  entry.
* Shard directories are created once, by the first store that needs one, and never
  removed by sweeps (256 per namespace at most): storing a new key in a used shard
  creates no directory. One level of 256 keeps directory creation (a journaled
  metadata write, hundreds of microseconds on some disks) out of almost every store,
  while no directory grows past what every modern file system indexes well.
* Directories left by the previous layout (one ``entries/<h[:2]>/<h>/`` directory per
  key) are recognised by :func:`is_legacy_dir`: never read, removed by sweeps.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..._exceptions import ConfigurationError
from ..._models import Entry

__all__ = [
    "BODY_SUFFIX",
    "CHILDREN_DIR",
    "CHUNK_SIZE",
    "DECODED_BYTES",
    "DECODED_RECORDS",
    "DEFAULT_BASE_PATH",
    "ENTRIES_DIR",
    "FileName",
    "INLINE_LIMIT",
    "LEASES_DIR",
    "LEASE_SUFFIX",
    "MAX_RECORD_BYTES",
    "RECORD_SUFFIX",
    "STALE_AFTER",
    "SWEEP_MARKER",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "TRASH_PREFIX",
    "UNREADABLE_LEASE_LAPSE",
    "body_name",
    "check_namespace",
    "decode_lease",
    "decode_marker",
    "digest",
    "encode_lease",
    "encode_marker",
    "is_legacy_dir",
    "is_namespace",
    "is_shard",
    "is_stale",
    "is_token",
    "lease_lapsed",
    "lease_name",
    "record_name",
    "shard_dir",
    "namespace_dir",
    "parse_name",
    "same_entry",
    "sweep_due",
]

DEFAULT_BASE_PATH = ".httpcache"
"""Where entries go when no ``base_path`` is given (relative to the working directory)."""

CHUNK_SIZE = 64 * 1024
"""Large bodies are read back in chunks of this many bytes."""

INLINE_LIMIT = 64 * 1024
"""Bodies of at most this many bytes live inline in the key's record (a hit is one read);
longer ones stream to a file of their own."""

MAX_RECORD_BYTES = 8 * 1024 * 1024
"""A record longer than this is not one of ours; a store that would grow a record past it
drops that key's oldest variants first."""

DECODED_RECORDS = 1024
DECODED_BYTES = 8 * 1024 * 1024
"""Bounds of a storage's memo of decoded records (count, and raw bytes held)."""

STALE_AFTER = 3600.0
"""Seconds (by file modification time) after which a leftover temporary file, or a body
no record names, is garbage: its writer crashed or lost a race."""

UNREADABLE_LEASE_LAPSE = 1.0
"""Seconds (by file modification time) after which a lease file that holds no readable lease
counts as lapsed: its holder crashed between creating it and writing it (microseconds)."""

ENTRIES_DIR = "entries"
CHILDREN_DIR = "ns"
LEASES_DIR = "leases"
LEASE_SUFFIX = ".lease"
SWEEP_MARKER = ".sweep"
TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
TRASH_PREFIX = ".trash-"
RECORD_SUFFIX = ".head"
BODY_SUFFIX = ".body"

_NAMESPACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX2 = re.compile(r"[0-9a-f]{2}\Z")
_TOKEN = re.compile(r"[0-9a-f]{32}\Z")


@dataclass(frozen=True, slots=True)
class FileName:
    """What a file name inside a key directory says it is."""

    kind: str  # "record", "body" or "temp"
    hashed: str = ""  # the key's digest, for records and bodies
    token: str = ""  # the body's token, for bodies


def check_namespace(name: str) -> str:
    """Return ``name`` if it can be a namespace directory, else raise ConfigurationError.

    Allowed: 1 to 128 ASCII letters, digits, ``_``, ``.`` and ``-``, not starting with
    ``.`` or ``-`` (so never ``..``, a hidden name, or an option-like name).
    """
    if not isinstance(name, str) or not _NAMESPACE.match(name):
        raise ConfigurationError(
            "a file storage namespace must be 1-128 characters from A-Z a-z 0-9 _ . -, "
            f"not starting with '.' or '-'; got {name!r}"
        )
    return name


def namespace_dir(base: str, parts: tuple[str, ...]) -> str:
    """Return the directory of the namespace ``parts`` (``()`` is the root) under ``base``."""
    path = base
    for part in parts:
        path = f"{path}/{CHILDREN_DIR}/{part}"
    return path


def digest(text: str) -> str:
    """Return the hex SHA-256 of ``text`` (any string, lone surrogates included)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def shard_dir(namespace: str, hashed: str) -> str:
    """Return the directory holding the files of the key whose :func:`digest` is ``hashed``."""
    return f"{namespace}/{ENTRIES_DIR}/{hashed[:2]}"


def record_name(hashed: str) -> str:
    """Return the file name of the record of the key whose digest is ``hashed``."""
    return hashed + RECORD_SUFFIX


def body_name(hashed: str, token: str) -> str:
    """Return the file name of the large body ``token`` of the key ``hashed``."""
    return f"{hashed}.{token}{BODY_SUFFIX}"


def is_token(text: object) -> bool:
    """Tell whether ``text`` is a body token (32 lowercase hex digits)."""
    return isinstance(text, str) and bool(_TOKEN.match(text))


def parse_name(name: str) -> FileName | None:
    """Classify a file name found in a shard directory (``None``: not one of ours)."""
    if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
        return FileName("temp")
    if name.endswith(RECORD_SUFFIX):
        hashed = name[: -len(RECORD_SUFFIX)]
        return FileName("record", hashed) if _HEX64.match(hashed) else None
    if name.endswith(BODY_SUFFIX):
        hashed, _, token = name[: -len(BODY_SUFFIX)].partition(".")
        if _HEX64.match(hashed) and _TOKEN.match(token):
            return FileName("body", hashed, token)
    return None


def is_shard(name: str) -> bool:
    """Tell whether ``name`` is a shard directory (two hex digits) under ``entries/``."""
    return bool(_HEX2.match(name))


def is_legacy_dir(name: str) -> bool:
    """Tell whether ``name`` inside a shard is a key directory of the 0.1 layout."""
    return bool(_HEX64.match(name))


def is_namespace(name: str) -> bool:
    """Tell whether ``name`` (under ``ns/``) is a child namespace directory."""
    return bool(_NAMESPACE.match(name))


def same_entry(stored: Entry, wanted: Entry) -> bool:
    """Tell whether ``stored`` is the same stored response as ``wanted`` (maybe updated since).

    A response keeps its ``created_at`` and body size through updates and hits; a new
    response stored under the same variant gets new ones.
    """
    if stored.created_at != wanted.created_at:
        return False
    return stored.size is None or wanted.size is None or stored.size == wanted.size


def encode_marker(now: float) -> bytes:
    """Return the content of the sweep marker for a sweep at ``now``."""
    return repr(float(now)).encode("ascii")


def decode_marker(data: bytes) -> float | None:
    """Return the clock reading in a sweep marker, or ``None`` if it holds none."""
    try:
        value = float(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if value == value else None  # NaN is no reading


def sweep_due(now: float, last: float | None, every: float) -> bool:
    """Tell whether a namespace last swept at ``last`` must be swept again at ``now``.

    A reading from the future (another clock) does not postpone the sweep forever.
    """
    return last is None or not (last <= now < last + every)


def is_stale(mtime: float, wall_now: float) -> bool:
    """Tell whether a temporary or unnamed file last modified at ``mtime`` is garbage."""
    return wall_now - mtime > STALE_AFTER


def lease_name(hashed: str) -> str:
    """Return the file name of the lease of the key whose digest is ``hashed``."""
    return hashed + LEASE_SUFFIX


def encode_lease(token: str, expires: float) -> bytes:
    """Return the content of a lease file: its token and wall-clock expiry."""
    return f"{token} {float(expires)!r}\n".encode("ascii")


def decode_lease(data: bytes) -> tuple[str, float] | None:
    """Return the token and expiry in a lease file, or ``None`` if it holds no lease."""
    try:
        token, _, expires = data.decode("ascii").rstrip("\n").partition(" ")
        value = float(expires)
    except (UnicodeDecodeError, ValueError):
        return None
    if not is_token(token) or value != value:  # NaN is no expiry
        return None
    return token, value


def lease_lapsed(lease: tuple[str, float] | None, mtime: float, wall_now: float) -> bool:
    """Tell whether a lease file has lapsed at ``wall_now``.

    ``lease`` is what :func:`decode_lease` read from it, ``mtime`` when it was last
    modified (only used when ``lease`` is ``None``). A readable lease lapses at its expiry.
    One that cannot be read is being written (a holder's first microseconds) or was left
    by a holder that crashed while writing it: it lapses :data:`UNREADABLE_LEASE_LAPSE`
    seconds after it was last modified.
    """
    if lease is None:
        return wall_now - mtime > UNREADABLE_LEASE_LAPSE
    return lease[1] <= wall_now
