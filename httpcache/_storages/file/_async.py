"""A storage on the local file system: one directory tree, shareable between processes.

The layout is in :mod:`httpcache._storages.file._layout`, the record bytes in
:mod:`._record`, and every blocking step in :mod:`._core`, which the sync and the
async storage share; this module is the shell around it. Each storage operation is
at most one ``arun_blocking`` call (one worker-thread hop).

Invariants:

* A hit is one read and no write: ``get_entries`` reads the key's one record file,
  which holds small bodies inline, so the transport never calls ``open_body`` for
  them; ``record_hit`` only adds to a :class:`~.._hits.HitBuffer`, written
  back in one batch per flush interval (at once for a due sliding renewal, and on
  close). Entries read back here show this process's pending hits.
* A store is one atomic rename: a writer keeps a small body in memory and publishes
  head and body together on commit; past ``INLINE_LIMIT`` it spills to a temporary
  body file that streams in bounded chunks.
* Expiry sweeps run at most once per ``check_ttl_every`` seconds per namespace,
  across all processes sharing the directory (a marker file records the last one).
* A lease is one small file under the namespace's ``leases/`` directory, taken with
  ``O_CREAT | O_EXCL`` (see :mod:`._leases` for takeovers and releases); entries,
  listings, stats and sweeps never look there, and :meth:`AsyncFileStorage.clear`
  removes it.
"""

from __future__ import annotations

import fnmatch
import io
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from ..._exceptions import ConfigurationError, StorageError
from ..._models import Entry, StorageStats
from ..._serializers import JSONSerializer, Serializer
from ..._synchronization import arun_blocking
from .._expiry import Lifetime, StorageLifetime
from .._hits import HitBuffer
from . import _layout as layout
from . import _leases as leases
from ._batch import AsyncReadBatch
from ._core import FileCore
from ._files import discard_temp
from ._pending import show_pending

__all__ = ["AsyncFileBody", "AsyncFileStorage", "AsyncFileWriter"]

logger = logging.getLogger("httpcache.storage")

_T = TypeVar("_T")
_BATCH = 256  # records decoded per blocking call while listing


