"""The database file of the SQLite storages, created private before SQLite opens it.

The one piece of file-system I/O the two shells share (DESIGN §5: a cache may hold private
responses, so its file is readable by its owner only).
"""

from __future__ import annotations

import os

from ._sql import is_memory

__all__ = ["create_private_file"]


def create_private_file(database: str) -> None:
    """Create ``database`` readable by its owner only (0600) unless it exists."""
    if is_memory(database):
        return
    try:
        fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
