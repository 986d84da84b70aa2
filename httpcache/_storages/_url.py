"""Build a storage from a URL (DESIGN §3): what the CLI and configuration use.

========================================  ==========================================
URL                                       storage
========================================  ==========================================
``memory://?capacity=500``                ``InMemoryStorage(capacity=500)``
``file:///var/cache/app`` or a plain path ``FileStorage(base_path="/var/cache/app")``
``sqlite:///cache.db``                    ``SQLiteStorage(path="cache.db")``
``sqlite:////abs/cache.db``               ``SQLiteStorage(path="/abs/cache.db")``
``redis://host:6379/0?namespace=x``       ``RedisStorage(client=<from the URL>, namespace="x")``
``s3://bucket/prefix``                    ``S3Storage(bucket_name="bucket", key_prefix="prefix/")``
========================================  ==========================================

``sqlite://`` also takes ``table_name=`` and ``timeout=<seconds>`` (the busy timeout);
``redis://`` passes every other parameter to ``Redis.from_url`` (``socket_timeout=``,
``socket_connect_timeout=`` override the storage's cache-suited defaults).

Every URL takes ``ttl=<seconds>``, ``sliding=true`` (a hit renews ``ttl``),
``max_lifetime=<seconds>`` and ``serializer=json|pickle|yaml``. Parsing is pure
(:func:`parse_storage_url`); the backends are imported only when built, so a missing
extra is reported as a :class:`~httpcache.ConfigurationError` naming it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .._exceptions import ConfigurationError

if TYPE_CHECKING:  # pragma: no cover
    from .._async._storage import AsyncManagedStorage
    from .._serializers import Serializer
    from .._sync._storage import ManagedStorage

__all__ = [
    "SERIALIZER_NAMES",
    "STORAGE_VARIABLE",
    "StorageSpec",
    "async_storage_from_url",
    "make_serializer",
    "parse_storage_url",
    "storage_from_url",
]

_SCHEMES = ("memory", "file", "sqlite", "redis", "rediss", "s3")
SERIALIZER_NAMES = ("json", "pickle", "yaml")
"""The values of a storage URL's ``serializer=`` parameter."""

STORAGE_VARIABLE = "HTTPCACHE_STORAGE"
"""Environment variable naming, as a URL, the storage a client or transport uses by default."""

# scheme -> (sync module, sync class, async module, async class, extra)
_BACKENDS: dict[str, tuple[str, str, str, str, str | None]] = {
    "memory": (
        "httpcache._storages.memory._sync",
        "InMemoryStorage",
        "httpcache._storages.memory._async",
        "AsyncInMemoryStorage",
        None,
    ),
    "file": (
        "httpcache._storages.file._sync",
        "FileStorage",
        "httpcache._storages.file._async",
        "AsyncFileStorage",
        None,
    ),
    "sqlite": (
        "httpcache._storages.sqlite._sync",
        "SQLiteStorage",
        "httpcache._storages.sqlite._async",
        "AsyncSQLiteStorage",
        "sqlite",
    ),
    "redis": (
        "httpcache._storages.redis._sync",
        "RedisStorage",
        "httpcache._storages.redis._async",
        "AsyncRedisStorage",
        "redis",
    ),
    "s3": (
        "httpcache._storages.s3._sync",
        "S3Storage",
        "httpcache._storages.s3._async",
        "AsyncS3Storage",
        "s3",
    ),
}


@dataclass(frozen=True, slots=True)
class StorageSpec:
    """What a storage URL asks for: a backend name and its keyword arguments.

    ``client_url`` is set for Redis: the URL (without httpcache's own query
    parameters) to build the client from.
    """

    backend: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    client_url: str | None = None


def _number(name: str, value: str, kind: type[int] | type[float]) -> int | float:
    try:
        number = kind(value)
    except ValueError:
        raise ConfigurationError(
            f"storage URL parameter {name}={value!r} is not a number"
        ) from None
    if number < 0:
        raise ConfigurationError(f"storage URL parameter {name} must not be negative")
    return number


def _flag(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"storage URL parameter {name}={value!r} is not true or false")


