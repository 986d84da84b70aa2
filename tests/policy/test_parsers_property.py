"""Every parser survives arbitrary bytes (P-1, RFC 9110 §2.3, §2.4).

Random byte strings and header-ish text go into every parsing function, as one
line and as several lines; none may raise, and each returns its declared type.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from httpcache._models import Headers
from httpcache._policy._age import parse_age
from httpcache._policy._cache_control import (
    MAX_DELTA_SECONDS,
    RequestCacheControl,
    ResponseCacheControl,
    parse_delta_seconds,
    parse_directives,
    parse_request_cache_control,
    parse_response_cache_control,
)
from httpcache._policy._dates import format_http_date, parse_http_date
from httpcache._policy._etags import is_weak, split_entity_tags, strong_match, weak_match
from httpcache._policy._vary import normalize_field_value, parse_vary

HEADERISH = '=,; \t"\\W/0123456789abcdefmax-agenostore*'
DATEISH = " ,:-0123456789GMTgmtSunNovDecFridayJan+"

header_values = st.one_of(
    st.binary(max_size=80),
    st.text(alphabet=HEADERISH, max_size=60).map(lambda text: text.encode("latin-1")),
    st.text(alphabet=DATEISH, max_size=40).map(lambda text: text.encode("ascii")),
)
header_lines = st.lists(header_values, max_size=4)
field_names = st.sampled_from(
    [b"Cache-Control", b"cache-control", b"Pragma", b"Age", b"AGE", b"Vary", b"ETag", b"X-Other"]
)
header_sections: st.SearchStrategy[Headers] = st.lists(
    st.tuples(field_names, header_values), max_size=6
).map(tuple)

SETTINGS = settings(max_examples=300, deadline=None)


@SETTINGS
@given(value=header_values, now=st.one_of(st.none(), st.floats(), st.integers(-(10**12), 10**12)))
def test_parse_http_date_any_bytes_never_raises(value: bytes, now: float | None) -> None:
    """P-1, RFC 9110 §5.6.7: any bytes give a whole float or None."""
    result = parse_http_date(value, now=now)
    assert result is None or (isinstance(result, float) and result.is_integer())


@SETTINGS
@given(timestamp=st.one_of(st.floats(), st.integers(-(10**20), 10**20)))
def test_format_http_date_any_number_gives_parseable_date(timestamp: float) -> None:
    """P-1, RFC 9110 §5.6.7: any number formats as an IMF-fixdate that parses back."""
    result = format_http_date(timestamp)
    assert isinstance(result, bytes)
    assert parse_http_date(result) is not None


@SETTINGS
@given(lines=header_lines)
def test_parse_directives_any_lines_never_raise(lines: list[bytes]) -> None:
    """P-1, RFC 9111 §5.2: any lines give (lower-case name, str or None) pairs."""
    for name, argument in parse_directives(lines):
        assert isinstance(name, str)
        assert name and name == name.lower()
        assert argument is None or isinstance(argument, str)


@SETTINGS
@given(argument=st.one_of(st.none(), st.text(max_size=30), st.text("0123456789+-. ")))
def test_parse_delta_seconds_any_text_never_raises(argument: str | None) -> None:
    """P-1, RFC 9111 §1.2.2: any argument gives None or an int in range."""
    result = parse_delta_seconds(argument)
    assert result is None or (isinstance(result, int) and 0 <= result <= MAX_DELTA_SECONDS)


@SETTINGS
@given(headers=header_sections)
def test_parse_cache_control_any_headers_never_raise(headers: Headers) -> None:
    """P-1, RFC 9111 §5.2.1, §5.2.2: any header section gives parsed directives."""
    response = parse_response_cache_control(headers)
    request = parse_request_cache_control(headers)
    assert isinstance(response, ResponseCacheControl)
    assert isinstance(request, RequestCacheControl)
    for seconds in (response.max_age, response.s_maxage, request.max_age, request.max_stale):
        assert seconds is None or 0 <= seconds <= MAX_DELTA_SECONDS
    assert all(isinstance(name, str) for name in response.no_cache_fields)


@SETTINGS
@given(headers=header_sections)
def test_parse_age_any_headers_never_raise(headers: Headers) -> None:
    """P-1, RFC 9111 §5.1: any header section gives an int in 0..MAX_DELTA_SECONDS."""
    result = parse_age(headers)
    assert isinstance(result, int) and 0 <= result <= MAX_DELTA_SECONDS


@SETTINGS
@given(headers=header_sections)
def test_parse_vary_any_headers_never_raise(headers: Headers) -> None:
    """P-1, RFC 9110 §12.5.5: any header section gives sorted names or None."""
    result = parse_vary(headers)
    if result is not None:
        assert all(isinstance(name, bytes) and name for name in result)
        assert list(result) == sorted(set(result))


@SETTINGS
@given(values=header_lines)
def test_normalize_field_value_any_lines_never_raise(values: list[bytes]) -> None:
    """P-1, RFC 9111 §4.1: any lines normalise to bytes, idempotently."""
    result = normalize_field_value(values)
    assert isinstance(result, bytes)
    assert normalize_field_value([result]) == result


@SETTINGS
@given(value=header_values, other=header_values)
def test_etag_functions_any_bytes_never_raise(value: bytes, other: bytes) -> None:
    """P-1, P-31, RFC 9110 §8.8.3: any bytes split and compare without raising."""
    tags = split_entity_tags(value)
    assert all(isinstance(tag, bytes) and tag for tag in tags)
    assert isinstance(is_weak(value), bool)
    assert weak_match(value, other) == weak_match(other, value)
    assert strong_match(value, other) == strong_match(other, value)
    if strong_match(value, other):
        assert weak_match(value, other)


@pytest.mark.parametrize("separator", [b",", b"\r\n", b"\x00"])
def test_parsers_control_bytes_never_raise(separator: bytes) -> None:
    """P-1, RFC 9110 §5.5: control bytes inside values are just data."""
    value = b"max-age=1" + separator + b'no-cache="a' + separator
    headers: Headers = ((b"Cache-Control", value), (b"Age", value), (b"Vary", value))
    parse_response_cache_control(headers)
    parse_request_cache_control(headers)
    assert parse_age(headers) >= 0
    assert parse_vary(headers) is None
    assert parse_http_date(value) is None
