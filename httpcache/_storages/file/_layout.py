"""Where :class:`~httpcache.FileStorage` keeps things on disk, and in what format (pure).

Everything here computes names, paths and bytes; nothing touches the file system or
reads the clock, so the sync and async storages share it unchanged. The layout::

    <base_path>/                      the root namespace
        .sweep                        clock reading of this namespace's last expiry sweep
        entries/<h[:2]>/<h>/          h = sha256(primary key): one directory per key
            <v>.head                  v = sha256(variant): token line + serialized Entry
            <v>.<token>.body          the raw body that head names (never rewritten)
            .<random>.tmp             a file being written (renamed into place when done)
        ns/<name>/                    a child namespace, laid out the same way
        .trash-<random>/              a cleared tree being removed

Invariants:

* Key material never becomes a path component: keys and variants are hashed.
  Namespace names are chosen by the program, not by the origin, and are restricted
  to a safe character set.
* A head names its body by a random token, so a head can only ever be paired with
  the body written with it; a head whose body is gone is a miss, never a torn entry.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..._exceptions import ConfigurationError, SerializationError
from ..._models import Entry

__all__ = [
    "BODY_SUFFIX",
    "CHILDREN_DIR",
    "CHUNK_SIZE",
    "DEFAULT_BASE_PATH",
    "ENTRIES_DIR",
    "FileName",
    "HEAD_SUFFIX",
    "MAX_HEAD_BYTES",
    "STALE_AFTER",
    "SWEEP_MARKER",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "TRASH_PREFIX",
    "belongs",
    "body_name",
    "check_namespace",
    "decode_head",
    "decode_marker",
    "digest",
    "encode_head",
    "encode_marker",
    "head_name",
    "is_key_dir",
    "is_namespace",
    "is_shard",
    "is_stale",
    "key_dir",
    "namespace_dir",
    "parse_name",
    "same_entry",
    "sweep_due",
    "variant_stem",
]

DEFAULT_BASE_PATH = ".httpcache"
"""Where entries go when no ``base_path`` is given (relative to the working directory)."""

CHUNK_SIZE = 64 * 1024
"""Bodies are read back in chunks of this many bytes."""

MAX_HEAD_BYTES = 1024 * 1024
"""A head file longer than this is not a record of ours (headers are far smaller)."""

STALE_AFTER = 3600.0
"""Seconds (by file modification time) after which a leftover temporary file, or a body
no head names, is garbage: its writer crashed or lost a race."""

ENTRIES_DIR = "entries"
CHILDREN_DIR = "ns"
SWEEP_MARKER = ".sweep"
TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
TRASH_PREFIX = ".trash-"
HEAD_SUFFIX = ".head"
BODY_SUFFIX = ".body"

_MAGIC = b"httpcache-file/1 "
_TOKEN_LENGTH = 32
_NAMESPACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX2 = re.compile(r"[0-9a-f]{2}\Z")
_TOKEN = re.compile(r"[0-9a-f]{32}\Z")


@dataclass(frozen=True, slots=True)
class FileName:
    """What a file name inside a key directory says it is."""

    kind: str  # "head", "body" or "temp"
    stem: str = ""  # the variant's hash, for heads and bodies
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


def namespace_dir(base: Path, parts: tuple[str, ...]) -> Path:
    """Return the directory of the namespace ``parts`` (``()`` is the root) under ``base``."""
    path = base
    for part in parts:
        path = path / CHILDREN_DIR / part
    return path


def digest(text: str) -> str:
    """Return the hex SHA-256 of ``text`` (any string, lone surrogates included)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def key_dir(namespace: Path, key: str) -> Path:
    """Return the directory that holds every variant of primary key ``key``."""
    hashed = digest(key)
    return namespace / ENTRIES_DIR / hashed[:2] / hashed


def variant_stem(variant: str) -> str:
    """Return the file stem of ``variant`` inside its key directory."""
    return digest(variant)


def head_name(stem: str) -> str:
    """Return the name of the head file of the variant with ``stem``."""
    return stem + HEAD_SUFFIX


def body_name(stem: str, token: str) -> str:
    """Return the name of the body file ``token`` of the variant with ``stem``."""
    return f"{stem}.{token}{BODY_SUFFIX}"


def parse_name(name: str) -> FileName | None:
    """Classify a file name found in a key directory (``None``: not one of ours)."""
    if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
        return FileName("temp")
    if name.endswith(HEAD_SUFFIX):
        stem = name[: -len(HEAD_SUFFIX)]
        return FileName("head", stem) if _HEX64.match(stem) else None
    if name.endswith(BODY_SUFFIX):
        stem, _, token = name[: -len(BODY_SUFFIX)].partition(".")
        if _HEX64.match(stem) and _TOKEN.match(token):
            return FileName("body", stem, token)
    return None


def is_shard(name: str) -> bool:
    """Tell whether ``name`` is a shard directory (two hex digits) under ``entries/``."""
    return bool(_HEX2.match(name))


def is_key_dir(name: str) -> bool:
    """Tell whether ``name`` is a key directory (a SHA-256 in hex) inside a shard."""
    return bool(_HEX64.match(name))


def is_namespace(name: str) -> bool:
    """Tell whether ``name`` (under ``ns/``) is a child namespace directory."""
    return bool(_NAMESPACE.match(name))


def encode_head(token: str, record: bytes) -> bytes:
    """Return the head file's content: a line naming the body, then the serialized entry."""
    if not _TOKEN.match(token):
        raise ValueError("a body token is 32 lowercase hex digits")
    return _MAGIC + token.encode("ascii") + b"\n" + record


def decode_head(data: bytes) -> tuple[str, bytes]:
    """Return ``(token, record)`` from a head file; raise SerializationError if foreign."""
    if len(data) > MAX_HEAD_BYTES:
        raise SerializationError("head file too large to be an httpcache record")
    start = len(_MAGIC)
    end = start + _TOKEN_LENGTH
    if not data.startswith(_MAGIC) or data[end : end + 1] != b"\n":
        raise SerializationError("not an httpcache file-storage head")
    token = data[start:end].decode("ascii", "replace")
    if not _TOKEN.match(token):
        raise SerializationError("not an httpcache file-storage head")
    return token, data[end + 1 :]


def belongs(entry: Entry, head_path: Path) -> bool:
    """Tell whether ``entry`` is stored where its key and variant say it should be."""
    return head_path.parent.name == digest(entry.key) and head_path.name == head_name(
        variant_stem(entry.variant)
    )


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
