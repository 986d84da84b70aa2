"""The bodies a transport hands out: one read back from storage, one teed into a writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from .._guard import FAILED
from .._models import Entry
from .._policy._engine import ResponsePlan
from ._storage import AsyncEntryWriter

if TYPE_CHECKING:  # pragma: no cover
    from ._transport import AsyncCacheTransport

__all__ = ["AsyncStoredBody", "AsyncTeeBody"]

_FAILED: Any = FAILED


class AsyncStoredBody(httpx.AsyncByteStream):
    """A body read back from storage, whole or a part of it.

    With ``content_range`` (first and last positions, inclusive: a 206's, RFC 9110
    §14.4) only those bytes are yielded, cut out of the stored chunks as they arrive:
    nothing before the part is kept, no chunk is joined to another, and the stored body
    is closed as soon as the part's last byte is out.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes] | None,
        content_range: tuple[int, int] | None = None,
    ) -> None:
        self._chunks = chunks
        self._range = content_range

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._chunks is None:
            return
        if self._range is None:
            async for chunk in self._chunks:
                yield chunk
            return
        first, last = self._range
        position = 0  # of the next stored chunk's first byte
        async for chunk in self._chunks:
            end = position + len(chunk)
            if chunk and end > first:
                yield chunk[max(first - position, 0) : last + 1 - position]
            position = end
            if position > last:
                break
        await self.aclose()

    async def aclose(self) -> None:
        closer = getattr(self._chunks, "aclose", None)
        self._chunks = None
        if closer is not None:
            await closer()


class AsyncTeeBody(httpx.AsyncByteStream):
    """Pass the origin's body to the user and, chunk by chunk, to a storage writer.

    The entry is committed only when the user has read the whole body and it is
    complete (S-18); a body closed early, failed, or over the size limit is
    aborted and never becomes visible.
    """

    def __init__(
        self,
        stream: httpx.AsyncByteStream,
        writer: AsyncEntryWriter,
        transport: AsyncCacheTransport,
        entry: Entry,
        plan: ResponsePlan,
        expected_length: int | None,
        sequence: int,
    ) -> None:
        self._sequence = sequence
        self._stream = stream
        self._writer: AsyncEntryWriter | None = writer
        self._transport = transport
        self._entry = entry
        self._plan = plan
        self._expected = expected_length
        self._written = 0
        self._extensions: dict[str, Any] | None = None
        self._not_stored = ""
        self._on_done: Any = None

    @property
    def pending(self) -> bool:
        """Tell whether the store is still under way (neither committed nor aborted)."""
        return self._writer is not None

    def on_done(self, callback: Any) -> None:
        """Call (and await) ``callback()`` once the store is committed or aborted."""
        self._on_done = callback

    async def _finished(self) -> None:
        callback, self._on_done = self._on_done, None
        if callback is not None:
            await callback()

    def on_abort(self, extensions: dict[str, Any], status: str) -> None:
        """Set ``extensions["cache_status"]`` to ``status`` if the store is aborted."""
        self._extensions, self._not_stored = extensions, status

    def _not_stored_after_all(self) -> None:
        if self._extensions is not None:
            self._extensions["cache_status"] = self._not_stored

    async def _abort(self) -> None:
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                self._not_stored_after_all()
                await self._transport._storage_call("abort", writer.abort)
        finally:
            await self._finished()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        limit = self._transport.options.max_entry_size
        try:
            async for chunk in self._stream:
                if self._writer is not None and chunk:
                    self._written += len(chunk)
                    too_large = limit is not None and self._written > limit
                    if too_large or (
                        await self._transport._storage_call("write", self._writer.write, chunk)
                        is _FAILED
                    ):
                        await self._abort()
                yield chunk
        except BaseException:
            await self._abort()
            raise
        if self._writer is None:
            return
        complete = self._expected is None or self._expected == self._written
        if not complete or self._transport._invalidated_since(self._entry.key, self._sequence):
            await self._abort()  # S-18 incomplete; I-9 may predate an invalidation
            return
        writer, self._writer = self._writer, None
        try:
            if not await self._transport._commit(writer, self._entry, self._plan):
                self._not_stored_after_all()
        finally:
            await self._finished()

    async def aclose(self) -> None:
        await self._abort()
        await self._stream.aclose()
