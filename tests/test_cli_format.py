"""The pure helpers of the ``httpcache`` command: no I/O, ``now`` passed in."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import replace

import pytest

from httpcache import (
    CacheOptions,
    Entry,
    JSONSerializer,
    PickleSerializer,
    RequestHead,
    ResponseHead,
    StorageStats,
    YAMLSerializer,
)
from httpcache._cli import _format as fmt
from httpcache._policy._engine import _freshness
from httpcache._serializers import FORMAT_VERSION

T0 = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT
DATE = b"Sun, 06 Nov 1994 08:49:37 GMT"
OPTIONS = CacheOptions()


def entry(
    url: str = "https://example.com/",
    *,
    status: int = 200,
    headers: tuple[tuple[bytes, bytes], ...] = ((b"cache-control", b"max-age=100"),),
    size: int | None = 10,
    created: float = T0,
    key: str | None = None,
    variant: str = "v1",
    **fields: object,
) -> Entry:
    return Entry(
        key=key or url,
        variant=variant,
        request=RequestHead("GET", url, ((b"accept-language", b"en"),)),
        response=ResponseHead(status, headers, "OK"),
        request_time=created,
        response_time=created,
        created_at=created,
        size=size,
        **fields,  # type: ignore[arg-type]
    )


# -- sizes, durations, times -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("0", 0, id="zero"),
        pytest.param("512", 512, id="bytes"),
        pytest.param("512B", 512, id="B"),
        pytest.param("10k", 10_000, id="k"),
        pytest.param("10kB", 10_000, id="kB"),
        pytest.param("10K", 10_000, id="K"),
        pytest.param("2M", 2_000_000, id="M"),
        pytest.param("1.5MiB", 1_572_864, id="MiB"),
        pytest.param("1.5 mib", 1_572_864, id="mib-space"),
        pytest.param("3Ki", 3072, id="Ki"),
        pytest.param("1G", 10**9, id="G"),
        pytest.param("1GiB", 2**30, id="GiB"),
        pytest.param("1TiB", 2**40, id="TiB"),
        pytest.param(".5k", 500, id="leading-dot"),
        pytest.param(" 7 ", 7, id="spaces"),
    ],
)
def test_parse_size_known_units_give_bytes(text: str, expected: int) -> None:
    assert fmt.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "k", "ten", "10q", "-1", "1.2.3", "10 k b", "1e3"])
def test_parse_size_bad_text_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        fmt.parse_size(text)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        pytest.param(None, "-", id="unknown"),
        pytest.param(0, "0 B", id="zero"),
        pytest.param(1023, "1023 B", id="bytes"),
        pytest.param(1024, "1.0 KiB", id="one-kib"),
        pytest.param(1536, "1.5 KiB", id="fraction"),
        pytest.param(15 * 1024, "15 KiB", id="no-decimals-from-ten"),
        pytest.param(1024 * 1024 - 1, "1.0 MiB", id="rounds-up-a-unit"),
        pytest.param(3 * 2**30, "3.0 GiB", id="gib"),
        pytest.param(2**60, "1024 PiB", id="largest-unit"),
    ],
)
def test_format_size_humanises_binary_units(size: int | None, text: str) -> None:
    assert fmt.format_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(-5, "0s", id="negative"),
        pytest.param(0, "0s", id="zero"),
        pytest.param(0.9, "0s", id="fraction"),
        pytest.param(45, "45s", id="seconds"),
        pytest.param(60, "1m", id="minute"),
        pytest.param(192, "3m12s", id="minutes"),
        pytest.param(3600, "1h", id="hour"),
        pytest.param(3900, "1h5m", id="hours"),
        pytest.param(3601, "1h", id="seconds-dropped-after-an-hour"),
        pytest.param(187200, "2d4h", id="days"),
        pytest.param(86400 * 400, "400d", id="many-days"),
    ],
)
def test_format_duration_shows_two_largest_units(seconds: float, text: str) -> None:
    assert fmt.format_duration(seconds) == text


def test_iso_utc_and_human_time_are_utc() -> None:
    assert fmt.iso_utc(T0) == "1994-11-06T08:49:37Z"
    assert fmt.iso_utc(T0 + 0.75) == "1994-11-06T08:49:37Z"
    assert fmt.human_time(T0) == "1994-11-06 08:49:37 UTC"


# -- text safety -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("redis://:pw@host:6379/0", "redis://:***@host:6379/0", id="password"),
        pytest.param("redis://user:pw@host/0?x=1", "redis://user:***@host/0?x=1", id="user"),
        pytest.param("redis://host/0?password=pw&a=b", "redis://host/0?password=***&a=b", id="q"),
        pytest.param("redis://user@host/0", "redis://user@host/0", id="no-password"),
        pytest.param("./cache", "./cache", id="path"),
    ],
)
def test_redact_url_hides_passwords(url: str, shown: str) -> None:
    assert fmt.redact_url(url) == shown


def test_printable_escapes_control_characters() -> None:
    assert fmt.printable("a\x1b[31mb\nc\x7f\x85é") == "a\\x1b[31mb\\x0ac\\x7f\\x85é"


@pytest.mark.parametrize("text", ["https://e.com/a?b=*", "https://e.com/[x]?", "plain"])
def test_glob_escape_matches_only_the_text_itself(text: str) -> None:
    pattern = fmt.glob_escape(text)
    assert fnmatch.fnmatchcase(text, pattern)
    assert not fnmatch.fnmatchcase(text + "x", pattern)
    assert not fnmatch.fnmatchcase(text.replace("*", "z").replace("?", "z"), pattern) or (
        "*" not in text and "?" not in text
    )


# -- records of other serializers ------------------------------------------------------------


def test_record_format_recognises_every_serializer_without_decoding() -> None:
    stored = entry()
    assert fmt.record_format(JSONSerializer().dumps(stored)) == ("json", FORMAT_VERSION)
    assert fmt.record_format(YAMLSerializer().dumps(stored)) == ("yaml", FORMAT_VERSION)
    assert fmt.record_format(PickleSerializer().dumps(stored)) == ("pickle", None)
    assert fmt.record_format(b"\x00not a record") is None
    assert fmt.record_format(b'{"other": 1}') is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"garbage", None, id="corrupt"),
        pytest.param(b'{"httpcache":1,"entry":', None, id="same-format-and-version"),
        pytest.param(b"httpcache: 1\nentry: [", "it holds yaml records, not json", id="yaml"),
        pytest.param(b"\x80\x05\x95httpcache", "--serializer pickle (only for", id="pickle"),
        pytest.param(b'{"httpcache":2,"entry":', "format version 2", id="version"),
    ],
)
def test_foreign_record_explains_intact_records_only(data: bytes, expected: str | None) -> None:
    problem = fmt.foreign_record(data, "json", 1)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


# -- freshness agrees with the engine ----------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "now", "options"),
    [
        pytest.param(entry(), T0 + 30, OPTIONS, id="max-age"),
        pytest.param(
            entry(headers=((b"date", DATE), (b"age", b"50"), (b"cache-control", b"max-age=100"))),
            T0 + 10,
            OPTIONS,
            id="age-header",
        ),
        pytest.param(
            entry(headers=((b"date", DATE), (b"expires", b"0"))), T0, OPTIONS, id="bad-expires"
        ),
        pytest.param(
            entry(headers=((b"date", DATE), (b"last-modified", b"Sat, 05 Nov 1994 08:49:37 GMT"))),
            T0 + 100,
            OPTIONS,
            id="heuristic",
        ),
        pytest.param(
            entry(headers=((b"cache-control", b"max-age=10, s-maxage=1000"),)),
            T0 + 100,
            CacheOptions(shared=True),
            id="s-maxage-shared",
        ),
        pytest.param(entry(force_cached=True, ttl=60.0), T0 + 30, OPTIONS, id="force-cached"),
        pytest.param(entry(force_cached=True), T0 + 30, OPTIONS, id="force-cached-forever"),
    ],
)
def test_freshness_is_what_the_engine_computes(
    stored: Entry, now: float, options: CacheOptions
) -> None:
    mine = fmt.freshness(stored, now, options)
    engine = _freshness(stored, now, options)
    assert (mine.age, mine.lifetime) == (engine.age, engine.lifetime)


def test_freshness_left_and_heuristic_flag() -> None:
    heuristic = entry(
        headers=((b"date", DATE), (b"last-modified", b"Sat, 05 Nov 1994 08:49:37 GMT"))
    )
    state = fmt.freshness(heuristic, T0 + 100, OPTIONS)
    assert state.heuristic and state.lifetime == 8640 and state.left == 8540 and state.fresh
    expired = fmt.freshness(entry(), T0 + 100, OPTIONS)
    assert expired.left == 0 and not expired.fresh  # fresh means lifetime > age


# -- selecting rows ----------------------------------------------------------------------------


def _views() -> list[fmt.EntryView]:
    entries = [
        entry("https://a.example/big", size=5000, created=T0 - 50),
        entry("https://a.example/old", created=T0 - 500),  # max-age=100: stale
        entry("https://b.example/404", status=404, size=None, created=T0 - 10),
        entry("https://b.example/v", variant="en", created=T0 - 20),
        entry("https://b.example/v", variant="fr", size=20, created=T0 - 30),
        entry("https://b.example/gone", invalidated=True, created=T0),
    ]
    return fmt.entry_views(entries, T0, OPTIONS)


def _urls(views: list[fmt.EntryView]) -> list[str]:
    return [f"{v.entry.request.url}#{v.entry.variant}" for v in views]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            fmt.ListQuery(),
            [
                "https://a.example/big#v1",
                "https://a.example/old#v1",
                "https://b.example/404#v1",
                "https://b.example/gone#v1",
                "https://b.example/v#en",
                "https://b.example/v#fr",
            ],
            id="by-url",
        ),
        pytest.param(
            fmt.ListQuery(state="stale"),
            ["https://a.example/old#v1", "https://b.example/gone#v1"],
            id="stale-includes-invalidated",
        ),
        pytest.param(
            fmt.ListQuery(state="fresh", statuses=frozenset({200})),
            ["https://a.example/big#v1", "https://b.example/v#en", "https://b.example/v#fr"],
            id="fresh-200",
        ),
        pytest.param(
            fmt.ListQuery(larger_than=10),
            ["https://a.example/big#v1", "https://b.example/v#fr"],
            id="larger-than-is-strict",
        ),
        pytest.param(
            fmt.ListQuery(sort="size", limit=2),
            ["https://a.example/big#v1", "https://b.example/v#fr"],
            id="size-largest-first",
        ),
        pytest.param(
            fmt.ListQuery(sort="age", limit=3),
            ["https://a.example/old#v1", "https://a.example/big#v1", "https://b.example/v#fr"],
            id="age-oldest-first",
        ),
        pytest.param(
            fmt.ListQuery(sort="age", reverse=True, limit=1),
            ["https://b.example/gone#v1"],
            id="age-reversed",
        ),
        pytest.param(fmt.ListQuery(limit=0), [], id="limit-zero"),
    ],
)
def test_select_filters_sorts_and_limits(query: fmt.ListQuery, expected: list[str]) -> None:
    assert _urls(fmt.select(_views(), query)) == expected


def test_list_query_refuses_negative_numbers() -> None:
    with pytest.raises(ValueError, match="limit"):
        fmt.ListQuery(limit=-1)
    with pytest.raises(ValueError, match="larger_than"):
        fmt.ListQuery(larger_than=-1)


def test_entry_views_count_variants_per_key() -> None:
    assert [v.variants for v in _views()] == [1, 1, 1, 2, 2, 1]


# -- tables and text ---------------------------------------------------------------------------


def test_render_table_aligns_columns_and_colours_after_padding() -> None:
    rows: list[list[fmt.Cell]] = [[("a", None), ("1", "red")], [("long", None), ("100", None)]]
    plain = fmt.render_table(("NAME", "N"), rows, right=frozenset({1}))
    assert plain.splitlines() == ["NAME    N", "a       1", "long  100"]
    coloured = fmt.render_table(("NAME", "N"), rows, right=frozenset({1}), color=True)
    assert coloured.splitlines()[1] == "a       \x1b[31m1\x1b[0m"
    assert coloured.splitlines()[0] == "\x1b[1mNAME\x1b[0m    \x1b[1mN\x1b[0m"


def test_list_table_has_one_row_per_entry_url_last() -> None:
    lines = fmt.list_table(fmt.select(_views(), fmt.ListQuery())).splitlines()
    assert lines[:2] == [
        "METHOD  STATUS     SIZE    AGE        FRESH  HITS  VARIANTS  URL",
        "GET        200  4.9 KiB    50s          50s     0         1  https://a.example/big",
    ]
    assert lines[2].split()[5] == "stale" and lines[3].split()[2] == "-"
    assert lines[4].split()[5] == "invalidated"


def test_list_table_escapes_control_characters_in_urls() -> None:
    view = fmt.entry_views([entry("https://e.example/\x1b[2J")], T0, OPTIONS)
    assert "\x1b" not in fmt.list_table(view)


def test_entry_json_is_serialisable_with_utc_times() -> None:
    (view,) = fmt.entry_views([entry(ttl=30.0)], T0 + 40, OPTIONS)
    row = fmt.entry_json(view)
    assert json.loads(json.dumps(row)) == row
    assert row["created_at"] == "1994-11-06T08:49:37Z"
    assert (row["age_seconds"], row["freshness_left_seconds"], row["ttl_seconds"]) == (
        40.0,
        60.0,
        30.0,
    )


def test_show_json_adds_heads_as_latin1_text() -> None:
    stored = entry(headers=((b"x-name", b"caf\xe9"),))
    shown = fmt.show_json(
        "redis://:pw@h/0", "https://example.com/", fmt.entry_views([stored], T0, OPTIONS)
    )
    assert shown["store"] == "redis://:***@h/0"
    entries = shown["entries"]
    assert isinstance(entries, list)
    item = entries[0]
    assert item["response_headers"] == [["x-name", "café"]]
    assert item["request_headers"] == [["accept-language", "en"]]


def test_show_text_metadata_and_headers() -> None:
    views = fmt.entry_views(
        [entry(variant="en"), entry(variant="fr", invalidated=True, force_cached=True, ttl=5.0)],
        T0 + 30,
        OPTIONS,
    )
    text = fmt.show_text(views, headers=False)
    assert "GET https://example.com/  (entry 1 of 2)" in text
    assert "  freshness:  1m10s left (lifetime 1m40s)" in text
    assert "  flags:      invalidated, force-cached" in text
    assert "headers" not in text
    with_heads = fmt.show_text(views[:1], headers=True)
    assert "(entry" not in with_heads
    assert "    accept-language: en\n" in with_heads
    assert with_heads.endswith("    HTTP/1.1 200 OK\n    cache-control: max-age=100")


def test_show_text_stale_entry_says_for_how_long() -> None:
    text = fmt.show_text(fmt.entry_views([entry()], T0 + 400, OPTIONS), headers=False)
    assert "  freshness:  stale for 5m (lifetime 1m40s)" in text


def test_response_head_bytes_is_an_http_message_head() -> None:
    stored = entry(headers=((b"content-type", b"text/plain"), (b"x-raw", b"\xff")))
    assert fmt.response_head_bytes(stored) == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-raw: \xff\r\n\r\n"
    )


# -- stats -------------------------------------------------------------------------------------


def test_summarise_counts_hosts_statuses_and_times() -> None:
    summary = fmt.summarise(StorageStats(entries=7, bytes=9000, expired=1), _views())
    assert (summary.listed, summary.stale, summary.body_bytes) == (6, 2, 5050)
    assert (summary.oldest, summary.newest) == (T0 - 500, T0)
    assert summary.hosts == (("b.example", 4), ("a.example", 2))
    assert summary.statuses == ((200, 5), (404, 1))
    assert fmt.stats_json("./cache", summary) == {
        "store": "./cache",
        "entries": 7,
        "bytes": 9000,
        "expired": 1,
        "listed": 6,
        "stale": 2,
        "fresh": 4,
        "body_bytes": 5050,
        "oldest_created_at": "1994-11-06T08:41:17Z",
        "newest_created_at": "1994-11-06T08:49:37Z",
        "hosts": {"b.example": 4, "a.example": 2},
        "statuses": {"200": 5, "404": 1},
    }


def test_stats_text_of_an_empty_store() -> None:
    summary = fmt.summarise(StorageStats(entries=0, bytes=0), [])
    text = fmt.stats_text("./cache", summary, T0)
    assert "  oldest:           -" in text and "by host" not in text
    assert fmt.stats_json("./cache", summary)["oldest_created_at"] is None


def test_stats_text_lists_hosts_and_statuses() -> None:
    summary = fmt.summarise(StorageStats(entries=6, bytes=2048, expired=0), _views())
    text = fmt.stats_text("./cache", summary, T0)
    assert "  bytes:            2.0 KiB (2048 bytes)" in text
    assert "  oldest:           1994-11-06 08:41:17 UTC (8m20s ago)" in text
    assert "by host:\n  b.example      4\n  a.example      2" in text
    assert "by status:\n  200      5\n  404      1" in text


def test_views_are_values() -> None:
    (view,) = fmt.entry_views([entry()], T0, OPTIONS)
    assert replace(view, variants=3).variants == 3
    with pytest.raises(AttributeError):
        view.variants = 2  # type: ignore[misc]
