"""Redis storage: heads in one hash per URL, bodies as lists of 1 MiB chunks.

The key layout and the expiry arithmetic live in ``httpcache._storages.redis._keys``; this
module only moves bytes. Every change that must be seen whole (committing an
entry, freshening it, removing variants) is one Lua script, so it is atomic on
the server: a reader sees the old entry or the new one, never a mix.

Invariants:

* Every key this storage writes starts with its namespace's base and a marker
  (``#`` for its own keys, ``@`` for a child namespace), so ``clear()`` can SCAN
  for exactly its own keys and its children's.
* A body is staged under a fresh, unique list key and becomes reachable only when
  the commit script writes its id into the variant index. The body of a committed
  entry is never changed afterwards; replacing or deleting an entry retires its
  old body (it expires a minute later), so a reader already streaming it finishes.
* A record that cannot be read (corrupt, foreign, or not where it belongs) is a
  miss: it is removed and a WARNING goes to the ``httpcache.storage`` logger.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..._exceptions import ConfigurationError, SerializationError, StorageError
from ..._models import Entry, StorageStats
from ..._serializers import JSONSerializer, Serializer
from .._expiry import Lifetime, StorageLifetime, is_expired
from ._keys import (
    BODY_CHUNK,
    BODY_FIELD,
    HEAD_FIELD,
    body_field,
    body_key,
    body_prefix,
    body_prefix_of_index,
    child_base,
    head_field,
    index_belongs_to,
    index_key,
    is_index_key,
    native_ttl_ms,
    root_base,
    scope_pattern,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["AsyncRedisStorage", "AsyncRedisWriter"]

logger = logging.getLogger("httpcache.storage")

_STAGING_TTL_MS = 3_600_000  # a writer that dies leaves its staged chunks for an hour at most
_RETIRED_BODY_MS = 60_000  # a replaced or deleted body stays readable this long
_SCAN_COUNT = 1000
_UNLINK_BATCH = 500

# Make a key's expiry at least `ttl` ms (or remove it when `ttl` < 0: never expire).
_LUA_EXTEND = """
local function extend(key, ttl)
  if ttl < 0 then
    redis.call('PERSIST', key)
    return
  end
  local left = redis.call('PTTL', key)
  if left >= 0 and left < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end
"""

# KEYS: index, staged body. ARGV: head field, body field, head, body id ('' = empty body),
# chunk count, expiry ms (-1 = none), body key prefix, retired body ms.
_LUA_COMMIT = (
    _LUA_EXTEND
    + """
local index, body = KEYS[1], KEYS[2]
local hfield, bfield, head, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, prefix, linger = tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
if id ~= '' and redis.call('LLEN', body) ~= tonumber(ARGV[5]) then
  return 0
end
local existed = redis.call('EXISTS', index)
local old = redis.call('HGET', index, bfield)
if old and old ~= '' and old ~= id then
  redis.call('PEXPIRE', prefix .. old, linger)
end
redis.call('HSET', index, hfield, head, bfield, id)
if id ~= '' then
  if ttl < 0 then redis.call('PERSIST', body) else redis.call('PEXPIRE', body, ttl) end
end
if existed == 0 then
  if ttl >= 0 then redis.call('PEXPIRE', index, ttl) end
else
  extend(index, ttl)
end
return 1
"""
)

# KEYS: index. ARGV: head field, body field, head, expiry ms (-1 = none), body key prefix.
_LUA_UPDATE = (
    _LUA_EXTEND
    + """
local index = KEYS[1]
local id = redis.call('HGET', index, ARGV[2])
if not id then
  return 0
end
local ttl = tonumber(ARGV[4])
redis.call('HSET', index, ARGV[1], ARGV[3])
if id ~= '' then
  local body = ARGV[5] .. id
  if ttl < 0 then redis.call('PERSIST', body) else redis.call('PEXPIRE', body, ttl) end
end
extend(index, ttl)
return 1
"""
)

# KEYS: index. ARGV: head field, expected head, new head, expiry ms ('' = leave it as it is,
# -1 = none), body field, body key prefix. Swaps the head only if it is still the one read.
_LUA_SWAP = (
    _LUA_EXTEND
    + """
