"""How the SQLite storages report failures (pure).

Every :mod:`sqlite3` error (``aiosqlite`` raises the same classes) and every OS error opening
the file becomes a :class:`StorageError` with the original as its ``__cause__``, which the
cache transport logs before it fails open.
"""

from __future__ import annotations

import sqlite3
from types import TracebackType

from ..._exceptions import StorageError

__all__ = ["storage_errors"]


class _StorageErrors:
    """Turn :mod:`sqlite3` and OS errors into :class:`StorageError` (a cheap context manager)."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, sqlite3.Error):
            raise StorageError(f"SQLite storage failed: {exc}") from exc
        if isinstance(exc, OSError):
            raise StorageError(f"SQLite storage could not open its database: {exc}") from exc


storage_errors = _StorageErrors()
"""Use as ``with storage_errors:``; it keeps no state, so one instance serves every call."""
