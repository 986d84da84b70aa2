from __future__ import annotations

import pytest


@pytest.fixture(scope="session", params=["asyncio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run `@pytest.mark.anyio` tests on asyncio (anyio's pytest plugin reads this fixture)."""
    return str(request.param)
