"""Generate the RFC conformance table (docs/conformance.md) from the tests' citations.

The checklist ``scripts/data/RFC-CHECKLIST.md`` (a copy of the team's requirements checklist)
holds one table per section, one row per requirement: id (``S-1``, ``P-13``...), RFC section,
level (MUST, SHOULD...), the cache mode it binds, and a paraphrase. The tests cite rows by id.
This script reads every ``tests/**/*.py`` file with ``ast`` and ``tokenize`` and collects
the ids cited by each test:

* the docstring of a test function (``test_*``), of a test class (``Test*``, which cites for
  the class) or of a test method;
* the ``id=`` of each ``pytest.param(...)`` and the strings of ``ids=[...]`` in a test's
  decorators, including those of a module-level list that a decorator names
  (``@pytest.mark.parametrize("x", CASES)``);
* comments inside a test's source lines (its decorators included).

A range (``P-3..P-13``, ``X-7 to X-11``, ``S-13 .. S-16``, or with an en dash) stands for every
row of the checklist from its first id to its last, both included. Only ids of the checklist
count, so ``UTF-8`` or a header named ``X-1`` cite nothing.

Module docstrings and comments outside any test cite no test: they describe a whole file, and
often say which rows it does *not* cover ("E-6, E-7 are not built", "X-7 to X-11 is tested
in test_stale_while_revalidate.py"). A row only they mention is reported as not cited. The
tests under ``tests/_sync/`` are generated from ``tests/_async/`` (scripts/unasync.py); a
test found in both is listed once, by its async path, marked "(+ sync)".

Usage::

    python scripts/conformance.py            # (re)write docs/conformance.md
    python scripts/conformance.py --check    # exit 1 when docs/conformance.md is out of date
    python scripts/conformance.py --root DIR # operate on another checkout (used for testing)

The output is sorted (rows in checklist order, tests by path and name), so the same checkout
always gives the same page.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import io
import re
import sys
import tokenize
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

CHECKLIST = "scripts/data/RFC-CHECKLIST.md"
PAGE = "docs/conformance.md"
TESTS = "tests"
ASYNC_TESTS = "tests/_async/"
SYNC_TESTS = "tests/_sync/"

# Why a row no test cites is not built, for the rows docs/rfc.md explains ("Not implemented
# yet" and "Where the RFCs leave a choice"). Each was checked against the code.
REASONS: dict[str, str] = {
    "I-4": (
        "Invalidation deletes every stored response of the URI (the delete mode, tested under "
        "I-1, I-2 and I-5 to I-8); marking them as needing validation is not implemented yet "
        "(docs/rfc.md, not implemented yet: marking-mode invalidation)."
    ),
    "E-6": (
        "Not implemented yet: `immutable` is honoured over HTTPS even when the body length "
        "was not reliably delimited (docs/rfc.md, RFC 8246 §3 delimitation check)."
    ),
    "V-13": (
        "A choice: a user's conditional request is forwarded unchanged, with no stored "
        "validators added (docs/rfc.md, choices: user's conditional requests)."
    ),
}

# Requirement texts replaced on the page, where the checklist's paraphrase states something
# about httpcache that is no longer true. Each replacement was checked against the code.
SUMMARIES: dict[str, str] = {
    "S-11": (
        "Store a 206 only if the cache implements Range/Content-Range and the range unit. "
        "httpcache never stores a 206 (it answers a single byte range from a stored complete "
        "200, but stores no partial response). A 304 never becomes an entry of its own; it "
        "only freshens stored ones (U rows)."
    ),
}

_ID = r"[A-Z]-\d+"
_ID_RE = re.compile(rf"\b({_ID})\b")
_RANGE_RE = re.compile(r"\b([A-Z])-(\d+)\s*(?:\.\.|\u2013|\u2014|\bto\b)\s*(?:\1-)?(\d+)\b")
_SECTION_RE = re.compile(r"^##\s+(?P<title>.+?)\s*$")
_ROW_RE = re.compile(rf"^\|\s*(?P<id>{_ID})\s*\|")


@dataclass(frozen=True, slots=True)
class Row:
    """One requirement of the checklist."""

    id: str
    section: str  # the checklist heading it sits under, e.g. "1. Storing responses (S)"
    rfc: str
    level: str
    scope: str
    requirement: str


@dataclass(frozen=True, slots=True)
class Citation:
    """A test citing a checklist row."""

    row: str
    test: str  # "path::name" or "path::Class::name"


def _split_cells(line: str) -> list[str]:
    """Return the cells of a Markdown table row (``\\|`` is a literal bar, not a divider)."""
    body = line.strip()
    body = body.removeprefix("|").removesuffix("|")
    cells = re.split(r"(?<!\\)\|", body)
    return [cell.strip().replace("\\|", "|") for cell in cells]


def parse_checklist(text: str) -> list[Row]:
    """Return every requirement row of the checklist ``text``, in order.

    A row is a table line whose first cell is an id (``S-1``); it belongs to the last ``##``
    heading above it. Rows have six cells: id, RFC section, level, scope, requirement and
    test idea (the last one is not kept).

    Raises:
        ValueError: a row with another number of cells, a duplicate id, or no row at all.
    """
    rows: list[Row] = []
    seen: set[str] = set()
    section = ""
    for number, line in enumerate(text.splitlines(), start=1):
        heading = _SECTION_RE.match(line)
        if heading:
            section = heading["title"]
            continue
        if not _ROW_RE.match(line):
            continue
        cells = _split_cells(line)
        if len(cells) != 6:
            raise ValueError(f"checklist line {number}: {len(cells)} cells, expected 6")
        row_id, rfc, level, scope, requirement, _idea = cells
        if row_id in seen:
            raise ValueError(f"checklist line {number}: duplicate id {row_id}")
        seen.add(row_id)
        rows.append(Row(row_id, section, rfc, level, scope, requirement))
    if not rows:
        raise ValueError("the checklist has no rows")
    return rows


def _id_key(row_id: str) -> tuple[str, int]:
    prefix, number = row_id.split("-")
    return prefix, int(number)


def cited_ids(text: str, known: Iterable[str]) -> set[str]:
    """Return the ids of ``known`` that ``text`` cites, ranges expanded.

    ``P-3..P-13``, ``P-3..13`` and ``X-7 to X-11`` (or an en or em dash between the ids)
    cite every known id with that prefix from the first number to the last. Ids not in
    ``known`` are ignored.
    """
    known_set = set(known)
    found = {match for match in _ID_RE.findall(text) if match in known_set}
    for prefix, first, last in _RANGE_RE.findall(text):
        low, high = sorted((int(first), int(last)))
        found.update(
            row_id
            for row_id in known_set
            if _id_key(row_id)[0] == prefix and low <= _id_key(row_id)[1] <= high
        )
    return found


def _param_strings(node: ast.AST) -> Iterator[str]:
    """Yield the ``id=`` of every ``pytest.param`` call and the strings of every ``ids=``."""
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        for keyword in call.keywords:
            if keyword.arg == "id" and _is_param(call.func):
                if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                    yield keyword.value.value
            elif keyword.arg == "ids" and isinstance(keyword.value, ast.List | ast.Tuple):
                for element in keyword.value.elts:
                    if isinstance(element, ast.Constant) and isinstance(element.value, str):
                        yield element.value


def _is_param(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "param"
    return isinstance(func, ast.Name) and func.id == "param"


def _comments(source: str) -> list[tuple[int, str]]:
    """Return ``(line, text)`` of every comment in ``source``."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [(tok.start[0], tok.string) for tok in tokens if tok.type == tokenize.COMMENT]