class AsyncFileStorage(StorageLifetime):
    """Keep entries as files under one directory, shareable by threads and processes.

    Each key is one record file holding every variant's head (the serialized
    :class:`Entry`) and, up to 64 KiB, its body; larger bodies stream to files of
    their own. Directories are named by hashes of the key, never by the URL.
    Files are created 0600 and directories 0700; every write goes to a temporary
    file that is renamed into place, so a reader never sees a partial entry.

    Args:
        serializer: How heads are written; ``None`` means :class:`JSONSerializer`.
        base_path: The cache directory; ``None`` means ``.httpcache`` in the
            current working directory (resolved when the storage is created).
        ttl: Seconds an entry is kept after it was stored or last freshened;
            ``None`` keeps entries until they are deleted.
        sliding: Count ``ttl`` from an entry's last hit too.
        max_lifetime: Seconds an entry is kept at most after it was first stored.
        check_ttl_every: Least number of seconds between two expiry sweeps of a
            namespace, shared by every process using the directory. Sweeps run
            from ordinary operations; :meth:`delete_expired` always sweeps.
        clock: Source of the current time for ``ttl``, sweeps and hit write-backs.

    Raises:
        ConfigurationError: ``ttl`` or ``check_ttl_every`` is negative.

    :meth:`with_namespace` makes a child that stores under a subdirectory of this
    storage's; its :meth:`clear` touches only its own namespace and its children.
    """

    max_wait: float | None = 0.0
    """Local-disk calls are not put under the transport's deadline (see ``docs/reliability.md``)."""

    def __init__(
        self,
        *,
        serializer: Serializer | None = None,
        base_path: str | os.PathLike[str] | None = None,
        ttl: float | None = None,
        sliding: bool = False,
        max_lifetime: float | None = None,
        check_ttl_every: float = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        lifetime = Lifetime(ttl, sliding, max_lifetime)
        if check_ttl_every < 0:
            raise ConfigurationError("check_ttl_every must not be negative")
        self._lifetime = lifetime
        self.check_ttl_every = check_ttl_every
        self._serializer: Serializer = serializer if serializer is not None else JSONSerializer()
        self._clock = clock
        base = layout.DEFAULT_BASE_PATH if base_path is None else base_path
        self._base = Path(base).expanduser().absolute()
        self._parts: tuple[str, ...] = ()
        self._set_core(FileCore(str(self._base), str(self._base), self._serializer, lifetime))
        self._hits = HitBuffer(lifetime)
        self._clears: dict[tuple[str, ...], int] = {}  # clear() calls per namespace, shared
        self._next_sweep: float | None = None

    @property
    def base_path(self) -> Path:
        """The cache directory shared by this storage and all its namespaces."""
        return self._base

    @property
    def _dir(self) -> Path:
        """This namespace's directory."""
        return Path(self._core.dir)

    @property
    def namespace(self) -> str:
        """This storage's namespace, parts joined by ``/`` (``""`` for the root)."""
        return "/".join(self._parts)

    def with_namespace(self, name: str) -> AsyncFileStorage:
        """Return a child storage whose entries live under namespace ``name``.

        Raises:
            ConfigurationError: ``name`` is not 1-128 characters from ``A-Za-z0-9_.-``
                starting with a letter, digit or ``_``.
        """
        layout.check_namespace(name)
        child = AsyncFileStorage(
            serializer=self._serializer,
            base_path=self._base,
            ttl=self.ttl,
            sliding=self.sliding,
            max_lifetime=self.max_lifetime,
            check_ttl_every=self.check_ttl_every,
            clock=self._clock,
        )
        child._parts = (*self._parts, name)
        directory = layout.namespace_dir(str(self._base), child._parts)
        child._set_core(FileCore(str(self._base), directory, self._serializer, self._lifetime))
        child._clears = self._clears
        return child

    # -- plumbing ---------------------------------------------------------------------

    def _set_core(self, core: FileCore) -> None:
        self._core = core
        self._reads: AsyncReadBatch[tuple[str, float], list[Entry]] = AsyncReadBatch(core.lookup)

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run blocking file work; an ``OSError`` becomes :class:`StorageError`."""
        try:
            return await arun_blocking(fn, *args)
        except OSError as exc:
            raise StorageError(f"file storage failed: {exc}") from exc

    def _record_path(self, key: str) -> Path:
        """Where ``key``'s record file is (for tests and tools)."""
        return Path(self._core.place(key).record)

    def _head_path(self, key: str, variant: str) -> Path:
        """Where the head of ``variant`` is: its key's record (for tests and tools)."""
        return self._record_path(key)

    def _generation(self) -> tuple[int, ...]:
        """How often this namespace and each of its parents were cleared (in this process)."""
        parts = self._parts
        return tuple(self._clears.get(parts[:n], 0) for n in range(len(parts) + 1))

    async def _maybe_sweep(self, now: float) -> None:
        """Sweep expired entries if ``check_ttl_every`` has passed (never fails the caller)."""
        if self._next_sweep is not None and now < self._next_sweep:
            return
        self._next_sweep = now + self.check_ttl_every
        try:
            await arun_blocking(self._core.sweep_if_due, now, self.check_ttl_every, time.time())
        except OSError as exc:
            logger.warning("file storage expiry sweep failed: %s", exc)

    async def _flush(self, now: float | None) -> None:
        """Write back every buffered hit (one read-modify-write per key)."""
        batch = self._hits.drain(now)
        if batch:
            await self._run(self._core.write_hits, batch)

    # -- the storage contract ---------------------------------------------------------

    async def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key``; small bodies come inline (``body``)."""
        now = self._clock()
        if self._next_sweep is None or now >= self._next_sweep:
            await self._maybe_sweep(now)
        try:
            found = await self._reads.run((key, now))  # one hop, shared with concurrent lookups
        except OSError as exc:
            raise StorageError(f"file storage failed: {exc}") from exc
        return show_pending(self._hits, found) if found else found

    async def open_writer(self, entry: Entry) -> AsyncFileWriter:
        """Start storing ``entry``; it becomes visible when the writer commits."""
        await self._maybe_sweep(self._clock())
        return AsyncFileWriter(self, entry, self._generation())

    async def open_body(self, entry: Entry) -> AsyncFileBody | None:
        """Return the body of ``entry`` (64 KiB chunks), or ``None`` if it is gone."""
        body = await self._run(self._core.open_body, entry)
        return None if body is None else AsyncFileBody(body)

    async def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head and metadata, keeping its body."""
        await self._run(self._core.update, entry)

    async def record_hit(self, entry: Entry) -> None:
        """Count a hit and note when; written back in batches, never one write per hit.

        A batch is due once per second, at once when the hit renews a sliding
        lifetime, and when the storage is closed. Concurrent hits from other
        processes on the same key may be lost (best effort).
        """
        now = self._clock()
        if self._hits.add(entry, now):
            await self._flush(now)

    async def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them."""
        self._hits.discard(key, None if variants is None else set(variants))
        await self._run(self._core.delete, key, variants)

    async def acquire_lease(self, key: str, ttl: float) -> str | None:
        """Take the lease of ``key`` for ``ttl`` seconds; return its token.

        ``None`` when another holder has it and it has not lapsed (timed by the wall
        clock, shared by every process). A free lease is one ``O_EXCL`` create; a
        lapsed one is taken over in place under a ``flock`` (see ``_leases``).
        """
        return await self._run(leases.acquire, self._core.dir, key, ttl, time.time())

    async def release_lease(self, key: str, token: str) -> None:
        """Give the lease of ``key`` back (remove its file) if ``token`` still holds it."""
        await self._run(leases.release, self._core.dir, key, token)

    async def aclose(self) -> None:
        """Write back buffered hits; no file stays open between calls. Safe to call twice."""
        await self._flush(None)

    # -- management -------------------------------------------------------------------

    async def iter_entries(self, pattern: str | None = None) -> AsyncIterator[Entry]:
        """Yield stored entries whose URL matches the glob ``pattern`` (all when None).

        Entries of child namespaces are included; expired and unreadable ones are
        removed instead of yielded.
        """
        paths = await self._run(self._core.record_paths, self._core.dir)
        now = self._clock()
        for start in range(0, len(paths), _BATCH):
            entries = await self._run(self._core.load_live, paths[start : start + _BATCH], now)
            for entry in show_pending(self._hits, entries):
                if pattern is None or fnmatch.fnmatchcase(entry.request.url, pattern):
                    yield entry

    async def delete_expired(self) -> int:
        """Sweep this namespace and its children now; return how many entries expired."""
        now = self._clock()
        self._next_sweep = now + self.check_ttl_every
        return await self._run(self._core.sweep, self._core.dir, now, time.time())

    async def clear(self) -> None:
        """Remove every entry of this namespace and its children (nothing else)."""
        self._hits.clear()
        self._clears[self._parts] = self._clears.get(self._parts, 0) + 1
        await self._run(self._core.clear)

    async def stats(self) -> StorageStats:
        """Return entries, bytes on disk (records and large bodies) and how many are expired."""
        return await self._run(self._core.stats, self._clock())

    async def health(self) -> bool:
        """Tell whether the directory can be created and written to."""
        try:
            await self._run(self._core.check_health)
        except StorageError:
            return False
        return True

    async def __aenter__(self) -> AsyncFileStorage:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"AsyncFileStorage(base_path={str(self._base)!r}, namespace={self.namespace!r}, "
            f"ttl={self.ttl!r})"
        )


class AsyncFileWriter:
    """Collects a body; nothing is visible until :meth:`commit`.

    Up to ``INLINE_LIMIT`` bytes stay in memory and are published with the head in
    one rename; a longer body spills to a temporary file and streams to it.
    """

    def __init__(
        self, storage: AsyncFileStorage, entry: Entry, generation: tuple[int, ...]
    ) -> None:
        self._storage = storage
        self._entry = entry
        self._generation = generation
        self._chunks: list[bytes] = []
        self._spilled: tuple[str, io.BufferedWriter] | None = None
        self._size = 0
        self._done = False

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError("writer already finished")

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the body (in memory, or to the spilled file)."""
        self._check_open()
        self._size += len(chunk)
        if self._spilled is not None:
            await self._storage._run(self._spilled[1].write, chunk)
            return
        self._chunks.append(bytes(chunk))
        if self._size > layout.INLINE_LIMIT:
            chunks, self._chunks = self._chunks, []
            core = self._storage._core
            self._spilled = await self._storage._run(core.spill, self._entry.key, chunks)

    async def commit(self) -> Entry:
        """Publish the head with its body; return the stored entry.

        Raises:
            StorageError: the namespace was cleared while the body was written, or
                the file system failed; nothing is stored.
        """
        self._check_open()
        self._done = True
        entry = replace(self._entry, size=self._size)
        storage = self._storage
        if storage._generation() != self._generation:
            await self._discard()
            raise StorageError("file storage was cleared while the entry was being written")
        if self._spilled is not None:
            temp, file = self._spilled
            self._spilled = None
            await storage._run(storage._core.store_file, entry, temp, file)
        else:
            body, self._chunks = b"".join(self._chunks), []
            await storage._run(storage._core.store, entry, body, None)
        return entry

    async def abort(self) -> None:
        """Forget the body (delete a spilled file); safe to call more than once."""
        self._done = True
        await self._discard()

    async def _discard(self) -> None:
        self._chunks = []
        spilled, self._spilled = self._spilled, None
        if spilled is not None:
            await self._storage._run(discard_temp, *spilled)


class AsyncFileBody:
    """A stored body: inline bytes, or read from its file in 64 KiB chunks."""

    def __init__(self, body: bytes | io.BufferedReader) -> None:
        self._inline: bytes | None = body if isinstance(body, bytes) else None
        self._file: io.BufferedReader | None = None if isinstance(body, bytes) else body

    def __aiter__(self) -> AsyncFileBody:
        return self

    async def __anext__(self) -> bytes:
        if self._inline is not None:
            chunk, self._inline = self._inline, None
            if chunk:
                return chunk
        file = self._file
        if file is None:
            raise StopAsyncIteration
        try:
            chunk = await arun_blocking(file.read, layout.CHUNK_SIZE)
        except OSError as exc:
            await self.aclose()
            raise StorageError(f"file storage failed reading a body: {exc}") from exc
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Close the file; safe to call more than once."""
        self._inline = None
        file, self._file = self._file, None
        if file is not None:
            file.close()
