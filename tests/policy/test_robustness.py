"""Malformed and unusual header values end to end (RFC 9110 §2.3, §2.4; checklist P-1..P-32).

The parsers have their own unit tests (test_dates.py, test_cache_control.py,
test_age_parsing.py, test_vary_parsing.py, test_etags.py, test_parsers_property.py).
These tests check the behaviour those parses lead to: given a response with
header X stored at t=0, is a GET at t=N a hit or not, and what does it carry?
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from httpcache._models import Headers

from .scenario import T0, Scenario, http_date, respond

HeaderList = Sequence[tuple[str, str]]
ETAG = ("ETag", '"a"')
NOT_MODIFIED = respond(304, {"ETag": '"a"'})


def stored(
    headers: HeaderList | dict[str, str], *, shared: bool = False, at: float = 0
) -> Scenario:
    """A cache that fetched ``GET /a`` at ``at`` from an origin answering 200 ``headers``."""
    cache = Scenario(shared=shared)
    cache.fetch(at=at, origin=respond(200, headers))
    return cache


# --- P-1: nothing raises -----------------------------------------------------------------------

_NAMES = st.sampled_from(
    [
        "Cache-Control",
        "cache-control",
        "Expires",
        "Date",
        "Age",
        "Last-Modified",
        "ETag",
        "Vary",
        "Pragma",
        "Location",
        "Content-Location",
        "Connection",
        "Content-Length",
    ]
)
_VALUES = st.one_of(
    st.binary(max_size=40),
    st.text(alphabet='=,; \t"\\W/0123456789abcdeGMTNovSun:-*max-agenostore', max_size=40).map(
        lambda text: text.encode("latin-1")
    ),
    st.sampled_from(
        [
            b"max-age=60",
            b"no-store",
            b"s-maxage=abc",
            b"max-age=99999999999999999999",
            b"Sun, 06 Nov 1994 08:49:37 GMT",
            b"Fri, 31 Dec 9999 23:59:59 GMT",
            b"-1",
            b"*",
            b'W/"x"',
            b"\xff\xfe",
            b"",
        ]
    ),
)
_SECTIONS: st.SearchStrategy[Headers] = st.lists(
    st.tuples(_NAMES.map(str.encode), _VALUES), max_size=6
).map(tuple)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    response=_SECTIONS,
    request=_SECTIONS,
    status=st.sampled_from([200, 201, 204, 301, 302, 304, 404, 500, 503]),
    later=st.sampled_from([0, 1, 59, 3600, 10**10]),
)
def test_malformed_headers_policy_never_raises(
    response: Headers,
    request: Headers,
    status: int,
    later: float,
) -> None:
    """P-1, RFC 9110 §2.3, §2.4: no malformed field makes the policy raise, through
    storing, reusing, revalidating, stale-on-error and invalidation."""
    cache = Scenario(allow_stale=True)
    kinds = {"hit", "revalidated", "forwarded", "504", "stale-on-error", "error"}

    first = cache.fetch(headers=request, origin=respond(status, response))
    again = cache.fetch(at=later, headers=request, origin=respond(status, response))
    down = cache.fetch(at=later + 1, origin=respond(503, response))
    post = cache.fetch(at=later + 2, method="POST", origin=respond(201, response))

    assert {first.kind, again.kind, down.kind, post.kind} <= kinds
    for outcome in (first, again, down, post):
        assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in outcome.headers)


# --- P-2..P-13: Cache-Control and friends ------------------------------------------------------


@pytest.mark.parametrize(
    ("cc_name", "etag_name"),
    [
        pytest.param("cache-control", "etag", id="P-2-lower-case"),
        pytest.param("CACHE-CONTROL", "ETAG", id="P-2-upper-case"),
        pytest.param("Cache-control", "Etag", id="P-2-mixed-case"),
    ],
)
def test_header_names_any_case_hit_then_revalidate(cc_name: str, etag_name: str) -> None:
    """P-2, RFC 9110 §5.1: header names are case-insensitive everywhere."""
    cache = stored([(cc_name, "max-age=60"), (etag_name, '"a"')])

    hit = cache.fetch(at=10)
    stale = cache.fetch(at=70, origin=NOT_MODIFIED)

    assert hit.kind == "hit"
    assert stale.kind == "revalidated"
    assert stale.sent[0].header("if-none-match") == '"a"'


def test_directive_names_any_case_no_store_not_stored() -> None:
    """P-3, RFC 9111 §5.2: ``NO-STORE`` is no-store."""
    cache = stored({"Cache-Control": "NO-STORE, max-age=60"})

    assert cache.stored() == []
    assert cache.fetch(at=1).kind == "forwarded"


@pytest.mark.parametrize("cc", ["Max-Age=60", "MAX-AGE=60", "max-AGE=60"])
def test_directive_names_any_case_max_age_hit(cc: str) -> None:
    """P-3, RFC 9111 §5.2: ``Max-Age=60`` is max-age=60: hit at t=10, stale at t=60."""
    cache = stored({"Cache-Control": cc})

    assert cache.fetch(at=10).kind == "hit"
    assert cache.fetch(at=60).kind == "forwarded"


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(["max-age=60", "no-store"], id="P-4-no-store-second-line"),
        pytest.param(["no-store", "max-age=60"], id="P-4-no-store-first-line"),
        pytest.param(["max-age=60", "", "no-store"], id="P-4-empty-line-between"),
    ],
)
def test_cache_control_several_lines_one_list_not_stored(lines: list[str]) -> None:
    """P-4, RFC 9110 §5.2, §5.3: several Cache-Control lines form one list."""
    cache = stored([("Cache-Control", line) for line in lines])

    assert cache.stored() == []
    assert cache.fetch(at=1).kind == "forwarded"


def test_cache_control_lines_combine_for_revalidation() -> None:
    """P-4, RFC 9110 §5.3: ``max-age=10`` and ``must-revalidate`` on separate lines both act."""
    cache = stored([("Cache-Control", "max-age=10"), ("Cache-Control", "must-revalidate"), ETAG])

    assert cache.fetch(at=5).kind == "hit"
    assert cache.fetch(
        at=20, headers={"Cache-Control": "max-stale=100"}, origin=NOT_MODIFIED
    ).kind == ("revalidated")


@pytest.mark.parametrize(
    "cc",
    [
        pytest.param(", ,max-age=60 ,", id="P-5-empty-members"),
        pytest.param("  max-age=60\t", id="P-5-surrounding-whitespace"),
        pytest.param("max-age = 60", id="P-5-space-around-equals"),
        pytest.param('max-age="60"', id="P-6-quoted-number"),
    ],
)
def test_cache_control_tolerated_syntax_hit_then_stale(cc: str) -> None:
    """P-5, P-6, RFC 9110 §5.6.1.2; RFC 9111 §5.2: empty members, whitespace and a
    quoted number still give max-age=60."""
    cache = stored({"Cache-Control": cc})

    assert cache.fetch(at=10).kind == "hit"
    assert cache.fetch(at=60).kind == "forwarded"


@pytest.mark.parametrize(
    "cc",
    [
        pytest.param('max-age=60, x-foo=", no-store, "', id="P-7-comma-inside-quotes"),
        pytest.param('x-foo="a\\", no-store, \\"b", max-age=60', id="P-7-escaped-quotes"),
    ],
)
def test_quoted_string_commas_do_not_split_directives(cc: str) -> None:
    """P-7, RFC 9110 §5.6.4: a quoted string is one unit, so a ``no-store`` inside it
    is not a directive and the response is stored."""
    cache = stored({"Cache-Control": cc})

    assert len(cache.stored()) == 1
    assert cache.fetch(at=10).kind == "hit"


def test_quoted_field_list_of_no_cache_is_one_directive() -> None:
    """P-7, RFC 9111 §5.2.2.4: ``no-cache="Set-Cookie, X-A", max-age=60`` is no-cache
    and max-age: stored, then revalidated while fresh."""
    cache = stored({"Cache-Control": 'no-cache="Set-Cookie, X-A", max-age=60', "ETag": '"a"'})

    outcome = cache.fetch(at=10, origin=NOT_MODIFIED)

    assert outcome.kind == "revalidated"
    assert cache.fetch(at=60, origin=NOT_MODIFIED).sent[0].header("if-none-match") == '"a"'


@pytest.mark.parametrize(
    "cc",
    [
        pytest.param("private=set-cookie, max-age=60", id="P-8-private-token-form"),
        pytest.param('private="SET-COOKIE", max-age=60', id="P-8-private-upper-case"),
    ],
)
def test_private_field_list_shared_never_serves_listed_field(cc: str) -> None:
    """P-8, RFC 9111 §5.2.2.7: shared, ``private=set-cookie`` (token form) is honoured:
    ``Set-Cookie`` is never served from storage (here: nothing is stored)."""
    cache = stored({"Cache-Control": cc, "Set-Cookie": "a=1"}, shared=True)

    outcome = cache.fetch(at=10, origin=respond(200, {"Cache-Control": "no-store"}))

    assert not (outcome.hit and outcome.header("set-cookie") is not None)
    assert outcome.kind == "forwarded"
    assert cache.stored() == []


def test_no_cache_field_list_covers_every_named_field() -> None:
    """P-8, RFC 9111 §5.2.2.4: ``no-cache="set-cookie, X-Secret"`` covers ``x-secret``:
    it is never served without validation."""
    cache = stored(
        {
            "Cache-Control": 'no-cache="set-cookie, X-Secret", max-age=60',
            "x-secret": "s",
            "ETag": '"a"',
        }
    )

    outcome = cache.fetch(at=10, origin=NOT_MODIFIED)

    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


@pytest.mark.parametrize(
    ("headers", "hit"),
    [
        pytest.param([("Cache-Control", "max-age=60, max-age=0")], True, id="P-9-first-wins"),
        pytest.param(
            [("Cache-Control", "max-age=60"), ("Cache-Control", "max-age=0")],
            True,
            id="P-9-first-line-wins",
        ),
        pytest.param([("Cache-Control", "max-age=0, max-age=60")], False, id="P-9-first-zero"),
        pytest.param(
            [("Cache-Control", "max-age=abc, max-age=60")], False, id="P-9-first-invalid-stale"
        ),
        pytest.param(
            [("Expires", http_date(3600)), ("Expires", http_date(-3600))],
            True,
            id="P-9-first-expires-wins",
        ),
        pytest.param(
            [("Expires", http_date(-3600)), ("Expires", http_date(3600))],
            False,
            id="P-9-first-expires-past",
        ),
        pytest.param(
            [("Expires", "garbage"), ("Expires", http_date(3600))],
            False,
            id="P-9-first-expires-invalid-stale",
        ),
    ],
)
def test_duplicate_freshness_first_valid_or_stale(headers: HeaderList, hit: bool) -> None:
    """P-9, RFC 9111 §4.2.1: the first occurrence decides; an invalid first one means stale."""
    cache = stored([*headers, ETAG])

    outcome = cache.fetch(at=10, origin=NOT_MODIFIED)

    assert outcome.kind == ("hit" if hit else "revalidated")


@pytest.mark.parametrize(
    ("cc", "hit"),
    [
        pytest.param("s-maxage=60, s-maxage=0", True, id="P-9-s-maxage-first-wins"),
        pytest.param("s-maxage=0, s-maxage=60", False, id="P-9-s-maxage-first-zero"),
    ],
)
def test_duplicate_s_maxage_shared_first_wins(cc: str, hit: bool) -> None:
    """P-9, RFC 9111 §4.2.1: the same rule for a duplicated s-maxage in a shared cache."""
    cache = stored({"Cache-Control": cc, "ETag": '"a"'}, shared=True)

    outcome = cache.fetch(at=10, origin=NOT_MODIFIED)

    assert outcome.kind == ("hit" if hit else "revalidated")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("max-age=abc", id="P-10-word"),
        pytest.param("max-age=-1", id="P-10-negative"),
        pytest.param("max-age=1.5", id="P-10-fraction"),
        pytest.param("max-age=+5", id="P-10-plus-sign"),
        pytest.param("max-age=", id="P-10-empty"),
        pytest.param("max-age", id="P-10-bare"),
        pytest.param("max-age=0x10", id="P-10-hex"),
    ],
)
def test_invalid_max_age_stale_no_fallback(value: str) -> None:
    """P-10, RFC 9111 §4.2.1, §5.3: an invalid max-age means stale; neither a later
    Expires nor a heuristic (Last-Modified) takes over."""
    cache = stored(
        {
            "Cache-Control": value,
            "Expires": http_date(3600),
            "Last-Modified": http_date(-864000),
            "ETag": '"a"',
        }
    )

    outcome = cache.fetch(at=1, origin=NOT_MODIFIED)

    assert len(cache.stored()) == 1
    assert outcome.kind == "revalidated"


@pytest.mark.parametrize(
    "cc",
    [
        pytest.param("max-age=99999999999999999999", id="P-11-max-age"),
        pytest.param("max-age=2147483648", id="P-11-at-cap"),
        pytest.param("max-age=000000000000000000000000060000000", id="P-11-leading-zeros"),
    ],
)
def test_huge_max_age_capped_not_wrapped(cc: str) -> None:
    """P-11, RFC 9111 §1.2.2: an oversized max-age becomes 2147483648, so a year later
    the response is still fresh."""
    cache = stored({"Cache-Control": cc})

    outcome = cache.fetch(at=31536000)

    assert outcome.kind == "hit"
    assert outcome.header("age") == "31536000"


def test_huge_s_maxage_shared_capped_not_wrapped() -> None:
    """P-11, RFC 9111 §1.2.2: the same for s-maxage in a shared cache."""
    cache = stored({"Cache-Control": "s-maxage=99999999999999999999"}, shared=True)

    assert cache.fetch(at=31536000).kind == "hit"


@pytest.mark.parametrize(
    "cc",
    [
        pytest.param('no-store="x", max-age=60', id="P-12-no-store-quoted"),
        pytest.param("no-store=1, max-age=60", id="P-12-no-store-token"),
    ],
)
def test_argument_on_no_store_still_honoured(cc: str) -> None:
    """P-12, RFC 9111 §5.2: an argument does not hide no-store."""
    cache = stored({"Cache-Control": cc})

    assert cache.stored() == []
    assert cache.fetch(at=1).kind == "forwarded"


@pytest.mark.parametrize(
    "cc",
    [
        pytest.param("max-age=10, must-revalidate=yes", id="P-12-must-revalidate"),
        pytest.param('max-age=10, proxy-revalidate="1"', id="P-12-proxy-revalidate"),
    ],
)
def test_argument_on_revalidate_directive_still_honoured(cc: str) -> None:
    """P-12, RFC 9111 §5.2: ``must-revalidate=yes`` is must-revalidate: max-stale
    cannot make the stale response a hit (shared, for proxy-revalidate)."""
    cache = stored({"Cache-Control": cc, "ETag": '"a"'}, shared=True)

    outcome = cache.fetch(at=20, headers={"Cache-Control": "max-stale=100"}, origin=NOT_MODIFIED)

    assert outcome.kind == "revalidated"


@pytest.mark.parametrize("cc", ['public="x"', "public=1"])
def test_argument_on_public_still_gives_permission(cc: str) -> None:
    """P-12, RFC 9111 §5.2, §5.2.2.9: ``public="x"`` still marks a 302 cacheable, so
    it gets a heuristic lifetime from Last-Modified."""
    cache = Scenario()
    cache.fetch(
        origin=respond(
            302, {"Cache-Control": cc, "Location": "/b", "Last-Modified": http_date(-864000)}
        )
    )

    assert cache.fetch(at=1).kind == "hit"


def test_stale_while_revalidate_without_argument_ignored() -> None:
    """P-13, RFC 5861 §3: a bare stale-while-revalidate is invalid: no stale serving."""
    cache = stored({"Cache-Control": "max-age=10, stale-while-revalidate", "ETag": '"a"'})

    outcome = cache.fetch(at=15, origin=NOT_MODIFIED)

    assert outcome.kind == "revalidated"


@pytest.mark.parametrize(
    ("cc", "kind", "status"),
    [
        pytest.param("max-age=10, stale-if-error", "forwarded", 503, id="P-13-sie-bare"),
        pytest.param("max-age=10, stale-if-error=", "forwarded", 503, id="P-13-sie-empty"),
        pytest.param("max-age=10, stale-if-error=60", "stale-on-error", 200, id="P-13-control"),
    ],
)
def test_stale_if_error_without_argument_ignored(cc: str, kind: str, status: int) -> None:
    """P-13, RFC 5861 §4: a bare stale-if-error is ignored, so the 503 passes through
    (with a valid argument, the stale response is served: the control)."""
    cache = stored({"Cache-Control": cc})

    outcome = cache.fetch(at=15, origin=respond(503, {}))

    assert outcome.kind == kind
    assert outcome.status == status


# --- P-14..P-18: Age ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ages",
    [
        pytest.param([("Age", "10, 20")], id="P-14-list"),
        pytest.param([("Age", "10"), ("Age", "20")], id="P-14-two-lines"),
        pytest.param([("Age", " 10 ,20")], id="P-14-whitespace"),
    ],
)
def test_age_list_uses_first_member(ages: HeaderList) -> None:
    """P-14, RFC 9111 §5.1: a list-valued Age uses its first member."""
    cache = stored([("Cache-Control", "max-age=15"), *ages])

    hit = cache.fetch(at=1)
    miss = cache.fetch(at=5)

    assert hit.kind == "hit"
    assert hit.headers_named("age") == ["11"]
    assert miss.kind == "forwarded"


@pytest.mark.parametrize(
    ("age", "served"),
    [
        pytest.param("abc", "10", id="P-15-word"),
        pytest.param("1e3", "10", id="P-15-exponent"),
        pytest.param("", "10", id="P-15-empty"),
        pytest.param("30.5", "10", id="P-17-fraction"),
        pytest.param("-100", "10", id="P-16-negative"),
        pytest.param("010", "20", id="P-15-leading-zero-valid"),
    ],
)
def test_invalid_age_ignored(age: str, served: str) -> None:
    """P-15, P-16, P-17, RFC 9111 §5.1: a non-numeric, fractional or negative Age is
    ignored (age_value 0); leading zeros are valid."""
    cache = stored({"Cache-Control": "max-age=60", "Age": age})

    outcome = cache.fetch(at=10)

    assert outcome.kind == "hit"
    assert outcome.headers_named("age") == [served]


def test_negative_age_never_subtracted() -> None:
    """P-16, RFC 9111 §5.1, §1.2.2: ``Age: -100`` adds no freshness: stale at t=60."""
    cache = stored({"Cache-Control": "max-age=60", "Age": "-100"})

    assert cache.fetch(at=59).kind == "hit"
    assert cache.fetch(at=60).kind == "forwarded"


def test_fractional_age_not_rounded() -> None:
    """P-17, RFC 9111 §5.1: ``Age: 30.5`` is ignored, so at t=40 the age is 40 (a hit)."""
    cache = stored({"Cache-Control": "max-age=60", "Age": "30.5"})

    outcome = cache.fetch(at=40)

    assert outcome.kind == "hit"
    assert outcome.headers_named("age") == ["40"]


def test_huge_age_capped_stale_and_served_age_capped() -> None:
    """P-18, RFC 9111 §1.2.2: a huge Age is capped at 2147483648; the response is
    stale, and when served stale anyway its Age never exceeds the cap."""
    headers = {"Cache-Control": "max-age=3600", "Age": "9999999999999999999", "ETag": '"a"'}

    stale = stored(headers).fetch(at=1, origin=NOT_MODIFIED)
    served = stored(headers).fetch(at=2, headers={"Cache-Control": "max-stale"})

    assert stale.kind != "hit"
    assert served.kind == "hit"
    assert served.headers_named("age") == ["2147483648"]


# --- P-19..P-26: Expires and dates ---------------------------------------------------------------


@pytest.mark.parametrize(
    "expires",
    [
        pytest.param("0", id="P-19-zero"),
        pytest.param("-1", id="P-20-minus-one"),
        pytest.param("never", id="P-20-word"),
        pytest.param("", id="P-20-empty"),
        pytest.param("4102444800", id="P-20-bare-number"),
        pytest.param("Wed, 01 Dec 2094 16:00:00 GMT xyz", id="P-20-trailing-garbage"),
        pytest.param("Wed, 01 Dec 2094 16:00:00 +0000", id="P-21-numeric-zone"),
        pytest.param("Wed, 01 Dec 2094 16:00:00 UTC", id="P-21-utc"),
        pytest.param("Wed, 01 Dec 2094 16:00:00 PST", id="P-21-pst"),
        pytest.param("Thu, 01 Jan 1970 00:00:00 GMT", id="P-25-epoch"),
        pytest.param("Wed, 31 Dec 1969 23:59:59 GMT", id="P-25-before-epoch"),
    ],
)
def test_invalid_or_past_expires_means_expired(expires: str) -> None:
    """P-19, P-20, P-21, P-25, RFC 9111 §5.3, §4.2: an invalid Expires (or one not in
    GMT, or in the past) means already expired: revalidated at t=1."""
    cache = stored({"Expires": expires, "ETag": '"a"'})

    outcome = cache.fetch(at=1, origin=NOT_MODIFIED)

    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


@pytest.mark.parametrize(
    "expires",
    [
        pytest.param("Wed, 01 Dec 2094 16:00:00 GMT", id="P-20-one-line-with-comma"),
        pytest.param("wed, 01 dec 2094 16:00:00 gmt", id="P-22-lower-case"),
        pytest.param("WED, 01 DEC 2094 16:00:00 GMT", id="P-22-upper-case"),
        pytest.param("Fri, 31 Dec 9999 23:59:59 GMT", id="P-25-year-9999"),
        pytest.param("Sat, 31 Dec 2016 23:59:60 GMT", id="P-26-leap-second"),
    ],
)
def test_valid_far_future_expires_hit(expires: str) -> None:
    """P-20, P-22, P-25, P-26, RFC 9111 §5.3; RFC 9110 §5.6.7: these parse (case-
    insensitively, without overflow) as a future date, so GET at t=1 is a hit."""
    cache = stored({"Expires": expires})

    assert cache.fetch(at=1).kind == "hit"


@pytest.mark.parametrize(
    "expires",
    [
        pytest.param("Sun, 06 Nov 1994 09:49:37 GMT", id="P-23-imf-fixdate"),
        pytest.param("Sunday, 06-Nov-94 09:49:37 GMT", id="P-23-rfc850"),
        pytest.param("Sun Nov  6 09:49:37 1994", id="P-23-asctime"),
    ],
)
def test_expires_all_three_date_formats_honoured(expires: str) -> None:
    """P-23, RFC 9110 §5.6.7: each HTTP-date format gives Date+1h: hit at t=3599, not at 3600."""
    cache = stored({"Expires": expires})

    assert cache.fetch(at=3599).kind == "hit"
    assert cache.fetch(at=3600).kind == "forwarded"


_AT_2026 = calendar.timegm((2026, 1, 1, 0, 0, 0)) - T0


@pytest.mark.parametrize(
    ("expires", "hit"),
    [
        pytest.param("Friday, 31-Dec-99 23:59:59 GMT", False, id="P-24-99-is-1999"),
        pytest.param("Thursday, 31-Dec-37 23:59:59 GMT", True, id="P-24-37-is-2037"),
    ],
)
def test_rfc850_two_digit_year_resolved_relative_to_now(expires: str, hit: bool) -> None:
    """P-24, RFC 9110 §5.6.7: with now in 2026, ``-99`` is 1999 (expired) and ``-37``
    is 2037 (fresh)."""
    cache = stored({"Expires": expires}, at=_AT_2026)

    outcome = cache.fetch(at=_AT_2026 + 1)

    assert outcome.kind == ("hit" if hit else "forwarded")


_AT_LEAP = calendar.timegm((2016, 12, 31, 23, 0, 0)) - T0


def test_leap_second_expires_lifetime_about_one_hour() -> None:
    """P-26, RFC 9110 §5.6.7: ``23:59:60`` parses to 23:59:59 or 00:00:00: with Date
    23:00:00 the response is fresh for about an hour."""
    cache = stored({"Expires": "Sat, 31 Dec 2016 23:59:60 GMT"}, at=_AT_LEAP)

    assert cache.fetch(at=_AT_LEAP + 3598).kind == "hit"
    assert cache.fetch(at=_AT_LEAP + 3601).kind == "forwarded"


# --- P-27: Last-Modified -----------------------------------------------------------------------


@pytest.mark.parametrize("last_modified", ["sometime", "", "0", "Sun, 06 Nov 1994 08:49:37 UTC"])
def test_invalid_last_modified_no_heuristic_no_if_modified_since(last_modified: str) -> None:
    """P-27, RFC 9110 §13.1.3; RFC 9111 §4.2.2: an invalid Last-Modified gives no
    heuristic lifetime and no If-Modified-Since."""
    cache = stored({"Last-Modified": last_modified, "ETag": '"a"'})

    outcome = cache.fetch(at=1, origin=NOT_MODIFIED)

    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'
    assert outcome.sent[0].header("if-modified-since") is None


# --- P-28, P-29: Vary --------------------------------------------------------------------------


def _vary_cache(vary: HeaderList) -> Scenario:
    cache = Scenario()
    cache.fetch(
        headers={"Accept-Encoding": "gzip", "Accept-Language": "en"},
        origin=respond(200, [("Cache-Control", "max-age=60"), *vary]),
    )
    return cache


@pytest.mark.parametrize(
    ("request_headers", "hit"),
    [
        pytest.param({"Accept-Encoding": "gzip", "Accept-Language": "en"}, True, id="P-28-same"),
        pytest.param({"Accept-Encoding": "gzip", "Accept-Language": "de"}, False, id="P-28-lang"),
        pytest.param({"Accept-Encoding": "br", "Accept-Language": "en"}, False, id="P-28-enc"),
        pytest.param({"Accept-Encoding": "gzip"}, False, id="P-28-lang-missing"),
    ],
)
def test_vary_members_merged_trimmed_case_insensitive(
    request_headers: dict[str, str], hit: bool
) -> None:
    """P-28, RFC 9110 §12.5.5: ``Accept-Encoding , accept-encoding,,Accept-Language``
    nominates exactly Accept-Encoding and Accept-Language."""
    cache = _vary_cache([("Vary", "Accept-Encoding , accept-encoding,,Accept-Language")])

    outcome = cache.fetch(at=1, headers=request_headers, origin=respond(200, {}))

    assert outcome.kind == ("hit" if hit else "forwarded")


@pytest.mark.parametrize(
    "vary",
    [
        pytest.param([("Vary", "Accept"), ("Vary", "*")], id="P-28-star-on-second-line"),
        pytest.param([("Vary", "Accept-Encoding, *")], id="P-28-star-in-list"),
        pytest.param([("Vary", "Accept Language")], id="P-29-space-in-name"),
        pytest.param([("Vary", "Accept;q=1")], id="P-29-parameter"),
        pytest.param([("Vary", '"Accept"')], id="P-29-quoted"),
    ],
)
def test_vary_star_or_unusable_never_matches(vary: HeaderList) -> None:
    """P-28, P-29, RFC 9110 §12.5.5: ``*`` anywhere, or a value that is not a list of
    field names, never matches: the identical request is not a hit."""
    cache = _vary_cache(vary)

    outcome = cache.fetch(
        at=1,
        headers={"Accept-Encoding": "gzip", "Accept-Language": "en"},
        origin=respond(200, {}),
    )

    assert outcome.kind != "hit"
    assert outcome.sent


# --- P-30: Pragma in responses -----------------------------------------------------------------


def test_response_pragma_no_cache_ignored_with_cache_control() -> None:
    """P-30, RFC 9111 §5.4: Pragma never overrides Cache-Control."""
    cache = stored({"Cache-Control": "max-age=60", "Pragma": "no-cache"})

    assert cache.fetch(at=10).kind == "hit"


def test_response_pragma_no_cache_without_cache_control_means_no_cache() -> None:
    """P-30, RFC 9111 §5.4 (choices table): without Cache-Control, a response
    ``Pragma: no-cache`` is read as no-cache."""
    cache = stored({"Expires": http_date(3600), "Pragma": "no-cache", "ETag": '"a"'})

    assert cache.fetch(at=10, origin=NOT_MODIFIED).kind == "revalidated"


# --- P-31, P-32: opaque values -----------------------------------------------------------------


@pytest.mark.parametrize(
    "etag",
    [
        pytest.param("abc", id="P-31-unquoted"),
        pytest.param('"a\\"b"', id="P-31-backslash-not-unescaped"),
        pytest.param('w/"x"', id="P-31-lower-case-w"),
        pytest.param('"caf\xe9"', id="P-31-non-ascii"),
    ],
)
def test_malformed_etag_echoed_byte_for_byte(etag: str) -> None:
    """P-31, RFC 9110 §8.8.3: entity tags are opaque: a malformed one is stored and
    sent back in If-None-Match unchanged."""
    cache = stored({"Cache-Control": "max-age=10", "ETag": etag})

    outcome = cache.fetch(at=20, origin=respond(304, {"ETag": etag}))

    assert outcome.sent[0].header("if-none-match") == etag
    assert outcome.kind == "revalidated"


def test_non_ascii_header_bytes_replayed_unchanged() -> None:
    """P-32, RFC 9110 §5.5: non-ASCII bytes in a value are stored and replayed as is."""
    cache = stored([("Cache-Control", "max-age=60"), ("X-Name", "caf\xe9"), ("X-Raw", "\x80\xff")])

    outcome = cache.fetch(at=10)

    assert outcome.kind == "hit"
    assert (b"X-Name", b"caf\xe9") in outcome.headers
    assert (b"X-Raw", b"\x80\xff") in outcome.headers
