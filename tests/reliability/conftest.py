"""The fault suite: every test under ``tests/reliability/`` carries the ``reliability`` marker.

Run it alone with ``pytest -m reliability`` (or leave it out with ``-m "not reliability"``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.reliability)
