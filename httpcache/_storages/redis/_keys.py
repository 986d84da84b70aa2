"""Key names and native expiry for the Redis storage (pure; shared by sync and async).

Layout, for a namespace whose escaped path is ``B``::

    B:#i:<sha256(key)>   hash: the variant index of one primary key (its fields,
                         heads and inline bodies included: ``_records``)
    B:#b:<body id>       list: one body larger than the inline limit, as chunks of at
                         most 1 MiB
    B:#l:<sha256(key)>   string: the token of the lease of one primary key, expiring
                         with the lease (``SET NX PX``)
    B:@<child>:...       the same layout for the child namespace ``<child>``

``B`` is the root namespace with :func:`escape` applied, followed by ``:@<escaped
child>`` for each :meth:`with_namespace` level. Escaping percent-encodes the Redis
glob characters and the two markers ``#`` and ``@`` (and ``%`` itself), so:

* ``B`` never contains a glob character: a SCAN pattern built from it matches literally;
* after ``B:`` only our own marker characters can follow, so the pattern
  ``B:[#@]*`` matches exactly this namespace's keys and its children's, never the
  keys of a sibling (``B:@left`` vs ``B:@leftover``: the ``:`` after the name
  decides) nor of another root namespace that happens to start with ``B:``
  (its next character would be an escaped one, never ``#`` or ``@``).

Native expiry: an entry's Redis keys expire :func:`native_ttl_ms` after the
write, which is the storage lifetime left (DESIGN §3, ``_expiry``) plus a grace
period. The storage itself hides an entry at its deadline on every read; Redis
only collects the keys later.
"""

from __future__ import annotations

import hashlib
import math

from ..._models import Entry
from .._expiry import Lifetime, expires_at

__all__ = [
    "BODY_CHUNK",
    "body_key",
    "body_prefix",
    "body_prefix_of_index",
    "chunk_layout",
    "child_base",
    "escape",
    "index_belongs_to",
    "index_key",
    "is_index_key",
    "lease_key",
    "lease_ttl_ms",
    "native_ttl_ms",
    "root_base",
    "scope_pattern",
]

BODY_CHUNK = 1024 * 1024
"""Largest body chunk kept in one list item, in bytes."""

# Redis glob specials (``* ? [ ] \``), hash-tag braces, our two markers and the escape itself.
_ESCAPED = frozenset("%*?[]\\{}#@")

_INDEX = b":#i:"
_BODY = b":#b:"
_LEASE = b":#l:"


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def escape(name: str) -> str:
    """Return ``name`` with glob characters, markers and ``%`` percent-encoded."""
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in name)


def root_base(namespace: str) -> str:
    """Return the key base of a root namespace."""
    return escape(namespace)


def child_base(parent_base: str, name: str) -> str:
    """Return the key base of child namespace ``name`` under ``parent_base``."""
    return f"{parent_base}:@{escape(name)}"


def scope_pattern(base: str) -> bytes:
    """Return the SCAN pattern for every key of namespace ``base`` and of its children."""
    return _encode(base) + b":[#@]*"


def _digest(key: str) -> bytes:
    return hashlib.sha256(_encode(key)).hexdigest().encode("ascii")


def index_key(base: str, key: str) -> bytes:
    """Return the variant index (a hash) of primary key ``key``."""
    return _encode(base) + _INDEX + _digest(key)


def index_belongs_to(index: bytes, key: str) -> bool:
    """Tell whether ``index`` is the variant index of primary key ``key`` (in any namespace)."""
    return index.endswith(_INDEX + _digest(key))


def is_index_key(name: bytes) -> bool:
    """Tell whether a key found by SCAN is a variant index."""
    return _INDEX in name


def lease_key(base: str, key: str) -> bytes:
    """Return the string that holds the lease token of primary key ``key``."""
    return _encode(base) + _LEASE + _digest(key)


def lease_ttl_ms(ttl: float) -> int:
    """Return a lease's ``ttl`` (seconds) as the ``PX`` of its key: rounded up, at least 1 ms."""
    return max(1, math.ceil(ttl * 1000))


def body_prefix(base: str) -> bytes:
    """Return what every body key of namespace ``base`` starts with."""
    return _encode(base) + _BODY


def body_prefix_of_index(index: bytes) -> bytes:
    """Return the body key prefix of the namespace that holds variant index ``index``."""
    return index[: index.rindex(_INDEX)] + _BODY


def body_key(base: str, body_id: str) -> bytes:
    """Return the list that holds body ``body_id``."""
    return body_prefix(base) + body_id.encode("ascii")


def chunk_layout(size: int | None) -> tuple[int, int] | None:
    """Return how many chunks a listed body of ``size`` bytes has and the last one's length.

    ``None`` when the size is unknown. A writer fills every chunk but the last one.
    """
    if size is None or size <= 0:
        return None
    count = math.ceil(size / BODY_CHUNK)
    return count, size - (count - 1) * BODY_CHUNK


def native_ttl_ms(entry: Entry, lifetime: Lifetime, now: float, grace: float) -> int:
    """Return the Redis expiry for ``entry``'s keys in milliseconds, or -1 for none.

    The expiry is the storage lifetime left at ``now`` plus ``grace``, and at
    least one millisecond (Redis deletes a key given an expiry of zero or less).
    """
    deadline = expires_at(entry, lifetime)
    if deadline is None:
        return -1
    return max(1, math.ceil((deadline - now + grace) * 1000))
