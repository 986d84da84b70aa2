"""httpcache: an RFC 9111 HTTP cache for httpx, sync and async."""

from __future__ import annotations

from ._async._client import AsyncCacheClient
from ._async._storage import (
    AsyncEntryWriter,
    AsyncLeasingStorage,
    AsyncManagedStorage,
    AsyncStorage,
)
from ._async._transport import AsyncCacheTransport
from ._exceptions import ConfigurationError, HTTPCacheError, SerializationError, StorageError
from ._models import Entry, Headers, RequestHead, ResponseHead, StorageStats
from ._options import CacheOptions, URLRule
from ._serializers import JSONSerializer, PickleSerializer, Serializer, YAMLSerializer
from ._storages._url import async_storage_from_url, storage_from_url
from ._storages.file._async import AsyncFileStorage
from ._storages.file._sync import FileStorage
from ._storages.memory._async import AsyncInMemoryStorage
from ._storages.memory._sync import InMemoryStorage
from ._storages.redis._async import AsyncRedisStorage
from ._storages.redis._sync import RedisStorage
from ._storages.s3._async import AsyncS3Storage
from ._storages.s3._sync import S3Storage
from ._storages.sqlite._async import AsyncSQLiteStorage
from ._storages.sqlite._sync import SQLiteStorage
from ._sync._client import CacheClient
from ._sync._storage import EntryWriter, LeasingStorage, ManagedStorage, Storage
from ._sync._transport import CacheTransport

__version__ = "0.1.0"

__all__ = [
    "AsyncCacheClient",
    "AsyncCacheTransport",
    "AsyncEntryWriter",
    "AsyncFileStorage",
    "AsyncInMemoryStorage",
    "AsyncLeasingStorage",
    "AsyncManagedStorage",
    "AsyncRedisStorage",
    "AsyncS3Storage",
    "AsyncSQLiteStorage",
    "AsyncStorage",
    "CacheClient",
    "CacheOptions",
    "CacheTransport",
    "ConfigurationError",
    "Entry",
    "EntryWriter",
    "FileStorage",
    "HTTPCacheError",
    "Headers",
    "InMemoryStorage",
    "JSONSerializer",
    "LeasingStorage",
    "ManagedStorage",
    "PickleSerializer",
    "RedisStorage",
    "RequestHead",
    "ResponseHead",
    "S3Storage",
    "SQLiteStorage",
    "SerializationError",
    "Serializer",
    "Storage",
    "StorageError",
    "StorageStats",
    "URLRule",
    "YAMLSerializer",
    "__version__",
    "async_storage_from_url",
    "storage_from_url",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("httpcache."):
        _obj.__module__ = "httpcache"  # reprs say httpcache.CacheTransport, as httpx does
del _name, _obj
