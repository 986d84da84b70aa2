"""The public API is exactly `httpcache.__all__` (STYLE 1, as httpx's own test does)."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import httpcache

OPTIONAL_DEPENDENCIES = (
    "redis",
    "aiobotocore",
    "botocore",
    "boto3",
    "aiosqlite",
    "yaml",
    "cryptography",
)


def test_exported_members_all_names_exist() -> None:
    """STYLE 1: every name in `__all__` is an attribute of the package."""
    missing = [name for name in httpcache.__all__ if not hasattr(httpcache, name)]
    assert missing == []


def test_exported_members_all_is_sorted_without_repeats() -> None:
    """STYLE 1: one sorted `__all__`."""
    assert httpcache.__all__ == sorted(set(httpcache.__all__))


def test_exported_members_public_definitions_are_exported() -> None:
    """STYLE 1: no public class or function of httpcache appears without being exported."""
    public = {
        name
        for name, value in vars(httpcache).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").split(".")[0] == "httpcache"
    }
    assert public - set(httpcache.__all__) == set()


def test_exported_members_classes_report_package_module() -> None:
    """STYLE 1: reprs say `httpcache.CacheTransport`, not the private module."""
    wrong = {
        name: value.__module__
        for name in httpcache.__all__
        if inspect.isclass(value := getattr(httpcache, name)) and value.__module__ != "httpcache"
    }
    assert wrong == {}
    assert repr(httpcache.CacheTransport) == "<class 'httpcache.CacheTransport'>"


def test_exported_members_version_is_text() -> None:
    assert isinstance(httpcache.__version__, str)
    assert httpcache.__version__


def test_exported_members_import_without_optional_dependencies() -> None:
    """STYLE 6: `import httpcache` works with no optional extra installed."""
    code = textwrap.dedent(
        f"""
        import sys
        for name in {OPTIONAL_DEPENDENCIES!r}:
            sys.modules[name] = None  # makes `import name` raise ImportError
        import httpcache
        assert httpcache.CacheClient and httpcache.AsyncCacheClient
        loaded = sorted(n for n in {OPTIONAL_DEPENDENCIES!r} if sys.modules.get(n) is not None)
        assert loaded == [], loaded
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
