"""A storage on the local file system: one directory tree, shareable between processes.

The layout and the head format are in :mod:`httpcache._storages.file._layout`; this module
only moves bytes. Every blocking call runs through ``run_blocking``.

Invariants:

* A body is written to a temporary file and renamed into place under a fresh
  random name; only then does the head naming it replace the old head
  (``os.replace``). A reader sees the old entry or the new one, never a mix and
  never a partial file. An aborted writer removes its temporary file.
* Bodies are never rewritten. Updating an entry or counting a hit replaces only
  its head, keeping the body's name; a head whose body has gone is a miss.
* A file that vanishes mid-operation (another process removed it) is a miss,
  never an error. Any other ``OSError`` becomes :class:`StorageError`.
* Expiry sweeps run at most once per ``check_ttl_every`` seconds per namespace,
  across all processes sharing the directory (a marker file records the last one).
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from ..._exceptions import ConfigurationError, SerializationError, StorageError
from ..._models import Entry, StorageStats
from ..._serializers import JSONSerializer, Serializer
from ..._synchronization import run_blocking
from .._expiry import Lifetime, StorageLifetime, is_expired
from . import _layout as layout

__all__ = ["FileBody", "FileStorage", "FileWriter"]

logger = logging.getLogger("httpcache.storage")

_T = TypeVar("_T")
_BATCH = 256  # heads decoded per blocking call while listing
_ATTEMPTS = 5  # tries to create a temporary file while sweeps remove empty directories


@dataclass(frozen=True, slots=True)
class _Head:
    entry: Entry
    token: str
    path: Path
    size: int  # bytes in the head file


# -- blocking helpers (shared by every namespace) ------------------------------------------


def _make_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents, each with mode 0700 whatever the umask."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return
    except FileNotFoundError:
        if path.parent == path:
            raise
        _make_dirs(path.parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)


def _unlink(path: Path | str) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        os.unlink(path)


def _listdir(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _read_small(path: Path) -> bytes:
    with open(path, "rb") as file:
        return file.read(layout.MAX_HEAD_BYTES + 1)


def _open_temp(directory: Path) -> tuple[str, io.BufferedWriter]:
    """Create a 0600 temporary file in ``directory`` (made if missing) and open it."""
    attempt = 1
    while True:
        _make_dirs(directory)
        try:
            fd, temp = tempfile.mkstemp(
                prefix=layout.TEMP_PREFIX, suffix=layout.TEMP_SUFFIX, dir=directory
            )
        except FileNotFoundError:  # a sweep removed the empty directory meanwhile
            if attempt == _ATTEMPTS:
                raise
            attempt += 1
            continue
        return temp, os.fdopen(fd, "wb")


def _write_atomic(directory: Path, name: str, data: bytes) -> None:
    """Write ``data`` to ``directory/name`` through a temporary file and ``os.replace``."""
    fd, temp = tempfile.mkstemp(prefix=layout.TEMP_PREFIX, suffix=layout.TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temp, directory / name)
    except BaseException:
        _unlink(temp)
        raise


def _discard_temp(temp: str, file: io.BufferedWriter) -> None:
    try:
        file.close()
    finally:
        _unlink(temp)


def _discard_dir(parent: Path, name: str) -> None:
    """Remove ``parent/name``: first renamed aside (atomic), then deleted."""
    trash = parent / f"{layout.TRASH_PREFIX}{secrets.token_hex(8)}"
    try:
        os.rename(parent / name, trash)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError:  # cannot rename (open files on some systems): delete in place
        trash = parent / name
    shutil.rmtree(trash, ignore_errors=True)


def _rmdir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (a writer is busy) or already gone
        os.rmdir(path)


class FileStorage(StorageLifetime):
    """Keep entries as files under one directory, shareable by threads and processes.

    Each variant is a small head file (the serialized :class:`Entry`) beside its raw
    body file, under directories named by hashes of the key and variant, never by
    the URL. Files are created 0600 and directories 0700; every write goes to a
    temporary file that is renamed into place, so a reader never sees a partial
    entry. Bodies are streamed to and from disk in 64 KiB chunks.

    Args:
        serializer: How heads are written; ``None`` means :class:`JSONSerializer`.
        base_path: The cache directory; ``None`` means ``.httpcache`` in the
            current working directory (resolved when the storage is created).
        ttl: Seconds an entry is kept after it was stored or last freshened;
            ``None`` keeps entries until they are deleted.
        check_ttl_every: Least number of seconds between two expiry sweeps of a
            namespace, shared by every process using the directory. Sweeps run
            from ordinary operations; :meth:`delete_expired` always sweeps.
        clock: Source of the current time for ``ttl`` and sweeps.

    Raises:
        ConfigurationError: ``ttl`` or ``check_ttl_every`` is negative.

    :meth:`with_namespace` makes a child that stores under a subdirectory of this
    storage's; its :meth:`clear` touches only its own namespace and its children.
    """

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
        self._dir = self._base
        self._next_sweep: float | None = None

    @property
    def base_path(self) -> Path:
        """The cache directory shared by this storage and all its namespaces."""
        return self._base

    @property
    def namespace(self) -> str:
        """This storage's namespace, parts joined by ``/`` (``""`` for the root)."""
        return "/".join(self._parts)

    def with_namespace(self, name: str) -> FileStorage:
        """Return a child storage whose entries live under namespace ``name``.

        Raises:
            ConfigurationError: ``name`` is not 1-128 characters from ``A-Za-z0-9_.-``
                starting with a letter, digit or ``_``.
        """
        layout.check_namespace(name)
        child = FileStorage(
            serializer=self._serializer,
            base_path=self._base,
            ttl=self.ttl,
            sliding=self.sliding,
            max_lifetime=self.max_lifetime,
            check_ttl_every=self.check_ttl_every,
            clock=self._clock,
        )
        child._parts = (*self._parts, name)
        child._dir = layout.namespace_dir(self._base, child._parts)
        return child

    # -- plumbing ---------------------------------------------------------------------

    def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run blocking file work; an ``OSError`` becomes :class:`StorageError`."""
        try:
            return run_blocking(fn, *args)
        except OSError as exc:
            raise StorageError(f"file storage failed: {exc}") from exc

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self._base).as_posix()
        except ValueError:  # pragma: no cover - every path we build is under the base
            return path.name

    def _head_path(self, key: str, variant: str) -> Path:
        return layout.key_dir(self._dir, key) / layout.head_name(layout.variant_stem(variant))

    def _load(self, path: Path) -> _Head | None:
        """Read the head at ``path``; ``None`` if missing. Corrupt heads are dropped."""
        try:
            data = _read_small(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            token, record = layout.decode_head(data)
            entry = self._serializer.loads(record)
            if not layout.belongs(entry, path):
                raise SerializationError("record stored under another key or variant")
        except SerializationError as exc:
            logger.warning("dropping an unreadable cache record %s: %s", self._relative(path), exc)
            _unlink(path)
            return None
        return _Head(entry, token, path, len(data))

    def _body_path(self, head: _Head) -> Path:
        stem = head.path.name[: -len(layout.HEAD_SUFFIX)]
        return head.path.parent / layout.body_name(stem, head.token)

    def _drop(self, head: _Head) -> None:
        """Remove the entry ``head`` describes, unless another writer replaced it meanwhile."""
        current = self._load(head.path)
        if current is not None and current.token == head.token:
            _unlink(head.path)
        _unlink(self._body_path(head))

    def _live(self, path: Path, now: float) -> _Head | None:
        head = self._load(path)
        if head is not None and is_expired(head.entry, self._lifetime, now):
            self._drop(head)
            return None
        return head

    def _head_paths(self, directory: Path) -> list[Path]:
        """Return every head file of the namespace at ``directory`` and its children."""
        found: list[Path] = []
        entries = directory / layout.ENTRIES_DIR
        for shard in _listdir(entries):
            if not layout.is_shard(shard):
                continue
            for key_name in _listdir(entries / shard):
                if not layout.is_key_dir(key_name):
                    continue
                key_dir = entries / shard / key_name
                for name in _listdir(key_dir):
                    parsed = layout.parse_name(name)
                    if parsed is not None and parsed.kind == "head":
                        found.append(key_dir / name)
        children = directory / layout.CHILDREN_DIR
        for child in _listdir(children):
            if layout.is_namespace(child):
                found.extend(self._head_paths(children / child))
        return found

    # -- blocking halves of the operations ----------------------------------------------

    def _get(self, key: str, now: float) -> list[Entry]:
        key_dir = layout.key_dir(self._dir, key)
        found: list[Entry] = []
        for name in _listdir(key_dir):
            parsed = layout.parse_name(name)
            if parsed is not None and parsed.kind == "head":
                head = self._live(key_dir / name, now)
                if head is not None and head.entry.key == key:
                    found.append(head.entry)
        return found

    def _open_body(self, entry: Entry) -> io.BufferedReader | None:
        head = self._load(self._head_path(entry.key, entry.variant))
        if head is None or not layout.same_entry(head.entry, entry):
            return None
        try:
            file = open(self._body_path(head), "rb")  # noqa: SIM115 - closed by the body
        except FileNotFoundError:  # the head outlived its body (lost race): a miss
            self._drop(head)
            return None
        try:
            size = os.fstat(file.fileno()).st_size
        except BaseException:
            file.close()
            raise
        if head.entry.size is not None and size != head.entry.size:
            file.close()
            logger.warning(
                "dropping a cache record whose body is incomplete: %s",
                self._relative(head.path),
            )
            self._drop(head)
            return None
        return file

    def _update(self, entry: Entry, hit_at: float | None) -> None:
        """Write ``entry``'s new head, or (``hit_at`` given) count a hit on the stored one."""
        path = self._head_path(entry.key, entry.variant)
        head = self._load(path)
        if head is None or not layout.same_entry(head.entry, entry):
            return  # gone, or replaced by another response: nothing to update
        if hit_at is not None:
            updated = replace(head.entry, hits=head.entry.hits + 1, accessed_at=hit_at)
        elif entry.size is None:
            updated = replace(entry, size=head.entry.size)  # the body stays
        else:
            updated = entry
        record = layout.encode_head(head.token, self._serializer.dumps(updated))
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):  # removed meanwhile
            _write_atomic(path.parent, path.name, record)

    def _delete(self, key: str, variants: Sequence[str] | None) -> None:
        key_dir = layout.key_dir(self._dir, key)
        stems = None if variants is None else {layout.variant_stem(v) for v in variants}
        names = _listdir(key_dir)
        parsed = [(name, layout.parse_name(name)) for name in names]
        # Heads first: a reader then sees no entry rather than a head without its body.
        for kind in ("head", "body"):
            for name, info in parsed:
                if info is not None and info.kind == kind and (stems is None or info.stem in stems):
                    _unlink(key_dir / name)
        _rmdir(key_dir)

    def _publish(self, key_dir: Path, temp: str, file: io.BufferedWriter, entry: Entry) -> None:
        """Rename the finished body into place, then replace the head that names it."""
        stem = layout.variant_stem(entry.variant)
        token = secrets.token_hex(16)
        try:
            file.close()
            record = layout.encode_head(token, self._serializer.dumps(entry))
            previous = self._load(key_dir / layout.head_name(stem))
            body = key_dir / layout.body_name(stem, token)
            try:
                os.replace(temp, body)
            except FileNotFoundError as exc:
                raise StorageError(
                    "the cache directory was cleared while this entry was being written"
                ) from exc
            try:
                _write_atomic(key_dir, layout.head_name(stem), record)
            except BaseException:
                _unlink(body)
                raise
        except BaseException:
            _unlink(temp)
            raise
        if previous is not None and previous.token != token:
            _unlink(self._body_path(previous))

    def _sweep(self, directory: Path, now: float, wall_now: float) -> int:
        """Remove expired entries and garbage under ``directory``; return entries removed."""
        removed = 0
        for name in _listdir(directory):
            if name.startswith(layout.TRASH_PREFIX):
                shutil.rmtree(directory / name, ignore_errors=True)
            elif name.startswith(layout.TEMP_PREFIX) and name.endswith(layout.TEMP_SUFFIX):
                self._remove_if_stale(directory / name, wall_now)
        entries = directory / layout.ENTRIES_DIR
        for shard in _listdir(entries):
            if layout.is_shard(shard):
                for key_name in _listdir(entries / shard):
                    if layout.is_key_dir(key_name):
                        removed += self._sweep_key_dir(entries / shard / key_name, now, wall_now)
        children = directory / layout.CHILDREN_DIR
        for child in _listdir(children):
            if layout.is_namespace(child):
                removed += self._sweep(children / child, now, wall_now)
        return removed

    def _sweep_key_dir(self, key_dir: Path, now: float, wall_now: float) -> int:
        removed = 0
        named: set[str] = set()
        found = [(name, layout.parse_name(name)) for name in _listdir(key_dir)]
        for name, info in found:
            if info is None or info.kind != "head":
                continue
            head = self._load(key_dir / name)
            if head is None:
                continue
            if is_expired(head.entry, self._lifetime, now):
                self._drop(head)
                removed += 1
            elif not os.path.exists(self._body_path(head)):
                self._drop(head)  # its body was lost in a race: the head is useless
            else:
                named.add(layout.body_name(info.stem, head.token))
        for name, info in found:
            if info is not None and info.kind in ("body", "temp") and name not in named:
                self._remove_if_stale(key_dir / name, wall_now)
        _rmdir(key_dir)
        return removed

    @staticmethod
    def _remove_if_stale(path: Path, wall_now: float) -> None:
        try:
            if layout.is_stale(os.stat(path).st_mtime, wall_now):
                _unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            pass

    def _sweep_if_due(self, now: float) -> None:
        """Sweep this namespace unless some process did within ``check_ttl_every``."""
        marker = self._dir / layout.SWEEP_MARKER
        try:
            last = layout.decode_marker(_read_small(marker))
        except (FileNotFoundError, NotADirectoryError):
            last = None
        if not layout.sweep_due(now, last, self.check_ttl_every):
            return
        try:
            _write_atomic(self._dir, layout.SWEEP_MARKER, layout.encode_marker(now))
        except (FileNotFoundError, NotADirectoryError):
            return  # nothing stored in this namespace yet (or it was just cleared)
        self._sweep(self._dir, now, time.time())

    def _stats(self, now: float) -> StorageStats:
        entries = expired = size = 0
        for path in self._head_paths(self._dir):
            head = self._load(path)
            if head is None:
                continue
            try:
                body_size = os.stat(self._body_path(head)).st_size
            except (FileNotFoundError, NotADirectoryError):
                continue
            entries += 1
            size += head.size + body_size
            expired += is_expired(head.entry, self._lifetime, now)
        return StorageStats(entries=entries, bytes=size, expired=expired)

    def _load_live(self, paths: list[Path], now: float) -> list[Entry]:
        return [head.entry for path in paths if (head := self._live(path, now)) is not None]

    def _check_health(self) -> None:
        _make_dirs(self._dir)
        fd, temp = tempfile.mkstemp(
            prefix=layout.TEMP_PREFIX, suffix=layout.TEMP_SUFFIX, dir=self._dir
        )
        os.close(fd)
        os.unlink(temp)

    def _clear(self) -> None:
        _discard_dir(self._dir, layout.ENTRIES_DIR)
        _discard_dir(self._dir, layout.CHILDREN_DIR)

    def _maybe_sweep(self, now: float) -> None:
        """Sweep expired entries if ``check_ttl_every`` has passed (never fails the caller)."""
        if self._next_sweep is not None and now < self._next_sweep:
            return
        self._next_sweep = now + self.check_ttl_every
        try:
            run_blocking(self._sweep_if_due, now)
        except OSError as exc:
            logger.warning("file storage expiry sweep failed: %s", exc)

    # -- the storage contract ---------------------------------------------------------

    def get_entries(self, key: str) -> list[Entry]:
        """Return every unexpired variant of ``key``."""
        now = self._clock()
        self._maybe_sweep(now)
        return self._run(self._get, key, now)

    def open_writer(self, entry: Entry) -> FileWriter:
        """Start storing ``entry``; it becomes visible when the writer commits."""
        self._maybe_sweep(self._clock())
        key_dir = layout.key_dir(self._dir, entry.key)
        temp, file = self._run(_open_temp, key_dir)
        return FileWriter(self, entry, key_dir, temp, file)

    def open_body(self, entry: Entry) -> FileBody | None:
        """Return the body of ``entry`` as 64 KiB chunks, or ``None`` if it is gone."""
        file = self._run(self._open_body, entry)
        return None if file is None else FileBody(file)

    def update_entry(self, entry: Entry) -> None:
        """Replace a stored variant's head and metadata, keeping its body."""
        self._run(self._update, entry, None)

    def record_hit(self, entry: Entry) -> None:
        """Count a hit and note when (sliding expiry counts ``ttl`` from there).

        Best effort: concurrent hits from other processes may be lost.
        """
        self._run(self._update, entry, self._clock())

    def delete_entries(self, key: str, variants: Sequence[str] | None = None) -> None:
        """Remove the given variants of ``key``, or all of them."""
        self._run(self._delete, key, variants)

    def close(self) -> None:
        """Release nothing: no file stays open between calls. Safe to call twice."""

    # -- management -------------------------------------------------------------------

    def iter_entries(self, pattern: str | None = None) -> Iterator[Entry]:
        """Yield stored entries whose URL matches the glob ``pattern`` (all when None).

        Entries of child namespaces are included; expired and unreadable ones are
        removed instead of yielded.
        """
        paths = self._run(self._head_paths, self._dir)
        now = self._clock()
        for start in range(0, len(paths), _BATCH):
            entries = self._run(self._load_live, paths[start : start + _BATCH], now)
            for entry in entries:
                if pattern is None or fnmatch.fnmatchcase(entry.request.url, pattern):
                    yield entry

    def delete_expired(self) -> int:
        """Sweep this namespace and its children now; return how many entries expired."""
        now = self._clock()
        self._next_sweep = now + self.check_ttl_every
        return self._run(self._sweep, self._dir, now, time.time())

    def clear(self) -> None:
        """Remove every entry of this namespace and its children (nothing else)."""
        self._run(self._clear)

    def stats(self) -> StorageStats:
        """Return entries, bytes on disk (heads and bodies) and how many are expired."""
        return self._run(self._stats, self._clock())

    def health(self) -> bool:
        """Tell whether the directory can be created and written to."""
        try:
            self._run(self._check_health)
        except StorageError:
            return False
        return True

    def __enter__(self) -> FileStorage:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"FileStorage(base_path={str(self._base)!r}, namespace={self.namespace!r}, "
            f"ttl={self.ttl!r})"
        )


