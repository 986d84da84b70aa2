"""Amazon S3 (or any S3-compatible service) as an async cache storage, via ``aiobotocore``.

Written by hand beside :mod:`httpcache._storages.s3._sync` (``boto3``): the two libraries
do not line up closely enough for code generation (DESIGN §2). Names and listings come
from :mod:`._common`, the record framing and every change to a record from
:mod:`._record`, the in-memory bookkeeping from :mod:`._memo`; both halves store the same
objects and pass the same contract tests.
"""

from __future__ import annotations

import copy
import datetime
import fnmatch
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import suppress
from functools import partial
from typing import Any

from ..._exceptions import ConfigurationError, SerializationError, StorageError
from ..._models import Entry, StorageStats
from ..._serializers import JSONSerializer, Serializer
from .._expiry import Lifetime, StorageLifetime, is_expired
from .._hits import HitBuffer, PendingHit
from ._async_io import REQUIRED_MODULE as _REQUIRED_MODULE
from ._async_io import AsyncClientHolder, Conflict, chunks, each, inline
from ._async_writer import AsyncS3Writer
from ._common import (
    CONFLICT_RETRIES,
    DEFAULT_PREFIX,
    DELETE_BATCH,
    HIT_FLUSH_INTERVAL,
    INLINE_LIMIT,
    PAGE_SIZE,
    KeyGroup,
    KeyGrouper,
    KeyPlace,
    ObjectInfo,
    child_prefix,
    digest,
    import_extra,
    is_conflict,
    is_not_found,
    is_unsupported,
    normalize_prefix,
    object_info,
    orphans,
    stale_bodies,
    storage_errors,
    written_before,
)
from ._memo import Known, RecordMemo
from ._record import (
    Record,
    RecordMeta,
    add_hits,
    decode_record,
    drop_body,
    drop_expired,
    drop_variants,
    dropped_bodies,
    encode_record,
    freshen,
    parse_record_metadata,
    record_metadata,
    slot_entry,
)

__all__ = ["AsyncS3Storage", "AsyncS3Writer"]

logger = logging.getLogger("httpcache.storage")

Change = Callable[[Record | None], Record | None]


