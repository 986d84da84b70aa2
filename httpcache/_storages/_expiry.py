"""Storage-level expiry arithmetic shared by every backend (pure; ``now`` passed in).

A storage keeps an entry for a :class:`Lifetime`, independent of HTTP freshness:
an entry that is stale by HTTP is still kept so that it can be revalidated.

* ``ttl``: seconds an entry is kept, counted from its last write (storing it or
  freshening it with a 304). An entry's own ``ttl`` (the ``httpcache_ttl``
  request extension) overrides it.
* ``sliding``: count ``ttl`` from the entry's last *use* too, so an entry that
  keeps being hit keeps being kept.
* ``max_lifetime``: an absolute bound, counted from when the response was first
  stored, that neither hits nor revalidations extend.

A hit never has to write: sliding renewal is due only once a tenth of the entry's
``ttl`` has passed since it was last written or renewed (:meth:`Lifetime.renewal_due`),
so an entry hit a thousand times a second is renewed ten times per ``ttl``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._exceptions import ConfigurationError
from .._models import Entry

__all__ = ["RENEW_FRACTION", "Lifetime", "StorageLifetime", "expires_at", "is_expired"]

RENEW_FRACTION = 0.1
"""Sliding expiry renews an entry once this share of its ``ttl`` has passed since the last
renewal (or write), not on every hit."""


@dataclass(frozen=True, slots=True)
class Lifetime:
    """How long a storage keeps an entry (see the module docstring)."""

    ttl: float | None = None
    sliding: bool = False
    max_lifetime: float | None = None

    def __post_init__(self) -> None:
        if self.ttl is not None and self.ttl < 0:
            raise ConfigurationError("ttl must not be negative")
        if self.max_lifetime is not None and self.max_lifetime < 0:
            raise ConfigurationError("max_lifetime must not be negative")
        if self.sliding and self.ttl is None:
            raise ConfigurationError("sliding expiry needs a ttl to slide")

    def deadline(self, entry: Entry) -> float | None:
        """Return when ``entry`` leaves storage, or ``None`` when it never expires."""
        return self.deadline_of(
            created_at=entry.created_at,
            written_at=max(entry.created_at, entry.response_time),
            accessed_at=entry.accessed_at,
            entry_ttl=entry.ttl,
        )

    def deadline_of(
        self,
        *,
        created_at: float,
        written_at: float,
        accessed_at: float | None,
        entry_ttl: float | None,
    ) -> float | None:
        """Return the deadline of an entry described by its times (``None``: never).

        ``written_at`` is when it was last stored or freshened, ``accessed_at`` its
        last hit; backends that keep these outside the serialized entry (S3 object
        metadata) judge expiry without reading the entry.
        """
        ttl = entry_ttl if entry_ttl is not None else self.ttl
        deadline = None
        if ttl is not None:
            start = written_at
            if self.sliding and accessed_at is not None:
                start = max(start, accessed_at)
            deadline = start + ttl
        if self.max_lifetime is not None:
            cap = created_at + self.max_lifetime
            deadline = cap if deadline is None else min(deadline, cap)
        return deadline

    def renewal_due(self, entry: Entry, now: float) -> bool:
        """Tell whether a hit at ``now`` must renew ``entry``'s sliding lifetime.

        Only sliding lifetimes renew, and only once :data:`RENEW_FRACTION` of the
        entry's ``ttl`` has passed since it was written or last renewed; in between,
        the hit is bookkeeping that can wait for the next batch.
        """
        if not self.sliding:
            return False
        ttl = entry.ttl if entry.ttl is not None else self.ttl
        if ttl is None:
            return False
        last = max(entry.created_at, entry.response_time, entry.accessed_at or 0.0)
        return now - last >= ttl * RENEW_FRACTION

    def expired(self, entry: Entry, now: float) -> bool:
        """Tell whether ``entry`` has outlived its storage lifetime at ``now``."""
        deadline = self.deadline(entry)
        return deadline is not None and now >= deadline


class StorageLifetime:
    """A storage's read-only ``ttl``, ``sliding`` and ``max_lifetime``, from its ``_lifetime``."""

    _lifetime: Lifetime

    @property
    def ttl(self) -> float | None:
        """Seconds an entry is kept after it was stored, freshened (or, sliding, hit)."""
        return self._lifetime.ttl

    @property
    def sliding(self) -> bool:
        """Whether a hit renews an entry's ``ttl``."""
        return self._lifetime.sliding

    @property
    def max_lifetime(self) -> float | None:
        """Seconds an entry is kept at most after it was first stored, whatever renews it."""
        return self._lifetime.max_lifetime


def expires_at(entry: Entry, lifetime: Lifetime) -> float | None:
    """Return when ``entry`` leaves storage under ``lifetime`` (``None``: never)."""
    return lifetime.deadline(entry)


def is_expired(entry: Entry, lifetime: Lifetime, now: float) -> bool:
    """Tell whether ``entry`` has outlived ``lifetime`` at ``now``."""
    return lifetime.expired(entry, now)
