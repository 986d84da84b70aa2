"""HTTP-date parsing and formatting (RFC 9110 §5.6.7; checklist P-20..P-26, F-11, F-12)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from httpcache._policy._dates import format_http_date, parse_http_date

SUN_1994 = 784111777.0
NOW_2026 = 1767225600.0  # Thu, 01 Jan 2026 00:00:00 GMT


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"Sun, 06 Nov 1994 08:49:37 GMT", id="P-23-imf-fixdate"),
        pytest.param(b"Sunday, 06-Nov-94 08:49:37 GMT", id="P-23-rfc850"),
        pytest.param(b"Sun Nov  6 08:49:37 1994", id="P-23-asctime"),
        pytest.param(b"Sun Nov 06 08:49:37 1994", id="P-23-asctime-two-digit-day"),
        pytest.param(b"sun, 06 nov 1994 08:49:37 gmt", id="P-22-lower-case"),
        pytest.param(b"SUNDAY, 06-NOV-94 08:49:37 GMT", id="P-22-upper-case-rfc850"),
        pytest.param(b"  Sun, 06 Nov 1994 08:49:37 GMT\t", id="P-20-surrounding-whitespace"),
        pytest.param(b"Wed, 06 Nov 1994 08:49:37 GMT", id="P-23-weekday-not-checked"),
    ],
)
def test_parse_http_date_valid_forms_give_epoch_seconds(value: bytes) -> None:
    """P-22, P-23, RFC 9110 §5.6.7: every format, any case, gives 784111777."""
    assert parse_http_date(value) == SUN_1994


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"", id="P-20-empty"),
        pytest.param(b"0", id="P-20-zero"),
        pytest.param(b"-1", id="P-20-minus-one"),
        pytest.param(b"never", id="P-20-word"),
        pytest.param(b"784111777", id="P-20-bare-number"),
        pytest.param(b"Sun, 06 Nov 1994 08:49:37 GMT garbage", id="P-20-trailing-garbage"),
        pytest.param(b"Sun, 06 Nov 1994 08:49:37 GMT, x", id="P-20-trailing-list"),
        pytest.param(b"Sun, 06 Nov 1994", id="P-20-truncated"),
        pytest.param(b"Sun, 06 Nov 1994 08:49:37 +0000", id="P-21-numeric-zone"),
        pytest.param(b"Sun, 06 Nov 1994 08:49:37 UTC", id="P-21-utc"),
        pytest.param(b"Sun, 06 Nov 1994 08:49:37 PST", id="P-21-pst"),
        pytest.param(b"Sun, 06 Nov 1994 08:49:37", id="P-21-no-zone"),
        pytest.param(b"Sunday, 06-Nov-94 08:49:37 UTC", id="P-21-rfc850-utc"),
        pytest.param(b"Sun Nov  6 08:49:37 1994 GMT", id="P-20-asctime-with-zone"),
        pytest.param(b"Sun, 32 Nov 1994 08:49:37 GMT", id="P-20-day-32"),
        pytest.param(b"Sun, 31 Nov 1994 08:49:37 GMT", id="P-20-november-31"),
        pytest.param(b"Sun, 29 Feb 1995 08:49:37 GMT", id="P-20-february-29-common-year"),
        pytest.param(b"Sun, 00 Nov 1994 08:49:37 GMT", id="P-20-day-zero"),
        pytest.param(b"Sun, 06 Nov 1994 24:00:00 GMT", id="P-20-hour-24"),
        pytest.param(b"Sun, 06 Nov 1994 08:60:00 GMT", id="P-20-minute-60"),
        pytest.param(b"Sun, 06 Nov 1994 08:49:61 GMT", id="P-20-second-61"),
        pytest.param(b"Sun, 06 Nov 0000 08:49:37 GMT", id="P-20-year-zero"),
        pytest.param(b"Sun, 06 Foo 1994 08:49:37 GMT", id="P-20-bad-month"),
        pytest.param(b"Xyz, 06 Nov 1994 08:49:37 GMT", id="P-20-bad-day-name"),
        pytest.param(b"Sun, 06 Nov 1994 08:49:37 GMT\xff", id="P-1-non-ascii"),
        pytest.param("Sun, \u06606 Nov 1994 08:49:37 GMT".encode(), id="P-1-unicode-digit"),
    ],
)
def test_parse_http_date_invalid_value_gives_none(value: bytes) -> None:
    """P-20, P-21, RFC 9111 §5.3, §4.2: an invalid date parses to None."""
    assert parse_http_date(value) is None


def test_parse_http_date_leap_second_counts_as_59() -> None:
    """P-26, RFC 9110 §5.6.7: 23:59:60 is accepted and read as 23:59:59."""
    assert parse_http_date(b"Sat, 31 Dec 2016 23:59:60 GMT") == 1483228799.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(b"Fri, 31 Dec 9999 23:59:59 GMT", 253402300799.0, id="P-25-year-9999"),
        pytest.param(b"Thu, 01 Jan 1970 00:00:00 GMT", 0.0, id="P-25-epoch"),
        pytest.param(b"Wed, 31 Dec 1969 23:59:59 GMT", -1.0, id="P-25-before-epoch"),
        pytest.param(b"Mon, 01 Jan 0001 00:00:00 GMT", -62135596800.0, id="P-25-year-1"),
    ],
)
def test_parse_http_date_extreme_years_parse_without_overflow(
    value: bytes, expected: float
) -> None:
    """P-25, RFC 9111 §5.3, §1.2.2: far-future and pre-1970 dates parse."""
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        pytest.param(
            b"Friday, 31-Dec-99 23:59:59 GMT", NOW_2026, 946684799.0, id="P-24-99-is-1999"
        ),
        pytest.param(
            b"Thursday, 31-Dec-37 23:59:59 GMT", NOW_2026, 2145916799.0, id="P-24-37-is-2037"
        ),
        pytest.param(
            b"Wednesday, 01-Jan-76 00:00:00 GMT", NOW_2026, 3345062400.0, id="P-24-50-years-ahead"
        ),
        pytest.param(
            b"Friday, 01-Jan-77 00:00:00 GMT", NOW_2026, 220924800.0, id="P-24-51-years-ahead"
        ),
        pytest.param(
            b"Sunday, 06-Nov-94 08:49:37 GMT", None, SUN_1994, id="P-24-no-now-94-is-1994"
        ),
        pytest.param(
            b"Thursday, 31-Dec-37 23:59:59 GMT", None, 2145916799.0, id="P-24-no-now-37-is-2037"
        ),
        pytest.param(b"Thursday, 01-Jan-70 00:00:00 GMT", None, 0.0, id="P-24-no-now-70-is-1970"),
        pytest.param(b"Sunday, 06-Nov-94 08:49:37 GMT", float("nan"), SUN_1994, id="P-1-nan-now"),
        pytest.param(b"Sunday, 06-Nov-94 08:49:37 GMT", 1e300, SUN_1994, id="P-1-huge-now"),
    ],
)
def test_parse_http_date_rfc850_two_digit_year_resolved(
    value: bytes, now: float | None, expected: float
) -> None:
    """P-24, RFC 9110 §5.6.7: a year more than 50 years ahead means the last century."""
    assert parse_http_date(value, now=now) == expected


@pytest.fixture
def set_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Switch the process time zone; the original one is restored afterwards."""

    def apply(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield apply
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/Los_Angeles"])
def test_parse_http_date_local_zone_does_not_change_result(
    set_zone: Callable[[str], None], zone: str
) -> None:
    """F-11, RFC 9111 §4.2: the local time zone never affects a parsed date."""
    set_zone(zone)
    assert parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT") == SUN_1994
    assert format_http_date(SUN_1994) == b"Sun, 06 Nov 1994 08:49:37 GMT"


def test_parse_http_date_result_is_whole_seconds() -> None:
    """F-12, RFC 9111 §4.2: the parsed Expires is exact, never rounded up."""
    result = parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT")
    assert isinstance(result, float)
    assert result.is_integer()
    assert result <= 784111777


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        pytest.param(SUN_1994, b"Sun, 06 Nov 1994 08:49:37 GMT", id="whole-seconds"),
        pytest.param(SUN_1994 + 0.999, b"Sun, 06 Nov 1994 08:49:37 GMT", id="F-12-truncated"),
        pytest.param(0.0, b"Thu, 01 Jan 1970 00:00:00 GMT", id="epoch"),
        pytest.param(-0.5, b"Wed, 31 Dec 1969 23:59:59 GMT", id="F-12-rounded-down"),
        pytest.param(253402300799.0, b"Fri, 31 Dec 9999 23:59:59 GMT", id="P-25-year-9999"),
        pytest.param(1e300, b"Fri, 31 Dec 9999 23:59:59 GMT", id="P-1-clamped-high"),
        pytest.param(float("-inf"), b"Mon, 01 Jan 0001 00:00:00 GMT", id="P-1-clamped-low"),
        pytest.param(float("nan"), b"Thu, 01 Jan 1970 00:00:00 GMT", id="P-1-nan"),
    ],
)
def test_format_http_date_gives_imf_fixdate(timestamp: float, expected: bytes) -> None:
    """RFC 9110 §5.6.7: dates are generated as IMF-fixdate, whole seconds."""
    assert format_http_date(timestamp) == expected


@pytest.mark.parametrize(
    "timestamp", [0.0, SUN_1994, 1483228799.0, -1.0, 4102444800.0, 253402300799.0]
)
def test_format_http_date_round_trips_through_parse(timestamp: float) -> None:
    """P-23, RFC 9110 §5.6.7: a formatted date parses back to the same second."""
    assert parse_http_date(format_http_date(timestamp)) == timestamp
