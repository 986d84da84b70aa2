"""The blocking file work of :class:`~httpcache.FileStorage`, shared by the sync and async shells.

Nothing here differs between the two modes: the async storage runs each method in a
worker thread (one hop per operation), the sync one calls it directly. Names and
paths come from :mod:`._layout`, the record bytes from :mod:`._record`, the file
helpers from :mod:`._files`.

Invariants:

* One record file per key holds every variant's head, small bodies inline. It is
  only ever replaced whole: a new record goes to a temporary file in the key
  directory and is renamed over the old one (``os.replace``), so a reader sees the
  old record or the new one, never a mix and never a partial file.
* A large body is streamed to a temporary file and renamed to ``<token>.body``
  before the record naming it is published; bodies are never rewritten, and a
  body no record names any more is deleted by whoever unnamed it.
* A read-modify-write checks, just before its rename, that the record is still the
  file it read (same inode); if another writer got there first it starts over, so a
  concurrent variant or hit is rarely lost. A loss is only ever a later miss.
* A file that vanishes mid-operation (another process removed it) is a miss, never
  an error. Corrupt or foreign records are dropped with a WARNING. Any other
  ``OSError`` reaches the shell, which makes it a ``StorageError``.
* Decoding a record is memoised by its exact bytes (bounded), so a hit on an
  unchanged record costs one read and one comparison, never a second decode.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import secrets
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from ..._exceptions import SerializationError
from ..._models import Entry, StorageStats
from ..._serializers import Serializer
from .._expiry import Lifetime
from .._hits import PendingHit
from . import _files as files
from . import _layout as layout
from ._record import Frame, decode_record, encode_record, record_size

__all__ = ["FileCore", "Slot"]

logger = logging.getLogger("httpcache.storage")

_ATTEMPTS = 5  # tries of a read-modify-write before the last one writes regardless

Change = Callable[[list["Slot"]], "list[Frame] | None"]
"""Given a key's current variants, return its new frames (``[]``: none), or ``None``: no change."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One decoded variant of a record: the entry (``body``/``body_ref`` set) and its frame."""

    entry: Entry
    frame: Frame


@dataclass(frozen=True, slots=True)
class _Place:
    """Where one key's files are."""

    hashed: str  # the key's digest
    dir: str  # its shard directory
    record: str  # its record file

    def body(self, token: str) -> str:
        """Return the path of this key's large body ``token``."""
        return f"{self.dir}/{self.hashed}.{token}{layout.BODY_SUFFIX}"


