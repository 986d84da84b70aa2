"""HTTP-date parsing and formatting (RFC 9110 §5.6.7).

Invariants:

* Pure: the clock is never read. RFC 850 two-digit years are resolved against
  the ``now`` the caller passes in, or a fixed pivot when there is none.
* Nothing here raises: a value that is not an HTTP-date parses to ``None``.
* All arithmetic is UTC epoch arithmetic (``calendar.timegm``); the local time
  zone never matters (RFC 9111 §4.2).
"""

from __future__ import annotations

import calendar
import functools
import math
import re
from datetime import datetime, timedelta, timezone

__all__ = ["format_http_date", "parse_http_date"]

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip
_MONTHS = {name.lower(): number for number, name in enumerate(_MONTH_NAMES, 1)}

# Any day name, short or long, is accepted in every format; it is not checked
# against the date (RFC 9110 §5.6.7 makes the date authoritative).
_DAY = (
    r"(?:mon|tue|wed|thu|fri|sat|sun"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
)
_MONTH = r"(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_TIME = r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"
_FLAGS = re.ASCII | re.IGNORECASE
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_IMF_FIXDATE = re.compile(rf"{_DAY}, (?P<day>\d\d) {_MONTH} (?P<year>\d{{4}}) {_TIME} GMT", _FLAGS)
_RFC850_DATE = re.compile(rf"{_DAY}, (?P<day>\d\d)-{_MONTH}-(?P<year>\d\d) {_TIME} GMT", _FLAGS)
_ASCTIME_DATE = re.compile(rf"{_DAY} {_MONTH} (?P<day>\d\d| ?\d) {_TIME} (?P<year>\d{{4}})", _FLAGS)


def _two_digit_year(yy: int, now: float | None) -> int:
    """Resolve an RFC 850 year: never more than 50 years after ``now`` (§5.6.7)."""
    if now is not None:
        try:
            now_year = (_EPOCH + timedelta(seconds=now)).year
        except (OverflowError, ValueError):
            pass
        else:
            limit = now_year + 50
            return limit - (limit - yy) % 100
    return 2000 + yy if yy < 70 else 1900 + yy


def parse_http_date(value: bytes, *, now: float | None = None) -> float | None:
    """Parse an HTTP-date into epoch seconds (RFC 9110 §5.6.7).

    Accepts IMF-fixdate, the obsolete RFC 850 form and asctime, with tokens
    matched case-insensitively (RFC 9111 §4.2). The zone must be ``GMT``. A
    leap second (``:60``) counts as ``:59``.

    Args:
        value: The raw field value; surrounding whitespace is ignored.
        now: Epoch seconds used to resolve RFC 850 two-digit years (a year more
            than 50 years after ``now`` means the previous century). Without
            it, ``00``-``69`` mean 20xx and ``70``-``99`` mean 19xx.

    Returns:
        Whole epoch seconds as a float, or ``None`` when ``value`` is not a
        valid HTTP-date.
    """
    stamp, rfc850 = _parse(value)
    if rfc850 is None:
        return stamp
    year, month, day, hour, minute, second = rfc850
    return _timestamp(_two_digit_year(year, now), month, day, hour, minute, second)


@functools.lru_cache(maxsize=4096)  # pure: memoised on the value alone, for the hit path
def _parse(value: bytes) -> tuple[float | None, tuple[int, int, int, int, int, int] | None]:
    """Return ``(timestamp, None)``, or ``(None, fields)`` for an RFC 850 date.

    An RFC 850 year needs the caller's ``now`` to resolve, so its fields are
    returned unresolved; every other result depends on ``value`` only.
    """
    try:
        text = value.decode("ascii").strip(" \t\r\n")
    except UnicodeDecodeError:
        return None, None
    match = (
        _IMF_FIXDATE.fullmatch(text)
        or _RFC850_DATE.fullmatch(text)
        or _ASCTIME_DATE.fullmatch(text)
    )
    if match is None:
        return None, None
    fields = (
        int(match["year"]),
        _MONTHS[match["month"].lower()],
        int(match["day"]),
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"]),
    )
    if match.re is _RFC850_DATE:
        return None, fields
    return _timestamp(*fields), None


def _timestamp(
    year: int, month: int, day: int, hour: int, minute: int, second: int
) -> float | None:
    """Return the epoch seconds of a parsed date, or ``None`` when it is no real moment."""
    if year < 1 or hour > 23 or minute > 59 or second > 60:
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    second = min(second, 59)
    return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))


_MIN_TIMESTAMP = calendar.timegm((1, 1, 1, 0, 0, 0, 0, 0, 0))
_MAX_TIMESTAMP = calendar.timegm((9999, 12, 31, 23, 59, 59, 0, 0, 0))


def format_http_date(timestamp: float) -> bytes:
    """Format epoch seconds as an IMF-fixdate (RFC 9110 §5.6.7).

    Fractions of a second are dropped (rounded down). Values outside years
    1-9999 are clamped to that range and NaN formats as the epoch, so this
    never raises.
    """
    if math.isnan(timestamp):
        seconds = 0
    elif timestamp <= _MIN_TIMESTAMP:
        seconds = _MIN_TIMESTAMP
    elif timestamp >= _MAX_TIMESTAMP:
        seconds = _MAX_TIMESTAMP
    else:
        seconds = math.floor(timestamp)
    return _format(seconds)


@functools.lru_cache(maxsize=64)  # pure: responses stored in the same second share a Date
def _format(seconds: int) -> bytes:
    moment = _EPOCH + timedelta(seconds=seconds)
    text = (
        f"{_DAY_NAMES[moment.weekday()]}, {moment.day:02d} "
        f"{_MONTH_NAMES[moment.month - 1]} {moment.year:04d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT"
    )
    return text.encode("ascii")
