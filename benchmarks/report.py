"""Turn the benchmark's rows into ratios and Markdown tables.

Pure functions over the JSON-able rows that ``runner.run_library`` returns, shared by
``run.py`` (printing at the end of a run, or ``--render`` of a saved JSON) and usable
by ``chart.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "LARGE_TITLE",
    "X",
    "STORAGE_ORDER",
    "TITLES",
    "attach_floors",
    "render",
    "render_large",
]

TITLES = {
    "W1": "W1 hit: {n} GETs round-robin over 100 URLs, 1 KiB, max-age=3600, warmed",
    "W2": "W2 miss + store: {n} GETs of unique URLs, each a miss that is stored",
    "W3": "W3 revalidate: {n} GETs over 100 URLs, no-cache + ETag, the origin answers 304",
    "W5": "W5 async hit: W1 as 100 concurrent asyncio tasks ({n} GETs)",
}
LARGE_TITLE = "W4 large body: {size} MiB, streamed in 64 KiB chunks, stored then read back {reads}x"

X = "\u00d7"
"""The multiplication sign of the ratio columns."""

STORAGE_ORDER = ("memory", "file", "file-separate", "sqlite", "redis", "s3")


def _floor_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["key"], row["workload"], row["stack"], row["mode"])


def attach_floors(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every cache row ``floor_us`` and ``ratio``: its median over the median of
    the plain client of the same stack and mode, measured in the same process."""
    rows = list(rows)
    floors = {_floor_key(r): r.get("median_us") for r in rows if r["floor"]}
    for row in rows:
        floor = floors.get(_floor_key(row))
        row["floor_us"] = floor
        median = row.get("median_us")
        row["ratio"] = median / floor if median is not None and floor else None
    return rows


def _fmt_us(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _fmt_ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2f}{X}" if value < 10 else f"{value:.1f}{X}"


def _library_order(libraries: Sequence[str]) -> dict[str, int]:
    return {name: index for index, name in enumerate(libraries)}


def _merge_na(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Show a library's sync and async n/a rows with the same reason as one row."""
    merged: list[dict[str, Any]] = []
    for row in rows:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and row.get("error")
            and previous.get("error") == row["error"]
            and previous["library"] == row["library"]
            and previous["storage"] == row["storage"]
        ):
            previous["mode"] = f"{previous['mode']}, {row['mode']}"
            continue
        merged.append(dict(row))
    return merged


def is_capability(error: str | None) -> bool:
    """Whether an n/a is something the library does not have (a storage, an async API),
    as opposed to a run that failed its check."""
    return bool(error) and error.startswith("no ")


def _footnote(rows: Sequence[dict[str, Any]], order: dict[str, int]) -> str:
    """One line naming what each library lacks, instead of a table row per n/a."""
    lacks: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        error = row.get("error")
        if not is_capability(error):
            continue
        reasons = lacks.setdefault(row["library"], {})
        if error.endswith(" storage"):
            kinds = reasons.setdefault("storage", [])
            kind = error[3 : -len(" storage")]
            if kind not in kinds:
                kinds.append(kind)
        else:
            reasons.setdefault(error, [])
    parts = []
    for library in sorted(lacks, key=lambda name: order.get(name, 99)):
        said = [reason for reason in lacks[library] if reason != "storage"]
        if "storage" in lacks[library]:
            said.append(f"no {', '.join(lacks[library]['storage'])} storage")
        parts.append(f"{library}: {'; '.join(said)}")
    return f"n/a, not in the library: {' · '.join(parts)}." if parts else ""


