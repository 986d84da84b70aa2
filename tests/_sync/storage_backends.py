"""The backends the storage contract suite runs against, and how to build each.

A backend is a :class:`Backend`: ``build`` makes a storage for one test (a
unique namespace or directory each time), ``corrupt`` overwrites one stored
record with garbage (to check that a corrupt record is a miss), and
``serializers`` names the serializers it takes. Server-backed backends find
their server themselves; under ``CI=true`` a missing server is a failure.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcache
from httpcache import Entry, JSONSerializer, PickleSerializer, Serializer, YAMLSerializer


class FakeClock:
    """A settable clock, injected into storages for ``ttl`` tests."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Lifetime = dict[str, Any]
"""Keyword arguments for a storage's lifetime: ``ttl``, ``sliding``, ``max_lifetime``."""


@dataclass
class Context:
    """What a backend may use to build one test's storage."""

    tmp_path: Path
    clock: FakeClock
    namespace: str
    serializer: Serializer | None


@dataclass
class Backend:
    name: str
    build: Callable[[Context, Lifetime], Awaitable[Any]]
    corrupt: Callable[[Any, Entry], Awaitable[None]]
    serializers: tuple[str, ...] = ("json", "pickle", "yaml")
    large_bodies: bool = True
    teardown: Callable[[Any], Awaitable[None]] | None = field(default=None)


SERIALIZERS: dict[str, Callable[[], Serializer] | None] = {
    "none": None,
    "json": JSONSerializer,
    "pickle": PickleSerializer,
    "yaml": YAMLSerializer,
}


# -- memory ------------------------------------------------------------------


def _build_memory(ctx: Context, lifetime: Lifetime) -> httpcache.InMemoryStorage:
    root = httpcache.InMemoryStorage(
        capacity=10_000, **lifetime, serializer=ctx.serializer, clock=ctx.clock
    )
    return root.with_namespace(ctx.namespace)


def _corrupt_memory(storage: httpcache.InMemoryStorage, entry: Entry) -> None:
    slot = (storage.namespace, entry.key, entry.variant)
    storage._core.records[slot].entry = b"\x00not a record"


BACKENDS: list[Backend] = [
    Backend("memory", _build_memory, _corrupt_memory, serializers=("none", "json")),
]

# Each persistent backend (and the custom-storage example of the docs, backend_custom)
# lives in its own module, tests/_sync/backend_<name>.py, exposing
# BACKEND (imported last: those modules import Backend and Context from this one).
for _name in ("file", "sqlite", "redis", "s3", "custom"):
    BACKENDS.append(importlib.import_module(f"tests._sync.backend_{_name}").BACKEND)
