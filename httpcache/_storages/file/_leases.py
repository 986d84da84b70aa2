"""The leases of :class:`~httpcache.FileStorage`: one small file per leased key (blocking).

Shared by the sync and async shells like :mod:`._core` (the async storage runs each
function in a worker thread, one hop). A lease lives in ``<namespace>/leases/<h>.lease``
(``h``: the key's digest, as for records) and holds its token and wall-clock expiry
(:func:`~._layout.encode_lease`); :meth:`clear` removes the directory with the entries.

How a lease changes hands, and why two processes never both hold it:

* **Taking a free lease** is one ``os.open(O_CREAT | O_EXCL)`` and one ``write``: the
  kernel lets exactly one creator succeed. Until its content is written the file reads
  as empty, which counts as held (see :func:`~._layout.lease_lapsed`).
* **Taking over a lapsed lease** rewrites the file *in place*, under an exclusive
  ``flock`` of the file, after checking, with the lock held, that the locked file is
  still the one at the lease's path (same device and inode) and still lapsed. A rival
  that saw the same lapsed lease waits for nothing: its non-blocking ``flock`` fails
  (it returns ``None``), or it gets the lock afterwards, re-reads and finds the new
  holder's lease. The file is never absent during a takeover, so no ``O_EXCL``
  creator can slip in between.
* **Giving a lease back** unlinks the file under the same lock, after the same checks
  (the path still names the locked file, and it still holds the caller's token). An
  old holder whose lease lapsed and was taken over therefore finds another token and
  leaves the file alone.

Every change to an existing lease file (an in-place takeover, or the unlink of a
release) is made by the holder of that file's lock after checking under the lock that
it is still the file at the path; the only other change is an ``O_EXCL`` create, which
needs the path to be free. So no two processes ever see themselves holding one key.
Readers that skip the lock (the first look of every call) may read a file half
rewritten; that only ever makes them return ``None`` or take the locked path, which
reads again. A ``flock`` is released by the kernel when its holder dies, so a crash
never leaves a key locked; a crash while holding a lease leaves the file, which
lapses at its expiry (an unreadable one :data:`~._layout.UNREADABLE_LEASE_LAPSE`
seconds after it was written).

Needs ``fcntl.flock`` (POSIX: Linux, macOS, the BSDs). Where it is missing, taking
over a lapsed lease and giving one back raise :class:`OSError` (a ``StorageError`` in
the storage). ``flock`` on NFS needs a Linux client (which maps it to byte-range locks).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time

from . import _files as files
from . import _layout as layout

__all__ = ["acquire", "lease_path", "release"]

_CREATE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_BINARY", 0)
)
_OPEN_FLAGS = (
    os.O_RDWR
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_BINARY", 0)
)
_READ_BYTES = 256  # a lease file holds about 52 bytes
_ATTEMPTS = 3  # tries of acquire when the lease file vanishes under it (released meanwhile)
_RELEASE_WAIT = 1.0  # seconds a release waits for a takeover in progress to finish
_RELEASE_POLL = 0.001


def lease_path(directory: str, key: str) -> str:
    """Return the lease file of ``key`` in the namespace at ``directory``."""
    return f"{directory}/{layout.LEASES_DIR}/{layout.lease_name(layout.digest(key))}"


def _lock(fd: int) -> bool:
    """Take an exclusive ``flock`` of ``fd`` without waiting; tell whether it was taken."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        raise OSError(errno.ENOTSUP, "file storage leases need fcntl.flock (POSIX)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _is_current(fd: int, path: str) -> bool:
    """Tell whether ``path`` still names the file open as ``fd``."""
    held = os.fstat(fd)
    try:
        named = os.stat(path)
    except files.GONE:
        return False
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


def _read(fd: int) -> bytes:
    """Read the lease file open as ``fd`` from its start."""
    if hasattr(os, "pread"):
        return os.pread(fd, _READ_BYTES, 0)
    os.lseek(fd, 0, os.SEEK_SET)  # pragma: no cover - Windows
    return os.read(fd, _READ_BYTES)  # pragma: no cover


def _lapsed(fd: int, wall_now: float) -> bool:
    """Tell whether the lease file open as ``fd`` has lapsed (its age only if unreadable)."""
    lease = layout.decode_lease(_read(fd))
    mtime = os.fstat(fd).st_mtime if lease is None else 0.0
    return layout.lease_lapsed(lease, mtime, wall_now)


def _write(fd: int, data: bytes) -> None:
    """Write ``data`` at the start of ``fd`` and cut the file after it."""
    view = memoryview(data)
    offset = 0
    while offset < len(data):
        offset += os.pwrite(fd, view[offset:], offset)
    os.ftruncate(fd, len(data))


def _create(path: str, data: bytes) -> bool | None:
    """Create the lease file holding ``data``; ``False`` if it exists, ``None`` if no directory."""
    try:
        fd = os.open(path, _CREATE_FLAGS, 0o600)
    except FileExistsError:
        return False
    except FileNotFoundError:
        return None
    try:
        try:
            files.write_all(fd, data)
        finally:
            os.close(fd)
    except BaseException:
        files.unlink(path)  # still unreadable, so still ours: nobody took it over
        raise
    return True


def _take_over(path: str, data: bytes, wall_now: float) -> bool | None:
    """Rewrite a lapsed lease file with ``data``; tell whether it did (``None``: it went)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except files.GONE:
        return None
    try:
        if not _lapsed(fd, wall_now):
            return False  # the common case: held, decided without a lock
        if not _lock(fd):
            return False  # another process is taking it over (or giving it back) right now
        if not _is_current(fd, path):
            return None  # given back (unlinked) since it was opened
        if not _lapsed(fd, wall_now):
            return False  # taken over by another process since the first look
        _write(fd, data)
        return True
    finally:
        os.close(fd)  # releases the lock


def acquire(directory: str, key: str, ttl: float, wall_now: float) -> str | None:
    """Take the lease of ``key`` for ``ttl`` seconds from ``wall_now``; return its token.

    ``None`` when another holder has it and it has not lapsed, or another process is
    taking over the lapsed lease at this very moment. Never waits.
    """
    path = lease_path(directory, key)
    token = secrets.token_hex(16)
    data = layout.encode_lease(token, wall_now + ttl)
    for _ in range(_ATTEMPTS):
        created = _create(path, data)
        if created is None:
            with contextlib.suppress(FileNotFoundError):  # the namespace is being cleared
                files.make_dirs(os.path.dirname(path))
            continue
        if created:
            return token
        taken = _take_over(path, data, wall_now)
        if taken is not None:
            return token if taken else None
    return None


def release(directory: str, key: str, token: str) -> None:
    """Give the lease of ``key`` back (remove its file) if ``token`` still holds it.

    Waits at most :data:`_RELEASE_WAIT` seconds for a takeover that holds the file's
    lock (its critical section is a few system calls).

    Raises:
        OSError: The file system failed, or the lock stayed taken that long.
    """
    path = lease_path(directory, key)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except files.GONE:
        return
    try:
        if not _held_by(fd, token):
            return
        deadline = time.monotonic() + _RELEASE_WAIT
        while not _lock(fd):
            if time.monotonic() > deadline:
                raise OSError(errno.EAGAIN, "a lease file stayed locked", path)
            time.sleep(_RELEASE_POLL)
        if _is_current(fd, path) and _held_by(fd, token):
            os.unlink(path)
    finally:
        os.close(fd)


def _held_by(fd: int, token: str) -> bool:
    lease = layout.decode_lease(_read(fd))
    return lease is not None and lease[0] == token
