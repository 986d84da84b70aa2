"""The bodies a transport hands out: one read back from storage, one teed into a writer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

from .._guard import FAILED
from .._models import Entry
from .._policy._engine import ResponsePlan
from ._storage import EntryWriter

if TYPE_CHECKING:  # pragma: no cover
    from ._transport import CacheTransport

__all__ = ["StoredBody", "TeeBody"]

_FAILED: Any = FAILED


class StoredBody(httpx.SyncByteStream):
    """A body read back from storage, whole or a part of it.

    With ``content_range`` (first and last positions, inclusive: a 206's, RFC 9110
    §14.4) only those bytes are yielded, cut out of the stored chunks as they arrive:
    nothing before the part is kept, no chunk is joined to another, and the stored body
    is closed as soon as the part's last byte is out.
    """

    def __init__(
        self,
        chunks: Iterator[bytes] | None,
        content_range: tuple[int, int] | None = None,
    ) -> None:
        self._chunks = chunks
        self._range = content_range

    def __iter__(self) -> Iterator[bytes]:
        if self._chunks is None:
            return
        if self._range is None:
            for chunk in self._chunks:
                yield chunk
            return
        first, last = self._range
        position = 0  # of the next stored chunk's first byte
        for chunk in self._chunks:
            end = position + len(chunk)
            if chunk and end > first:
                yield chunk[max(first - position, 0) : last + 1 - position]
            position = end
            if position > last:
                break
        self.close()

    def close(self) -> None:
        closer = getattr(self._chunks, "close", None)
        self._chunks = None
        if closer is not None:
            closer()


class TeeBody(httpx.SyncByteStream):
    """Pass the origin's body to the user and, chunk by chunk, to a storage writer.

    The entry is committed only when the user has read the whole body and it is
    complete (S-18); a body closed early, failed, or over the size limit is
    aborted and never becomes visible.
    """

    def __init__(
        self,
        stream: httpx.SyncByteStream,
        writer: EntryWriter,
        transport: CacheTransport,
        entry: Entry,
        plan: ResponsePlan,
        expected_length: int | None,
        sequence: int,
    ) -> None:
        self._sequence = sequence
        self._stream = stream
        self._writer: EntryWriter | None = writer
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

    def _finished(self) -> None:
        callback, self._on_done = self._on_done, None
        if callback is not None:
            callback()

    def on_abort(self, extensions: dict[str, Any], status: str) -> None:
        """Set ``extensions["cache_status"]`` to ``status`` if the store is aborted."""
        self._extensions, self._not_stored = extensions, status

    def _not_stored_after_all(self) -> None:
        if self._extensions is not None:
            self._extensions["cache_status"] = self._not_stored

    def _abort(self) -> None:
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                self._not_stored_after_all()
                self._transport._storage_call("abort", writer.abort)
        finally:
            self._finished()

    def __iter__(self) -> Iterator[bytes]:
        limit = self._transport.options.max_entry_size
        try:
            for chunk in self._stream:
                if self._writer is not None and chunk:
                    self._written += len(chunk)
                    too_large = limit is not None and self._written > limit
                    if too_large or (
                        self._transport._storage_call("write", self._writer.write, chunk)
                        is _FAILED
                    ):
                        self._abort()
                yield chunk
        except BaseException:
            self._abort()
            raise
        if self._writer is None:
            return
        complete = self._expected is None or self._expected == self._written
        if not complete or self._transport._invalidated_since(self._entry.key, self._sequence):
            self._abort()  # S-18 incomplete; I-9 may predate an invalidation
            return
        writer, self._writer = self._writer, None
        try:
            if not self._transport._commit(writer, self._entry, self._plan):
                self._not_stored_after_all()
        finally:
            self._finished()

    def close(self) -> None:
        self._abort()
        self._stream.close()
