"""Draw a saved run as an SVG bar chart, by hand (no plotting library).

    python benchmarks/chart.py                                  # benchmarks/results.json
    python benchmarks/chart.py run.json --out docs/img/benchmarks.svg

One group of horizontal bars per workload and storage kind, one bar per library and
mode: the ratio of its median time per request to its floor (the plain client of the
same stack and mode, in the same process), on a log axis with 1x marked. httpcache's
bars are blue and its labels bold; the peers are grey-toned. Rows that are n/a are
left out (the table in docs/benchmarks.md says why). The output depends only on the
JSON, so the same run always draws the same bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from report import STORAGE_ORDER, X, attach_floors  # noqa: E402

WORKLOAD_NAMES = {
    "W1": "W1 hit",
    "W2": "W2 miss + store",
    "W3": "W3 revalidate (304)",
    "W5": "W5 async hit, 100 tasks",
}
LIBRARY_ORDER = ("httpcache", "hishel 0.1.5", "hishel 2", "requests-cache", "CacheControl")
COLOURS = {
    ("httpcache", "sync"): "#1261d1",
    ("httpcache", "async"): "#5b9cf0",
    "hishel 0.1.5": "#9a8f7a",
    "hishel 2": "#b7a98a",
    "requests-cache": "#8a9a8a",
    "CacheControl": "#a3a3a3",
}

WIDTH = 960
LABEL_W = 260
PLOT_W = WIDTH - LABEL_W - 90
BAR_H = 13
BAR_GAP = 4
GROUP_GAP = 14
HEADER_H = 20
TOP = 86
FONT = "font-family=\"-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\""


def _ticks(low: float, high: float) -> list[float]:
    ticks = []
    exponent = math.floor(math.log10(low))
    while 10**exponent <= high * 1.0001:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if low * 0.9999 <= value <= high * 1.0001:
                ticks.append(float(value))
        exponent += 1
    return ticks


def _nice(value: float, *, up: bool) -> float:
    """The nearest 1, 2 or 5 times a power of ten above (``up``) or below ``value``."""
    exponent = math.floor(math.log10(value))
    candidates = [m * 10.0**e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 2, 5)]
    if up:
        return min(c for c in candidates if c >= value * 0.9999)
    return max(c for c in candidates if c <= value * 1.0001)


def _fmt_tick(value: float) -> str:
    return f"{value:g}{X}"


def _groups(rows: Sequence[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: list[tuple[str, list[dict[str, Any]]]] = []
    for workload in ("W1", "W2", "W3", "W5"):
        for storage in STORAGE_ORDER:
            bars = [
                r
                for r in rows
                if r["workload"] == workload
                and r["storage"] == storage
                and not r["floor"]
                and r.get("ratio") is not None
            ]
            if not bars:
                continue
            bars.sort(
                key=lambda r: (
                    LIBRARY_ORDER.index(r["library"]) if r["library"] in LIBRARY_ORDER else 99,
                    r["mode"] != "sync",
                )
            )
            groups.append((f"{WORKLOAD_NAMES[workload]} · {storage}", bars))
    return groups


def draw(results: dict[str, Any]) -> str:
    """The SVG document for a run's results."""
    rows = attach_floors(results["rows"])
    groups = _groups(rows)
    ratios = [r["ratio"] for _, bars in groups for r in bars]
    low = _nice(min([0.5, *ratios]), up=False)
    high = _nice(max([2.0, *ratios]) * 1.6, up=True)  # room for the value labels
    span = math.log10(high) - math.log10(low)

    def x(value: float) -> float:
        return LABEL_W + (math.log10(value) - math.log10(low)) / span * PLOT_W

    height = TOP + sum(HEADER_H + len(b) * (BAR_H + BAR_GAP) + GROUP_GAP for _, b in groups) + 40
    machine = results.get("machine", {})
    subtitle = (
        f"{results.get('timestamp', '')} · {machine.get('cpu_count', '?')} CPUs · "
        f"Python {machine.get('python', '?')} · median of {results['config']['repeats']} "
        "interleaved repeats · lower is better"
    )
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" {FONT} font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        '<text x="16" y="26" font-size="17" font-weight="bold" fill="#111">'
        "Time per request ÷ the plain client's (same stack, same process)</text>",
        f'<text x="16" y="46" fill="#555">{escape(subtitle)}</text>',
    ]
    legend_x = 16
    present = {r["library"] for _, bars in groups for r in bars}
    for label, colour in (
        ("httpcache sync", COLOURS[("httpcache", "sync")]),
        ("httpcache async", COLOURS[("httpcache", "async")]),
        *[(name, COLOURS[name]) for name in LIBRARY_ORDER[1:] if name in present],
    ):
        out.append(f'<rect x="{legend_x}" y="58" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{legend_x + 16}" y="68" fill="#333">{escape(label)}</text>')
        legend_x += 24 + 7 * len(label)

    plot_top = TOP
    plot_bottom = height - 30
    for tick in _ticks(low, high):
        tx = x(tick)
        stroke = "#444" if tick == 1 else "#e3e3e3"
        out.append(
            f'<line x1="{tx:.1f}" y1="{plot_top - 4}" x2="{tx:.1f}" y2="{plot_bottom}" '
            f'stroke="{stroke}" stroke-width="{1.2 if tick == 1 else 1}"/>'
        )
        out.append(
            f'<text x="{tx:.1f}" y="{plot_bottom + 14}" text-anchor="middle" fill="#555">'
            f"{_fmt_tick(tick)}</text>"
        )

    y = TOP
    for title, bars in groups:
        out.append(
            f'<text x="16" y="{y + 14}" font-weight="bold" fill="#111">{escape(title)}</text>'
        )
        y += HEADER_H
        for row in bars:
            ours = row["key"] == "httpcache"
            colour = (
                COLOURS[("httpcache", row["mode"])] if ours else COLOURS.get(row["library"], "#999")
            )
            label = f"{row['library']} {row['mode']}"
            weight = ' font-weight="bold"' if ours else ""
            out.append(
                f'<text x="{LABEL_W - 8}" y="{y + BAR_H - 2}" text-anchor="end" '
                f'fill="{"#0b3d91" if ours else "#444"}"{weight}>{escape(label)}</text>'
            )
            left, right = x(low), x(row["ratio"])
            out.append(
                f'<rect x="{left:.1f}" y="{y}" width="{max(right - left, 1):.1f}" '
                f'height="{BAR_H}" fill="{colour}"/>'
            )
            ratio = row["ratio"]
            value = f"{ratio:.2f}{X}" if ratio < 10 else f"{ratio:.1f}{X}"
            out.append(
                f'<text x="{right + 4:.1f}" y="{y + BAR_H - 2}" fill="#222"{weight}>'
                f"{value} ({row['median_us']:,.0f} µs)</text>"
            )
            y += BAR_H + BAR_GAP
        y += GROUP_GAP
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Read the JSON, write the SVG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="?", default=str(HERE / "results.json"))
    parser.add_argument("--out", default=str(HERE.parent / "docs" / "img" / "benchmarks.svg"))
    args = parser.parse_args(argv)
    svg = draw(json.loads(Path(args.json).read_text()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(svg, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
