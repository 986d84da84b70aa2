"""Every ```python block of the guide pages (docs/guide/*.md) runs as it is.

Each block runs in a fresh interpreter (a subprocess with this checkout first on
``PYTHONPATH``), from a temporary directory, with warnings as errors, so one block's
imports, globals or environment never help another. Blocks fenced as ```py are sketches
that are not run (they need names the page only describes).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[^\s`]*)[^\n]*$")
_TIMEOUT = 120.0


def python_blocks(text: str) -> list[tuple[int, str]]:
    """Return ``(line number, source)`` of every ```python block in the Markdown ``text``."""
    blocks: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        start = i + 1
        i = start
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        if opening["lang"] == "python":
            blocks.append((start, textwrap.dedent("\n".join(lines[start:i])) + "\n"))
        i += 1  # past the closing fence
    return blocks


def _cases() -> list[Any]:
    cases = []
    for page in sorted(GUIDE.glob("*.md")):
        for number, (line, source) in enumerate(python_blocks(page.read_text()), start=1):
            where = f"docs/guide/{page.name} block {number} (line {line})"
            cases.append(pytest.param(where, source, id=f"{page.stem}-{number}"))
    return cases


CASES = _cases()


def test_docs_guide_every_page_has_runnable_blocks() -> None:
    pages = {case.values[0].split(" block ")[0] for case in CASES}
    assert pages == {f"docs/guide/{page.name}" for page in GUIDE.glob("*.md")}


def test_docs_guide_fences_are_found() -> None:
    text = "a\n```python\nx = 1\n```\n```py\nnot run\n```\n    ```python\n    y = 2\n    ```\n"
    assert python_blocks(text) == [(2, "x = 1\n"), (8, "y = 2\n")]


@pytest.mark.parametrize(("where", "source"), CASES)
def test_docs_guide_block_runs(where: str, source: str, tmp_path: Path) -> None:
    path = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    env.pop("HTTPCACHE_STORAGE", None)  # a block sees the defaults a reader gets
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", source],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stderr}"
