"""The RFC conformance page (docs/conformance.md) and the script that generates it.

``scripts/conformance.py`` reads the checklist's rows and the tests' citations and writes the
page. These tests check that the committed page is what the script produces for this
checkout, and exercise the parser on small inputs. The inputs use the made-up prefixes ``Y``
and ``Z`` (not checklist prefixes), so this file cites no real row itself.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_conformance", ROOT / "scripts/conformance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


conformance = _load()

KNOWN = [f"Z-{n}" for n in range(1, 21)] + [f"Y-{n}" for n in range(1, 6)]

CHECKLIST = """\
<!-- a header note the parser skips; | Z-99 | is no row -->

# A checklist

| id | RFC § | level | applies | requirement | test idea |
|---|---|---|---|---|---|

## 1. First section (Z)

| id | RFC § | level | applies | requirement | test idea |
|---|---|---|---|---|---|
| Z-1 | 9111 §3 | MUST | both | Do one thing. | given a, then b |
| Z-2 | 9111 §4.2; 9110 §5 | SHOULD NOT | shared | A `a \\| b` bar stays. | given c |

## 2. Second section (Y)

| id | RFC § | level | applies | requirement | test idea |
|---|---|---|---|---|---|
| Y-1 | 5861 §3 | MAY | private | Maybe. | given d |

## Choices

