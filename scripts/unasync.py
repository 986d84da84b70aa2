"""Generate the sync code from the async code, or check that it is up to date.

The async code is the only hand-edited source. This script copies every ``*.py`` file under
``httpcache/_async/`` to ``httpcache/_sync/`` (and ``tests/_async/`` to ``tests/_sync/``) under
the same relative name, and each file pair in ``FILES`` (a storage backend keeps its
``_async.py`` and ``_sync.py`` side by side), applying the substitutions in ``SUBS`` to each
line. The output is exactly what the substitutions produce, with no header, so a check is a
plain comparison.

Usage::

    python scripts/unasync.py            # (re)write the sync trees
    python scripts/unasync.py --check    # exit 1 on drift, orphans or unused rules
    python scripts/unasync.py --root DIR # operate on another checkout (used for testing)

``--check`` reports:

* generated files whose content differs from what the async source produces (or is missing);
* ``.py`` files in a sync directory with no async source of the same name;
* rules in ``SUBS`` that no line used (a dead rule hides mistakes, as in httpcore). This check
  runs only once every source directory in ``DIRS`` exists and holds at least one ``.py`` file.

Adding a rule: append ``(pattern, replacement)`` to ``SUBS``. The pattern is a regular
expression (escape ``.`` and friends); an edge of the pattern that is a word character is
anchored at a word boundary, so ``aread`` never rewrites ``thread``. Rules are applied in
order, each to the output of the previous one, so put longer or more specific patterns first.
A rule must be used by at least one line, or ``--check`` fails. A line that the substitutions
turn blank (for instance one holding only ``@pytest.mark.anyio``) is dropped from the output.

Where the sync and async libraries differ too much for substitution (``aiosqlite`` and
``sqlite3``, ``aiobotocore`` and ``boto3``), write both halves by hand and list the sync file in
``HAND_WRITTEN``: it is then neither generated nor checked.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

# (pattern, replacement): applied in this order to every line.
SUBS: list[tuple[str, str]] = [
    ("AsyncByteStream", "SyncByteStream"),
    (r"redis\.asyncio", "redis"),  # redis.asyncio.Redis -> redis.Redis
    (r"Async([A-Z]\w*)", r"\1"),  # AsyncCacheTransport -> CacheTransport, AsyncIterator -> ...
    ("async def", "def"),
    ("async with", "with"),
    ("async for", "for"),
    ("await ", ""),
    ("async_storage_from_url", "storage_from_url"),
    ("aclose", "close"),
    ("arun_blocking", "run_blocking"),
    ("asleep", "sleep"),
    ("aread", "read"),
    ("aiter_bytes", "iter_bytes"),
    ("handle_async_request", "handle_request"),
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
    ("__aiter__", "__iter__"),
    ("__anext__", "__next__"),
    ("StopAsyncIteration", "StopIteration"),
    ("_async", "_sync"),
    (r"@pytest\.mark\.anyio", ""),
]

# (async source directory, generated sync directory), relative to the repository root.
DIRS: list[tuple[str, str]] = [
    ("httpcache/_async", "httpcache/_sync"),
    ("tests/_async", "tests/_sync"),
]

# (async source file, generated sync file): the storages keep each backend's halves side by side.
FILES: list[tuple[str, str]] = [
    (f"httpcache/_storages/{backend}/_async.py", f"httpcache/_storages/{backend}/_sync.py")
    for backend in ("memory", "file", "redis")
]

# Sync files (relative to the root) maintained by hand: never generated, never checked.
HAND_WRITTEN: frozenset[str] = frozenset(
    f"httpcache/_storages/{backend}/_sync.py" for backend in ("sqlite", "s3")
)


def _compile(pattern: str) -> re.Pattern[str]:
    left = r"\b" if re.match(r"\w", pattern) else ""
    right = r"\b" if re.search(r"\w$", pattern) else ""
    return re.compile(left + pattern + right)


COMPILED_SUBS = [(_compile(pattern), repl) for pattern, repl in SUBS]


def unasync_text(text: str, used: set[int]) -> str:
    """Return the sync version of `text`, recording the indexes of the rules that fired."""
    out = []
    for line in text.splitlines(keepends=True):
        new = line
        for index, (regex, repl) in enumerate(COMPILED_SUBS):
            new, count = regex.subn(repl, new)
            if count:
                used.add(index)
        if new.strip() or not line.strip():
            out.append(new)
    return "".join(out)


def _read(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as file:
        return file.read()


def _py_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p.relative_to(directory) for p in directory.rglob("*.py") if p.is_file())


def run(root: Path, *, check: bool) -> int:
    """Generate (or with `check`, verify) every sync tree under `root`; return an exit code."""
    used: set[int] = set()
    drifted: list[str] = []
    orphans: list[str] = []
    all_sources_present = True

    pairs: list[tuple[Path, Path]] = []
    for src_name, dst_name in DIRS:
        src_dir, dst_dir = root / src_name, root / dst_name
        sources = _py_files(src_dir)
        all_sources_present = all_sources_present and bool(sources)
        pairs.extend((src_dir / rel, dst_dir / rel) for rel in sources)
        source_set = set(sources)
        for rel in _py_files(dst_dir):
            name = (dst_dir / rel).relative_to(root).as_posix()
            if rel not in source_set and name not in HAND_WRITTEN:
                orphans.append(name)
    for src_name, dst_name in FILES:
        if not (root / src_name).is_file():
            all_sources_present = False
            if (root / dst_name).is_file():
                orphans.append(dst_name)
            continue
        pairs.append((root / src_name, root / dst_name))

    for src, dst in pairs:
        name = dst.relative_to(root).as_posix()
        if name in HAND_WRITTEN:
            continue
        expected = unasync_text(_read(src), used)
        actual = _read(dst) if dst.is_file() else None
        if actual == expected:
            continue
        if check:
            drifted.append(name)
            diff = difflib.unified_diff(
                (actual or "").splitlines(keepends=True),
                expected.splitlines(keepends=True),
                fromfile=f"{name} (actual)",
                tofile=f"{name} (expected from {src.relative_to(root)})",
                n=1,
            )
            sys.stdout.writelines(list(diff)[:40])
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            with dst.open("w", encoding="utf-8", newline="") as file:
                file.write(expected)
            print(f"wrote {name}")
    failed = False
    if drifted:
        failed = True
        print("\nOut of date (run `python scripts/unasync.py`):")
        print("".join(f"  {name}\n" for name in drifted), end="")
    if orphans:
        failed = True
        print("\nSync files with no async source (delete them or add to HAND_WRITTEN):")
        print("".join(f"  {name}\n" for name in orphans), end="")
    if all_sources_present:
        unused = [SUBS[i] for i in range(len(SUBS)) if i not in used]
        if unused:
            failed = True
            print("\nSubstitution rules never used (remove them from SUBS):")
            print("".join(f"  {pattern!r} -> {repl!r}\n" for pattern, repl in unused), end="")
    else:
        print("note: a source directory is missing or empty; unused-rule check skipped")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate or check the sync trees.")
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="repository root (default: the checkout holding this script)",
    )
    args = parser.parse_args(argv)
    return run(args.root.resolve(), check=args.check)


if __name__ == "__main__":
    sys.exit(main())
