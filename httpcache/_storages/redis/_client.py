"""The Redis client of a storage tree: cache-suited settings, and one client per event loop.

Written by hand in both flavours (like ``file._batch``): ``scripts/unasync.py`` turns the
async storage's :class:`AsyncRedisClient` into :class:`RedisClient`.

A client the storage makes itself (``client=None``, or from a URL) gets settings suited
to a cache, where a miss is cheaper than a wait: connect and command timeouts of
:data:`CONNECT_TIMEOUT` and :data:`COMMAND_TIMEOUT` seconds and at most
:data:`RETRIES` immediate retry, with no backoff (redis-py's default retries with
exponential backoff, so an outage cost a request ~12 s). Query parameters of a URL
(``socket_timeout=``, ``socket_connect_timeout=``) override them.

A ``redis.asyncio`` client's connections belong to the loop they were opened on. The
async holder makes a fresh client of its own when the loop changes (the old one is
closed on its own loop as that loop ends, see :mod:`.._loops`); a caller's client is
used as it is, and a call that fails because it belongs to another loop raises a
:class:`StorageError` stating the rule.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from ..._exceptions import ConfigurationError, StorageError
from .._loops import WRONG_LOOP, LoopBinding, is_loop_error

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = [
    "COMMAND_TIMEOUT",
    "CONNECT_TIMEOUT",
    "RETRIES",
    "AsyncRedisClient",
    "RedisClient",
    "cache_settings",
    "check_bytes",
    "translate",
]

CONNECT_TIMEOUT = 0.5
"""Seconds a storage-made client waits to connect (``socket_connect_timeout``)."""
COMMAND_TIMEOUT = 0.5
"""Seconds a storage-made client waits for a reply (``socket_timeout``)."""
RETRIES = 1
"""Immediate retries of a failed command (connection or timeout errors), no backoff."""


def cache_settings(*, asynchronous: bool) -> dict[str, Any]:
    """Return the keyword arguments of a client the storage makes (``Redis(**...)``)."""
    from redis.backoff import NoBackoff

    if asynchronous:
        from redis.asyncio.retry import Retry as AsyncRetry

        retry: object = AsyncRetry(NoBackoff(), RETRIES)
    else:
        from redis.retry import Retry

        retry = Retry(NoBackoff(), RETRIES)
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": COMMAND_TIMEOUT,
        "retry": retry,
    }


def check_bytes(client: object) -> None:
    """Refuse a client that decodes responses (the storage reads raw bytes)."""
    pool = getattr(client, "connection_pool", None)
    if getattr(pool, "connection_kwargs", {}).get("decode_responses"):
        raise ConfigurationError(
            "the Redis client must return bytes: create it with decode_responses=False"
        )


@contextlib.contextmanager
def translate(action: str) -> Generator[None, None, None]:
    """Re-raise the Redis client's errors (and a wrong-loop error) as :class:`StorageError`."""
    from redis.exceptions import RedisError

    try:
        yield
    except RedisError as exc:
        raise StorageError(f"Redis failed while {action}: {exc}") from exc
    except RuntimeError as exc:
        if not is_loop_error(exc):
            raise
        raise StorageError(f"Redis failed while {action}: {WRONG_LOOP} ({exc})") from exc


class AsyncRedisClient:
    """The ``redis.asyncio`` client a storage and its namespaces share, per event loop.

    ``factory`` makes a client with the storage's settings; with one, the holder owns
    its clients: it makes one per loop and closes each (in :meth:`aclose`, and on its
    loop as that loop ends). Without one it holds the caller's client, owned only when
    ``owned`` is set (the test harness does), and never replaces it.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        factory: Callable[[], redis.asyncio.Redis] | None = None,
        *,
        owned: bool = False,
    ) -> None:
        self._client = client
        self.factory = factory
        self.owned = owned or factory is not None
        self._binding = LoopBinding()

    @classmethod
    def made(cls, url: str | None = None) -> AsyncRedisClient:
        """Return a holder of clients it makes with :func:`cache_settings` (from ``url``)."""
        from redis.asyncio import Redis

        def factory() -> redis.asyncio.Redis:
            settings = cache_settings(asynchronous=True)
            return Redis(**settings) if url is None else Redis.from_url(url, **settings)

        return cls(factory(), factory)

    @property
    def current(self) -> redis.asyncio.Redis:
        """The client last handed out (or the first one), without binding to a loop."""
        return self._client

    def get(self) -> redis.asyncio.Redis:
        """Return the client for the running loop (a new one of ours if the loop changed)."""
        if self._binding.changed():
            self._rebind()
        return self._client

    def _rebind(self) -> None:
        if self._binding.bound and self.factory is not None:
            self._client = self.factory()  # the old one is closed on its own loop
        self._binding.bind()
        if self.owned:
            self._binding.at_end(self._client.aclose)

    async def aclose(self) -> None:
        """Close the client if the holder owns it (a closed client reconnects if used)."""
        if self.owned:
            await self.get().aclose()


class RedisClient:
    """The sync twin: the one client a storage and its namespaces share."""

    def __init__(
        self,
        client: redis.Redis,
        factory: Callable[[], redis.Redis] | None = None,
        *,
        owned: bool = False,
    ) -> None:
        self._client = client
        self.factory = factory
        self.owned = owned or factory is not None

    @classmethod
    def made(cls, url: str | None = None) -> RedisClient:
        """Return a holder of a client it makes with :func:`cache_settings` (from ``url``)."""
        from redis import Redis

        def factory() -> redis.Redis:
            settings = cache_settings(asynchronous=False)
            return Redis(**settings) if url is None else Redis.from_url(url, **settings)

        return cls(factory(), factory)

    @property
    def current(self) -> redis.Redis:
        """The client."""
        return self._client

    def get(self) -> redis.Redis:
        """Return the client."""
        return self._client

    def close(self) -> None:
        """Close the client if the holder owns it (a closed client reconnects if used)."""
        if self.owned:
            self._client.close()
