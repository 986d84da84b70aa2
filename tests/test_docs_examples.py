"""Every ```python block of the documentation (docs/**/*.md and README.md) runs as it is.

Each block runs in a fresh interpreter (a subprocess with this checkout first on
``PYTHONPATH``), from a temporary directory, with warnings as errors, so one block's
imports, globals or environment never help another. The blocks talk to no network: their
origins are ``httpx.MockTransport`` handlers or servers they start on loopback.

Blocks fenced as ```py are shown, not run (a fragment that needs names the page only
describes, or a service the tests cannot have, such as AWS); they are few, and any other
fence whose language starts with ``py`` is refused, so a typo never hides a block from this
test. ``docs/changelog.md`` (a copy of CHANGELOG.md, history rather than examples) is not run.
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
DOCS = ROOT / "docs"
NOT_RUN = {DOCS / "changelog.md"}
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[^\s`]*)[^\n]*$")
_TIMEOUT = 120.0


def pages() -> list[Path]:
    """Return the Markdown pages whose blocks run: README.md, then docs/**/*.md."""
    found = sorted(page for page in DOCS.rglob("*.md") if page not in NOT_RUN)
    return [ROOT / "README.md", *found]


def fences(text: str) -> list[tuple[int, str, str]]:
    """Return ``(line number, language, source)`` of every fenced block in ``text``.

    The line number is the block's first line of code (1-based). A block ends at the
    first line that is a bare fence, whatever its indentation (blocks inside list items and
    admonitions are indented); the source is dedented.
    """
    blocks: list[tuple[int, str, str]] = []
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
        source = textwrap.dedent("\n".join(lines[start:i])) + "\n"
        blocks.append((start + 1, opening["lang"], source))
        i += 1  # past the closing fence
    return blocks


def python_blocks(text: str) -> list[tuple[int, str]]:
    """Return ``(line number, source)`` of every ```python block in the Markdown ``text``."""
    return [(line, source) for line, lang, source in fences(text) if lang == "python"]


def _where(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _cases() -> list[Any]:
    cases = []
    for page in pages():
        blocks = python_blocks(page.read_text(encoding="utf-8"))
        for number, (line, source) in enumerate(blocks, start=1):
            where = f"{_where(page)} block {number} (line {line})"
            name = _where(page).removeprefix("docs/").removesuffix(".md").replace("/", "-")
            cases.append(pytest.param(where, source, id=f"{name}-{number}"))
    return cases


CASES = _cases()


def test_docs_examples_pages_are_readme_and_every_docs_page_but_the_changelog() -> None:
    found = {_where(page) for page in pages()}
    assert "README.md" in found
    assert "docs/changelog.md" not in found
    assert {"docs/index.md", "docs/quickstart.md", "docs/api.md"} <= found
    assert all(page.startswith("docs/") for page in found - {"README.md"})


def test_docs_examples_guide_pages_all_have_runnable_blocks() -> None:
    run = {case.values[0].split(" block ")[0] for case in CASES}
    assert {_where(page) for page in (DOCS / "guide").glob("*.md")} <= run
    assert {"README.md", "docs/quickstart.md"} <= run


def test_docs_examples_fences_are_found() -> None:
    text = "a\n```python\nx = 1\n```\n```py\nnot run\n```\n    ```python\n    y = 2\n    ```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (9, "y = 2\n")]
    assert [lang for _, lang, _ in fences(text)] == ["python", "py", "python"]


@pytest.mark.parametrize("page", pages(), ids=_where)
def test_docs_examples_python_fences_are_run_or_marked_shown(page: Path) -> None:
    # ```python runs, ```py is shown: anything else (```python3, ```pycon, ```Python) would be
    # neither run nor flagged, so it is refused.
    for line, lang, _ in fences(page.read_text(encoding="utf-8")):
        assert not lang.lower().startswith("py") or lang in {"python", "py"}, (
            f"{_where(page)} line {line}: fence ```{lang}: use ```python (run) or ```py (shown)"
        )


@pytest.mark.parametrize(("where", "source"), CASES)
def test_docs_examples_block_runs(where: str, source: str, tmp_path: Path) -> None:
    path = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    env.pop("HTTPCACHE_STORAGE", None)  # a block sees the defaults a reader gets
    env["HOME"] = str(tmp_path)  # "~/.cache/..." in a block stays in the temporary directory
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", source],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stderr}"