class AsyncS3Storage(StorageLifetime):
    """Keep entries in an S3 bucket, for the async client (``aiobotocore``).

    All variants of one cache key live in one object, the key's record: each variant's
    serialized :class:`Entry` and, up to 64 KiB, its body. A hit on a small body is one
    ``GetObject``; a store is one ``PutObject``. Larger bodies go to their own objects,
    uploaded as they arrive (multipart in 8 MiB parts) and streamed back in chunks.
    Object names hold only SHA-256 hashes of the cache key, never the URL.

    Args:
        bucket_name: The bucket; it must exist.
        client: An ``aiobotocore`` S3 client that you created (and entered) yourself.
            You keep managing it: :meth:`aclose` never closes it. With ``None`` the
            storage creates its own client lazily, on first use (region and
            credentials come from the usual AWS configuration), and closes it in
            :meth:`aclose`.
        serializer: How heads are encoded; :class:`JSONSerializer` by default.
        ttl: Seconds an entry is kept after it was stored or last freshened.
        sliding: Count ``ttl`` from an entry's last hit too.
        max_lifetime: Seconds an entry is kept at most after it was first stored.
        key_prefix: Where this storage's objects live in the bucket; ``/`` is
            appended when missing. Nothing outside it is ever touched.
        endpoint_url: An S3-compatible endpoint (MinIO, Ceph, moto, ...), for the
            client the storage creates. Not allowed together with ``client``.
        hit_flush_interval: Seconds between two write-backs of hit counts (each one
            ``PutObject`` per key hit since the last). A sliding renewal is written at
            once; :meth:`aclose` writes what is pending.
        clock: Source of the current time for ``ttl``.

    Raises:
        ConfigurationError: An invalid argument, or ``aiobotocore`` is not installed
            (``pip install 'httpcache[s3]'``).

    :meth:`with_namespace` makes a child under ``<key_prefix>ns/<name>/`` that shares
    the client; its ``clear()`` touches only its own objects and its children's.
    """

    unbounded_calls: frozenset[str] = frozenset({"commit"})
    """Calls the storage deadline does not cut: committing a large body completes a
    multipart upload, which S3 answers only once it has put every part together (seconds
    for hundreds of MiB). The client's own timeouts bound it instead."""

    def __init__(
        self,
        *,
        bucket_name: str,
        client: object | None = None,
        serializer: Serializer | None = None,
        ttl: float | None = None,
        sliding: bool = False,
        max_lifetime: float | None = None,
        key_prefix: str = DEFAULT_PREFIX,
        endpoint_url: str | None = None,
        hit_flush_interval: float = HIT_FLUSH_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(bucket_name, str) or not bucket_name:
            raise ConfigurationError("bucket_name must be a non-empty string")
        lifetime = Lifetime(ttl, sliding, max_lifetime)
        if client is not None and endpoint_url is not None:
            raise ConfigurationError(
                "endpoint_url applies only when the storage creates its client"
            )
        if not isinstance(hit_flush_interval, int | float) or not hit_flush_interval >= 0:
            raise ConfigurationError("hit_flush_interval must be a number of seconds >= 0")
        import_extra(_REQUIRED_MODULE, "AsyncS3Storage")
        self._bucket = bucket_name
        self._prefix = normalize_prefix(key_prefix)
        self._lifetime = lifetime
        self._serializer: Serializer = serializer if serializer is not None else JSONSerializer()
        self._clock = clock
        self._holder = AsyncClientHolder(client, endpoint_url)
        self._is_root = True
        self._namespace = ""
        self._page_size = PAGE_SIZE  # tests lower it to see listings span pages
        self._inline_limit = INLINE_LIMIT  # bodies up to this size live in the record
        self._hit_interval = float(hit_flush_interval)
        self._hits = HitBuffer(lifetime, interval=self._hit_interval)
        self._memo = RecordMemo()

    @property
    def bucket_name(self) -> str:
        """The bucket entries are kept in."""
        return self._bucket

    @property
    def key_prefix(self) -> str:
        """The prefix of every object of this storage (and of its namespaces)."""
        return self._prefix

    @property
    def namespace(self) -> str:
        """This storage's namespace (``""`` for the root, ``"a/b"`` for nested ones)."""
        return self._namespace

    def with_namespace(self, name: str) -> AsyncS3Storage:
        """Return a child storage under ``<key_prefix>ns/<name>/`` sharing this client."""
        prefix = child_prefix(self._prefix, name)
        child = copy.copy(self)
        child._prefix = prefix
        child._namespace = f"{self._namespace}/{name}" if self._namespace else name
        child._is_root = False
        child._hits = HitBuffer(self._lifetime, interval=self._hit_interval)
        child._memo = RecordMemo()
        return child

    # -- plumbing ---------------------------------------------------------------------

    async def prepare(self) -> None:
        """Build the S3 client now (local work: loading botocore's service models).

        The transport calls this once, before its first storage call and outside the
        storage deadline, so that building the client is not mistaken for an outage.
        """
        await self._client()

    async def _client(self) -> Any:
        return await self._holder.get()

    def _place(self, key: str) -> KeyPlace:
        return KeyPlace(self._prefix, digest(key))

    async def _pages(self, prefix: str) -> AsyncIterator[list[ObjectInfo]]:
        client = await self._client()
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        while True:
            with storage_errors("listing objects"):
                page = await client.list_objects_v2(MaxKeys=self._page_size, **kwargs)
            yield [object_info(item) for item in page.get("Contents", ())]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            kwargs["ContinuationToken"] = token

    async def _groups(self, prefix: str) -> AsyncIterator[list[KeyGroup]]:
        """Yield the keys stored under ``prefix``, a listing page at a time."""
        grouper = KeyGrouper(self._prefix)
        async for page in self._pages(prefix):
            done = [group for info in page if (group := grouper.add(info)) is not None]
            if done:
                yield done
        last = grouper.finish()
        if last is not None:
            yield [last]

    async def _delete(self, names: Sequence[str]) -> None:
        client = await self._client()
        for start in range(0, len(names), DELETE_BATCH):
            batch = [{"Key": name} for name in names[start : start + DELETE_BATCH]]
            with storage_errors("deleting objects"):
                response = await client.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True}
                )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    f"S3 could not delete {len(errors)} object(s): "
                    f"{first.get('Code')}: {first.get('Message')}"
                )

    async def _delete_groups(self, groups: Sequence[KeyGroup]) -> None:
        """Delete whole keys: records (and old-layout objects) first, then bodies."""
        await self._delete([n for g in groups for n in g.names() if not n.endswith(".body")])
        await self._delete([n for g in groups for n in g.names() if n.endswith(".body")])

    async def _discard_bodies(self, place: KeyPlace, body_ids: Sequence[str]) -> None:
        """Delete large bodies no record names any more (debris if it fails)."""
        if not body_ids:
            return
        try:
            await self._delete([place.body(i) for i in body_ids])
        except StorageError as exc:  # debris: delete_expired removes it later
            logger.warning("could not remove a replaced body: %s", exc)

    def _conditions(self, etag: str | None) -> dict[str, str]:
        if not self._holder.conditional:
            return {}
        return {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}

    async def _conditional(self, what: str, call: Callable[..., Awaitable[Any]], **kw: Any) -> Any:
        """Make a conditional write; raise :class:`Conflict` when the condition fails."""
        with storage_errors(what):
            try:
                return await call(**kw)
            except Exception as exc:
                if is_conflict(exc) and ("IfMatch" in kw or "IfNoneMatch" in kw):
                    raise Conflict from exc
                if not is_unsupported(exc) or not self._holder.conditional:
                    raise
            logger.warning("S3 refuses conditional writes: concurrent writers may lose updates")
            self._holder.conditional = False
            kw.pop("IfMatch", None)
            kw.pop("IfNoneMatch", None)
            return await call(**kw)

    async def _read(self, place: KeyPlace) -> Known:
        """Read a key's record (and remember it); an unreadable one is logged and removed."""
        client = await self._client()
        name = place.record
        with storage_errors("reading a record"):
            try:
                response = await client.get_object(Bucket=self._bucket, Key=name)
                body = response["Body"]
                async with body:  # read through the body (see ``chunks``)
                    data: bytes = await body.read()
            except Exception as exc:
                if not is_not_found(exc):
                    raise
                self._memo.put(name, None, None)
                return None, None
        etag = str(response["ETag"])
        try:
            record = decode_record(data, place.key_hash)
        except SerializationError as exc:
            logger.warning("dropping an unreadable cache record %s: %s", name, exc)
            client = await self._client()
            with suppress(Conflict):  # rewritten since: no longer ours to judge
                await self._conditional(
                    "deleting a record",
                    client.delete_object,
                    Bucket=self._bucket,
                    Key=name,
                    **self._conditions(etag),
                )
            self._memo.forget(name)
            return None, None
        self._memo.put(name, etag, record)
        return etag, record

    async def _rewrite(self, place: KeyPlace, change: Change) -> Record | None:
        """Apply ``change`` to a key's record with a conditional write; return what it wrote.

        Starts from the remembered record when there is one (no read); a write that finds
        the record changed reads it again and retries. Returns ``None`` when ``change``
        had nothing to do.
        """
        client = await self._client()
        name = place.record
        known = self._memo.get(name)
        for _ in range(CONFLICT_RETRIES):
            etag, record = known if known is not None else await self._read(place)
            new = change(record)
            if new is None:
                return None
            try:
                if new.slots:
                    response = await self._conditional(
                        "writing a record",
                        client.put_object,
                        Bucket=self._bucket,
                        Key=name,
                        Body=encode_record(new),
                        Metadata=record_metadata(new, self._lifetime),
                        ContentType="application/octet-stream",
                        **self._conditions(etag),
                    )
                    self._memo.put(name, str(response["ETag"]), new)
                else:
                    await self._conditional(
                        "deleting a record",
                        client.delete_object,
                        Bucket=self._bucket,
                        Key=name,
                        **self._conditions(etag),
                    )
                    self._memo.put(name, None, None)
            except Conflict:
                self._memo.forget(name)
                known = None
                continue
            await self._discard_bodies(place, dropped_bodies(record, new))
            return new
        raise StorageError(
            f"S3 record {name} kept changing: gave up after {CONFLICT_RETRIES} tries"
        )

    def _entries(self, key_hash: str, record: Record, now: float) -> tuple[list[Entry], set[str]]:
        """Decode a record's unexpired entries; also return the variants that are unreadable."""
        found: list[Entry] = []
        bad: set[str] = set()
        for slot in record.slots:
            try:
                entry = slot_entry(self._serializer, key_hash, slot, self._hits.pending)
            except SerializationError as exc:
                logger.warning("dropping an unreadable cache entry of %s: %s", key_hash, exc)
                bad.add(slot.variant_hash)
                continue
            if not is_expired(entry, self._lifetime, now):
                found.append(entry)
        return found, bad

    async def _open(
        self, place: KeyPlace, body_id: str, size: int | None
    ) -> AsyncIterator[bytes] | None:
        """Open the large body ``body_id``; ``None`` if it is gone or not ``size`` bytes.

        Such a variant is dropped (a body is uploaded before a record names it).
        """
        client = await self._client()
        name = place.body(body_id)
        with storage_errors("opening a body"):
            try:
                response = await client.get_object(Bucket=self._bucket, Key=name)
            except Exception as exc:
                if not is_not_found(exc):
                    raise
                response = None
            else:
                length = response.get("ContentLength")
                if size is None or not isinstance(length, int) or length == size:
                    return chunks(response["Body"])
                async with response["Body"]:
                    pass
        logger.warning("dropping a cache entry whose body is missing or incomplete: %s", name)
        await self._rewrite(place, lambda record: drop_body(record, body_id))
        return None

    async def _record_meta(self, group: KeyGroup) -> tuple[str, RecordMeta | None] | None:
        """HEAD a listed record: its ETag and metadata (``None`` metadata: not ours)."""
        assert group.record is not None
        client = await self._client()
        with storage_errors("reading metadata"):
            try:
                response = await client.head_object(Bucket=self._bucket, Key=group.record.name)
            except Exception as exc:
                if is_not_found(exc):
                    return None
                raise
        etag = str(response["ETag"])
        try:
            return etag, parse_record_metadata(response.get("Metadata"))
        except SerializationError as exc:
            logger.warning("dropping an unreadable cache record %s: %s", group.record.name, exc)
            return etag, None

    async def _flush(self, batch: Sequence[PendingHit]) -> None:
        """Write buffered hits back: one conditional read-modify-write per key."""
        by_key: dict[str, list[PendingHit]] = {}
        for hit in batch:
            by_key.setdefault(hit.key, []).append(hit)

        async def write(key: str) -> None:
            hits = by_key[key]
            await self._rewrite(self._place(key), lambda record: add_hits(record, hits))

        await each(list(by_key), write)

    # -- the storage contract ---------------------------------------------------------

    async def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key``: one ``GetObject`` of its record."""
        now = self._clock()
        place = self._place(key)
        _, record = await self._read(place)
        if record is None:
            return []
        found, bad = self._entries(place.key_hash, record, now)
        if bad:
            await self._rewrite(place, lambda r: drop_variants(r, frozenset(bad)))
        return found

    async def open_writer(self, entry: Entry) -> AsyncS3Writer:
        """Start storing ``entry``; it becomes visible when the writer commits."""
        return AsyncS3Writer(self, entry)

    async def open_body(self, entry: Entry) -> AsyncIterator[bytes] | None:
        """Return the body of ``entry`` as chunks, or ``None`` if it is gone.

        A large body of an entry this storage returned is opened directly (its object is
        named by ``body_ref``); otherwise the record says where the body is, if the entry
        is still the stored one.
        """
        place = self._place(entry.key)
        if entry.body is None and entry.body_ref is not None:
            opened = await self._open(place, entry.body_ref, entry.size)
            if opened is not None:
                return opened
        _, record = await self._read(place)
        variant_hash = digest(entry.variant)
        for slot in () if record is None else record.slots:
            if slot.describes(entry, variant_hash):
                if slot.body is not None:
                    return inline(slot.body)
                return await self._open(place, slot.id, slot.size)
        return None

    async def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head (a 304), keeping its body: one conditional PUT."""
        head = self._serializer.dumps(entry)
        await self._rewrite(self._place(entry.key), lambda record: freshen(record, entry, head))

    async def record_hit(self, entry: Entry) -> None:
        """Count one more use of ``entry`` in memory; write hits back when a batch is due.

        A batch is due every ``hit_flush_interval`` seconds, or at once for a hit that
        renews a sliding lifetime. Counts are eventually consistent.
        """
        now = self._clock()
        if self._hits.add(entry, now):
            await self._flush(self._hits.drain(now))

    async def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them."""
        self._hits.discard(key, None if variants is None else set(variants))
        hashes = None if variants is None else frozenset(digest(v) for v in variants)
        await self._rewrite(self._place(key), lambda record: drop_variants(record, hashes))

    async def aclose(self) -> None:
        """Write back pending hits, then close the client if this storage created it.

        A namespace never closes the shared client, nor your client. Safe to call more
        than once. A storage used again after closing creates a new client.
        """
        pending = self._hits.drain()
        if pending:
            try:
                await self._flush(pending)
            except StorageError as exc:
                logger.warning("could not write back %d hit count(s): %s", len(pending), exc)
        if self._is_root:
            await self._holder.aclose()

    # -- management -------------------------------------------------------------------

    async def iter_entries(self, pattern: str | None = None) -> AsyncIterator[Entry]:
        """Yield stored entries whose URL matches the glob ``pattern`` (all when None).

        Includes the entries of namespaces made with :meth:`with_namespace`.
        """
        now = self._clock()
        async for groups in self._groups(self._prefix):
            for group in groups:
                if group.record is None:
                    continue
                _, record = await self._read(group.place)
                if record is None:
                    continue
                found, bad = self._entries(group.key_hash, record, now)
                if bad:
                    await self._rewrite(group.place, partial(drop_variants, hashes=frozenset(bad)))
                for entry in found:
                    if pattern is None or fnmatch.fnmatchcase(entry.request.url, pattern):
                        yield entry

    async def _drop_record(self, place: KeyPlace, etag: str) -> bool:
        """Delete a key's record if it is still the one with ``etag``; tell whether it went."""
        client = await self._client()
        try:
            await self._conditional(
                "deleting a record",
                client.delete_object,
                Bucket=self._bucket,
                Key=place.record,
                **self._conditions(etag),
            )
        except Conflict:
            return False
        self._memo.put(place.record, None, None)
        return True

    async def _prune(self, place: KeyPlace, now: float) -> int:
        """Rewrite a key's record without its expired variants; return how many went."""
        counted = [0]

        def change(record: Record | None) -> Record | None:
            new = drop_expired(record, self._lifetime, now)
            counted[0] = 0 if new is None or record is None else len(record.slots) - len(new.slots)
            return new

        await self._rewrite(place, change)
        return counted[0]

    async def _sweep(self, group: KeyGroup, now: float, wall: datetime.datetime) -> int:
        """Prune one listed key: expired variants, unreadable records, debris; return removed."""
        removed = group.legacy_heads  # objects of the first layout: unreadable now
        doomed = [info.name for info in group.legacy]
        referenced: frozenset[str] | None = frozenset()  # None: cannot tell orphans yet
        if group.record is not None:
            headed = await self._record_meta(group)
            if headed is not None and headed[1] is None:  # not ours: the key's objects go
                await self._delete_groups([group])
                return removed + 1
            referenced = None
            if headed is not None and headed[1] is not None:
                etag, meta, record = headed[0], headed[1], group.record
                expired = meta.expired(self._lifetime, now)
                if expired is not None and expired >= meta.entries:
                    if await self._drop_record(group.place, etag):
                        removed += meta.entries
                        doomed += written_before(group, record)
                else:
                    if expired is None or expired:
                        removed += await self._prune(group.place, now)
                    if stale_bodies(group, wall):
                        known = self._memo.get(group.place.record) or await self._read(group.place)
                        referenced = frozenset() if known[1] is None else known[1].body_ids()
        if referenced is not None:
            doomed += orphans(group, referenced, wall)
        await self._delete(doomed)
        return removed

    async def delete_expired(self) -> int:
        """Remove expired and unreadable entries, page after page; return how many.

        Expiry is read from each record's metadata (``HeadObject``, several at a
        time); only a record that is partly expired is read and rewritten.
        Bodies no record names (debris of interrupted writers) go too once an hour
        old; they are not counted.
        """
        now = self._clock()
        wall = datetime.datetime.now(datetime.timezone.utc)
        removed = 0
        async for groups in self._groups(self._prefix):
            removed += sum(await each(groups, lambda g: self._sweep(g, now, wall)))
        return removed

    async def clear(self) -> None:
        """Remove every entry of this storage and its namespaces (nothing else)."""
        async for groups in self._groups(self._prefix):
            await self._delete_groups(groups)
        self._memo.clear()
        self._hits.clear()

    async def stats(self) -> StorageStats:
        """Return the number of entries (from each record's metadata) and their bytes."""
        now = self._clock()
        entries = size = expired = 0
        async for groups in self._groups(self._prefix):
            listed = [g for g in groups if g.record is not None]
            for headed in await each(listed, self._record_meta):
                meta = None if headed is None else headed[1]
                entries += 1 if meta is None else meta.entries
                expired += 0 if meta is None else meta.expired(self._lifetime, now) or 0
            for group in groups:
                size += group.size
                entries += group.legacy_heads
        return StorageStats(entries=entries, bytes=size, expired=expired)

    async def health(self) -> bool:
        """Tell whether the bucket is reachable (``HeadBucket`` succeeds)."""
        try:
            client = await self._client()
            await client.head_bucket(Bucket=self._bucket)
        except Exception as exc:
            logger.debug("S3 health check of bucket %r failed: %r", self._bucket, exc)
            return False
        return True

    async def __aenter__(self) -> AsyncS3Storage:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncS3Storage(bucket_name={self._bucket!r}, key_prefix={self._prefix!r})"
