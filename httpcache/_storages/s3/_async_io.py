"""The ``aiobotocore`` plumbing of :class:`AsyncS3Storage`: its client, body streams, fan-out.

Written by hand beside :mod:`httpcache._storages.s3._sync_io` (``boto3``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import anyio

from .._loops import LoopBinding
from ._common import PRUNE_CONCURRENCY, READ_CHUNK, client_config, import_extra, storage_errors

__all__ = ["REQUIRED_MODULE", "AsyncClientHolder", "Conflict", "chunks", "each", "inline"]

REQUIRED_MODULE = "aiobotocore.session"
_T = TypeVar("_T")
_I = TypeVar("_I")


class Conflict(Exception):
    """A conditional write found the record changed since it was read."""


class AsyncClientHolder:
    """The S3 client a storage and all its namespaces share.

    With a user's client it just holds it. Otherwise it creates one on first use, with
    :func:`client_config`, and closes it in :meth:`aclose`; a later use creates a fresh
    one. An ``aiobotocore`` client belongs to the event loop it was created on (its
    ``aiohttp`` session does): a client of the storage's own is made again when the loop
    changes, and the old one is closed on its own loop as that loop ends (see
    :mod:`.._loops`).
    """

    def __init__(self, client: Any, endpoint_url: str | None) -> None:
        self.client: Any = client
        self.owned = client is None
        self.conditional = True  # the service takes If-Match / If-None-Match on writes
        self._endpoint_url = endpoint_url
        self._stack: AsyncExitStack | None = None
        self._lock = anyio.Lock()
        self._binding = LoopBinding()

    async def get(self) -> Any:
        if self._binding.changed():
            self._rebind()
        if self.client is not None:
            return self.client
        async with self._lock:
            if self.client is None:
                session = import_extra(REQUIRED_MODULE, "AsyncS3Storage")
                stack = AsyncExitStack()
                with storage_errors("creating the client"):
                    self.client = await stack.enter_async_context(
                        session.get_session().create_client(
                            "s3", endpoint_url=self._endpoint_url, config=client_config()
                        )
                    )
                self._stack = stack
                self._binding.at_end(stack.aclose)  # idempotent: aclose() may have run it
            return self.client

    def _rebind(self) -> None:
        if self._binding.bound:
            self._lock = anyio.Lock()  # the old one may be held on, or bound to, a dead loop
            if self.owned:  # the old client is closed on its own loop as that loop ends
                self.client = None
                self._stack = None
        self._binding.bind()

    async def aclose(self) -> None:
        if not self.owned:
            return
        if self._binding.changed():
            self._rebind()
        stack, self._stack = self._stack, None
        self.client = None
        if stack is not None:
            await stack.aclose()


async def chunks(body: Any) -> AsyncIterator[bytes]:
    # ``async with body`` yields the body itself in aiobotocore 3, its aiohttp response in 2:
    # read through the body in both.
    async with body:
        with storage_errors("reading a body"):
            async for chunk in body.iter_chunks(READ_CHUNK):
                yield chunk


async def inline(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def each(items: Sequence[_I], call: Callable[[_I], Awaitable[_T]]) -> list[_T]:
    """Run ``call`` on every item, :data:`PRUNE_CONCURRENCY` at a time; raise the first error."""
    results: list[_T] = []
    for start in range(0, len(items), PRUNE_CONCURRENCY):
        outcomes = await asyncio.gather(
            *(call(item) for item in items[start : start + PRUNE_CONCURRENCY]),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            results.append(outcome)
    return results
