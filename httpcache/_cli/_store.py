"""Opening the store a command names: path or URL checks, guarded serializers, lookups.

Part of the ``httpcache`` shell (:mod:`httpcache._cli._main`): a store that is missing,
foreign or written by another serializer is refused with a one-line
:class:`CommandError` before anything in it can be changed.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .._exceptions import SerializationError
from .._models import Entry
from .._options import CacheOptions
from .._policy._keys import normalize_url
from .._serializers import (
    FORMAT_VERSION,
    Serializer,
    without_sealed_values,
)
from .._storages._url import make_serializer, parse_storage_url, storage_from_url
from .._storages.file._layout import CHILDREN_DIR, ENTRIES_DIR, is_namespace, is_shard
from .._storages.sqlite._sql import DEFAULT_TABLE_NAME
from . import _format as fmt

if TYPE_CHECKING:  # pragma: no cover
    from .._sync._storage import ManagedStorage

__all__ = ["CommandError", "find_entries", "open_storage", "options_for"]


class CommandError(Exception):
    """A runtime failure of a command, reported as one line (exit code 1)."""


# -- opening a store ---------------------------------------------------------------------------


def _check_file_cache(path: Path, shown: str) -> None:
    """Refuse a missing directory, a file, or a directory that holds something else."""
    if not path.exists():
        raise CommandError(f"no cache at {shown}")
    if not path.is_dir():
        raise CommandError(f"{shown} is not a cache directory")
    for name, belongs in ((ENTRIES_DIR, is_shard), (CHILDREN_DIR, is_namespace)):
        sub = path / name
        if not sub.exists():
            continue
        if not sub.is_dir() or not all(belongs(child) for child in os.listdir(sub)):
            raise CommandError(
                f"{shown} does not look like an httpcache file cache ({sub} holds other files);"
                " refusing to touch it"
            )


def _check_sqlite(path: str, table: str) -> None:
    """Refuse a missing file, or a database without the storage's table (never create one)."""
    if path == ":memory:":
        raise CommandError("an in-memory SQLite database lives inside one process: nothing to open")
    file = Path(path)
    if not file.exists():
        raise CommandError(f"no cache at {path}")
    if not file.is_file():
        raise CommandError(f"{path} is not an SQLite database file")
    try:
        connection = sqlite3.connect(file.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            row = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise CommandError(f"{path} is not a readable SQLite database: {exc}") from exc
    if row is None:
        raise CommandError(f"no cache at {path}: it has no {table!r} table")


class _GuardedSerializer:
    """Read records with ``inner``; stop the command at a record another serializer wrote.

    Storages treat a record their serializer cannot read as corrupt and delete it. A
    record in another serializer's format (or format version) is not corrupt: the
    command stops before the storage can delete it, and says how to read it.
    """

    def __init__(self, inner: Serializer, name: str, store: str) -> None:
        self._inner = inner
        self._name = name
        self._store = store

    def dumps(self, entry: Entry) -> bytes:
        return self._inner.dumps(entry)

    def loads(self, data: bytes) -> Entry:
        try:
            return self._inner.loads(data)
        except SerializationError:
            problem = fmt.foreign_record(data, self._name, FORMAT_VERSION)
            if problem is None:
                raise  # corrupt: the storage logs it, drops it, and the command goes on
            shown = fmt.redact_url(self._store)
            raise CommandError(f"{shown}: {problem}; its records were left in place") from None


@contextmanager
def open_storage(store: str, serializer: str | None = None) -> Iterator[ManagedStorage]:
    """Open the storage ``store`` names, never creating a directory or a database.

    Built by :func:`~httpcache.storage_from_url` with the serializer named by
    ``--serializer``, else by the URL's ``serializer=``, else JSON (guarded).
    """
    spec = parse_storage_url(store)
    if spec.backend == "memory":
        raise CommandError("a memory:// storage lives inside one process: nothing to open")
    if spec.backend == "file":
        base = str(spec.kwargs["base_path"])
        _check_file_cache(Path(base).expanduser(), base)
    elif spec.backend == "sqlite":
        table = str(spec.kwargs.get("table_name", DEFAULT_TABLE_NAME))
        _check_sqlite(str(spec.kwargs["path"]), table)
    name = serializer or str(spec.kwargs.get("serializer", "json"))
    # No key here: sealed Set-Cookie values are left out of what is shown, and their
    # records are read (not dropped as unreadable, as a serving cache without the key would).
    reader = without_sealed_values(make_serializer(name))
    guarded = _GuardedSerializer(reader, name, store)
    storage = storage_from_url(store, serializer=guarded)
    try:
        yield storage
    finally:
        storage.close()


def find_entries(storage: ManagedStorage, target: str) -> list[Entry]:
    """Return the entries ``target`` names: a key exactly, else a URL as the cache keys it.

    A URL is normalised the way the cache does (so the URL that was requested can be
    pasted); when it is no key (a custom ``key_func``), entries whose URL it is are
    looked for. Every variant (Vary, credentials) is returned.
    """
    entries = storage.get_entries(target)
    if not entries and "://" in target:
        url = normalize_url(target)
        if url != target:
            entries = storage.get_entries(url)
        if not entries:
            entries = [
                e for e in storage.iter_entries(fmt.glob_escape(url)) if e.request.url == url
            ]
    return sorted(entries, key=lambda e: (e.key, e.request.method, e.variant))


def options_for(args: argparse.Namespace) -> CacheOptions:
    return CacheOptions(shared=bool(getattr(args, "shared", False)))
