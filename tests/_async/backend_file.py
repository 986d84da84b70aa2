"""The file backend of the storage contract suite: a fresh directory per test."""

from __future__ import annotations

from httpcache import Entry
from httpcache._storages.file._async import AsyncFileStorage
from tests._async.storage_backends import Backend, Context, Lifetime


async def build(ctx: Context, lifetime: Lifetime) -> AsyncFileStorage:
    root = AsyncFileStorage(
        base_path=ctx.tmp_path / "cache", **lifetime, serializer=ctx.serializer, clock=ctx.clock
    )
    return root.with_namespace(ctx.namespace)


async def corrupt(storage: AsyncFileStorage, entry: Entry) -> None:
    storage._record_path(entry.key).write_bytes(b"\x00not a record")


BACKEND = Backend("file", build, corrupt)
