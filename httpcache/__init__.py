"""httpcache: an RFC 9111 HTTP cache for httpx, sync and async."""

from __future__ import annotations

from ._async._client import AsyncCacheClient
from ._async._file import AsyncFileStorage
from ._async._in_memory import AsyncInMemoryStorage
from ._async._redis import AsyncRedisStorage
from ._async._storage import AsyncEntryWriter, AsyncManagedStorage, AsyncStorage
from ._async._transport import AsyncCacheTransport
from ._exceptions import ConfigurationError, HTTPCacheError, SerializationError, StorageError
from ._models import Entry, Headers, RequestHead, ResponseHead, StorageStats
from ._options import CacheOptions
from ._s3_async import AsyncS3Storage
from ._s3_sync import S3Storage
from ._serializers import JSONSerializer, PickleSerializer, Serializer, YAMLSerializer
from ._sqlite_async import AsyncSQLiteStorage
from ._sqlite_sync import SQLiteStorage
from ._storage_url import async_storage_from_url, storage_from_url
from ._sync._client import CacheClient
from ._sync._file import FileStorage
from ._sync._in_memory import InMemoryStorage
from ._sync._redis import RedisStorage
from ._sync._storage import EntryWriter, ManagedStorage, Storage
from ._sync._transport import CacheTransport

__version__ = "0.1.0"

__all__ = [
    "AsyncCacheClient",
    "AsyncCacheTransport",
    "AsyncEntryWriter",
    "AsyncFileStorage",
    "AsyncInMemoryStorage",
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
