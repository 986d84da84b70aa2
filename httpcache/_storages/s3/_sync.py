"""Amazon S3 (or any S3-compatible service) as a cache storage, via ``boto3``.

Written by hand beside :mod:`httpcache._storages.s3._async` (``aiobotocore``): the
two libraries do not line up closely enough for code generation (DESIGN §2). Every
name, metadata field and listing rule comes from :mod:`httpcache._storages.s3._common`,
so both halves store the same objects
and pass the same contract tests.
"""

from __future__ import annotations

import copy
import datetime
import fnmatch
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from ..._exceptions import ConfigurationError, SerializationError, StorageError
from ..._models import Entry, StorageStats
from ..._serializers import JSONSerializer, Serializer
from .._expiry import Lifetime, StorageLifetime, is_expired
from ._common import (
    DEFAULT_PREFIX,
    DELETE_BATCH,
    MEMO_SIZE,
    PAGE_SIZE,
    PART_SIZE,
    PRUNE_CONCURRENCY,
    READ_CHUNK,
    HeadMeta,
    ObjectInfo,
    VariantGroup,
    VariantGrouper,
    body_name,
    child_prefix,
    decode_head,
    digest,
    head_metadata,
    head_name,
    import_extra,
    is_not_found,
    key_dir,
    new_body_id,
    normalize_prefix,
    object_info,
    parse_head_metadata,
    prune_plan,
    same_entry,
    storage_errors,
)

__all__ = ["S3Storage", "S3Writer"]

logger = logging.getLogger("httpcache.storage")

_REQUIRED_MODULE = "boto3.session"


class _ClientHolder:
    """The S3 client a storage and all its namespaces share.

    With a user's client it just holds it. Otherwise it creates one on first use and
    closes it in :meth:`close`; a later use creates a fresh one.
    """

    def __init__(self, client: Any, endpoint_url: str | None) -> None:
        self.client: Any = client
        self.owned = client is None
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()

    def get(self) -> Any:
        client = self.client
        if client is not None:
            return client
        with self._lock:
            if self.client is None:
                boto3_session = import_extra(_REQUIRED_MODULE, "S3Storage")
                with storage_errors("creating the client"):
                    self.client = boto3_session.Session().client(
                        "s3", endpoint_url=self._endpoint_url
                    )
            return self.client

    def close(self) -> None:
        if not self.owned:
            return
        with self._lock:
            client, self.client = self.client, None
        if client is not None:
            client.close()


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        with storage_errors("reading a body"):
            yield from body.iter_chunks(READ_CHUNK)
    finally:
        body.close()


