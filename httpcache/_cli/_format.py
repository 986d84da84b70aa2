"""What the ``httpcache`` command shows, computed without I/O (the shell is ``_main.py``).

Sizes are parsed and humanised, entries become rows, rows are filtered, sorted,
rendered as aligned tables or as JSON-ready values, and summed into statistics.

Invariants:

* No I/O and no clock reads: ``now`` is always an argument; the shell reads the
  wall clock once per command.
* "age" and "freshness left" are the policy's own numbers: ``current_age``
  (RFC 9111 §4.2.3) and the freshness lifetime (§4.2.1, §4.2.2), with the
  ``force_cache`` rule the engine applies, so the command and the cache agree.
* "stale" always means stale by HTTP freshness (freshness left <= 0, or marked
  invalidated). Expiry by a storage ``ttl`` is a different thing: such entries are
  not listed at all; the backend counts them in ``StorageStats.expired`` and
  ``purge-expired`` removes them.
* Only what is stored is shown. Text meant for a terminal has its control
  characters escaped, so a stored header can never drive the terminal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from .._models import Entry, Headers, StorageStats
from .._options import CacheOptions
from .._policy._age import MAX_AGE_VALUE, current_age
from .._policy._cache_control import parse_response_cache_control
from .._policy._freshness import freshness_lifetime
from ._text import (
    foreign_record,
    format_duration,
    format_size,
    glob_escape,
    human_time,
    iso_utc,
    parse_size,
    printable,
    record_format,
    redact_url,
)

__all__ = [
    "EntryView",
    "Freshness",
    "ListQuery",
    "Summary",
    "entry_json",
    "entry_views",
    "format_duration",
    "foreign_record",
    "format_size",
    "freshness",
    "glob_escape",
    "human_time",
    "iso_utc",
    "list_table",
    "parse_size",
    "printable",
    "record_format",
    "redact_url",
    "render_table",
    "response_head_bytes",
    "select",
    "show_json",
    "show_text",
    "stats_json",
    "stats_text",
    "summarise",
]

SortKey = Literal["age", "size", "url"]
State = Literal["stale", "fresh"]

# -- freshness of one entry ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Freshness:
    """How old a stored response is and how long it stays fresh, in seconds.

    Attributes:
        age: The current age (RFC 9111 §4.2.3).
        lifetime: The freshness lifetime (RFC 9111 §4.2.1), or the ``force_cache`` ttl.
        heuristic: The lifetime is a heuristic one (RFC 9111 §4.2.2).
    """

    age: float
    lifetime: float
    heuristic: bool = False

    @property
    def left(self) -> float:
        """Freshness left: ``lifetime - age``; zero or less means stale."""
        return self.lifetime - self.age

    @property
    def fresh(self) -> bool:
        """``freshness_lifetime > current_age`` (RFC 9111 §4.2)."""
        return self.lifetime > self.age


def freshness(entry: Entry, now: float, options: CacheOptions) -> Freshness:
    """Return the freshness of ``entry`` at ``now``, as the cache itself would judge it.

    The age is ``current_age`` (RFC 9111 §4.2.3) and the lifetime
    ``freshness_lifetime`` (§4.2.1, heuristics §4.2.2). An entry stored in the
    non-RFC ``force_cache`` mode lives ``ttl`` seconds from its response time.
    """
    headers = entry.response.headers
    if entry.force_cached:
        ttl = entry.ttl if entry.ttl is not None else options.force_cache_ttl
        forced = float(MAX_AGE_VALUE) if ttl is None else ttl
        return Freshness(max(0.0, now - entry.response_time), forced)
    age = current_age(headers, entry.request_time, entry.response_time, now)
    cc = parse_response_cache_control(headers)
    lifetime = freshness_lifetime(entry.response.status, headers, cc, entry.response_time, options)
    return Freshness(age, lifetime.seconds, lifetime.heuristic)


@dataclass(frozen=True, slots=True)
class EntryView:
    """One stored entry as the command shows it.

    Attributes:
        entry: The stored entry.
        freshness: Its age and lifetime at the command's ``now``.
        variants: How many stored entries share its key (Vary variants and
            credential partitions of one URL).
    """

    entry: Entry
    freshness: Freshness
    variants: int = 1

    @property
    def stale(self) -> bool:
        """Stale by HTTP: no freshness left, or invalidated (must be validated before use)."""
        return self.entry.invalidated or not self.freshness.fresh

    @property
    def size(self) -> int:
        """Body size in bytes (0 when unknown)."""
        return self.entry.size or 0


def entry_views(entries: Iterable[Entry], now: float, options: CacheOptions) -> list[EntryView]:
    """Return a view of every entry at ``now``, counting the variants of each key."""
    items = list(entries)
    per_key = Counter(entry.key for entry in items)
    return [EntryView(e, freshness(e, now, options), per_key[e.key]) for e in items]


# -- selecting rows ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Which entries ``list`` shows and in what order.

    Attributes:
        statuses: Keep only these response statuses (all when empty).
        state: ``"stale"`` or ``"fresh"`` by HTTP freshness, or ``None`` for both.
        larger_than: Keep only bodies strictly larger than this many bytes.
        sort: ``"url"`` (A to Z), ``"age"`` (oldest first) or ``"size"`` (largest first).
        reverse: Flip the order.
        limit: Keep at most this many rows, after sorting.
    """

    statuses: frozenset[int] = frozenset()
    state: State | None = None
    larger_than: int | None = None
    sort: SortKey = "url"
    reverse: bool = False
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise ValueError("limit must not be negative")
        if self.larger_than is not None and self.larger_than < 0:
            raise ValueError("larger_than must not be negative")


