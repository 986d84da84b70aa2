"""The ``boto3`` plumbing of :class:`S3Storage`: its client, body streams, fan-out.

Written by hand beside :mod:`httpcache._storages.s3._async_io` (``aiobotocore``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ._common import PRUNE_CONCURRENCY, READ_CHUNK, client_config, import_extra, storage_errors

__all__ = ["REQUIRED_MODULE", "ClientHolder", "Conflict", "chunks", "each", "inline"]

REQUIRED_MODULE = "boto3.session"
_T = TypeVar("_T")
_I = TypeVar("_I")


class Conflict(Exception):
    """A conditional write found the record changed since it was read."""


class ClientHolder:
    """The S3 client a storage and all its namespaces share.

    With a user's client it just holds it. Otherwise it creates one on first use, with
    :func:`client_config`, and closes it in :meth:`close`; a later use creates a fresh
    one.
    """

    def __init__(self, client: Any, endpoint_url: str | None) -> None:
        self.client: Any = client
        self.owned = client is None
        self.conditional = True  # the service takes If-Match / If-None-Match on writes
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()

    def get(self) -> Any:
        client = self.client
        if client is not None:
            return client
        with self._lock:
            if self.client is None:
                boto3_session = import_extra(REQUIRED_MODULE, "S3Storage")
                with storage_errors("creating the client"):
                    self.client = boto3_session.Session().client(
                        "s3", endpoint_url=self._endpoint_url, config=client_config()
                    )
            return self.client

    def close(self) -> None:
        if not self.owned:
            return
        with self._lock:
            client, self.client = self.client, None
        if client is not None:
            client.close()


def chunks(body: Any) -> Iterator[bytes]:
    try:
        with storage_errors("reading a body"):
            yield from body.iter_chunks(READ_CHUNK)
    finally:
        body.close()


def inline(body: bytes) -> Iterator[bytes]:
    yield body


def each(items: Sequence[_I], call: Callable[[_I], _T]) -> list[_T]:
    """Run ``call`` on every item, :data:`PRUNE_CONCURRENCY` at a time in threads (boto3
    clients are thread-safe); raise the first error."""
    if len(items) <= 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(PRUNE_CONCURRENCY, len(items))) as pool:
        return list(pool.map(call, items))
