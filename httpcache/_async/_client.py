"""A drop-in httpx client that caches through every transport it uses."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from .._options import CacheOptions
from ._storage import AsyncStorage
from ._storage_choice import choose_storage
from ._transport import AsyncCacheTransport

__all__ = ["AsyncCacheClient"]


class AsyncCacheClient(httpx.AsyncClient):
    """An :class:`httpx.AsyncClient` with an HTTP cache on every transport.

    The default transport, a ``transport=`` you pass, each of ``mounts=`` and
    the proxy transports httpx builds from the environment are all wrapped in
    one :class:`AsyncCacheTransport` sharing one storage.

    Args:
        storage: Where entries live: a storage object, left open when the
            client closes, or a storage URL such as ``"sqlite:///cache.db"``
            or ``"redis://localhost:6379/0"``. Without it, the
            ``HTTPCACHE_STORAGE`` environment variable names the storage as a
            URL; without that, a new :class:`AsyncInMemoryStorage`. A storage
            the client builds (from a URL, or the default) is closed with it.
        options: How the cache behaves; see :class:`CacheOptions`.
        **kwargs: Everything :class:`httpx.AsyncClient` accepts.

    Raises:
        ConfigurationError: for a bad storage URL (in ``storage=`` or in
            ``HTTPCACHE_STORAGE``) or a missing extra.
        TypeError: for a ``storage=`` that is neither a storage nor a string.
    """

    def __init__(
        self,
        *,
        storage: AsyncStorage | str | None = None,
        options: CacheOptions | None = None,
        **kwargs: Any,
    ) -> None:
        self._cache_storage: AsyncStorage
        self._cache_storage, self._owns_cache_storage = choose_storage(storage)
        self._cache_options = options if options is not None else CacheOptions()
        super().__init__(**kwargs)
        self._transport = self._wrap(self._transport)
        self._mounts = {
            pattern: None if transport is None else self._wrap(transport)
            for pattern, transport in self._mounts.items()
        }

    def _wrap(self, transport: httpx.AsyncBaseTransport) -> AsyncCacheTransport:
        if isinstance(transport, AsyncCacheTransport):
            return transport
        return AsyncCacheTransport(
            transport, storage=self._cache_storage, options=self._cache_options
        )

    @property
    def storage(self) -> AsyncStorage:
        """The storage shared by every cached transport of this client."""
        return self._cache_storage

    @property
    def cache_options(self) -> CacheOptions:
        """The cache's configuration."""
        return self._cache_options

    async def aclose(self) -> None:
        """Close the transports, and the storage if this client created it."""
        await super().aclose()
        if self._owns_cache_storage:
            await self._cache_storage.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        # httpx closes the transports here without calling aclose().
        await super().__aexit__(exc_type, exc_value, traceback)
        if self._owns_cache_storage:
            await self._cache_storage.aclose()
