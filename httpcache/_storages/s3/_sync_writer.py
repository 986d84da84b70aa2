"""The writer of :class:`S3Storage`: one body in, one record write out (``boto3``).

Written by hand beside :mod:`httpcache._storages.s3._async_writer` (``aiobotocore``), like the
storage itself.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..._models import Entry
from ._common import PART_SIZE, new_id, storage_errors
from ._record import new_slot, put_slot

if TYPE_CHECKING:
    from ._sync import S3Storage

__all__ = ["S3Writer"]

logger = logging.getLogger("httpcache.storage")


class S3Writer:
    """Takes one body as it arrives; the entry becomes visible on :meth:`commit`.

    A body up to the storage's inline limit (64 KiB) is kept in memory and written inside the key's
    record at commit: one ``PutObject``. A larger one goes to its own object named by a
    fresh id: a single ``PutObject`` below one part, else a multipart upload one 8 MiB
    part at a time, so at most about one part is held in memory. The record naming it is
    written last: until then nothing is visible.
    """

    def __init__(self, storage: S3Storage, entry: Entry) -> None:
        self._storage = storage
        self._entry = entry
        self._id = new_id()
        self._place = storage._place(entry.key)
        self._body_name = self._place.body(self._id)
        self._buffer = bytearray()
        self._size = 0
        self._spilled = False  # the body is too large for the record: its own object
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
        self._spilled = self._spilled or self._size > self._storage._inline_limit
        while self._spilled and len(self._buffer) >= PART_SIZE:
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
        """Finish the body, then write the record: the entry is visible from that moment."""
        if self._done:
            raise RuntimeError("writer already finished")
        self._done = True
        storage = self._storage
        entry = replace(self._entry, size=self._size)
        try:
            head = storage._serializer.dumps(entry)
            body: bytes | None = None
            if self._spilled:
                self._upload_body()
            else:
                body, self._buffer = bytes(self._buffer), bytearray()
            slot = new_slot(entry, head, body, self._id)
            now = storage._clock()
            key_hash, lifetime = self._place.key_hash, storage._lifetime
            storage._rewrite(self._place, lambda r: put_slot(r, key_hash, slot, lifetime, now))
        except BaseException:
            self._cleanup()
            raise
        self._uploaded = False  # committed: the body now belongs to the record
        return replace(entry, body=body, body_ref=self._id)

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