class FileWriter:
    """Streams a body into a temporary file; nothing is visible until :meth:`commit`."""

    def __init__(
        self,
        storage: FileStorage,
        entry: Entry,
        key_dir: Path,
        temp: str,
        file: io.BufferedWriter,
    ) -> None:
        self._storage = storage
        self._entry = entry
        self._key_dir = key_dir
        self._temp = temp
        self._file: io.BufferedWriter | None = file
        self._size = 0

    def _open_file(self) -> io.BufferedWriter:
        if self._file is None:
            raise RuntimeError("writer already finished")
        return self._file

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the temporary body file."""
        file = self._open_file()
        self._storage._run(file.write, chunk)
        self._size += len(chunk)

    def commit(self) -> Entry:
        """Rename the body into place, then publish its head; return the stored entry."""
        file = self._open_file()
        self._file = None
        entry = replace(self._entry, size=self._size)
        self._storage._run(self._storage._publish, self._key_dir, self._temp, file, entry)
        return entry

    def abort(self) -> None:
        """Delete the temporary body file; safe to call more than once."""
        file, self._file = self._file, None
        if file is not None:
            self._storage._run(_discard_temp, self._temp, file)


class FileBody:
    """A stored body read from its file in 64 KiB chunks; the file closes at the end."""

    def __init__(self, file: io.BufferedReader) -> None:
        self._file: io.BufferedReader | None = file

    def __iter__(self) -> FileBody:
        return self

    def __next__(self) -> bytes:
        file = self._file
        if file is None:
            raise StopIteration
        try:
            chunk = run_blocking(file.read, layout.CHUNK_SIZE)
        except OSError as exc:
            self.close()
            raise StorageError(f"file storage failed reading a body: {exc}") from exc
        if not chunk:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        """Close the file; safe to call more than once."""
        file, self._file = self._file, None
        if file is not None:
            file.close()
