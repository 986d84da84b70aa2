"""Which storage a client or transport uses: a storage object, a storage URL, or the default.

Precedence: an explicit ``storage=`` (an object, or a URL string) wins; without one the
``HTTPCACHE_STORAGE`` environment variable names the storage as a URL; without that a new
:class:`InMemoryStorage` is made. A storage built here (from a URL, the variable, or
the default) is owned by the caller, who closes it; an object passed in is not.
"""

from __future__ import annotations

import os

from .._exceptions import ConfigurationError
from .._storages._url import STORAGE_VARIABLE, storage_from_url
from .._storages.memory._sync import InMemoryStorage
from ._storage import Storage

__all__ = ["choose_storage"]

_METHODS = (
    "get_entries",
    "open_writer",
    "open_body",
    "update_entry",
    "record_hit",
    "delete_entries",
    "close",
)


def _environment_storage() -> Storage | None:
    url = os.environ.get(STORAGE_VARIABLE, "").strip()
    if not url:
        return None
    try:
        return storage_from_url(url)
    except ConfigurationError as exc:
        # The value is not repeated: a Redis URL may hold a password.
        raise ConfigurationError(
            f"the {STORAGE_VARIABLE} environment variable is not a usable storage URL: {exc}"
        ) from exc


def choose_storage(storage: object) -> tuple[Storage, bool]:
    """Return the storage to use for ``storage=`` and whether the caller owns it.

    Raises:
        ConfigurationError: for a bad storage URL, in ``storage=`` or in
            ``HTTPCACHE_STORAGE`` (the message names the variable).
        TypeError: for anything but a storage object (Storage), a URL string or ``None``.
    """
    if storage is None:
        from_environment = _environment_storage()
        if from_environment is not None:
            return from_environment, True
        return InMemoryStorage(), True
    if isinstance(storage, str):
        return storage_from_url(storage), True
    if isinstance(storage, Storage):
        return storage, False
    if isinstance(storage, os.PathLike):
        hint = f"; pass the path as a string, str({storage!r}), for a file storage"
    else:
        missing = [name for name in _METHODS if not callable(getattr(storage, name, None))]
        hint = f"; it has no {', '.join(missing)}" if missing else ""
        if missing == [_METHODS[-1]]:
            hint += " (sync clients and transports take sync storages, async ones Async* storages)"
    raise TypeError(
        "storage= takes a storage object (Storage), a storage URL string such as"
        f" 'sqlite:///cache.db' or 'redis://localhost:6379/0', or None,"
        f" not {type(storage).__name__}{hint}"
    )
