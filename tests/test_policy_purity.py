"""The policy package is pure: no I/O, no clock, no httpx (DESIGN §1)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "httpcache"
POLICY = PACKAGE / "_policy"
POLICY_MODULES = sorted(POLICY.glob("*.py"))
SIBLINGS = {path.stem for path in POLICY_MODULES}

FORBIDDEN = frozenset(
    {
        "httpx",
        "anyio",
        "os",
        "io",
        "socket",
        "logging",
        "time",
        "pathlib",
        "asyncio",
        "threading",
        "sqlite3",
        "redis",
    }
)


def _imports(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Return every import statement with whether it sits under `if TYPE_CHECKING:`."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append((child, type_checking))
            inside = type_checking
            if isinstance(child, ast.If) and ast.unparse(child.test) in (
                "TYPE_CHECKING",
                "typing.TYPE_CHECKING",
            ):
                visit(ast.Module(body=child.body, type_ignores=[]), True)
                visit(ast.Module(body=child.orelse, type_ignores=[]), type_checking)
                continue
            visit(child, inside)

    visit(tree, False)
    return found


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = []
    for node, type_checking in _imports(tree):
        where = f"{path.name}:{node.lineno}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN | {"httpcache"}:
                    problems.append(f"{where} imports {alias.name}")
            continue
        module = node.module or ""
        if node.level == 0:
            if module.split(".")[0] in FORBIDDEN:
                problems.append(f"{where} imports from {module}")
            if module.split(".")[0] == "httpcache":
                problems.append(f"{where} imports through the package face: {module}")
        elif node.level == 1:
            names = [module] if module else [alias.name for alias in node.names]
            strays = [name for name in names if name.split(".")[0] not in SIBLINGS]
            if strays:
                problems.append(f"{where} imports non-sibling {strays}")
        elif node.level == 2:
            if module == "_models":
                continue
            if module == "_options" and type_checking:
                continue
            problems.append(f"{where} imports ..{module} (type_checking={type_checking})")
        else:
            problems.append(f"{where} reaches {node.level} levels up")
    return problems


def test_policy_purity_modules_found() -> None:
    assert "_engine" in SIBLINGS
    assert len(POLICY_MODULES) > 5


@pytest.mark.parametrize("path", POLICY_MODULES, ids=[p.name for p in POLICY_MODULES])
def test_policy_purity_module_has_no_io_imports(path: Path) -> None:
    """DESIGN §1: the policy imports no I/O, clock or logging module, only its own values."""
    assert _problems(path) == []


def test_policy_purity_checker_catches_violations(tmp_path: Path) -> None:
    """The checker itself: each kind of forbidden import is reported."""
    bad = tmp_path / "_bad.py"
    bad.write_text(
        textwrap.dedent(
            """
            import os.path
            from httpx import Request
            from .._options import CacheOptions
            from .._async import _transport
            from ._nowhere import thing
            import httpcache
            def f():
                import time
            """
        ),
        encoding="utf-8",
    )
    assert len(_problems(bad)) == 7


def test_policy_purity_engine_import_loads_no_httpx() -> None:
    """DESIGN §1: the policy's own import closure pulls in neither httpx nor anyio.

    The package face (`httpcache/__init__.py`) imports the transports and so httpx;
    a stub parent package keeps it out to look at the policy's closure alone.
    """
    code = textwrap.dedent(
        f"""
        import sys, types
        stub = types.ModuleType("httpcache")
        stub.__path__ = [{str(PACKAGE)!r}]
        sys.modules["httpcache"] = stub
        import httpcache._policy._engine
        heavy = {{"httpx", "anyio", "httpcore", "asyncio", "socket", "sqlite3", "logging"}}
        loaded = sorted(name for name in heavy if name in sys.modules)
        shells = ("httpcache._async", "httpcache._sync")
        ours = sorted(n for n in sys.modules if n.startswith(shells))
        print(loaded, ours)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] []"
