"""The file backend of the storage contract suite: a fresh directory per test."""

from __future__ import annotations

from httpcache import Entry
from httpcache._storages.file._sync import FileStorage
from tests._sync.storage_backends import Backend, Context, Lifetime


def build(ctx: Context, lifetime: Lifetime) -> FileStorage:
    root = FileStorage(
        base_path=ctx.tmp_path / "cache", **lifetime, serializer=ctx.serializer, clock=ctx.clock
    )
    return root.with_namespace(ctx.namespace)


def corrupt(storage: FileStorage, entry: Entry) -> None:
    storage._record_path(entry.key).write_bytes(b"\x00not a record")


BACKEND = Backend("file", build, corrupt)