class FileCore:
    """Blocking operations on one namespace directory (see the module docstring)."""

    def __init__(
        self, base: str, directory: str, serializer: Serializer, lifetime: Lifetime
    ) -> None:
        self.base = base
        self.dir = directory
        self._serializer = serializer
        self._lifetime = lifetime
        self._may_expire = lifetime.ttl is not None or lifetime.max_lifetime is not None
        self._lock = threading.Lock()
        self._decoded: OrderedDict[str, tuple[bytes, tuple[Slot, ...]]] = OrderedDict()
        self._decoded_bytes = 0

    def place(self, key: str) -> _Place:
        hashed = layout.digest(key)
        shard = layout.shard_dir(self.dir, hashed)
        return _Place(hashed, shard, f"{shard}/{hashed}{layout.RECORD_SUFFIX}")

    def _shown(self, path: str) -> str:
        """Return ``path`` relative to the cache directory, for messages."""
        return path[len(self.base) + 1 :] if path.startswith(self.base + "/") else path

    # -- decoding, memoised --------------------------------------------------------------

    def _expired(self, entry: Entry, now: float) -> bool:
        return (self._may_expire or entry.ttl is not None) and self._lifetime.expired(entry, now)

    def _decode(self, path: str, raw: bytes, hashed: str) -> tuple[Slot, ...] | None:
        """Return the variants in ``raw`` (read from ``path``); drop the file if corrupt."""
        with self._lock:
            memo = self._decoded.get(path)
            if memo is not None and memo[0] == raw:
                self._decoded.move_to_end(path)
                return memo[1]
        try:
            slots = self._decode_fresh(raw, hashed)
        except SerializationError as exc:
            logger.warning("dropping an unreadable cache record %s: %s", self._shown(path), exc)
            self._forget(path)
            files.unlink(path)
            return None
        with self._lock:
            previous = self._decoded.pop(path, None)
            if previous is not None:
                self._decoded_bytes -= len(previous[0])
            self._decoded[path] = (raw, slots)
            self._decoded_bytes += len(raw)
            while len(self._decoded) > layout.DECODED_RECORDS or (
                self._decoded_bytes > layout.DECODED_BYTES and len(self._decoded) > 1
            ):
                _, (old, _) = self._decoded.popitem(last=False)
                self._decoded_bytes -= len(old)
        return slots

    def _decode_fresh(self, raw: bytes, hashed: str) -> tuple[Slot, ...]:
        slots = []
        seen: set[str] = set()
        for frame in decode_record(raw, layout.MAX_RECORD_BYTES):
            entry = self._serializer.loads(frame.head)
            if layout.digest(entry.key) != hashed or entry.variant in seen:
                raise SerializationError("record stored under another key, or a variant twice")
            seen.add(entry.variant)
            if entry.size is not None and entry.size != frame.size:
                raise SerializationError("record head and body disagree on the body's size")
            if frame.body is not None:
                entry = replace(entry, size=frame.size, body=frame.body)
            else:
                entry = replace(entry, size=frame.size, body_ref=frame.token)
            slots.append(Slot(entry, frame))
        return tuple(slots)

    def _forget(self, path: str) -> None:
        with self._lock:
            memo = self._decoded.pop(path, None)
            if memo is not None:
                self._decoded_bytes -= len(memo[0])

    def forget_all(self) -> None:
        with self._lock:
            self._decoded.clear()
            self._decoded_bytes = 0

    # -- reading -----------------------------------------------------------------------------

    def lookup(self, item: tuple[str, float]) -> list[Entry]:
        """Return every variant of ``key`` unexpired at ``now`` (``item``); one read.

        Expired variants found are removed.
        """
        key, now = item
        hashed, path = _record_of(self.dir, key)
        raw = files.read(path)
        if raw is None:
            return []
        slots = self._decode(path, raw, hashed)
        if not slots:
            return []
        expired = self._expired
        found = [slot.entry for slot in slots if not expired(slot.entry, now)]
        if len(found) < len(slots):
            self._modify(self.place(key), self._drop_expired(now))
        return found

    def open_body(self, entry: Entry) -> bytes | io.BufferedReader | None:
        """Return ``entry``'s stored body: inline bytes, an open file, or None if gone."""
        where = self.place(entry.key)
        token = entry.body_ref if entry.body is None and layout.is_token(entry.body_ref) else None
        if token is None:
            raw = files.read(where.record)
            slots = () if raw is None else self._decode(where.record, raw, where.hashed) or ()
            slot = next((s for s in slots if _matches(s.entry, entry)), None)
            if slot is None:
                return None
            if slot.frame.body is not None:
                return slot.frame.body
            token = slot.frame.token
            assert token is not None
        path = where.body(token)
        try:
            file = open(path, "rb")  # noqa: SIM115 - closed by the body
        except FileNotFoundError:  # the record outlived its body (lost race): a miss
            self._modify(where, _drop_token(token))
            return None
        try:
            size = os.fstat(file.fileno()).st_size
        except BaseException:
            file.close()
            raise
        if entry.size is not None and size != entry.size:
            file.close()
            logger.warning(
                "dropping a cache record whose body is incomplete: %s", self._shown(path)
            )
            self._modify(where, _drop_token(token))
            return None
        return file

    # -- writing -----------------------------------------------------------------------------

    def _modify(self, where: _Place, change: Change) -> None:
        """Read ``where``'s record, apply ``change`` and publish the result atomically."""
        for attempt in range(1, _ATTEMPTS + 1):
            raw, inode = files.read_with_inode(where.record)
            slots: Sequence[Slot] = ()
            if raw is not None:
                slots = self._decode(where.record, raw, where.hashed) or ()
            frames = change(list(slots))
            if frames is None:
                return
            if self._publish(where, frames, inode, last=attempt == _ATTEMPTS):
                kept = {frame.token for frame in frames}
                for slot in slots:
                    if slot.frame.token is not None and slot.frame.token not in kept:
                        files.unlink(where.body(slot.frame.token))
                return

    def _publish(self, where: _Place, frames: list[Frame], inode: int | None, last: bool) -> bool:
        """Replace the record with ``frames`` unless it changed since it was read (``inode``)."""
        if not frames:
            if inode is not None and (last or files.inode(where.record) == inode):
                files.unlink(where.record)
            return True
        temp, fd = files.create_temp(where.dir)
        try:
            try:
                files.write_all(fd, encode_record(frames))
            finally:
                os.close(fd)
            if not last and files.inode(where.record) != inode:
                files.unlink(temp)
                return False
            os.replace(temp, where.record)
        except BaseException:
            files.unlink(temp)
            raise
        return True

    def store(self, entry: Entry, body: bytes | None, token: str | None) -> None:
        """Publish ``entry`` (``size`` set) with its inline ``body`` or its body file ``token``."""
        assert entry.size is not None
        head = self._serializer.dumps(entry)
        frame = Frame(head, entry.size, body, token)

        def change(slots: list[Slot]) -> list[Frame]:
            others = [s for s in slots if s.entry.variant != entry.variant]
            others.sort(key=lambda s: s.entry.created_at)
            frames = [s.frame for s in others]
            while frames and record_size([*frames, frame]) > layout.MAX_RECORD_BYTES:
                frames.pop(0)  # the oldest variants make room
            return [*frames, frame]

        self._modify(self.place(entry.key), change)

    def spill(self, key: str, chunks: Iterable[bytes]) -> tuple[str, io.BufferedWriter]:
        """Start a large body: a temporary file in ``key``'s directory holding ``chunks``."""
        temp, fd = files.create_temp(self.place(key).dir)
        file = os.fdopen(fd, "wb")
        try:
            for chunk in chunks:
                file.write(chunk)
        except BaseException:
            files.discard_temp(temp, file)
            raise
        return temp, file

    def store_file(self, entry: Entry, temp: str, file: io.BufferedWriter) -> None:
        """Name the spilled body ``temp`` by a fresh token, then publish ``entry`` naming it."""
        try:
            file.close()
        except BaseException:
            files.unlink(temp)
            raise
        token = secrets.token_hex(16)
        path = self.place(entry.key).body(token)
        try:
            os.replace(temp, path)
        except BaseException:
            files.unlink(temp)
            raise
        try:
            self.store(entry, None, token)
        except BaseException:
            files.unlink(path)
            raise

    def update(self, entry: Entry) -> None:
        """Replace the head of ``entry``'s stored response (a 304 freshened it); keep its body."""

        def change(slots: list[Slot]) -> list[Frame] | None:
            for n, slot in enumerate(slots):
                stored = slot.entry
                if stored.variant == entry.variant and layout.same_entry(stored, entry):
                    # Hits and accessed_at are the storage's bookkeeping, not the caller's:
                    # the entry may carry hits still pending in this process.
                    updated = replace(
                        entry, size=stored.size, hits=stored.hits, accessed_at=stored.accessed_at
                    )
                    head = self._serializer.dumps(updated)
                    frames = [s.frame for s in slots]
                    frames[n] = Frame(head, slot.frame.size, slot.frame.body, slot.frame.token)
                    return frames
            return None  # gone, or replaced by another response: nothing to update

        self._modify(self.place(entry.key), change)

    def write_hits(self, batch: Sequence[PendingHit]) -> None:
        """Apply buffered hits: one read-modify-write per key, only on the same responses."""
        by_key: dict[str, list[PendingHit]] = {}
        for hit in batch:
            by_key.setdefault(hit.key, []).append(hit)
        for key, hits in by_key.items():
            with contextlib.suppress(
                *files.GONE
            ):  # the key directory went meanwhile: nothing to do
                self._modify(self.place(key), self._add_hits(hits))

    def _add_hits(self, hits: list[PendingHit]) -> Change:
        def change(slots: list[Slot]) -> list[Frame] | None:
            frames = [s.frame for s in slots]
            changed = False
            for n, slot in enumerate(slots):
                stored = slot.entry
                for hit in hits:
                    if hit.variant != stored.variant or hit.created_at != stored.created_at:
                        continue
                    if hit.size is not None and hit.size != stored.size:
                        continue
                    seen = max(stored.accessed_at or hit.accessed_at, hit.accessed_at)
                    stored = replace(stored, hits=stored.hits + hit.count, accessed_at=seen)
                    frame = slot.frame
                    head = self._serializer.dumps(stored)
                    frames[n] = Frame(head, frame.size, frame.body, frame.token)
                    changed = True
            return frames if changed else None

        return change

    def delete(self, key: str, variants: Sequence[str] | None) -> None:
        """Remove the given variants of ``key`` (all when None) and their body files."""
        doomed = None if variants is None else set(variants)

        def change(slots: list[Slot]) -> list[Frame] | None:
            kept = [s.frame for s in slots if doomed is not None and s.entry.variant not in doomed]
            return kept if len(kept) < len(slots) else None

        self._modify(self.place(key), change)

    def _drop_expired(self, now: float) -> Change:
        def change(slots: list[Slot]) -> list[Frame] | None:
            kept = [s.frame for s in slots if not self._expired(s.entry, now)]
            return kept if len(kept) < len(slots) else None

        return change

    # -- management ----------------------------------------------------------------------------

    def shard_dirs(self, directory: str) -> list[str]:
        """Return every shard directory of the namespace at ``directory`` and its children."""
        found: list[str] = []
        entries = f"{directory}/{layout.ENTRIES_DIR}"
        found.extend(
            f"{entries}/{shard}" for shard in files.listdir(entries) if layout.is_shard(shard)
        )
        children = f"{directory}/{layout.CHILDREN_DIR}"
        for child in files.listdir(children):
            if layout.is_namespace(child):
                found.extend(self.shard_dirs(f"{children}/{child}"))
        return found

    def record_paths(self, directory: str) -> list[str]:
        """Return every record file of the namespace at ``directory`` and its children."""
        return [
            f"{shard}/{name}"
            for shard in self.shard_dirs(directory)
            for name in files.listdir(shard)
            if (info := layout.parse_name(name)) is not None and info.kind == "record"
        ]

    def _place_of(self, record: str) -> _Place:
        shard, _, name = record.rpartition("/")
        return _Place(name[: -len(layout.RECORD_SUFFIX)], shard, record)

    def _slots_at(self, where: _Place) -> tuple[Slot, ...]:
        raw = files.read(where.record)
        return () if raw is None else self._decode(where.record, raw, where.hashed) or ()

    def load_live(self, records: list[str], now: float) -> list[Entry]:
        """Return the unexpired entries of ``records``; expired ones are removed."""
        found: list[Entry] = []
        for record in records:
            where = self._place_of(record)
            slots = self._slots_at(where)
            live = [s.entry for s in slots if not self._expired(s.entry, now)]
            if len(live) < len(slots):
                self._modify(where, self._drop_expired(now))
            found.extend(live)
        return found

    def stats(self, now: float) -> StorageStats:
        entries = expired = size = 0
        for record in self.record_paths(self.dir):
            where = self._place_of(record)
            slots = self._slots_at(where)
            counted = False
            for slot in slots:
                if slot.frame.token is not None:
                    try:
                        size += os.stat(where.body(slot.frame.token)).st_size
                    except files.GONE:
                        continue
                entries += 1
                expired += self._expired(slot.entry, now)
                counted = True
            if counted:
                size += record_size([s.frame for s in slots])
        return StorageStats(entries=entries, bytes=size, expired=expired)

    def sweep(self, directory: str, now: float, wall_now: float) -> int:
        """Remove expired entries and garbage under ``directory``; return entries removed."""
        removed = 0
        for name in files.listdir(directory):
            if name.startswith(layout.TRASH_PREFIX):
                shutil.rmtree(f"{directory}/{name}", ignore_errors=True)
            elif name.startswith(layout.TEMP_PREFIX) and name.endswith(layout.TEMP_SUFFIX):
                files.remove_if_stale(f"{directory}/{name}", wall_now)
        entries = f"{directory}/{layout.ENTRIES_DIR}"
        for shard in files.listdir(entries):
            if not layout.is_shard(shard):
                continue
            for name in files.listdir(f"{entries}/{shard}"):
                if layout.is_legacy_dir(name):  # the 0.1 layout: never read again
                    shutil.rmtree(f"{entries}/{shard}/{name}", ignore_errors=True)
            removed += self._sweep_shard(f"{entries}/{shard}", now, wall_now)
        children = f"{directory}/{layout.CHILDREN_DIR}"
        for child in files.listdir(children):
            if layout.is_namespace(child):
                removed += self.sweep(f"{children}/{child}", now, wall_now)
        return removed

    def _sweep_shard(self, shard: str, now: float, wall_now: float) -> int:
        removed = 0
        names = files.listdir(shard)
        named: set[str] = set()
        for name in names:
            info = layout.parse_name(name)
            if info is None or info.kind != "record":
                continue
            where = _Place(info.hashed, shard, f"{shard}/{name}")
            slots = self._slots_at(where)
            expired = [s for s in slots if self._expired(s.entry, now)]
            if expired:
                self._modify(where, self._drop_expired(now))
                removed += len(expired)
            for slot in slots:
                token = slot.frame.token
                if slot in expired or token is None:
                    continue
                body = layout.body_name(info.hashed, token)
                if body in names:
                    named.add(body)
                else:  # its body was lost in a race: the variant is useless
                    self._modify(where, _drop_token(token))
        for name in names:
            info = layout.parse_name(name)
            if info is not None and info.kind != "record" and name not in named:
                files.remove_if_stale(f"{shard}/{name}", wall_now)
        return removed  # the shard directory stays (there are 256 at most)

    def sweep_if_due(self, now: float, every: float, wall_now: float) -> None:
        """Sweep this namespace unless some process did within ``every`` seconds."""
        try:
            last = layout.decode_marker(files.read_small(f"{self.dir}/{layout.SWEEP_MARKER}"))
        except files.GONE:
            last = None
        if not layout.sweep_due(now, last, every):
            return
        try:
            files.write_atomic(self.dir, layout.SWEEP_MARKER, layout.encode_marker(now))
        except files.GONE:
            return  # nothing stored in this namespace yet (or it was just cleared)
        self.sweep(self.dir, now, wall_now)

    def check_health(self) -> None:
        files.make_dirs(self.dir)
        temp, fd = files.create_temp(self.dir, make=False)
        os.close(fd)
        os.unlink(temp)

    def clear(self) -> None:
        files.discard_dir(self.dir, layout.ENTRIES_DIR)
        files.discard_dir(self.dir, layout.CHILDREN_DIR)
        files.discard_dir(self.dir, layout.LEASES_DIR)
        self.forget_all()


@functools.lru_cache(maxsize=4096)
def _record_of(directory: str, key: str) -> tuple[str, str]:
    """Return the digest of ``key`` and the path of its record (remembered: hot keys repeat)."""
    hashed = layout.digest(key)
    return hashed, f"{layout.shard_dir(directory, hashed)}/{hashed}{layout.RECORD_SUFFIX}"


def _matches(stored: Entry, wanted: Entry) -> bool:
    return stored.variant == wanted.variant and layout.same_entry(stored, wanted)


def _drop_token(token: str) -> Change:
    """Drop the variant whose body is the file ``token`` (vanished or incomplete)."""

    def change(slots: list[Slot]) -> list[Frame] | None:
        kept = [s.frame for s in slots if s.frame.token != token]
        return kept if len(kept) < len(slots) else None

    return change
