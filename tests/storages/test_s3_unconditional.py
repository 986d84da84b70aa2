"""An S3-compatible service without conditional writes: the storage falls back to plain writes.

moto supports ``If-Match``/``If-None-Match``; a ``before-send`` hook on the real client answers
such requests with ``501 NotImplemented`` instead, as an older service would. Sync only: the
fallback is the same code in both halves.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse  # type: ignore[import-untyped]

import httpcache
from tests._sync import storage_backends  # noqa: F401  (first: it imports backend_s3 itself)
from tests._sync.backend_s3 import BUCKET, endpoint_url
from tests._sync.test_storage_contract import make_entry, put

pytestmark = pytest.mark.s3

NOT_IMPLEMENTED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>'
    b"<Message>A header you provided implies functionality that is not implemented</Message>"
    b"</Error>"
)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


def test_s3_service_without_conditional_writes_falls_back_to_plain_writes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = httpcache.S3Storage(
        bucket_name=BUCKET,
        key_prefix=f"nocond-{uuid.uuid4().hex[:12]}/",
        endpoint_url=endpoint_url(),
    )
    refused: list[str] = []

    def refuse(request: Any, **kwargs: Any) -> AWSResponse | None:
        if "If-Match" in request.headers or "If-None-Match" in request.headers:
            refused.append(request.method)
            headers = {"Content-Type": "application/xml"}
            return AWSResponse(request.url, 501, headers, _Raw(NOT_IMPLEMENTED))
        return None

    storage._client().meta.events.register_first("before-send.s3.*", refuse)
    try:
        with caplog.at_level(logging.WARNING, logger="httpcache.storage"):
            put(storage, make_entry(variant="en"))
            put(storage, make_entry(variant="de"))
            storage.delete_entries("http://example.com/a", ["en"])
        assert refused == ["PUT"]  # refused once; every later write is plain
        assert [e.variant for e in storage.get_entries("http://example.com/a")] == ["de"]
        warnings = [r for r in caplog.records if "conditional" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        storage.clear()
        storage.close()