def _keep(view: EntryView, query: ListQuery) -> bool:
    if query.statuses and view.entry.response.status not in query.statuses:
        return False
    if query.state == "stale" and not view.stale:
        return False
    if query.state == "fresh" and view.stale:
        return False
    return query.larger_than is None or view.size > query.larger_than


def _tie(view: EntryView) -> tuple[str, str, str]:
    return (view.entry.request.url, view.entry.request.method, view.entry.variant)


def select(views: Iterable[EntryView], query: ListQuery) -> list[EntryView]:
    """Filter, sort and cut ``views`` as ``query`` says (ties ordered by URL)."""
    kept = sorted((v for v in views if _keep(v, query)), key=_tie)
    if query.sort == "age":
        kept.sort(key=lambda v: v.freshness.age, reverse=True)
    elif query.sort == "size":
        kept.sort(key=lambda v: v.size, reverse=True)
    if query.reverse:
        kept.reverse()
    return kept if query.limit is None else kept[: query.limit]


# -- tables ------------------------------------------------------------------------------------

Style = Literal["bold", "red", "green", "yellow", "dim"]
Cell = tuple[str, Style | None]

_ANSI: dict[str, str] = {
    "bold": "\x1b[1m",
    "red": "\x1b[31m",
    "green": "\x1b[32m",
    "yellow": "\x1b[33m",
    "dim": "\x1b[2m",
}
_RESET = "\x1b[0m"


def _paint(text: str, style: Style | None, color: bool) -> str:
    return f"{_ANSI[style]}{text}{_RESET}" if color and style is not None and text else text


def render_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    right: frozenset[int] = frozenset(),
    color: bool = False,
) -> str:
    """Return rows aligned under ``header``, two spaces apart (``right``: right-aligned columns).

    Widths are measured before colouring, so colours never break alignment; the
    last column is not padded.
    """
    widths = [len(h) for h in header]
    for row in rows:
        for index, (text, _) in enumerate(row):
            widths[index] = max(widths[index], len(text))
    last = len(header) - 1

    def line(cells: Sequence[Cell]) -> str:
        out = []
        for index, (text, style) in enumerate(cells):
            pad = " " * (widths[index] - len(text))
            if index in right:
                out.append(pad + _paint(text, style, color))
            else:
                out.append(_paint(text, style, color) + ("" if index == last else pad))
        return "  ".join(out)

    lines = [line([(h, "bold") for h in header])]
    lines.extend(line(row) for row in rows)
    return "\n".join(lines)


def _freshness_cell(view: EntryView) -> Cell:
    if view.entry.invalidated:
        return ("invalidated", "yellow")
    if view.stale:
        return ("stale", "red")
    return (format_duration(view.freshness.left), "green")


_LIST_HEADER = ("METHOD", "STATUS", "SIZE", "AGE", "FRESH", "HITS", "VARIANTS", "URL")


def list_table(views: Sequence[EntryView], *, color: bool = False) -> str:
    """Return the human table of ``list``: one row per entry, the URL last."""
    rows: list[list[Cell]] = [
        [
            (printable(v.entry.request.method), None),
            (str(v.entry.response.status), None),
            (format_size(v.entry.size), None),
            (format_duration(v.freshness.age), None),
            _freshness_cell(v),
            (str(v.entry.hits), None),
            (str(v.variants), None),
            (printable(v.entry.request.url), None),
        ]
        for v in views
    ]
    return render_table(_LIST_HEADER, rows, right=frozenset({1, 2, 3, 4, 5, 6}), color=color)