def render(rows: Sequence[dict[str, Any]], libraries: Sequence[str]) -> str:
    """Markdown tables, one per workload; rows grouped by storage kind, floors first.

    ``libraries`` gives the row order (display names; floors always come first). What a
    library does not have (a storage kind, an asyncio API) is a footnote under the table
    rather than rows; a check that failed stays a row, with its reason.
    """
    order = _library_order(libraries)
    out: list[str] = []
    for workload in ("W1", "W2", "W3", "W5"):
        selected = [r for r in rows if r["workload"] == workload]
        if not selected:
            continue
        cached = [r for r in selected if not r["floor"]]
        counts = sorted({r["requests"] for r in selected if r.get("requests")})
        top = max(counts) if counts else 0
        n = f"{top:,}" if counts else "?"
        out.append(f"### {TITLES[workload].format(n=n)}")
        out.append("")
        out.append(f"| storage | library | mode | µs / request | {X} floor | floor µs |")
        out.append("|---|---|---|---:|---:|---:|")
        floors = [r for r in selected if r["floor"]]
        seen: set[tuple[str, str, str]] = set()
        for row in floors:
            tag = (row["library"], row["mode"], row["key"])
            where = "httpcache run" if row["key"] == "httpcache" else f"{row['key']} process"
            if tag in seen:
                continue
            seen.add(tag)
            value = _fmt_us(row.get("median_us")) if not row.get("error") else "failed"
            out.append(
                f"| (floor) | {row['library']}, {where} | {row['mode']} | {value} | 1.00{X} | |"
            )
        for storage in STORAGE_ORDER:
            group = [
                r for r in cached if r["storage"] == storage and not is_capability(r.get("error"))
            ]
            if not group:
                continue
            group.sort(key=lambda r: (order.get(r["library"], 99), r["mode"] != "sync"))
            for row in _merge_na(group):
                name = f"**{row['library']}**" if row["key"] == "httpcache" else row["library"]
                if row.get("error"):
                    out.append(f"| {storage} | {name} | {row['mode']} | n/a: {row['error']} | | |")
                    continue
                requests = row.get("requests")
                note = f" ({requests:,} req)" if requests and requests != top else ""
                out.append(
                    f"| {storage} | {name} | {row['mode']} | {_fmt_us(row['median_us'])}{note}"
                    f" | {_fmt_ratio(row.get('ratio'))} | {_fmt_us(row.get('floor_us'))} |"
                )
        footnote = _footnote(cached, order)
        if footnote:
            out.extend(["", footnote])
        out.append("")
    return "\n".join(out)


def render_large(
    large: Sequence[dict[str, Any]], libraries: Sequence[str], size_mib: float, reads: int
) -> str:
    """The W4 table: store and read-back wall times and peak RSS growth, per storage.

    Times are medians over the repeats (the store) and over every read of every repeat.
    """
    if not large:
        return ""
    order = _library_order(libraries)
    out = [f"### {LARGE_TITLE.format(size=f'{size_mib:g}', reads=reads)}", ""]
    # No ratio columns: the floor streams the same 64 KiB object over and over without a
    # copy, so it is nearly free and a ratio to it says little (the JSON has them anyway).
    out.append("| storage | library | store ms | read ms (median) | peak RSS growth MiB |")
    out.append("|---|---|---:|---:|---:|")

    def sort_key(row: dict[str, Any]) -> tuple[int, int]:
        storage = row["storage"]
        rank = (
            -1
            if storage is None
            else (STORAGE_ORDER.index(storage) if storage in STORAGE_ORDER else 99)
        )
        return rank, order.get(row["library"], 99)

    for row in sorted(large, key=sort_key):
        if is_capability(row.get("error")):
            continue
        storage = row["storage"] or "(floor)"
        name = row["library"]
        if row["storage"] is None:
            where = "httpcache run" if row["key"] == "httpcache" else f"{row['key']} process"
            name = f"{name}, {where}"
        if row["key"] == "httpcache" and row["storage"] is not None:
            name = f"**{name}**"
        if row.get("error"):
            out.append(f"| {storage} | {name} | n/a: {row['error']} | | |")
            continue

        def ms(value: float | None) -> str:
            if value is None:
                return ""
            value *= 1000
            if value >= 100:
                return f"{value:,.0f}"
            return f"{value:.1f}" if value >= 1 else f"{value:.2f}"

        out.append(
            f"| {storage} | {name} | {ms(row.get('store_s'))} | {ms(row.get('read_s'))}"
            f" | {row['rss_growth_mib']:,.1f} |"
        )
    footnote = _footnote(large, order)
    out.extend(["", footnote] if footnote else [])
    out.append("")
    return "\n".join(out)
