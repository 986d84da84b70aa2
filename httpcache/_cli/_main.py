"""The ``httpcache`` command: inspect, prune and clear a cache storage.

This module is the shell: arguments, opening the storage, reading the clock (once
per command), printing, the confirmation prompt, progress and exit codes. What is
shown, and how, is computed by the pure helpers of :mod:`httpcache._cli._format`.

Exit codes: 0 success; 1 a runtime error (store missing or unreachable, entry not
found, refused or declined confirmation); 2 a usage error (reported by argparse).
Every error is one line on stderr; ``--verbose`` adds the traceback. WARNINGs
logged under ``httpcache`` (an unreadable entry skipped, ...) are printed to
stderr one line each and do not change the exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from typing import TYPE_CHECKING, TextIO, TypeVar

from .._exceptions import HTTPCacheError
from .._models import Entry
from .._storages._url import SERIALIZER_NAMES
from . import _format as fmt
from ._help import DESCRIPTION, EPILOGS, STORE_HELP
from ._store import CommandError, find_entries, open_storage, options_for

if TYPE_CHECKING:  # pragma: no cover
    from .._sync._storage import ManagedStorage

__all__ = ["CommandError", "main"]

_T = TypeVar("_T")

_PROG = "httpcache"
_EXIT_OK, _EXIT_ERROR, _EXIT_USAGE = 0, 1, 2


# -- output helpers ----------------------------------------------------------------------------


def _color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2))


def _plural(count: int, word: str = "entry", words: str = "entries") -> str:
    return f"{count} {word if count == 1 else words}"


class _Progress:
    """A count of scanned entries on stderr, only on a terminal and only for long scans."""

    def __init__(
        self,
        stream: TextIO,
        label: str = "scanning",
        *,
        delay: float = 0.5,
        every: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        isatty = getattr(stream, "isatty", None)
        self._enabled = bool(isatty and isatty())
        self._stream = stream
        self._label = label
        self._delay = delay
        self._every = every
        self._clock = clock

    def wrap(self, items: Iterable[_T]) -> Iterator[_T]:
        """Yield ``items``, updating the count shown after ``delay`` seconds."""
        if not self._enabled:
            yield from items
            return
        count = 0
        shown = False
        next_at = self._clock() + self._delay
        try:
            for item in items:
                count += 1
                if self._clock() >= next_at:
                    self._stream.write(f"\r{self._label}: {_plural(count)}...")
                    self._stream.flush()
                    shown = True
                    next_at = self._clock() + self._every
                yield item
        finally:
            if shown:
                self._stream.write("\r\x1b[K")
                self._stream.flush()


class _WarningLine(logging.Formatter):
    """One line per record: ``warning: message`` (no traceback, control characters escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {fmt.printable(record.getMessage())}"


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Print the library's WARNINGs (and worse) on stderr while a command runs."""
    logger = logging.getLogger("httpcache")
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_WarningLine())
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Errors reported as one plain line: ours, the OS's, and the backends' client errors."""
    kinds: list[type[BaseException]] = [CommandError, HTTPCacheError, OSError, sqlite3.Error]
    redis_errors = sys.modules.get("redis.exceptions")
    if redis_errors is not None:
        kinds.append(redis_errors.RedisError)
    botocore_errors = sys.modules.get("botocore.exceptions")
    if botocore_errors is not None:
        kinds += [botocore_errors.BotoCoreError, botocore_errors.ClientError]
    return tuple(kinds)


def _error(message: str) -> None:
    text = fmt.printable(fmt.redact_url(" ".join(message.split())))
    print(f"{_PROG}: error: {text}", file=sys.stderr)


# -- commands ----------------------------------------------------------------------------------


def _cmd_list(args: argparse.Namespace) -> int:
    query = fmt.ListQuery(
        statuses=frozenset(args.status or ()),
        state=args.state,
        larger_than=args.larger_than,
        sort=args.sort,
        reverse=args.reverse,
        limit=args.limit,
    )
    with open_storage(args.store, args.serializer) as storage:
        entries = list(_Progress(sys.stderr).wrap(storage.iter_entries(args.url)))
    now = time.time()
    rows = fmt.select(fmt.entry_views(entries, now, options_for(args)), query)
    if args.json:
        _print_json([fmt.entry_json(view) for view in rows])
    elif rows:
        print(fmt.list_table(rows, color=_color(sys.stdout)))
    else:
        print("no matching entries", file=sys.stderr)
    return _EXIT_OK


def _write_body(storage: ManagedStorage, entry: Entry, *, head: bool) -> None:
    body = storage.open_body(entry)
    if body is None:
        raise CommandError(f"the body of {entry.request.url} is no longer stored")
    sys.stdout.flush()
    out = sys.stdout.buffer
    try:
        if head:
            out.write(fmt.response_head_bytes(entry))
        for chunk in body:
            out.write(chunk)
        out.flush()
    finally:
        close = getattr(body, "close", None)
        if callable(close):
            close()


def _cmd_show(args: argparse.Namespace) -> int:
    with open_storage(args.store, args.serializer) as storage:
        entries = find_entries(storage, args.target)
        if not entries:
            raise CommandError(f"no entry for {args.target}")
        if args.variant:
            entries = [e for e in entries if e.variant.startswith(args.variant)]
            if not entries:
                raise CommandError(f"no variant of {args.target} starts with {args.variant!r}")
        if args.body:
            if len(entries) > 1:
                ids = ", ".join(e.variant[:12] for e in entries)
                raise CommandError(
                    f"{len(entries)} entries match {args.target}; pick one with --variant"
                    f" (variants: {ids})"
                )
            _write_body(storage, entries[0], head=args.headers)
            return _EXIT_OK
    views = fmt.entry_views(entries, time.time(), options_for(args))
    if args.json:
        _print_json(fmt.show_json(args.store, args.target, views))
    else:
        print(fmt.show_text(views, headers=args.headers, color=_color(sys.stdout)))
    return _EXIT_OK


def _cmd_stats(args: argparse.Namespace) -> int:
    with open_storage(args.store, args.serializer) as storage:
        # The backend's counts first: listing may drop expired and unreadable entries.
        counts = storage.stats()
        entries = list(_Progress(sys.stderr).wrap(storage.iter_entries()))
    now = time.time()
    summary = fmt.summarise(counts, fmt.entry_views(entries, now, options_for(args)))
    if args.json:
        _print_json(fmt.stats_json(args.store, summary))
    else:
        print(fmt.stats_text(args.store, summary, now, color=_color(sys.stdout)))
    return _EXIT_OK


def _cmd_delete(args: argparse.Namespace) -> int:
    with open_storage(args.store, args.serializer) as storage:
        if args.url is not None:
            entries = list(_Progress(sys.stderr).wrap(storage.iter_entries(args.url)))
        else:
            entries = find_entries(storage, args.target)
            if not entries:
                raise CommandError(f"no entry for {args.target}")
        variants: dict[str, list[str]] = {}
        for entry in entries:
            variants.setdefault(entry.key, []).append(entry.variant)
        for key, names in variants.items():
            storage.delete_entries(key, names)
    if args.json:
        _print_json({"deleted": len(entries)})
    else:
        print(f"deleted {_plural(len(entries))}")
    return _EXIT_OK


def _cmd_purge_expired(args: argparse.Namespace) -> int:
    with open_storage(args.store, args.serializer) as storage:
        removed = storage.delete_expired()
    if args.json:
        _print_json({"deleted": removed})
    else:
        print(f"removed {_plural(removed, 'expired entry', 'expired entries')}")
    return _EXIT_OK


def _confirm(question: str) -> bool:
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _cmd_clear(args: argparse.Namespace) -> int:
    shown = fmt.printable(fmt.redact_url(args.store))
    with open_storage(args.store, args.serializer) as storage:
        if not args.yes:
            if not sys.stdin.isatty():
                raise CommandError(
                    f"refusing to clear {shown} without confirmation: stdin is not a terminal;"
                    " pass --yes"
                )
            if not _confirm(f"Delete every entry in {shown}?"):
                print("not cleared", file=sys.stderr)
                return _EXIT_ERROR
        storage.clear()
    print(f"cleared {shown}")
    return _EXIT_OK


# -- arguments ---------------------------------------------------------------------------------


def _size(text: str) -> int:
    try:
        return fmt.parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, not {text!r}")
    return value


def _status(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 100 <= value <= 999:
        raise argparse.ArgumentTypeError(f"expected an HTTP status code, not {text!r}")
    return value


def _version() -> str:
    try:
        return metadata.version("httpcache")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog=_PROG, description=DESCRIPTION, formatter_class=formatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("store", metavar="STORE", help=STORE_HELP)
    common.add_argument(
        "--serializer",
        choices=SERIALIZER_NAMES,
        default=None,
        help="the serializer the cache was written with (default: the URL's serializer="
        " parameter, else json; pickle only for a store you trust: unpickling runs code"
        " from the store)",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", help="show the traceback of an error"
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON instead of text")
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--shared",
        action="store_true",
        help="judge freshness with shared-cache rules (s-maxage), as CacheOptions(shared=True)",
    )

    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    subs: dict[str, argparse.ArgumentParser] = {}

    def add(
        name: str,
        summary: str,
        run: Callable[[argparse.Namespace], int],
        *parents: argparse.ArgumentParser,
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=EPILOGS[name],
            formatter_class=formatter,
            parents=[common, *parents],
        )
        sub.set_defaults(run=run)
        subs[name] = sub
        return sub

    sub = add("list", "list stored entries, one row each", _cmd_list, as_json, shared)
    sub.add_argument("--url", metavar="GLOB", help="only entries whose normalised URL matches")
    sub.add_argument(
        "--status", metavar="N", type=_status, action="append", help="only this status (repeat)"
    )
    state = sub.add_mutually_exclusive_group()
    state.add_argument(
        "--expired",
        "--stale",
        dest="state",
        action="store_const",
        const="stale",
        help="only entries stale by HTTP freshness (or invalidated)",
    )
    state.add_argument(
        "--fresh", dest="state", action="store_const", const="fresh", help="only fresh entries"
    )
    sub.add_argument(
        "--larger-than",
        metavar="SIZE",
        type=_size,
        help="only bodies larger than SIZE (512, 10k = 10000, 1.5MiB, 2M)",
    )
    sub.add_argument(
        "--sort",
        choices=("age", "size", "url"),
        default="url",
        help="url: A to Z (default); age: oldest first; size: largest first",
    )
    sub.add_argument("--reverse", action="store_true", help="reverse the order")
    sub.add_argument("--limit", metavar="N", type=_count, help="show at most N rows")

    sub = add("show", "show stored entries of a key or URL", _cmd_show, as_json, shared)
    sub.add_argument("target", metavar="KEY|URL", help="an entry key, or the URL requested")
    sub.add_argument("--variant", metavar="ID", help="only the variant whose id starts with ID")
    sub.add_argument(
        "--headers", action="store_true", help="show the stored request and response headers"
    )
    sub.add_argument(
        "--body",
        action="store_true",
        help="write the stored body (bytes, unchanged) to stdout; with --headers, the"
        " response head first",
    )

    add("stats", "count entries, bytes, expired and stale entries", _cmd_stats, as_json, shared)

    sub = add(
        "delete", "delete the entries of a key or URL, or of a URL glob", _cmd_delete, as_json
    )
    sub.add_argument("target", metavar="KEY|URL", nargs="?", help="an entry key or a URL")
    sub.add_argument("--url", metavar="GLOB", help="delete every entry whose URL matches")

    add(
        "purge-expired",
        "remove entries past their storage lifetime",
        _cmd_purge_expired,
        as_json,
    )

    sub = add("clear", "remove every entry of the store", _cmd_clear)
    sub.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    return parser, subs


def _check_usage(args: argparse.Namespace, subs: dict[str, argparse.ArgumentParser]) -> None:
    """Rules argparse cannot express; a violation exits with code 2."""
    if args.command == "show" and args.body and args.json:
        subs["show"].error("--body and --json cannot be combined")
    if args.command == "delete" and (args.target is None) == (args.url is None):
        subs["delete"].error("give either KEY|URL or --url GLOB")


def _exit_code(code: object) -> int:
    if code is None:
        return _EXIT_OK
    return code if isinstance(code, int) else _EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``httpcache`` command with ``argv`` (``sys.argv[1:]`` when None).

    Returns:
        The exit code: 0 success, 1 runtime error, 2 usage error.
    """
    parser, subs = _parser()
    try:
        args = parser.parse_args(argv)
        _check_usage(args, subs)
    except SystemExit as exc:  # --help, --version and usage errors
        return _exit_code(exc.code)
    run: Callable[[argparse.Namespace], int] = args.run
    with _warnings_to_stderr():
        try:
            code = run(args)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            return code
        except KeyboardInterrupt:
            print(f"{_PROG}: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            # The reader went away (`httpcache list ... | head`): stop quietly.
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            return _EXIT_ERROR
        except Exception as exc:
            if args.verbose:
                traceback.print_exc()
            if isinstance(exc, _expected_errors()):
                _error(str(exc) or type(exc).__name__)
            else:
                _error(
                    f"unexpected {type(exc).__name__}: {exc} (run again with --verbose for"
                    " the traceback)"
                )
            return _EXIT_ERROR
