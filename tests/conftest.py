from __future__ import annotations

import os

import pytest

# The storage deadline's default (0.5 s) is for production. On a loaded test machine a moto or
# Redis call may take longer, which would turn a test about what a storage returns into a
# flaky miss. Tests of the deadline itself pass ``storage_timeout`` explicitly
# (tests/test_guard.py, tests/reliability/test_backend_faults.py).
os.environ.setdefault("HTTPCACHE_STORAGE_TIMEOUT", "30")
# A default storage named in the environment would change what every test without `storage=`
# runs against; the tests of the variable set it themselves (tests/_async/test_storage_urls.py).
os.environ.pop("HTTPCACHE_STORAGE", None)


@pytest.fixture(scope="session", params=["asyncio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run `@pytest.mark.anyio` tests on asyncio (anyio's pytest plugin reads this fixture)."""
    return str(request.param)