local index = KEYS[1]
if redis.call('HGET', index, ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HSET', index, ARGV[1], ARGV[3])
if ARGV[4] ~= '' then
  local ttl = tonumber(ARGV[4])
  local id = redis.call('HGET', index, ARGV[5])
  if id and id ~= '' then
    local body = ARGV[6] .. id
    if ttl < 0 then redis.call('PERSIST', body) else redis.call('PEXPIRE', body, ttl) end
  end
  extend(index, ttl)
end
return 1
"""
)

# KEYS: index. ARGV: body key prefix, retired body ms, mode ('any' or 'match'), then per
# variant: head field, body field and, in 'match' mode, the head as read ('' if none).
# Removes those variants ('match': only if their head is still the one read).
_LUA_REMOVE = """
local index, prefix, linger, match = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3] == 'match'
local step = match and 3 or 2
local removed = 0
for i = 4, #ARGV, step do
  local head = redis.call('HGET', index, ARGV[i])
  local id = redis.call('HGET', index, ARGV[i + 1])
  if (head or id) and (not match or (head or '') == ARGV[i + 2]) then
    if id and id ~= '' then
      redis.call('PEXPIRE', prefix .. id, linger)
    end
    redis.call('HDEL', index, ARGV[i], ARGV[i + 1])
    removed = removed + 1
  end