| choice | RFC | default |
|---|---|---|
| Something | 9111 §4 | Off. |
"""


def test_conformance_page_is_up_to_date() -> None:
    """The committed docs/conformance.md is what the script writes for this checkout."""
    assert conformance.main(["--check"]) == 0


def test_conformance_check_fails_on_a_stale_page_and_write_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "scripts/data").mkdir(parents=True)
    shutil.copy(ROOT / conformance.CHECKLIST, tmp_path / conformance.CHECKLIST)
    (tmp_path / "tests").mkdir()
    (tmp_path / "docs").mkdir()
    root = ["--root", str(tmp_path)]
    assert conformance.main(["--check", *root]) == 1  # no page at all
    assert conformance.main(root) == 0
    assert conformance.main(["--check", *root]) == 0
    page = tmp_path / conformance.PAGE
    page.write_text(page.read_text().replace("| S-1 |", "| S-1 | edited |"))
    assert conformance.main(["--check", *root]) == 1
    assert "out of date" in capsys.readouterr().err


def test_parse_checklist_reads_every_row_under_its_section() -> None:
    rows = conformance.parse_checklist(CHECKLIST)
    assert [row.id for row in rows] == ["Z-1", "Z-2", "Y-1"]
    first, second, third = rows
    assert first == conformance.Row(
        "Z-1", "1. First section (Z)", "9111 §3", "MUST", "both", "Do one thing."
    )
    assert second.rfc == "9111 §4.2; 9110 §5"
    assert second.level == "SHOULD NOT"
    assert second.scope == "shared"
    assert second.requirement == "A `a | b` bar stays."
    assert third.section == "2. Second section (Y)"


@pytest.mark.parametrize(
    "line, message",
    [
        pytest.param("| Z-1 | 9111 §3 | MUST | both | short |", "5 cells", id="too-few-cells"),
        pytest.param(
            "| Z-1 | a | b | c | d | e |\n| Z-1 | a | b | c | d | e |", "duplicate", id="dup"
        ),
        pytest.param("no table here", "no rows", id="empty"),
    ],
)
def test_parse_checklist_rejects_malformed_tables(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        conformance.parse_checklist(line)


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("Z-3, RFC 9111 §4: one row", {"Z-3"}, id="single"),
        pytest.param("Z-3..Z-6", {"Z-3", "Z-4", "Z-5", "Z-6"}, id="dots"),
        pytest.param("Z-3 .. Z-5", {"Z-3", "Z-4", "Z-5"}, id="dots-spaced"),
        pytest.param("Z-3..5", {"Z-3", "Z-4", "Z-5"}, id="dots-bare-end"),
        pytest.param("Z-7 to Z-9", {"Z-7", "Z-8", "Z-9"}, id="to"),
        pytest.param("Z-7\u2013Z-8", {"Z-7", "Z-8"}, id="en-dash"),
        pytest.param("Z-9..Z-7", {"Z-7", "Z-8", "Z-9"}, id="reversed"),
        pytest.param("Z-19..Z-25", {"Z-19", "Z-20"}, id="range-past-the-last-row"),
        pytest.param("Z-2 and Y-1..Y-2", {"Z-2", "Y-1", "Y-2"}, id="mixed"),
        pytest.param("Z-2..Y-4", {"Z-2", "Y-4"}, id="prefixes-differ-no-range"),
        pytest.param("Z-21 Q-1 z-1 UTF-8 XZ-1", set(), id="unknown-ids"),
        pytest.param("Z-12-Y-4-argument-ignored", {"Z-12", "Y-4"}, id="param-id-two-rows"),
        pytest.param("Z-1-200", {"Z-1"}, id="param-id-with-number"),
        pytest.param("Z-2 to the origin", {"Z-2"}, id="to-without-end"),
    ],
)
def test_cited_ids_expands_ranges_and_ignores_unknown_ids(text: str, expected: set[str]) -> None:
    assert conformance.cited_ids(text, KNOWN) == expected


SOURCE = '''\
"""Module docstring: Z-1..Z-20, and Z-19 is not built. Cites no test."""

import pytest

# Z-18: a module-level comment cites no test.

CASES = [pytest.param(1, id="Z-5-case"), pytest.param(2, id="plain")]


def helper():
    """Z-17: a helper is no test."""


def test_docstring():
    """Z-1, RFC 9111 §3: the docstring cites."""


@pytest.mark.parametrize("x", [pytest.param(1, id="Z-2 first"), pytest.param(2, id="Z-3")])
def test_params(x):
    pass


@pytest.mark.parametrize("x", CASES)
async def test_module_cases(x):
    pass


@pytest.mark.parametrize("x", [1, 2], ids=["Z-6-one", "two"])
def test_ids_list(x):
    assert x  # Z-7: a comment in the body cites


class TestGroup:
    """Z-8 to Z-9: a class docstring cites for the class."""

    # Z-10: a comment in the class, outside its tests

    def test_method(self):
        """Z-11."""
        # Z-12

    def helper(self):
        """Z-16: not a test method."""
'''


def test_scan_source_collects_citations_made_by_tests_only() -> None:
    found = conformance.scan_source("tests/test_x.py", SOURCE, KNOWN)
    by_test: dict[str, set[str]] = {}
    for citation in found:
        by_test.setdefault(citation.test.split("::", 1)[1], set()).add(citation.row)
    assert by_test == {
        "test_docstring": {"Z-1"},
        "test_params": {"Z-2", "Z-3"},
        "test_module_cases": {"Z-5"},
        "test_ids_list": {"Z-6", "Z-7"},
        "TestGroup": {"Z-8", "Z-9", "Z-10"},
        "TestGroup::test_method": {"Z-11", "Z-12"},
    }
    assert {c.test for c in found if c.row == "Z-1"} == {"tests/test_x.py::test_docstring"}


def test_render_lists_tests_folds_sync_twins_and_counts() -> None:
    rows = conformance.parse_checklist(CHECKLIST)
    citations = [
        conformance.Citation("Z-1", "tests/_async/test_a.py::test_one"),
        conformance.Citation("Z-1", "tests/_sync/test_a.py::test_one"),
        conformance.Citation("Z-1", "tests/policy/test_b.py::test_two"),
        conformance.Citation("Y-1", "tests/_sync/test_c.py::test_sync_only"),
        conformance.Citation("Z-20", "tests/test_d.py::test_unknown_row"),
    ]
    page = conformance.render(rows, citations)
    assert page == conformance.render(rows, list(reversed(citations)))  # order-independent
    assert "3 requirements: 2 cited by a test, 1 not cited by a test." in page
    assert "do not edit" in page
    lines = page.splitlines()
    [z1] = [line for line in lines if line.startswith("| Z-1 |")]
    assert z1.endswith(
        "| `tests/_async/test_a.py::test_one` (+ sync)<br>`tests/policy/test_b.py::test_two` |"
    )
    [z2] = [line for line in lines if line.startswith("| Z-2 |")]
    assert "**not cited by a test**" in z2
    assert "a \\| b" in z2  # a bar in a cell is escaped again
    [y1] = [line for line in lines if line.startswith("| Y-1 |")]
    assert y1.endswith("| `tests/_sync/test_c.py::test_sync_only` |")
    assert "## 1. First section (Z)" in lines
    assert "| [2. Second section (Y)](#2-second-section-y) | 1 | 1 | 0 |" in lines


def test_render_gives_the_reason_of_an_uncited_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(conformance.REASONS, "Z-2", "Not built: see the caching rules.")
    page = conformance.render(conformance.parse_checklist(CHECKLIST), [])
    [z2] = [line for line in page.splitlines() if line.startswith("| Z-2 |")]
    assert z2.endswith("| **not cited by a test**<br>Not built: see the caching rules. |")


def test_reasons_and_summaries_name_checklist_rows() -> None:
    """Every id the script explains is a row of the checklist, and a reason is never given
    for a row that a test cites (it would contradict the tests column)."""
    checklist = (ROOT / conformance.CHECKLIST).read_text(encoding="utf-8")
    ids = {row.id for row in conformance.parse_checklist(checklist)}
    assert set(conformance.REASONS) <= ids
    assert set(conformance.SUMMARIES) <= ids
    cited = {citation.row for citation in conformance.scan_tests(ROOT, ids)}
    assert not set(conformance.REASONS) & cited


def test_checklist_copy_keeps_its_source_note() -> None:
    text = (ROOT / conformance.CHECKLIST).read_text(encoding="utf-8")
    note = text.split("-->", 1)[0]
    assert "Copied verbatim" in note and "RFC-CHECKLIST.md" in note