@dataclass(frozen=True, slots=True)
class _Test:
    name: str  # "name" or "Class::name"
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    first: int  # first line, decorators included
    last: int


def _tests(tree: ast.Module, lines: list[str]) -> list[_Test]:
    """Return the test functions, test classes and their test methods of a module.

    A test's lines run from its first decorator to its last statement, and on over the
    comments indented deeper than its ``def`` that follow (``ast`` ends a function at its
    last statement, before a trailing comment).
    """
    found: list[_Test] = []

    def add(name: str, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        last = node.end_lineno or node.lineno
        following = last + 1
        while following <= len(lines):
            text = lines[following - 1]
            if text.strip() and not (
                text.lstrip().startswith("#") and len(text) - len(text.lstrip()) > node.col_offset
            ):
                break
            if text.strip():
                last = following
            following += 1
        found.append(_Test(name, node, first, last))

    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name.startswith("test"):
                add(node.name, node)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            add(node.name, node)
            functions = [
                f for f in node.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            for function in functions:
                if function.name.startswith("test"):
                    add(f"{node.name}::{function.name}", function)
    return found


def _module_params(tree: ast.Module) -> dict[str, list[str]]:
    """Return, for each module-level name bound to a value, the param ids inside it."""
    params: dict[str, list[str]] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        strings = list(_param_strings(value))
        for target in targets:
            if isinstance(target, ast.Name) and strings:
                params.setdefault(target.id, []).extend(strings)
    return params


def scan_source(path: str, source: str, known: Iterable[str]) -> set[Citation]:
    """Return the citations of checklist rows (ids in ``known``) by the tests of one file.

    Args:
        path: The file's path relative to the repository root, used in ``Citation.test``.
        source: The file's Python source.
        known: The checklist's ids.

    Returns:
        One citation per (row, test) pair; see the module docstring for what counts.
    """
    known_ids = set(known)
    tree = ast.parse(source, filename=path)
    module_params = _module_params(tree)
    comments = _comments(source)
    citations: set[Citation] = set()
    tests = _tests(tree, source.splitlines())
    for test in tests:
        texts: list[str] = []
        docstring = ast.get_docstring(test.node, clean=False)
        if docstring:
            texts.append(docstring)
        for decorator in test.node.decorator_list:
            texts.extend(_param_strings(decorator))
            texts.extend(
                string
                for name in ast.walk(decorator)
                if isinstance(name, ast.Name)
                for string in module_params.get(name.id, [])
            )
        # A comment belongs to the innermost test around it: a class keeps only the
        # comments outside its test methods.
        inner = [t for t in tests if t.name.startswith(f"{test.name}::")]
        texts.extend(
            text
            for line, text in comments
            if test.first <= line <= test.last and not any(t.first <= line <= t.last for t in inner)
        )
        for text in texts:
            for row_id in cited_ids(text, known_ids):
                citations.add(Citation(row_id, f"{path}::{test.name}"))
    return citations


def scan_tests(root: Path, known: Iterable[str]) -> set[Citation]:
    """Return the citations made by every ``tests/**/*.py`` file under ``root``."""
    known_ids = set(known)
    citations: set[Citation] = set()
    for file in sorted((root / TESTS).rglob("*.py")):
        path = file.relative_to(root).as_posix()
        citations |= scan_source(path, file.read_text(encoding="utf-8"), known_ids)
    return citations


def _test_labels(tests: Iterable[str]) -> list[str]:
    """Return the tests as page labels: a sync twin of an async test is folded into it."""
    names = set(tests)
    labels: list[str] = []
    for test in sorted(names):
        if test.startswith(SYNC_TESTS) and ASYNC_TESTS + test[len(SYNC_TESTS) :] in names:
            continue
        twin = SYNC_TESTS + test[len(ASYNC_TESTS) :]
        suffix = " (+ sync)" if test.startswith(ASYNC_TESTS) and twin in names else ""
        labels.append(f"`{test}`{suffix}")
    return labels


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(section: str) -> str:
    """Return the id Python-Markdown's toc extension (mkdocs) gives the heading ``section``."""
    ascii_text = unicodedata.normalize("NFKD", section).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^\w\s-]", "", ascii_text).strip().lower()
    return re.sub(r"[-\s]+", "-", slug)


def render(rows: list[Row], citations: Iterable[Citation]) -> str:
    """Return the Markdown of docs/conformance.md for ``rows`` and the tests' ``citations``."""
    by_row: dict[str, set[str]] = {row.id: set() for row in rows}
    for citation in citations:
        if citation.row in by_row:
            by_row[citation.row].add(citation.test)
    sections: dict[str, list[Row]] = {}
    for row in rows:
        sections.setdefault(row.section, []).append(row)
    cited = sum(1 for tests in by_row.values() if tests)

    out = [
        "# RFC conformance",
        "",
        "<!-- Generated by scripts/conformance.py; do not edit. -->",
        "",
        "*Generated by `scripts/conformance.py`; do not edit. Run "
        "`python scripts/conformance.py` after changing a test's citations or the checklist.*",
        "",
        f"**{len(rows)} requirements: {cited} cited by a test, {len(rows) - cited} not cited "
        "by a test.**",
        "",
        "Each row is a requirement of httpcache's RFC checklist (`scripts/data/RFC-CHECKLIST.md`):",
        "RFC 9111, the parts of RFC 9110 a cache needs, RFC 5861, 8246, 9211 and 9213. The",
        "requirement text is the checklist's paraphrase, not RFC text. *Applies* says which mode",
        "the row binds: `private` (the default), `shared` (`CacheOptions(shared=True)`) or",
        "`both`. The tests column lists every test that cites the row by its id: in its",
        "docstring, in a `pytest.param` id (or `ids=`), or in a comment in its body. A module",
        "docstring or a comment outside a test describes a whole file and cites no test.",
        "Tests under `tests/_async/` marked *(+ sync)* also run as their generated twin under",
        "`tests/_sync/`. A row that no test cites is marked *not cited by a test*, with the",
        "reason where [Caching rules](rfc.md) gives one. What httpcache does in each area, and",
        "the choices it makes where the RFCs leave one, are described in [Caching rules](rfc.md).",
        "",
        "| section | rows | cited | not cited |",
        "|---|---|---|---|",
    ]
    for section, members in sections.items():
        n_cited = sum(1 for row in members if by_row[row.id])
        out.append(
            f"| [{_cell(section)}](#{_anchor(section)}) | {len(members)} | {n_cited} "
            f"| {len(members) - n_cited} |"
        )
    for section, members in sections.items():
        out += [
            "",
            f"## {section}",
            "",
            "| id | RFC § | level | applies | requirement | tests |",
            "|---|---|---|---|---|---|",
        ]
        for row in members:
            labels = _test_labels(by_row[row.id])
            if labels:
                tests = "<br>".join(labels)
            else:
                tests = "**not cited by a test**"
                if row.id in REASONS:
                    tests += f"<br>{_cell(REASONS[row.id])}"
            requirement = SUMMARIES.get(row.id, row.requirement)
            out.append(
                f"| {row.id} | {_cell(row.rfc)} | {_cell(row.level)} | {_cell(row.scope)} "
                f"| {_cell(requirement)} | {tests} |"
            )
    return "\n".join(out) + "\n"


def build(root: Path) -> str:
    """Return the page for the checkout at ``root``."""
    rows = parse_checklist((root / CHECKLIST).read_text(encoding="utf-8"))
    return render(rows, scan_tests(root, [row.id for row in rows]))


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, verify) docs/conformance.md; return an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    parser.add_argument(
        "--root", type=Path, default=Path(__file__).resolve().parents[1], help="checkout"
    )
    args = parser.parse_args(argv)
    root: Path = args.root
    page = root / PAGE
    expected = build(root)
    current = page.read_text(encoding="utf-8") if page.is_file() else ""
    if not args.check:
        if current != expected:
            page.write_text(expected, encoding="utf-8")
            print(f"wrote {PAGE}")
        return 0
    if current == expected:
        return 0
    diff = difflib.unified_diff(
        current.splitlines(), expected.splitlines(), PAGE, "expected", lineterm="", n=1
    )
    print("\n".join(list(diff)[:40]))
    print(f"{PAGE} is out of date: run `python scripts/conformance.py`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
