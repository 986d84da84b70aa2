"""A storage of the other mode is refused with a TypeError that says which kind is needed.

Not in tests/_async/: the generated sync copy would pass a sync storage to a sync client.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from httpcache import (
    AsyncCacheClient,
    AsyncCacheTransport,
    AsyncInMemoryStorage,
    CacheClient,
    CacheTransport,
    InMemoryStorage,
)


@pytest.mark.parametrize(
    ("build", "storage", "missing"),
    [
        pytest.param(CacheClient, AsyncInMemoryStorage, "close", id="sync-client"),
        pytest.param(CacheTransport, AsyncInMemoryStorage, "close", id="sync-transport"),
        pytest.param(AsyncCacheClient, InMemoryStorage, "aclose", id="async-client"),
        pytest.param(AsyncCacheTransport, InMemoryStorage, "aclose", id="async-transport"),
    ],
)
def test_storage_of_the_other_mode_raises_type_error(
    build: Callable[..., object], storage: Callable[[], object], missing: str
) -> None:
    """A sync storage given to an async client (or the reverse) names the missing method."""
    with pytest.raises(TypeError, match="sync clients and transports take sync storages") as e:
        build(storage=storage())
    assert f"it has no {missing} " in str(e.value)
