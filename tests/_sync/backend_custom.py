"""The custom-storage example of the docs (docs/examples/custom_storage.py) as a backend.

What docs/custom-storage.md shows must pass the same contract as the built-in storages.
The example always serializes (JSON by default), so it takes the three serializers.
"""

from __future__ import annotations

from docs.examples.custom_storage import DictStorage
from httpcache import Entry
from tests._sync.storage_backends import Backend, Context, Lifetime


def build(ctx: Context, lifetime: Lifetime) -> DictStorage:
    root = DictStorage(**lifetime, serializer=ctx.serializer, clock=ctx.clock)
    return root.with_namespace(ctx.namespace)


def corrupt(storage: DictStorage, entry: Entry) -> None:
    # The async twin wraps a sync storage (``_storage``); the sync storage holds the dict.
    inner = getattr(storage, "_storage", storage)
    inner._records[(inner.namespace, entry.key, entry.variant)].head = b"\x00not a record"


BACKEND = Backend("custom", build, corrupt)
