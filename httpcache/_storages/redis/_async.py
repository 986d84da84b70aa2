"""Redis storage: heads and small bodies in one hash per URL, large bodies in 1 MiB chunks.

The key layout and the expiry arithmetic live in ``_keys``, the fields of a variant
index and how to read them in ``_records``, the Lua scripts in ``_scripts``, and the
pending hits in a ``HitBuffer``; this module only moves bytes. Every change that must be
seen whole (committing an entry, freshening it, counting hits, removing variants) is
one Lua script, so it is atomic on the server: a reader sees the old entry or the
new one, never a mix.

What each operation costs (round trips to Redis):

* a lookup (and so a hit with a body of up to 64 KiB): one ``HGETALL``;
* storing a body of up to 64 KiB: one script call (the commit);
* storing a larger body: one ``RPUSH`` per full MiB, then the commit, which carries
  the last partial chunk;
* a 304 freshening: one script call;
* hits: none on the request path, then one script call per batch (``HitBuffer``);
* a lease (cross-process collapsing): one ``SET NX PX`` to take it, one script call to
  give it back; it lapses by Redis expiry.

Invariants:

* Every key this storage writes starts with its namespace's base and a marker
  (``#`` for its own keys, ``@`` for a child namespace), so ``clear()`` can SCAN
  for exactly its own keys and its children's.
* A large body is staged under a fresh, unique list key and becomes reachable only
  when the commit script writes its id into the variant index. The body of a
  committed entry is never changed afterwards; replacing or deleting an entry
  retires its old list (it expires a minute later), so a reader already streaming it
  finishes.
* Updates and hit write-backs apply only to the stored response they were meant for
  (its stamp: ``created_at`` and ``size``), never to a newer one stored since.
* A record that cannot be read (corrupt, foreign, from an older layout, or not where
  it belongs) is a miss: it is removed and a WARNING goes to the ``httpcache.storage``
  logger.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import secrets
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..._exceptions import ConfigurationError, StorageError
from ..._models import Entry, StorageStats
from ..._serializers import JSONSerializer, Serializer
from .._expiry import Lifetime, StorageLifetime
from .._hits import HitBuffer, PendingHit
from . import _scripts
from ._client import AsyncRedisClient, check_bytes
from ._client import translate as _translate
from ._keys import (
    BODY_CHUNK,
    body_key,
    body_prefix,
    body_prefix_of_index,
    child_base,
    chunk_layout,
    index_key,
    is_index_key,
    lease_key,
    lease_ttl_ms,
    native_ttl_ms,
    root_base,
    scope_pattern,
)
from ._records import (
    INLINE_LIMIT,
    Sifted,
    encode_variant,
    inline_value,
    ref_value,
    sift,
    stamp,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["AsyncRedisStorage", "AsyncRedisWriter"]

logger = logging.getLogger("httpcache.storage")

_STAGING_TTL_MS = 3_600_000  # a writer that dies leaves its staged chunks for an hour at most
_RETIRED_BODY_MS = 60_000  # a replaced or deleted body stays readable this long
_SCAN_COUNT = 1000
_UNLINK_BATCH = 500
_HITS_BATCH = 500  # stored responses per hit write-back script call
_DECODED_HEADS = 512  # decoded heads kept per storage, so a hot entry is not decoded per hit


async def _inline(body: bytes) -> AsyncIterator[bytes]:
    yield body


class AsyncRedisStorage(StorageLifetime):
    """Keep entries in Redis, shared by every process that uses the same namespace.

    Each URL has one Redis hash indexing its variants, with their heads and
    their bodies of up to 64 KiB, so a hit is one ``HGETALL``; a larger body is a
    Redis list of chunks of at most 1 MiB, written and read one chunk at a time.
    An entry becomes visible atomically when its writer commits (one script call
    for a small body). Hits are counted in memory and written back in one script
    call per batch, at most once a second (and on :meth:`aclose`). Every key lives
    under ``namespace``; :meth:`clear` finds them with ``SCAN`` (never ``KEYS`` or
    ``FLUSHDB``) and touches nothing else.

    Args:
        client: A ``redis.asyncio.Redis`` client, created with the default
            ``decode_responses=False`` (on the event loop that uses the storage). It is
            not closed by :meth:`aclose`. When omitted, the storage creates
            ``redis.asyncio.Redis()`` (localhost:6379, database 0) with cache-suited
            timeouts and retries (see ``docs/storages/redis.md``), one per event loop,
            and closes it in :meth:`aclose` (and as its loop ends).
        serializer: How heads are stored; :class:`~httpcache.JSONSerializer` when omitted.
        ttl: Seconds an entry is kept after it was stored or last freshened, or
            ``None`` to keep it until Redis evicts it (see ``maxmemory-policy``).
        sliding: Count ``ttl`` from an entry's last hit too (hit write-backs push the
            keys' expiry back).
        max_lifetime: Seconds an entry is kept at most after it was first stored.
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
            import redis.asyncio  # noqa: F401
        except ImportError as exc:
            raise ConfigurationError(
                "AsyncRedisStorage needs the redis package: pip install 'httpcache[redis]'"
            ) from exc
        if client is None:
            self._holder = AsyncRedisClient.made()
        else:
            check_bytes(client)
            self._holder = AsyncRedisClient(client)
        self._serializer: Serializer = serializer if serializer is not None else JSONSerializer()
        self._lifetime = lifetime
        self.grace = grace
        self._clock = clock
        self._namespace = namespace
        self._is_root = True
        self._base = root_base(namespace)
        # Heads are immutable bytes: decoding the same record again gives the same entry.
        self._loads = functools.lru_cache(maxsize=_DECODED_HEADS)(self._serializer.loads)
        self._hits = HitBuffer(lifetime)
        self._children: weakref.WeakSet[AsyncRedisStorage] = weakref.WeakSet()
        client = self._holder.current  # no loop yet: bind on first use
        # Scripts run on the current client (``client=``): registering only names them.
        self._commit = client.register_script(_scripts.COMMIT)
        self._update = client.register_script(_scripts.UPDATE)
        self._record = client.register_script(_scripts.HITS)
        self._remove = client.register_script(_scripts.REMOVE)
        self._drop = client.register_script(_scripts.DROP)
        self._open = client.register_script(_scripts.OPEN)
        self._forget_script = client.register_script(_scripts.FORGET)
        self._release = client.register_script(_scripts.RELEASE)

    @property
    def _client(self) -> Redis:
        """The client for the running event loop."""
        return self._holder.get()

    @property
    def _owns_client(self) -> bool:
        return self._holder.owned

    @_owns_client.setter
    def _owns_client(self, owned: bool) -> None:
        self._holder.owned = owned

    def _use_client_url(self, url: str) -> None:
        """Make this storage's clients from ``url`` (``async_storage_from_url``); own them."""
        holder = AsyncRedisClient.made(url)
        check_bytes(holder.current)
        self._holder = holder

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
        never closes the shared client; closing this storage writes back the
        child's pending hits too.
        """
        if not name or "/" in name:
            raise ConfigurationError("a namespace name must be non-empty and contain no '/'")
        child = AsyncRedisStorage(
            client=self._holder.current,
            serializer=self._serializer,
            ttl=self.ttl,
            sliding=self.sliding,
            max_lifetime=self.max_lifetime,
            namespace=self._namespace,
            grace=self.grace,
            clock=self._clock,
        )
        child._holder = self._holder  # one client (per loop) for the whole tree
        child._is_root = False
        child._namespace = f"{self._namespace}/{name}"
        child._base = child_base(self._base, name)
        self._children.add(child)
        return child

    # -- helpers ------------------------------------------------------------

    def _ttl_ms(self, entry: Entry) -> int:
        return native_ttl_ms(entry, self._lifetime, self._clock(), self.grace)

    def _sift(self, index: bytes, fields: Mapping[bytes | str, bytes | str], now: float) -> Sifted:
        sifted = sift(index, fields, self._loads, self._lifetime, now, self._hits.pending)
        for warning in sifted.warnings:
            logger.warning("dropping %s from %r", warning, index)
        return sifted

    async def _read_index(self, index: bytes, now: float) -> Sifted:
        """Read one variant index (one ``HGETALL``), removing what is expired or unreadable."""
        with _translate("reading entries"):
            sifted = self._sift(index, await self._client.hgetall(index), now)
            if sifted.doomed:
                prefix = body_prefix_of_index(index)
                args: list[bytes | int | str] = [prefix, _RETIRED_BODY_MS, "match"]
                for variant, record in sifted.doomed:
                    args += [variant, record]
                sifted.removed = int(
                    await self._remove(keys=[index], args=args, client=self._client)
                )
        return sifted

    async def _indexes(self) -> AsyncIterator[bytes]:
        """Yield the variant indexes of this namespace and its children."""
        with _translate("listing entries"):
            async for name in self._client.scan_iter(
                match=scope_pattern(self._base), count=_SCAN_COUNT, _type="hash"
            ):
                if is_index_key(name):
                    yield name

    async def _chunks(
        self, key: bytes, first: bytes, count: int, entry: Entry, body_id: bytes
    ) -> AsyncIterator[bytes]:
        yield first
        size = entry.size
        total = len(first)
        for position in range(1, count):
            with _translate("reading a body"):
                chunk = await self._client.lindex(key, position)
            if not isinstance(chunk, bytes):
                raise StorageError("the body was removed while it was being read")
            total += len(chunk)
            if size is not None and (
                total > size or (position < count - 1 and len(chunk) != BODY_CHUNK)
            ):  # a chunk cut short (or grown): never end the body short, nor let it stay
                await self._forget(entry, body_id)
                raise StorageError("the stored body does not have the recorded size")
            yield chunk
        if size is not None and total != size:
            raise StorageError("the stored body does not have the recorded size")

    def _body_args(self, entry: Entry, body_id: bytes) -> list[bytes | int | str]:
        """The arguments that name ``entry``'s variant and its body list to OPEN and FORGET."""
        ref = ref_value(body_id.decode("ascii"))
        return [encode_variant(entry.variant), ref, body_prefix(self._base), _RETIRED_BODY_MS]

    async def _forget(self, entry: Entry, body_id: bytes) -> None:
        """Remove ``entry``'s variant if it still names the broken body list ``body_id``."""
        logger.warning("dropping a cache entry whose body is incomplete: %r", body_id)
        with _translate("removing a broken entry"):
            index = index_key(self._base, entry.key)
            await self._forget_script(keys=[index], args=self._body_args(entry, body_id))

    async def _open_list(self, entry: Entry, body_id: bytes) -> AsyncIterator[bytes] | None:
        """Open a chunked body: its first chunk now, the rest as read.

        ``None`` when the list is gone or not whole (its chunk count, first or last
        chunk length disagree with the size): the variant naming it is then removed.
        """
        key = body_prefix(self._base) + body_id
        layout = chunk_layout(entry.size)
        args = self._body_args(entry, body_id)
        args += ["", "", ""] if layout is None else [layout[0], BODY_CHUNK, layout[1]]
        with _translate("opening a body"):
            first = await self._open(keys=[key, index_key(self._base, entry.key)], args=args)
            if not isinstance(first, bytes):
                logger.warning("dropped a cache entry whose body is missing or incomplete")
                return None
            count = int(await self._client.llen(key)) if layout is None else layout[0]
        return self._chunks(key, first, count, entry, body_id)

    async def _write_hits(self, batch: list[PendingHit]) -> None:
        """Write drained hits back: one script call per :data:`_HITS_BATCH` responses."""
        now = self._clock()
        for start in range(0, len(batch), _HITS_BATCH):
            keys: list[bytes] = []
            args: list[bytes | int | str] = [body_prefix(self._base)]
            for hit in batch[start : start + _HITS_BATCH]:
                expiry: int | str = ""
                if self.sliding:  # every write-back of a sliding entry pushes its expiry back
                    last = max(hit.accessed_at, hit.entry.accessed_at or 0.0)
                    touched = replace(hit.entry, accessed_at=last)
                    expiry = native_ttl_ms(touched, self._lifetime, now, self.grace)
                keys.append(index_key(self._base, hit.key))
                args += [
                    encode_variant(hit.variant),
                    stamp(hit.created_at, hit.size),
                    hit.count,
                    repr(hit.accessed_at),
                    expiry,
                ]
            with _translate("counting hits"):
                await self._record(keys=keys, args=args, client=self._client)

    async def _flush(self) -> None:
        """Write back every pending hit of this storage and of its children."""
        batch = self._hits.drain()
        if batch:
            await self._write_hits(batch)
        for child in list(self._children):
            await child._flush()

    # -- the storage contract ----------------------------------------------

    async def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key`` (one ``HGETALL``).

        Entries with a body of up to 64 KiB carry it (``Entry.body``); the others
        carry the id of their chunk list (``Entry.body_ref``) for :meth:`open_body`.
        """
        sifted = await self._read_index(index_key(self._base, key), self._clock())
        return sifted.live

    async def open_writer(self, entry: Entry) -> AsyncRedisWriter:
        """Start storing ``entry``; it becomes visible when the writer commits."""
        return AsyncRedisWriter(self, entry)

    async def open_body(self, entry: Entry) -> AsyncIterator[bytes] | None:
        """Return the body of ``entry`` chunk by chunk, or ``None`` if it is gone.

        An entry returned by :meth:`get_entries` or a writer's commit says where its
        body is; for any other, the variant index is read first, and a body stored
        for another response (a newer one under the same variant) is not returned.
        """
        if entry.body is not None:
            return _inline(entry.body)
        if entry.body_ref is not None:
            return await self._open_list(entry, entry.body_ref.encode("ascii"))
        variant = encode_variant(entry.variant)
        with _translate("opening a body"):
            value, current = await self._client.hmget(
                index_key(self._base, entry.key), [b"b:" + variant, b"m:" + variant]
            )
        if not isinstance(value, bytes) or current != stamp(entry.created_at, entry.size):
            return None
        if value[:1] == b"=":
            return _inline(value[1:])
        if value[:1] == b"#" and len(value) > 1:
            return await self._open_list(entry, value[1:])
        return None

    async def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head, keeping its body and hits; renew its expiry.

        Only the stored response ``entry`` describes (same ``created_at`` and
        ``size``) is changed: a newer one stored since is left alone.
        """
        record = self._serializer.dumps(entry)
        with _translate("updating an entry"):
            await self._update(
                keys=[index_key(self._base, entry.key)],
                args=[
                    encode_variant(entry.variant),
                    record,
                    stamp(entry.created_at, entry.size),
                    self._ttl_ms(entry),
                    body_prefix(self._base),
                ],
                client=self._client,
            )

    async def record_hit(self, entry: Entry) -> None:
        """Count a hit in memory; write the pending batch back once one is due.

        A batch is due once a second, and at once when a hit must renew a sliding
        lifetime; :meth:`aclose` writes back the rest. This storage's own reads
        include its pending hits; other processes see them after the write-back.
        """
        if self._hits.add(entry, self._clock()):
            await self._write_hits(self._hits.drain(self._clock()))

    async def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them."""
        index = index_key(self._base, key)
        prefix = body_prefix(self._base)
        self._hits.discard(key, None if variants is None else set(variants))
        with _translate("deleting entries"):
            if variants is None:
                await self._drop(keys=[index], args=[prefix, _RETIRED_BODY_MS], client=self._client)
                return
            if not variants:
                return
            args: list[bytes | int | str] = [prefix, _RETIRED_BODY_MS, "any"]
            args += [encode_variant(variant) for variant in variants]
            await self._remove(keys=[index], args=args, client=self._client)

    async def acquire_lease(self, key: str, ttl: float) -> str | None:
        """Take the lease of ``key`` for ``ttl`` seconds (one ``SET NX PX``); return its token.

        ``None`` when another holder has it. The lease is a key of this namespace, so
        it lapses by Redis expiry (``ttl`` rounded up to whole milliseconds, at least
        one) and :meth:`clear` drops it.
        """
        token = secrets.token_hex(16)
        with _translate("taking a lease"):
            taken = await self._client.set(
                lease_key(self._base, key), token, nx=True, px=lease_ttl_ms(ttl)
            )
        return token if taken else None

    async def release_lease(self, key: str, token: str) -> None:
        """Give the lease of ``key`` back if ``token`` still holds it (one script call)."""
        with _translate("giving a lease back"):
            await self._release(
                keys=[lease_key(self._base, key)], args=[token], client=self._client
            )

    async def aclose(self) -> None:
        """Write back pending hits, then close the client if this storage created it.

        Safe to call more than once. A failed write-back is logged, not raised: hits
        are bookkeeping. A closed storage that is used again reconnects; close it
        again afterwards.
        """
        try:
            await self._flush()
        except StorageError as exc:
            logger.warning("could not write back pending cache hits: %s", exc)
        if self._is_root:
            await self._holder.aclose()

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
        self._hits.clear()
        for child in list(self._children):
            child._hits.clear()
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
                sifted = self._sift(index, await self._client.hgetall(index), now)
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
    """Buffers a body of up to 64 KiB, or stages a larger one in Redis 1 MiB per list item.

    Nothing is visible until :meth:`commit`, which for a small body is the only round
    trip: one script call that writes head, body, stamp and expiry together.
    """

    def __init__(self, storage: AsyncRedisStorage, entry: Entry) -> None:
        self._storage = storage
        self._entry = entry
        self._id = ""  # the staging list, named once the body outgrows the inline limit
        self._key = b""
        self._buffer = bytearray()
        self._chunks = 0
        self._size = 0
        self._staged = False
        self._done = False

    async def _push(self) -> None:
        """Stage every full chunk of the buffer (one ``RPUSH`` per MiB, in practice)."""
        buffer = self._buffer
        cut = len(buffer) - len(buffer) % BODY_CHUNK
        pieces = [bytes(buffer[start : start + BODY_CHUNK]) for start in range(0, cut, BODY_CHUNK)]
        del buffer[:cut]
        self._name_list()
        self._staged = True
        with _translate("storing a body"):
            async with self._storage._client.pipeline(transaction=True) as pipe:
                pipe.rpush(self._key, *pieces)
                pipe.pexpire(self._key, _STAGING_TTL_MS)
                await pipe.execute()
        self._chunks += len(pieces)

    def _name_list(self) -> None:
        if not self._id:
            self._id = uuid.uuid4().hex
            self._key = body_key(self._storage._base, self._id)

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
        """Append ``chunk``; past 64 KiB, every full 1 MiB goes to Redis at once."""
        if self._done:
            raise RuntimeError("writer already finished")
        self._buffer += chunk
        self._size += len(chunk)
        if len(self._buffer) >= BODY_CHUNK:
            await self._push()

    async def commit(self) -> Entry:
        """Make the entry visible in one atomic step, replacing the same variant."""
        if self._done:
            raise RuntimeError("writer already finished")
        self._done = True
        storage = self._storage
        inline = self._size <= INLINE_LIMIT
        if not inline:
            self._name_list()
        body = bytes(self._buffer)
        entry = replace(
            self._entry,
            size=self._size,
            body=body if inline else None,
            body_ref=None if inline else self._id,
        )
        try:
            index = index_key(storage._base, entry.key)
            with _translate("committing an entry"):
                committed = await storage._commit(
                    keys=[index, self._key or index],  # an inline body stages no list
                    args=[
                        encode_variant(entry.variant),
                        storage._serializer.dumps(entry),
                        inline_value(body) if inline else ref_value(self._id),
                        self._chunks,
                        b"" if inline else body,
                        stamp(entry.created_at, entry.size),
                        entry.hits or "",
                        "" if entry.accessed_at is None else repr(entry.accessed_at),
                        storage._ttl_ms(entry),
                        body_prefix(storage._base),
                        _RETIRED_BODY_MS,
                    ],
                    client=storage._client,
                )
        except Exception:
            await self._discard()
            raise
        self._buffer = bytearray()
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