def parse_storage_url(url: str) -> StorageSpec:
    """Parse a storage URL or a plain directory path into a :class:`StorageSpec`.

    Raises:
        ConfigurationError: for an unknown scheme, a missing bucket or path, or
            a malformed parameter.
    """
    if "://" not in url:
        if not url:
            raise ConfigurationError("an empty storage URL")
        return StorageSpec("file", {"base_path": url})
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigurationError(
            f"unknown storage URL scheme {parts.scheme!r}: expected one of "
            + ", ".join(f"{s}://" for s in _SCHEMES if s != "rediss")
        )
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    kwargs: dict[str, Any] = {}
    if "ttl" in query:
        kwargs["ttl"] = _number("ttl", query.pop("ttl"), float)
    if "sliding" in query:
        kwargs["sliding"] = _flag("sliding", query.pop("sliding"))
    if "max_lifetime" in query:
        kwargs["max_lifetime"] = _number("max_lifetime", query.pop("max_lifetime"), float)
    if "serializer" in query:
        name = query.pop("serializer").lower()
        if name not in SERIALIZER_NAMES:
            raise ConfigurationError(
                f"storage URL parameter serializer={name!r} is not one of "
                + ", ".join(SERIALIZER_NAMES)
            )
        kwargs["serializer"] = name

    if scheme == "memory":
        if "capacity" in query:
            kwargs["capacity"] = _number("capacity", query.pop("capacity"), int)
        if "max_bytes" in query:
            kwargs["max_bytes"] = _number("max_bytes", query.pop("max_bytes"), int)
        spec = StorageSpec("memory", kwargs)
    elif scheme == "file":
        path = parts.netloc + parts.path if parts.netloc not in ("", "localhost") else parts.path
        if not path:
            raise ConfigurationError("a file:// storage URL needs a directory path")
        kwargs["base_path"] = path
        spec = StorageSpec("file", kwargs)
    elif scheme == "sqlite":
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise ConfigurationError(
                "a sqlite:// storage URL needs a database path: sqlite:///cache.db"
            )
        kwargs["path"] = path
        if "table_name" in query:
            kwargs["table_name"] = query.pop("table_name")
        if "timeout" in query:
            kwargs["timeout"] = _number("timeout", query.pop("timeout"), float)
        spec = StorageSpec("sqlite", kwargs)
    elif scheme in ("redis", "rediss"):
        if "namespace" in query:
            kwargs["namespace"] = query.pop("namespace")
        client_query = "&".join(f"{k}={v}" for k, v in query.items())
        query = {}
        client_url = urlunsplit((parts.scheme, parts.netloc, parts.path, client_query, ""))
        spec = StorageSpec("redis", kwargs, client_url=client_url)
    else:  # s3
        if not parts.netloc:
            raise ConfigurationError("an s3:// storage URL needs a bucket: s3://bucket/prefix")
        kwargs["bucket_name"] = parts.netloc
        prefix = parts.path.strip("/")
        if prefix:
            kwargs["key_prefix"] = prefix + "/"
        if "endpoint_url" in query:
            kwargs["endpoint_url"] = query.pop("endpoint_url")
        spec = StorageSpec("s3", kwargs)
    if query:
        raise ConfigurationError(
            f"unknown parameter(s) for a {scheme}:// storage URL: {', '.join(sorted(query))}"
        )
    return spec


def _storage_class(backend: str, *, asynchronous: bool) -> Any:
    sync_module, sync_name, async_module, async_name, extra = _BACKENDS[backend]
    module_name, name = (async_module, async_name) if asynchronous else (sync_module, sync_name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f": pip install 'httpcache[{extra}]'" if extra else ""
        raise ConfigurationError(f"the {backend} storage is not available{hint} ({exc})") from exc
    return getattr(module, name)


def make_serializer(name: str) -> Serializer:
    """Return a new serializer of the kind ``name`` (one of :data:`SERIALIZER_NAMES`)."""
    from .._serializers import JSONSerializer, PickleSerializer, YAMLSerializer

    kinds: dict[str, Callable[[], Serializer]] = {
        "json": JSONSerializer,
        "pickle": PickleSerializer,
        "yaml": YAMLSerializer,
    }
    if name not in kinds:
        raise ConfigurationError(f"unknown serializer {name!r}: expected one of json, pickle, yaml")
    return kinds[name]()


def _build(url: str, *, asynchronous: bool, serializer: Serializer | None) -> Any:
    spec = parse_storage_url(url)
    cls = _storage_class(spec.backend, asynchronous=asynchronous)
    kwargs = dict(spec.kwargs)
    if serializer is not None:
        kwargs["serializer"] = serializer
    elif "serializer" in kwargs:
        kwargs["serializer"] = make_serializer(kwargs["serializer"])
    storage = cls(**kwargs)
    if spec.client_url is not None:
        # The storage makes its clients from the URL, with cache-suited settings, and
        # owns them: closing the storage closes them.
        storage._use_client_url(spec.client_url)
    return storage


def storage_from_url(url: str, *, serializer: Serializer | None = None) -> ManagedStorage:
    """Return the sync storage a URL names (see the module docstring for the forms).

    Args:
        url: A storage URL or a plain directory path.
        serializer: Use this serializer (one with a ``secret_key``, say) instead of
            the one the URL's ``serializer=`` names, or the default JSON one.

    Raises:
        ConfigurationError: for an unknown scheme, bad parameters or a missing extra.
    """
    return cast("ManagedStorage", _build(url, asynchronous=False, serializer=serializer))


def async_storage_from_url(
    url: str, *, serializer: Serializer | None = None
) -> AsyncManagedStorage:
    """Return the async storage a URL names (see :func:`storage_from_url`)."""
    return cast("AsyncManagedStorage", _build(url, asynchronous=True, serializer=serializer))