end
return removed
"""

# KEYS: index. ARGV: body key prefix, retired body ms, body field prefix, head field prefix.
_LUA_DROP = """
local fields = redis.call('HGETALL', KEYS[1])
local n = #ARGV[3]
local removed = 0
for i = 1, #fields, 2 do
  local name = fields[i]
  if string.sub(name, 1, n) == ARGV[3] then
    if fields[i + 1] ~= '' then
      redis.call('PEXPIRE', ARGV[1] .. fields[i + 1], tonumber(ARGV[2]))
    end
  elseif string.sub(name, 1, #ARGV[4]) == ARGV[4] then
    removed = removed + 1
  end
end
redis.call('DEL', KEYS[1])
return removed
"""


@contextlib.contextmanager
def _translate(action: str) -> Generator[None, None, None]:
    """Re-raise the Redis client's errors as :class:`StorageError`."""
    from redis.exceptions import RedisError

    try:
        yield
    except RedisError as exc:
        raise StorageError(f"Redis failed while {action}: {exc}") from exc


@dataclass(slots=True)
class _Sifted:
    """One variant index, read: what is usable, what is past its lifetime, what must go."""

    live: list[Entry] = field(default_factory=list)
    expired: list[Entry] = field(default_factory=list)
    doomed: list[tuple[bytes, bytes]] = field(default_factory=list)  # (variant, head as read)
    removed: int = 0  # how many of the doomed were removed (not changed meanwhile)


def _sift(
    index: bytes,
    fields: Mapping[bytes | str, bytes | str],
    serializer: Serializer,
    lifetime: Lifetime,
    now: float,
) -> _Sifted:
    """Decode the heads of one variant index and sort them by what must happen to them."""
    sifted = _Sifted()
    heads: dict[bytes, bytes] = {}
    bodies: set[bytes] = set()
    for name, value in fields.items():
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            continue  # a client that decodes responses is refused at construction
        if name.startswith(HEAD_FIELD):
            heads[name[len(HEAD_FIELD) :]] = value
        elif name.startswith(BODY_FIELD):
            bodies.add(name[len(BODY_FIELD) :])
    for variant, record in heads.items():
        try:
            entry = serializer.loads(record)
            if variant not in bodies:
                raise SerializationError("the record has no body")
            if head_field(entry.variant) != head_field(variant) or not index_belongs_to(
                index, entry.key
            ):
                raise SerializationError("the record is stored under another key or variant")
        except SerializationError as exc:
            logger.warning("dropping an unreadable cache record from %r: %s", index, exc)
            sifted.doomed.append((variant, record))
            continue
        if is_expired(entry, lifetime, now):
            sifted.expired.append(entry)
            sifted.doomed.append((variant, record))
        else:
            sifted.live.append(entry)
    for variant in bodies - heads.keys():
        logger.warning("dropping a cache body without a record from %r", index)
        sifted.doomed.append((variant, b""))
    return sifted


class AsyncRedisStorage(StorageLifetime):
    """Keep entries in Redis, shared by every process that uses the same namespace.

    Each URL has one Redis hash indexing its variants (so a lookup is one
    ``HGETALL``); each body is a Redis list of chunks of at most 1 MiB, written
    and read one chunk at a time. An entry becomes visible atomically when its
    writer commits. Every key lives under ``namespace``; :meth:`clear` finds them
    with ``SCAN`` (never ``KEYS`` or ``FLUSHDB``) and touches nothing else.

    Args:
        client: A ``redis.asyncio.Redis`` client, created with the default
            ``decode_responses=False``. It is not closed by :meth:`aclose`. When
            omitted, the storage creates ``redis.asyncio.Redis()`` (localhost:6379,
            database 0) and closes it in :meth:`aclose`.
        serializer: How heads are stored; :class:`~httpcache.JSONSerializer` when omitted.
        ttl: Seconds an entry is kept after it was stored or last freshened, or
            ``None`` to keep it until Redis evicts it (see ``maxmemory-policy``).
        namespace: The prefix of every key this storage writes.
        grace: Seconds Redis keeps an entry's keys after its lifetime ends. The
            storage stops returning the entry at the end of its lifetime; the grace
            period absorbs clock differences between hosts and lets
            :meth:`delete_expired` and :meth:`stats` still see expired entries.
        clock: Source of the current time for ``ttl`` (injected in tests).

    Raises:
        ConfigurationError: ``redis`` is not installed, the client decodes
            responses, or an argument is out of range.
    """

    def __init__(
        self,
        *,
        client: Redis | None = None,
        serializer: Serializer | None = None,
        ttl: float | None = None,
        sliding: bool = False,
        max_lifetime: float | None = None,
        namespace: str = "httpcache",
        grace: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        lifetime = Lifetime(ttl, sliding, max_lifetime)
        if grace < 0:
            raise ConfigurationError("grace must not be negative")
        if not namespace:
            raise ConfigurationError("namespace must not be empty")
        try:
            from redis.asyncio import Redis as _Redis
        except ImportError as exc:
            raise ConfigurationError(
                "AsyncRedisStorage needs the redis package: pip install 'httpcache[redis]'"
            ) from exc
        if client is None:
            client = _Redis()
            self._owns_client = True
        else:
            pool = getattr(client, "connection_pool", None)
            if getattr(pool, "connection_kwargs", {}).get("decode_responses"):
                raise ConfigurationError(
                    "the Redis client must return bytes: create it with decode_responses=False"
                )
            self._owns_client = False
        self._client = client
        self._serializer: Serializer = serializer if serializer is not None else JSONSerializer()
        self._lifetime = lifetime
        self.grace = grace
        self._clock = clock
        self._namespace = namespace
        self._base = root_base(namespace)
        self._commit = client.register_script(_LUA_COMMIT)
        self._update = client.register_script(_LUA_UPDATE)
        self._swap = client.register_script(_LUA_SWAP)
        self._remove = client.register_script(_LUA_REMOVE)
        self._drop = client.register_script(_LUA_DROP)

    @property
    def namespace(self) -> str:
        """This storage's namespace: the root's name, then ``/child`` per level."""
        return self._namespace

    @property
    def key_prefix(self) -> str:
        """What every Redis key of this storage (and of its children) starts with."""
        return self._base + ":"

    def with_namespace(self, name: str) -> AsyncRedisStorage:
        """Return a child storage, sharing this one's client, whose keys live under ``name``.

        The child's :meth:`clear` removes only its own entries and its children's;
        this storage's :meth:`clear` reaches the child's too. Closing the child
        never closes the shared client.
        """
        if not name or "/" in name:
            raise ConfigurationError("a namespace name must be non-empty and contain no '/'")
        child = AsyncRedisStorage(
            client=self._client,
            serializer=self._serializer,
            ttl=self.ttl,
            sliding=self.sliding,
            max_lifetime=self.max_lifetime,
            namespace=self._namespace,
            grace=self.grace,
            clock=self._clock,
        )
        child._namespace = f"{self._namespace}/{name}"
        child._base = child_base(self._base, name)
        return child

    # -- helpers ------------------------------------------------------------

    def _ttl_ms(self, entry: Entry) -> int:
        return native_ttl_ms(entry, self._lifetime, self._clock(), self.grace)

    async def _read_index(self, index: bytes, now: float) -> _Sifted:
        """Read one variant index, removing what is expired or unreadable."""
        with _translate("reading entries"):
            fields = await self._client.hgetall(index)
            sifted = _sift(index, fields, self._serializer, self._lifetime, now)
            if sifted.doomed:
                prefix = body_prefix_of_index(index)
                args: list[bytes | int | str] = [prefix, _RETIRED_BODY_MS, "match"]
                for variant, record in sifted.doomed:
                    args += [head_field(variant), body_field(variant), record]
                sifted.removed = int(await self._remove(keys=[index], args=args))
        return sifted

    async def _indexes(self) -> AsyncIterator[bytes]:
        """Yield the variant indexes of this namespace and its children."""
        with _translate("listing entries"):
            async for name in self._client.scan_iter(
                match=scope_pattern(self._base), count=_SCAN_COUNT, _type="hash"
            ):
                if is_index_key(name):
                    yield name

    async def _chunks(self, key: bytes, count: int) -> AsyncIterator[bytes]:
        for position in range(count):
            with _translate("reading a body"):
                chunk = await self._client.lindex(key, position)
            if not isinstance(chunk, bytes):
                raise StorageError("the body was removed while it was being read")
            yield chunk

    # -- the storage contract ----------------------------------------------

    async def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key`` (one ``HGETALL``)."""
        sifted = await self._read_index(index_key(self._base, key), self._clock())
        return sifted.live

    async def open_writer(self, entry: Entry) -> AsyncRedisWriter:
        """Start storing ``entry``; it becomes visible when the writer commits."""
        return AsyncRedisWriter(self, entry)

    async def open_body(self, entry: Entry) -> AsyncIterator[bytes] | None:
        """Return the body of ``entry`` chunk by chunk, or ``None`` if it is gone."""
        with _translate("opening a body"):
            body_id = await self._client.hget(
                index_key(self._base, entry.key), body_field(entry.variant)
            )
            if not isinstance(body_id, bytes):
                return None
            if not body_id:
                return self._chunks(b"", 0)
            key = body_prefix(self._base) + body_id
            count = await self._client.llen(key)
        if count == 0:
            return None
        return self._chunks(key, count)

    async def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head and metadata, keeping its body; renew its expiry."""
        record = self._serializer.dumps(entry)
        with _translate("updating an entry"):
            await self._update(
                keys=[index_key(self._base, entry.key)],
                args=[
                    head_field(entry.variant),
                    body_field(entry.variant),
                    record,
                    self._ttl_ms(entry),
                    body_prefix(self._base),
                ],
            )

    async def record_hit(self, entry: Entry) -> None:
        """Count a hit and note when; with sliding expiry, push the keys' expiry back.

        Best effort: gives up after a few concurrent changes.
        """
        index = index_key(self._base, entry.key)
        name = head_field(entry.variant)
        prefix = body_prefix(self._base)
        with _translate("counting a hit"):
            for _ in range(3):
                record = await self._client.hget(index, name)
                if not isinstance(record, bytes):
                    return
                try:
                    current = self._serializer.loads(record)
                except SerializationError:
                    return  # the next read removes it
                touched = replace(current, hits=current.hits + 1, accessed_at=self._clock())
                updated = self._serializer.dumps(touched)
                expiry: int | str = self._ttl_ms(touched) if self.sliding else ""
                args = [name, record, updated, expiry, body_field(entry.variant), prefix]
                if await self._swap(keys=[index], args=args):
                    return

    async def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them."""
        index = index_key(self._base, key)
        prefix = body_prefix(self._base)
        with _translate("deleting entries"):
            if variants is None:
                await self._drop(
                    keys=[index], args=[prefix, _RETIRED_BODY_MS, BODY_FIELD, HEAD_FIELD]
                )
                return
            if not variants:
                return
            args: list[bytes | int | str] = [prefix, _RETIRED_BODY_MS, "any"]
            for variant in variants:
                args += [head_field(variant), body_field(variant)]
            await self._remove(keys=[index], args=args)

    async def aclose(self) -> None:
        """Close the client if this storage created it. Safe to call more than once.

        A closed storage that is used again reconnects; close it again afterwards.
        """
        if self._owns_client:
            await self._client.aclose()

    # -- management ---------------------------------------------------------

    async def iter_entries(self, pattern: str | None = None) -> AsyncIterator[Entry]:
        """Yield stored entries whose URL matches the glob ``pattern`` (all when None).

        Covers this namespace and its children; one ``SCAN`` over the database.
        """
        now = self._clock()
        async for index in self._indexes():
            for entry in (await self._read_index(index, now)).live:
                if pattern is None or fnmatch.fnmatchcase(entry.request.url, pattern):
                    yield entry

    async def delete_expired(self) -> int:
        """Remove entries past their storage lifetime (and unreadable ones); return how many."""
        now = self._clock()
        removed = 0
        async for index in self._indexes():
            removed += (await self._read_index(index, now)).removed
        return removed

    async def clear(self) -> None:
        """Remove every key of this namespace and its children (``SCAN`` + ``UNLINK``)."""
        batch: list[bytes] = []
        with _translate("clearing the namespace"):
            async for name in self._client.scan_iter(
                match=scope_pattern(self._base), count=_SCAN_COUNT
            ):
                batch.append(name)
                if len(batch) >= _UNLINK_BATCH:
                    await self._client.unlink(*batch)
                    batch = []
            if batch:
                await self._client.unlink(*batch)

    async def stats(self) -> StorageStats:
        """Count stored entries (``expired`` of them past their lifetime) and their bytes."""
        now = self._clock()
        entries = expired = size = 0
        async for index in self._indexes():
            with _translate("counting entries"):
                fields = await self._client.hgetall(index)
            sifted = _sift(index, fields, self._serializer, self._lifetime, now)
            for entry in (*sifted.live, *sifted.expired):
                size += entry.size or 0
            entries += len(sifted.live) + len(sifted.expired)
            expired += len(sifted.expired)
        return StorageStats(entries=entries, bytes=size, expired=expired)

    async def health(self) -> bool:
        """Tell whether Redis answers a ``PING``."""
        from redis.exceptions import RedisError

        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def __aenter__(self) -> AsyncRedisStorage:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncRedisStorage(namespace={self._namespace!r}, ttl={self.ttl!r})"


class AsyncRedisWriter:
    """Stages a body in Redis, 1 MiB per list item; nothing is visible until :meth:`commit`."""

    def __init__(self, storage: AsyncRedisStorage, entry: Entry) -> None:
        self._storage = storage
        self._entry = entry
        self._id = uuid.uuid4().hex
        self._key = body_key(storage._base, self._id)
        self._buffer = bytearray()
        self._chunks = 0
        self._size = 0
        self._staged = False
        self._done = False

    async def _push(self, *, final: bool) -> None:
        buffer = self._buffer
        cut = len(buffer) if final else len(buffer) - len(buffer) % BODY_CHUNK
        if cut == 0:
            return
        pieces = [bytes(buffer[start : start + BODY_CHUNK]) for start in range(0, cut, BODY_CHUNK)]
        del buffer[:cut]
        self._staged = True
        with _translate("storing a body"):
            async with self._storage._client.pipeline(transaction=True) as pipe:
                pipe.rpush(self._key, *pieces)
                pipe.pexpire(self._key, _STAGING_TTL_MS)
                await pipe.execute()
        self._chunks += len(pieces)

    async def _discard(self) -> None:
        """Delete the staged chunks (best effort: they expire on their own anyway)."""
        from redis.exceptions import RedisError

        self._buffer = bytearray()
        if self._staged:
            try:
                await self._storage._client.unlink(self._key)
            except RedisError as exc:
                logger.debug("could not delete a staged body (it expires by itself): %r", exc)

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``; every full 1 MiB goes to Redis at once."""
        if self._done:
            raise RuntimeError("writer already finished")
        self._buffer += chunk
        self._size += len(chunk)
        if len(self._buffer) >= BODY_CHUNK:
            await self._push(final=False)

    async def commit(self) -> Entry:
        """Make the entry visible in one atomic step, replacing the same variant."""
        if self._done:
            raise RuntimeError("writer already finished")
        self._done = True
        storage = self._storage
        entry = replace(self._entry, size=self._size)
        try:
            await self._push(final=True)
            with _translate("committing an entry"):
                committed = await storage._commit(
                    keys=[index_key(storage._base, entry.key), self._key],
                    args=[
                        head_field(entry.variant),
                        body_field(entry.variant),
                        storage._serializer.dumps(entry),
                        self._id if self._size else "",
                        self._chunks,
                        storage._ttl_ms(entry),
                        body_prefix(storage._base),
                        _RETIRED_BODY_MS,
                    ],
                )
        except Exception:
            await self._discard()
            raise
        if not committed:
            await self._discard()
            raise StorageError("the staged body vanished before commit (namespace cleared?)")
        return entry

    async def abort(self) -> None:
        """Discard the staged body; the entry never becomes visible."""
        if self._done:
            return
        self._done = True
        await self._discard()