class S3Storage(StorageLifetime):
    """Keep entries in an S3 bucket, for the sync client (``boto3``).

    Each stored variant is two objects under ``key_prefix``: a head (the serialized
    :class:`Entry`, with its expiry in the object's metadata) and a raw body. Object
    names hold only SHA-256 hashes of the cache key and variant, never the URL. Bodies
    stream both ways: large ones are uploaded as a multipart upload fed by the
    response's chunks, in 8 MiB parts, and read back in chunks.

    Args:
        bucket_name: The bucket; it must exist.
        client: A ``boto3`` S3 client that you created yourself. You keep managing
            it: :meth:`close` never closes it. With ``None`` the storage creates its
            own client lazily, on first use (region and credentials come from the
            usual AWS configuration), and closes it in :meth:`close`.
        serializer: How heads are encoded; :class:`JSONSerializer` by default.
        ttl: Seconds an entry is kept after it was stored or last freshened.
        key_prefix: Where this storage's objects live in the bucket; ``/`` is
            appended when missing. Nothing outside it is ever touched.
        endpoint_url: An S3-compatible endpoint (MinIO, Ceph, moto, ...), for the
            client the storage creates. Not allowed together with ``client``.
        clock: Source of the current time for ``ttl``.

    Raises:
        ConfigurationError: An invalid argument, or ``boto3`` is not installed
            (``pip install 'httpcache[s3]'``).

    :meth:`with_namespace` makes a child under ``<key_prefix>ns/<name>/`` that shares
    the client; its ``clear()`` touches only its own objects and its children's.
    """

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
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(bucket_name, str) or not bucket_name:
            raise ConfigurationError("bucket_name must be a non-empty string")
        lifetime = Lifetime(ttl, sliding, max_lifetime)
        if client is not None and endpoint_url is not None:
            raise ConfigurationError(
                "endpoint_url applies only when the storage creates its client"
            )
        import_extra(_REQUIRED_MODULE, "S3Storage")
        self._bucket = bucket_name
        self._prefix = normalize_prefix(key_prefix)
        self._lifetime = lifetime
        self._serializer: Serializer = serializer if serializer is not None else JSONSerializer()
        self._clock = clock
        self._holder = _ClientHolder(client, endpoint_url)
        self._is_root = True
        self._namespace = ""
        self._page_size = PAGE_SIZE  # tests lower it to see listings span pages
        self._memo: OrderedDict[Entry, str] = OrderedDict()  # entry -> its body id
        self._memo_lock = threading.Lock()

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

    def with_namespace(self, name: str) -> S3Storage:
        """Return a child storage under ``<key_prefix>ns/<name>/`` sharing this client."""
        prefix = child_prefix(self._prefix, name)
        child = copy.copy(self)
        child._prefix = prefix
        child._namespace = f"{self._namespace}/{name}" if self._namespace else name
        child._is_root = False
        child._memo = OrderedDict()
        child._memo_lock = threading.Lock()
        return child

    # -- plumbing ---------------------------------------------------------------------

    def _client(self) -> Any:
        return self._holder.get()

    def _remember(self, entry: Entry, body_id: str) -> None:
        with self._memo_lock:
            self._memo[entry] = body_id
            self._memo.move_to_end(entry)
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)

    def _recall(self, entry: Entry) -> str | None:
        with self._memo_lock:
            return self._memo.get(entry)

    def _pages(self, prefix: str) -> Iterator[list[ObjectInfo]]:
        client = self._client()
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        while True:
            with storage_errors("listing objects"):
                page = client.list_objects_v2(MaxKeys=self._page_size, **kwargs)
            yield [object_info(item) for item in page.get("Contents", ())]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            kwargs["ContinuationToken"] = token

    def _groups(self, prefix: str) -> Iterator[list[VariantGroup]]:
        """Yield the variants stored under ``prefix``, a listing page at a time."""
        grouper = VariantGrouper(self._prefix)
        for page in self._pages(prefix):
            done = [group for info in page if (group := grouper.add(info)) is not None]
            if done:
                yield done
        last = grouper.finish()
        if last is not None:
            yield [last]

    def _delete(self, names: Sequence[str]) -> None:
        client = self._client()
        for start in range(0, len(names), DELETE_BATCH):
            batch = [{"Key": name} for name in names[start : start + DELETE_BATCH]]
            with storage_errors("deleting objects"):
                response = client.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True}
                )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    f"S3 could not delete {len(errors)} object(s): "
                    f"{first.get('Code')}: {first.get('Message')}"
                )

    def _delete_groups(self, groups: Sequence[VariantGroup]) -> None:
        """Delete whole variants: every head first, so none outlives its body."""
        self._delete([g.head.name for g in groups if g.head is not None])
        self._delete([info.name for g in groups for info in g.bodies.values()])

    def _head_meta(self, name: str) -> HeadMeta | None:
        """Return the metadata of head ``name``; ``None`` if it is gone or not ours."""
        client = self._client()
        with storage_errors("reading metadata"):
            try:
                response = client.head_object(Bucket=self._bucket, Key=name)
            except Exception as exc:
                if is_not_found(exc):
                    return None
                raise
        try:
            return parse_head_metadata(response.get("Metadata"))
        except SerializationError:
            return None

    def _fetch_head(self, name: str) -> tuple[bytes, dict[str, str]] | None:
        client = self._client()
        with storage_errors("reading a head"):
            try:
                response = client.get_object(Bucket=self._bucket, Key=name)
                body = response["Body"]
                try:
                    data: bytes = body.read()
                finally:
                    body.close()
            except Exception as exc:
                if is_not_found(exc):
                    return None
                raise
        return data, response.get("Metadata") or {}

    def _read_group(self, group: VariantGroup) -> tuple[Entry, HeadMeta] | None:
        """Read a listed variant; drop it (with a warning) if its record is unreadable."""
        if group.head is None:
            return None
        fetched = self._fetch_head(group.head_name)
        if fetched is None:
            return None
        try:
            entry, meta = decode_head(
                self._serializer,
                fetched[0],
                fetched[1],
                key_hash=group.key_hash,
                variant_hash=group.variant_hash,
            )
        except SerializationError as exc:
            logger.warning("dropping an unreadable cache record %s: %s", group.head_name, exc)
            self._delete_groups([group])
            return None
        if meta.body_id not in group.bodies:
            return None  # its body is gone, or was written after this listing
        return entry, meta

    def _current_body(self, entry: Entry) -> str | None:
        """Return the body id of the stored head of ``entry`` if it still describes it.

        An entry this storage has not just listed or written: reading the head (rather
        than only its metadata) makes sure a replaced entry is a miss, not a mix.
        """
        fetched = self._fetch_head(head_name(self._prefix, entry.key, entry.variant))
        if fetched is None:
            return None
        try:
            stored, meta = decode_head(
                self._serializer,
                fetched[0],
                fetched[1],
                key_hash=digest(entry.key),
                variant_hash=digest(entry.variant),
            )
        except SerializationError:
            return None
        return meta.body_id if same_entry(stored, entry) else None

    def _put_head(self, entry: Entry, body_id: str) -> None:
        client = self._client()
        with storage_errors("writing a head"):
            client.put_object(
                Bucket=self._bucket,
                Key=head_name(self._prefix, entry.key, entry.variant),
                Body=self._serializer.dumps(entry),
                Metadata=head_metadata(entry, self._lifetime, body_id),
                ContentType="application/octet-stream",
            )

    def _judge(self, group: VariantGroup, now: float) -> tuple[HeadMeta | None, bool]:
        """Return a variant's head metadata and whether the variant must go (expired/foreign)."""
        if group.head is None:
            return None, False
        client = self._client()
        with storage_errors("reading metadata"):
            try:
                response = client.head_object(Bucket=self._bucket, Key=group.head_name)
            except Exception as exc:
                if is_not_found(exc):
                    return None, False
                raise
        try:
            meta = parse_head_metadata(response.get("Metadata"))
        except SerializationError as exc:
            logger.warning("dropping an unreadable cache record %s: %s", group.head_name, exc)
            return None, True
        return meta, meta.is_expired(self._lifetime, now)

    # -- the storage contract ---------------------------------------------------------

    def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key`` (one listing, then one read each)."""
        now = self._clock()
        found: list[Entry] = []
        for groups in self._groups(key_dir(self._prefix, key)):
            for group in groups:
                loaded = self._read_group(group)
                if loaded is None:
                    continue
                entry, meta = loaded
                if is_expired(entry, self._lifetime, now):
                    self._delete_groups([group])
                    continue
                self._remember(entry, meta.body_id)
                found.append(entry)
        return found

    def open_writer(self, entry: Entry) -> S3Writer:
        """Start storing ``entry``; it becomes visible when the writer commits."""
        return S3Writer(self, entry)

    def open_body(self, entry: Entry) -> Iterator[bytes] | None:
        """Return the body of ``entry`` as chunks, or ``None`` if it is gone."""
        body_id = self._recall(entry)
        if body_id is None:
            body_id = self._current_body(entry)
            if body_id is None:
                return None
        client = self._client()
        with storage_errors("opening a body"):
            try:
                response = client.get_object(
                    Bucket=self._bucket,
                    Key=body_name(self._prefix, entry.key, entry.variant, body_id),
                )
            except Exception as exc:
                if is_not_found(exc):
                    return None
                raise
        return _chunks(response["Body"])

    def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head and metadata, keeping its body."""
        meta = self._head_meta(head_name(self._prefix, entry.key, entry.variant))
        if meta is None:
            return
        self._put_head(entry, meta.body_id)
        self._remember(entry, meta.body_id)

    def record_hit(self, entry: Entry) -> None:
        """Count one more use of ``entry`` and note when; sliding expiry renews from there.

        Read, increment, write: concurrent hits may be lost.
        """
        fetched = self._fetch_head(head_name(self._prefix, entry.key, entry.variant))
        if fetched is None:
            return
        try:
            current, meta = decode_head(
                self._serializer,
                fetched[0],
                fetched[1],
                key_hash=digest(entry.key),
                variant_hash=digest(entry.variant),
            )
        except SerializationError:
            return  # the next read drops it
        self._put_head(
            replace(current, hits=current.hits + 1, accessed_at=self._clock()), meta.body_id
        )

    def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them."""
        wanted = None if variants is None else {digest(variant) for variant in variants}
        doomed: list[VariantGroup] = []
        for groups in self._groups(key_dir(self._prefix, key)):
            doomed.extend(g for g in groups if wanted is None or g.variant_hash in wanted)
        self._delete_groups(doomed)

    def close(self) -> None:
        """Close the client if this storage created it (not a namespace's, not yours).

        Safe to call more than once. A storage used again after closing creates a
        new client.
        """
        if self._is_root:
            self._holder.close()

    # -- management -------------------------------------------------------------------

    def iter_entries(self, pattern: str | None = None) -> Iterator[Entry]:
        """Yield stored entries whose URL matches the glob ``pattern`` (all when None).

        Includes the entries of namespaces made with :meth:`with_namespace`.
        """
        now = self._clock()
        for groups in self._groups(self._prefix):
            for group in groups:
                loaded = self._read_group(group)
                if loaded is None or is_expired(loaded[0], self._lifetime, now):
                    continue
                if pattern is None or fnmatch.fnmatchcase(loaded[0].request.url, pattern):
                    yield loaded[0]

    def delete_expired(self) -> int:
        """Remove expired and unreadable entries, page after page; return how many.

        Expiry is read from each head's metadata, several heads at a time (in threads:
        ``boto3`` clients are thread-safe). Debris left by
        interrupted writers (bodies no head names, heads whose body is gone) is removed
        too once it is an hour old; it is not counted.
        """
        now = self._clock()
        wall = datetime.datetime.now(datetime.timezone.utc)
        removed = 0
        for groups in self._groups(self._prefix):
            with ThreadPoolExecutor(max_workers=PRUNE_CONCURRENCY) as pool:
                verdicts = list(pool.map(lambda group: self._judge(group, now), groups))
            doomed = [g for g, (_, gone) in zip(groups, verdicts, strict=True) if gone]
            debris = [
                name
                for g, (meta, gone) in zip(groups, verdicts, strict=True)
                if not gone
                for name in prune_plan(g, meta, wall)
            ]
            self._delete_groups(doomed)
            self._delete(debris)
            removed += len(doomed)
        return removed

    def clear(self) -> None:
        """Remove every entry of this storage and its namespaces (nothing else)."""
        for groups in self._groups(self._prefix):
            self._delete_groups(groups)
        with self._memo_lock:
            self._memo.clear()

    def stats(self) -> StorageStats:
        """Return the number of entries and the bytes their objects take (heads and bodies)."""
        entries = size = 0
        for groups in self._groups(self._prefix):
            for group in groups:
                entries += group.head is not None
                size += group.size
        return StorageStats(entries=entries, bytes=size)

    def health(self) -> bool:
        """Tell whether the bucket is reachable (``HeadBucket`` succeeds)."""
        try:
            client = self._client()
            client.head_bucket(Bucket=self._bucket)
        except Exception as exc:
            logger.debug("S3 health check of bucket %r failed: %r", self._bucket, exc)
            return False
        return True

    def __enter__(self) -> S3Storage:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"S3Storage(bucket_name={self._bucket!r}, key_prefix={self._prefix!r})"


class S3Writer:
    """Uploads one body as it arrives; the entry becomes visible on :meth:`commit`.

    A body smaller than one part is sent with a single ``PutObject`` at commit. A larger
    one goes up as a multipart upload, one 8 MiB part at a time, so at most about one part
    is held in memory. The head is written last: until then nothing is visible.
    """

    def __init__(self, storage: S3Storage, entry: Entry) -> None:
        self._storage = storage
        self._entry = entry
        self._body_id = new_body_id()
        self._body_name = body_name(storage._prefix, entry.key, entry.variant, self._body_id)
        self._buffer = bytearray()
        self._size = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._uploaded = False  # a body object exists (and must go if we abort)
        self._done = False

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; upload a part whenever a whole one is buffered."""
        if self._done:
            raise RuntimeError("writer already finished")
        self._buffer += chunk
        self._size += len(chunk)
        while len(self._buffer) >= PART_SIZE:
            with memoryview(self._buffer) as view:
                part = bytes(view[:PART_SIZE])
            del self._buffer[:PART_SIZE]
            self._upload_part(part)

    def _upload_part(self, data: bytes) -> None:
        client = self._storage._client()
        bucket = self._storage._bucket
        with storage_errors("uploading a body part"):
            if self._upload_id is None:
                response = client.create_multipart_upload(
                    Bucket=bucket, Key=self._body_name, ContentType="application/octet-stream"
                )
                self._upload_id = str(response["UploadId"])
            number = len(self._parts) + 1
            response = client.upload_part(
                Bucket=bucket,
                Key=self._body_name,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=data,
            )
            self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    def _upload_body(self) -> None:
        client = self._storage._client()
        bucket = self._storage._bucket
        if self._upload_id is None:
            with storage_errors("uploading a body"):
                client.put_object(
                    Bucket=bucket,
                    Key=self._body_name,
                    Body=bytes(self._buffer),
                    ContentType="application/octet-stream",
                )
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            with storage_errors("completing a body upload"):
                client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=self._body_name,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        self._upload_id = None
        self._uploaded = True
        self._buffer = bytearray()

    def commit(self) -> Entry:
        """Finish the body, then write the head: the entry is visible from that moment."""
        if self._done:
            raise RuntimeError("writer already finished")
        self._done = True
        storage = self._storage
        entry = replace(self._entry, size=self._size)
        try:
            self._upload_body()
            previous = storage._head_meta(head_name(storage._prefix, entry.key, entry.variant))
            storage._put_head(entry, self._body_id)
        except BaseException:
            self._cleanup()
            raise
        self._uploaded = False  # committed: the body now belongs to the head
        storage._remember(entry, self._body_id)
        if previous is not None and previous.body_id != self._body_id:
            replaced = body_name(storage._prefix, entry.key, entry.variant, previous.body_id)
            try:
                storage._delete([replaced])
            except StorageError as exc:  # debris: delete_expired removes it later
                logger.warning("could not remove a replaced body: %s", exc)
        return entry

    def abort(self) -> None:
        """Abort the multipart upload and delete any body object; nothing becomes visible."""
        self._done = True
        self._buffer = bytearray()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._upload_id is None and not self._uploaded:
            return
        bucket = self._storage._bucket
        try:
            client = self._storage._client()
            if self._upload_id is not None:
                upload_id, self._upload_id = self._upload_id, None
                client.abort_multipart_upload(
                    Bucket=bucket, Key=self._body_name, UploadId=upload_id
                )
            if self._uploaded:
                self._uploaded = False
                client.delete_object(Bucket=bucket, Key=self._body_name)
        except Exception as exc:  # best effort: debris is pruned by delete_expired
            logger.warning("could not clean up an aborted body upload: %r", exc)
