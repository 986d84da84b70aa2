"""The fault suite: every test under ``tests/reliability/`` carries the ``reliability`` marker.

Run it alone with ``pytest -m reliability`` (or leave it out with ``-m "not reliability"``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.exceptions import RedisError

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.reliability)


REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Return a Redis storage URL with a namespace of its own; remove its keys afterwards.

    Under ``CI=true`` a missing Redis server is a failure, otherwise a skip.
    """
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        client.close()
        message = f"no Redis server at {REDIS_URL}: {exc}"
        if os.environ.get("CI") == "true":
            raise RuntimeError(message) from exc
        pytest.skip(message)
    namespace = f"httpcache-test:reliability-{uuid.uuid4().hex}"
    separator = "&" if "?" in REDIS_URL else "?"
    try:
        yield f"{REDIS_URL}{separator}namespace={namespace}"
    finally:
        leftovers = list(client.scan_iter(match=f"{namespace}*", count=500))
        if leftovers:
            client.unlink(*leftovers)
        client.close()