# -- JSON --------------------------------------------------------------------------------------


def _seconds(value: float) -> float:
    return round(value, 3)


def entry_json(view: EntryView) -> dict[str, object]:
    """Return the JSON object of one ``list`` row (documented in ``docs/cli.md``)."""
    entry, fresh = view.entry, view.freshness
    return {
        "key": entry.key,
        "variant": entry.variant,
        "method": entry.request.method,
        "url": entry.request.url,
        "status": entry.response.status,
        "size": entry.size,
        "hits": entry.hits,
        "variants": view.variants,
        "created_at": iso_utc(entry.created_at),
        "request_time": iso_utc(entry.request_time),
        "response_time": iso_utc(entry.response_time),
        "accessed_at": None if entry.accessed_at is None else iso_utc(entry.accessed_at),
        "age_seconds": _seconds(fresh.age),
        "freshness_lifetime_seconds": _seconds(fresh.lifetime),
        "freshness_left_seconds": _seconds(fresh.left),
        "heuristic": fresh.heuristic,
        "stale": view.stale,
        "invalidated": entry.invalidated,
        "force_cached": entry.force_cached,
        "ttl_seconds": entry.ttl,
    }


def _header_pairs(headers: Headers) -> list[list[str]]:
    return [[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers]


def show_json(store: str, query: str, views: Sequence[EntryView]) -> dict[str, object]:
    """Return the JSON object of ``show``: every matching entry with its stored heads."""
    entries = []
    for view in views:
        item = entry_json(view)
        item["reason"] = view.entry.response.reason
        item["http_version"] = view.entry.response.http_version
        item["request_headers"] = _header_pairs(view.entry.request.headers)
        item["response_headers"] = _header_pairs(view.entry.response.headers)
        entries.append(item)
    return {"store": redact_url(store), "query": query, "entries": entries}


# -- show, as text -----------------------------------------------------------------------------


def _status_line(entry: Entry) -> str:
    response = entry.response
    return f"{response.http_version} {response.status} {response.reason}".rstrip()


def response_head_bytes(entry: Entry) -> bytes:
    """Return the stored response head as an HTTP/1.1-style message head (ends in CRLF CRLF)."""
    lines = [_status_line(entry).encode("latin-1")]
    lines.extend(name + b": " + value for name, value in entry.response.headers)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _freshness_text(view: EntryView) -> str:
    fresh = view.freshness
    kind = "heuristic " if fresh.heuristic else ""
    lifetime = f"{kind}lifetime {format_duration(fresh.lifetime)}"
    if view.entry.invalidated:
        return f"invalidated: must be validated before use ({lifetime})"
    if view.stale:
        return f"stale for {format_duration(-fresh.left)} ({lifetime})"
    return f"{format_duration(fresh.left)} left ({lifetime})"


def _headers_text(headers: Headers) -> list[str]:
    if not headers:
        return ["    (none)"]
    return [
        "    " + printable(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
        for name, value in headers
    ]


def show_text(views: Sequence[EntryView], *, headers: bool, color: bool = False) -> str:
    """Return ``show``'s text: metadata of each entry, and its stored heads with ``headers``."""
    blocks = []
    for number, view in enumerate(views, 1):
        entry = view.entry
        title = printable(f"{entry.request.method} {entry.request.url}")
        if len(views) > 1:
            title += f"  (entry {number} of {len(views)})"
        flags = [
            name
            for name, on in (
                ("invalidated", entry.invalidated),
                ("force-cached", entry.force_cached),
            )
            if on
        ]
        fields = [
            ("key", printable(entry.key)),
            ("variant", entry.variant),
            ("status", printable(_status_line(entry))),
            ("size", format_size(entry.size)),
            ("stored", human_time(entry.created_at)),
            ("received", human_time(entry.response_time)),
            ("age", format_duration(view.freshness.age)),
            ("freshness", _freshness_text(view)),
            ("hits", str(entry.hits)),
            ("last hit", "-" if entry.accessed_at is None else human_time(entry.accessed_at)),
            ("variants", str(view.variants)),
            ("entry ttl", "-" if entry.ttl is None else format_duration(entry.ttl)),
        ]
        if flags:
            fields.append(("flags", ", ".join(flags)))
        lines = [_paint(title, "bold", color)]
        lines.extend(f"  {label + ':':<11} {value}" for label, value in fields)
        if headers:
            lines.append(_paint("  request headers (as stored):", "bold", color))
            lines.extend(_headers_text(entry.request.headers))
            lines.append(_paint("  response headers:", "bold", color))
            lines.append("    " + printable(_status_line(entry)))
            lines.extend(_headers_text(entry.response.headers))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# -- stats -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """What ``stats`` reports.

    Attributes:
        stats: The backend's own counts: ``entries`` stored (including entries past
            their storage lifetime, not yet purged), ``bytes`` as the backend measures
            them, ``expired`` past their storage lifetime.
        listed: Entries that can be listed (within their storage lifetime, readable).
        stale: How many of those are stale by HTTP freshness (or invalidated).
        body_bytes: Sum of the listed entries' body sizes.
        oldest: Earliest ``created_at`` among listed entries.
        newest: Latest ``created_at`` among listed entries.
        hosts: ``(host, count)`` pairs, most entries first.
        statuses: ``(status, count)`` pairs, by status.
    """

    stats: StorageStats
    listed: int
    stale: int
    body_bytes: int
    oldest: float | None
    newest: float | None
    hosts: tuple[tuple[str, int], ...]
    statuses: tuple[tuple[int, int], ...]


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc or "(none)"
    except ValueError:
        return "(invalid)"


def summarise(stats: StorageStats, views: Sequence[EntryView]) -> Summary:
    """Return the statistics of a storage from its own counts and its listed entries."""
    created = [v.entry.created_at for v in views]
    hosts = Counter(_host(v.entry.request.url) for v in views)
    statuses = Counter(v.entry.response.status for v in views)
    return Summary(
        stats=stats,
        listed=len(views),
        stale=sum(v.stale for v in views),
        body_bytes=sum(v.size for v in views),
        oldest=min(created, default=None),
        newest=max(created, default=None),
        hosts=tuple(sorted(hosts.items(), key=lambda item: (-item[1], item[0]))),
        statuses=tuple(sorted(statuses.items())),
    )


def stats_json(store: str, summary: Summary) -> dict[str, object]:
    """Return the JSON object of ``stats`` (documented in ``docs/cli.md``)."""
    return {
        "store": redact_url(store),
        "entries": summary.stats.entries,
        "bytes": summary.stats.bytes,
        "expired": summary.stats.expired,
        "listed": summary.listed,
        "stale": summary.stale,
        "fresh": summary.listed - summary.stale,
        "body_bytes": summary.body_bytes,
        "oldest_created_at": None if summary.oldest is None else iso_utc(summary.oldest),
        "newest_created_at": None if summary.newest is None else iso_utc(summary.newest),
        "hosts": dict(summary.hosts),
        "statuses": {str(status): count for status, count in summary.statuses},
    }


def _when(timestamp: float | None, now: float) -> str:
    if timestamp is None:
        return "-"
    return f"{human_time(timestamp)} ({format_duration(now - timestamp)} ago)"


def stats_text(store: str, summary: Summary, now: float, *, color: bool = False) -> str:
    """Return ``stats``'s text: counts, then entries per host and per status."""
    stats = summary.stats
    lines = [
        _paint(printable(redact_url(store)), "bold", color),
        f"  {'entries:':<17} {stats.entries}",
        f"  {'bytes:':<17} {format_size(stats.bytes)} ({stats.bytes} bytes)",
        f"  {'storage-expired:':<17} {stats.expired} (removed by purge-expired)",
        f"  {'listed:':<17} {summary.listed}"
        f" ({summary.listed - summary.stale} fresh, {summary.stale} stale)",
        f"  {'body bytes:':<17} {format_size(summary.body_bytes)}",
        f"  {'oldest:':<17} {_when(summary.oldest, now)}",
        f"  {'newest:':<17} {_when(summary.newest, now)}",
    ]
    for title, pairs in (
        ("by host", [(printable(h), n) for h, n in summary.hosts]),
        ("by status", [(str(s), n) for s, n in summary.statuses]),
    ):
        if not pairs:
            continue
        lines.append(_paint(f"{title}:", "bold", color))
        width = max(len(name) for name, _ in pairs)
        lines.extend(f"  {name:<{width}}  {count:>5}" for name, count in pairs)
    return "\n".join(lines)
