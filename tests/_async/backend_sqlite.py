"""The SQLite backend of the storage contract suite.

The storage pair is written by hand (DESIGN §2) in ``httpcache/_storages/sqlite/_async.py``
and ``_sync.py``; both are imported from the package face, so the generated sync copy of
this file (``AsyncSQLiteStorage`` -> ``SQLiteStorage``) tests the sync half.
"""

from __future__ import annotations

from httpcache import AsyncSQLiteStorage, Entry
from tests._async.storage_backends import Backend, Context, Lifetime


async def build(ctx: Context, lifetime: Lifetime) -> AsyncSQLiteStorage:
    root = AsyncSQLiteStorage(
        path=ctx.tmp_path / "cache.db", **lifetime, serializer=ctx.serializer, clock=ctx.clock
    )
    storage: AsyncSQLiteStorage = root.with_namespace(ctx.namespace)
    return storage


async def corrupt(storage: AsyncSQLiteStorage, entry: Entry) -> None:
    """Overwrite the stored head of ``entry`` with garbage, through the storage's connection."""
    changed = await storage._execute(
        f'UPDATE "{storage.table_name}" SET head = ?'
        " WHERE namespace = ? AND cache_key = ? AND variant = ?",
        (b"\x00not a record", storage.namespace, entry.key, entry.variant),
    )
    assert changed == 1


BACKEND = Backend("sqlite", build, corrupt)
