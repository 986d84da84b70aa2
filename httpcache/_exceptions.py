"""The exceptions httpcache raises.

The tree::

    HTTPCacheError
    ├── ConfigurationError   (bad options or storage URL; a missing optional extra)
    ├── StorageError         (a storage backend failed; wraps the backend's error)
    └── SerializationError   (a stored record is corrupt, foreign or of another version)

httpx's own exceptions (``httpx.ConnectError`` and the rest) pass through untouched.
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "HTTPCacheError", "SerializationError", "StorageError"]


class HTTPCacheError(Exception):
    """Base class of every error httpcache raises itself."""


class ConfigurationError(HTTPCacheError, ValueError):
    """The caller's configuration is invalid, or an optional extra is missing."""


class StorageError(HTTPCacheError):
    """A storage backend failed; the backend's own error is the ``__cause__``."""


class SerializationError(HTTPCacheError):
    """A stored record could not be encoded or decoded."""
