"""Blocking file helpers of :class:`~httpcache.FileStorage`: whole reads, 0600 temporary files.

Paths are plain strings. A file or directory that is missing is ``None`` or an empty
listing where that is a normal answer (another process removed it); other
``OSError`` exceptions propagate.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil

from . import _layout as layout

__all__ = [
    "GONE",
    "create_temp",
    "discard_dir",
    "discard_temp",
    "inode",
    "listdir",
    "make_dirs",
    "read",
    "read_small",
    "read_with_inode",
    "remove_if_stale",
    "unlink",
    "write_all",
    "write_atomic",
]

_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_TEMP_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_BINARY", 0)
)
_FIRST_READ = 64 * 1024  # one read() fetches a whole record of this size or less
_ATTEMPTS = 5  # tries to create a temporary file while its directory is being cleared
GONE = (FileNotFoundError, NotADirectoryError)


def _read_fd(fd: int) -> bytes:
    """Read a whole record from ``fd`` (at most the record limit and one byte)."""
    data = os.read(fd, _FIRST_READ)
    if len(data) < _FIRST_READ:
        return data
    chunks = [data]
    total = len(data)
    while total <= layout.MAX_RECORD_BYTES:
        chunk = os.read(fd, min(_FIRST_READ, layout.MAX_RECORD_BYTES + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read(path: str) -> bytes | None:
    """Return the whole record at ``path``, or None if there is none."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except GONE:
        return None
    try:
        return _read_fd(fd)
    finally:
        os.close(fd)


def read_with_inode(path: str) -> tuple[bytes | None, int | None]:
    """Return the record at ``path`` and its inode (``(None, None)`` if missing)."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except GONE:
        return None, None
    try:
        return _read_fd(fd), os.fstat(fd).st_ino
    finally:
        os.close(fd)


def inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except GONE:
        return None


def make_dirs(path: str) -> None:
    """Create ``path`` and its missing parents, each with mode 0700 whatever the umask."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return
    except FileNotFoundError:
        parent = os.path.dirname(path)
        if parent == path:
            raise
        make_dirs(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)


def unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        os.unlink(path)


def listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except GONE:
        return []


def read_small(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read(4096)


def create_temp(directory: str, *, make: bool = True) -> tuple[str, int]:
    """Create a 0600 temporary file in ``directory`` (made if missing); return it and its fd."""
    attempt = 1
    while True:
        temp = f"{directory}/{layout.TEMP_PREFIX}{secrets.token_hex(8)}{layout.TEMP_SUFFIX}"
        try:
            return temp, os.open(temp, _TEMP_FLAGS, 0o600)
        except FileExistsError:  # pragma: no cover - 64 random bits collided
            pass
        except FileNotFoundError:  # never stored here, or the namespace was just cleared
            if not make or attempt == _ATTEMPTS:
                raise
            with contextlib.suppress(FileNotFoundError):  # cleared again meanwhile: retry
                make_dirs(directory)
        attempt += 1


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_atomic(directory: str, name: str, data: bytes) -> None:
    """Write ``data`` to ``directory/name`` through a temporary file and ``os.replace``."""
    temp, fd = create_temp(directory, make=False)
    try:
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(temp, f"{directory}/{name}")
    except BaseException:
        unlink(temp)
        raise


def discard_dir(parent: str, name: str) -> None:
    """Remove ``parent/name``: first renamed aside (atomic), then deleted."""
    trash = f"{parent}/{layout.TRASH_PREFIX}{secrets.token_hex(8)}"
    try:
        os.rename(f"{parent}/{name}", trash)
    except GONE:
        return
    except OSError:  # cannot rename (open files on some systems): delete in place
        trash = f"{parent}/{name}"
    shutil.rmtree(trash, ignore_errors=True)


def remove_if_stale(path: str, wall_now: float) -> None:
    try:
        if layout.is_stale(os.stat(path).st_mtime, wall_now):
            unlink(path)
    except GONE:
        pass


def discard_temp(temp: str, file: io.BufferedWriter) -> None:
    try:
        file.close()
    finally:
        unlink(temp)
