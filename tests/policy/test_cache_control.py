"""Cache-Control parsing (RFC 9111 §5.2; checklist P-3..P-13, P-30, D-11, E-4, Q-6)."""

from __future__ import annotations

import pytest

from httpcache._models import Headers
from httpcache._policy._cache_control import (
    MAX_DELTA_SECONDS,
    RequestCacheControl,
    ResponseCacheControl,
    parse_delta_seconds,
    parse_directives,
    parse_request_cache_control,
    parse_response_cache_control,
)


def cc(*lines: bytes) -> Headers:
    return tuple((b"Cache-Control", line) for line in lines)


# --- parse_directives ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param([b"NO-STORE"], (("no-store", None),), id="P-3-upper-case-name"),
        pytest.param([b"Max-Age=60"], (("max-age", "60"),), id="P-3-mixed-case-name"),
        pytest.param(
            [b"max-age=60", b"no-store"],
            (("max-age", "60"), ("no-store", None)),
            id="P-4-two-lines-one-list",
        ),
        pytest.param([b", ,max-age=60 ,"], (("max-age", "60"),), id="P-5-empty-members"),
        pytest.param([b" \t max-age=60 \t"], (("max-age", "60"),), id="P-5-whitespace"),
        pytest.param([b"max-age = 60"], (("max-age", "60"),), id="P-5-space-around-equals"),
        pytest.param([b""], (), id="P-5-empty-line"),
        pytest.param([], (), id="P-4-no-lines"),
        pytest.param([b'max-age="60"'], (("max-age", "60"),), id="P-6-quoted-number"),
        pytest.param(
            [b'no-cache="Set-Cookie, X-A", max-age=60'],
            (("no-cache", "Set-Cookie, X-A"), ("max-age", "60")),
            id="P-7-comma-inside-quotes",
        ),
        pytest.param(
            [rb'x-a="say \"hi\", \\ ok", public'],
            (("x-a", 'say "hi", \\ ok'), ("public", None)),
            id="P-7-quoted-pair-unescaped",
        ),
        pytest.param([b'x-a=""'], (("x-a", ""),), id="P-7-empty-quoted-string"),
        pytest.param([b"max-age="], (("max-age", ""),), id="P-10-empty-argument"),
        pytest.param([b"private=Set-Cookie"], (("private", "Set-Cookie"),), id="P-8-token-form"),
        pytest.param(
            [b'max-age=60, x-foo="bar, baz"'],
            (("max-age", "60"), ("x-foo", "bar, baz")),
            id="D-11-unknown-quoted-extension",
        ),
        pytest.param(
            [b"no-store foo, max-age=5"], (("max-age", "5"),), id="P-1-garbage-member-skipped"
        ),
        pytest.param([b"=5, public"], (("public", None),), id="P-1-member-without-name"),
        pytest.param([b"(x), public"], (("public", None),), id="P-1-non-token-name"),
        pytest.param(
            [b'x-foo="unterminated, max-age=5', b"public"],
            (("x-foo", '"unterminated, max-age=5'), ("public", None)),
            id="P-7-unterminated-quote-stays-in-its-line",
        ),
        pytest.param(
            [b'no-store="x" junk, max-age=1'],
            (("no-store", '"x" junk'), ("max-age", "1")),
            id="P-12-malformed-argument-kept-raw",
        ),
        pytest.param([b"x-caf\xe9=1"], (), id="P-1-latin-1-name-skipped"),
        pytest.param([b"x=caf\xe9"], (("x", "caf\xe9"),), id="P-1-latin-1-argument"),
    ],
)
def test_parse_directives_lines_give_ordered_pairs(
    lines: list[bytes], expected: tuple[tuple[str, str | None], ...]
) -> None:
    """P-3..P-8, D-11, RFC 9111 §5.2, RFC 9110 §5.6: lines parse as one list, in order."""
    assert parse_directives(lines) == expected


# --- parse_delta_seconds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        pytest.param("60", 60, id="plain"),
        pytest.param("0", 0, id="zero"),
        pytest.param("007", 7, id="leading-zeros"),
        pytest.param("2147483648", MAX_DELTA_SECONDS, id="P-11-exactly-cap"),
        pytest.param("2147483649", MAX_DELTA_SECONDS, id="P-11-just-over-cap"),
        pytest.param("99999999999999999999", MAX_DELTA_SECONDS, id="P-11-huge"),
        pytest.param("9" * 10_000, MAX_DELTA_SECONDS, id="P-11-beyond-int-str-limit"),
        pytest.param("0" * 10_000 + "5", 5, id="P-11-many-leading-zeros"),
        pytest.param(None, None, id="P-13-missing"),
        pytest.param("", None, id="P-10-empty"),
        pytest.param("abc", None, id="P-10-word"),
        pytest.param("-1", None, id="P-10-negative"),
        pytest.param("+5", None, id="P-10-plus-sign"),
        pytest.param("1.5", None, id="P-10-fraction"),
        pytest.param("1e3", None, id="P-10-exponent"),
        pytest.param(" 5", None, id="P-10-inner-space"),
        pytest.param("\u0665", None, id="P-10-non-ascii-digit"),
    ],
)
def test_parse_delta_seconds_argument_gives_int_or_none(
    argument: str | None, expected: int | None
) -> None:
    """P-10, P-11, RFC 9111 §1.2.2: only [0-9]+ is valid; huge values are capped."""
    assert parse_delta_seconds(argument) == expected


# --- parse_response_cache_control -------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param((), ResponseCacheControl(), id="absent"),
        pytest.param(cc(b""), ResponseCacheControl(present=True), id="P-5-empty-line-present"),
        pytest.param(
            cc(b"Max-Age=60"), ResponseCacheControl(present=True, max_age=60), id="P-3-max-age"
        ),
        pytest.param(
            ((b"cache-control", b"NO-STORE"),),
            ResponseCacheControl(present=True, no_store=True),
            id="P-3-lower-case-field-name",
        ),
        pytest.param(
            cc(b"max-age=60", b"no-store"),
            ResponseCacheControl(present=True, max_age=60, no_store=True),
            id="P-4-two-lines",
        ),
        pytest.param(
            cc(b'max-age="60"'), ResponseCacheControl(present=True, max_age=60), id="P-6-quoted"
        ),
        pytest.param(
            cc(b"max-age=60, max-age=0"),
            ResponseCacheControl(present=True, max_age=60),
            id="P-9-first-max-age-wins",
        ),
        pytest.param(
            cc(b"s-maxage=5", b"s-maxage=50"),
            ResponseCacheControl(present=True, s_maxage=5),
            id="P-9-first-s-maxage-wins-across-lines",
        ),
        pytest.param(
            cc(b"max-age=abc, max-age=60"),
            ResponseCacheControl(present=True, max_age=0),
            id="P-9-invalid-first-means-stale",
        ),
        pytest.param(
            cc(b"max-age=99999999999999999999"),
            ResponseCacheControl(present=True, max_age=MAX_DELTA_SECONDS),
            id="P-11-huge-capped",
        ),
        pytest.param(
            cc(b'no-store=1, must-revalidate=yes, immutable="x", public=0'),
            ResponseCacheControl(
                present=True, no_store=True, must_revalidate=True, immutable=True, public=True
            ),
            id="P-12-E-4-argument-ignored",
        ),
        pytest.param(
            cc(b'no-store="x", max-age=60'),
            ResponseCacheControl(present=True, no_store=True, max_age=60),
            id="P-12-quoted-argument",
        ),
        pytest.param(
            cc(b'max-age=3600, immutable="x", immutable'),
            ResponseCacheControl(present=True, max_age=3600, immutable=True),
            id="E-4-repeats-count-once",
        ),
        pytest.param(
            cc(b"max-age=10, stale-while-revalidate"),
            ResponseCacheControl(present=True, max_age=10),
            id="P-13-bare-stale-while-revalidate-ignored",
        ),
        pytest.param(
            cc(b"stale-if-error=abc, stale-while-revalidate=-1"),
            ResponseCacheControl(present=True),
            id="P-13-invalid-rfc5861-ignored",
        ),
        pytest.param(
            cc(b"stale-while-revalidate=30, stale-if-error=600"),
            ResponseCacheControl(present=True, stale_while_revalidate=30, stale_if_error=600),
            id="rfc5861-valid",
        ),
        pytest.param(
            cc(b'no-cache="Set-Cookie, X-A", max-age=60'),
            ResponseCacheControl(
                present=True,
                max_age=60,
                no_cache=True,
                no_cache_fields=frozenset({"set-cookie", "x-a"}),
            ),
            id="P-7-qualified-no-cache",
        ),
        pytest.param(
            cc(b"private=Set-Cookie, max-age=60"),
            ResponseCacheControl(
                present=True, max_age=60, private=True, private_fields=frozenset({"set-cookie"})
            ),
            id="P-8-private-token-form",
        ),
        pytest.param(
            cc(b'no-cache="set-cookie, X-Secret ,, "'),
            ResponseCacheControl(
                present=True, no_cache=True, no_cache_fields=frozenset({"set-cookie", "x-secret"})
            ),
            id="P-8-field-list-trimmed-lower-cased",
        ),
        pytest.param(
            cc(b'no-cache="a", no-cache="B"'),
            ResponseCacheControl(
                present=True, no_cache=True, no_cache_fields=frozenset({"a", "b"})
            ),
            id="P-8-field-lists-merged",
        ),
        pytest.param(
            cc(b'private="a", private'),
            ResponseCacheControl(present=True, private=True),
            id="P-8-bare-private-is-unqualified",
        ),
        pytest.param(
            cc(b"public, must-understand, proxy-revalidate, no-transform"),
            ResponseCacheControl(
                present=True,
                public=True,
                must_understand=True,
                proxy_revalidate=True,
                no_transform=True,
            ),
            id="flags",
        ),
        pytest.param(
            cc(b'max-age=60, x-foo="bar, baz"'),
            ResponseCacheControl(present=True, max_age=60),
            id="D-11-unknown-directive-ignored",
        ),
        pytest.param(
            cc(b'private, community="UCI"'),
            ResponseCacheControl(present=True, private=True),
            id="D-11-extension-falls-back-to-base",
        ),
        pytest.param(
            ((b"Pragma", b"no-cache"),),
            ResponseCacheControl(no_cache=True),
            id="choice-pragma-without-cache-control",
        ),
        pytest.param(
            ((b"PRAGMA", b"x, No-Cache"),),
            ResponseCacheControl(no_cache=True),
            id="choice-pragma-case-insensitive",
        ),
        pytest.param(
            ((b"Pragma", b"x-other"),),
            ResponseCacheControl(),
            id="choice-pragma-other-value",
        ),
        pytest.param(
            (*cc(b"max-age=60"), (b"Pragma", b"no-cache")),
            ResponseCacheControl(present=True, max_age=60),
            id="P-30-pragma-never-overrides",
        ),
        pytest.param(
            (*cc(b""), (b"Pragma", b"no-cache")),
            ResponseCacheControl(present=True),
            id="P-30-pragma-ignored-with-empty-cache-control",
        ),
    ],
)
def test_parse_response_cache_control_headers_give_directives(
    headers: Headers, expected: ResponseCacheControl
) -> None:
    """P-3..P-13, P-30, D-11, E-4, RFC 9111 §5.2.2: response directives are read."""
    assert parse_response_cache_control(headers) == expected


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"max-age=abc", id="P-10-word"),
        pytest.param(b"max-age=-1", id="P-10-negative"),
        pytest.param(b"max-age=1.5", id="P-10-fraction"),
        pytest.param(b"max-age=+5", id="P-10-plus"),
        pytest.param(b"max-age=", id="P-10-empty"),
        pytest.param(b"max-age", id="P-13-bare"),
        pytest.param(b'max-age="', id="P-10-lone-quote"),
        pytest.param(b'max-age=" 60"', id="P-10-quoted-space"),
    ],
)
def test_parse_response_cache_control_invalid_max_age_is_zero(line: bytes) -> None:
    """P-10, P-13, RFC 9111 §4.2.1, §1.2.2: an invalid max-age means stale (0)."""
    assert parse_response_cache_control(cc(line)).max_age == 0
    s_maxage_line = line.replace(b"max-age", b"s-maxage")
    assert parse_response_cache_control(cc(s_maxage_line)).s_maxage == 0


# --- parse_request_cache_control --------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param((), RequestCacheControl(), id="absent"),
        pytest.param(
            cc(b"Max-Age=30, MIN-FRESH=5"),
            RequestCacheControl(present=True, max_age=30, min_fresh=5),
            id="P-3-case-insensitive",
        ),
        pytest.param(
            cc(b"max-stale"),
            RequestCacheControl(present=True, max_stale=MAX_DELTA_SECONDS),
            id="bare-max-stale-unlimited",
        ),
        pytest.param(
            cc(b"max-stale=10"), RequestCacheControl(present=True, max_stale=10), id="max-stale"
        ),
        pytest.param(
            cc(b"max-stale=abc"), RequestCacheControl(present=True), id="invalid-max-stale-ignored"
        ),
        pytest.param(
            cc(b"max-age=abc, min-fresh=-1"),
            RequestCacheControl(present=True),
            id="invalid-arguments-ignored",
        ),
        pytest.param(
            cc(b"max-age=10", b"max-age=20"),
            RequestCacheControl(present=True, max_age=10),
            id="first-occurrence-wins",
        ),
        pytest.param(
            cc(b"max-age=x, max-age=20"),
            RequestCacheControl(present=True, max_age=20),
            id="invalid-occurrence-skipped",
        ),
        pytest.param(
            cc(b"no-cache, no-store, only-if-cached, stale-if-error=60"),
            RequestCacheControl(
                present=True, no_cache=True, no_store=True, only_if_cached=True, stale_if_error=60
            ),
            id="flags",
        ),
        pytest.param(
            cc(b"x-foo, max-age=60"),
            RequestCacheControl(present=True, max_age=60),
            id="D-11-unknown-request-directive",
        ),
        pytest.param(
            cc(b"immutable"), RequestCacheControl(present=True), id="E-4-request-immutable-no-op"
        ),
        pytest.param(
            ((b"Pragma", b"no-cache"),),
            RequestCacheControl(no_cache=True),
            id="Q-6-pragma-without-cache-control",
        ),
        pytest.param(
            (*cc(b"max-age=30"), (b"Pragma", b"no-cache")),
            RequestCacheControl(present=True, max_age=30),
            id="Q-6-pragma-ignored-with-cache-control",
        ),
    ],
)
def test_parse_request_cache_control_headers_give_directives(
    headers: Headers, expected: RequestCacheControl
) -> None:
    """Q-6, D-11, E-4, RFC 9111 §5.2.1, §5.4: request directives are read."""
    assert parse_request_cache_control(headers) == expected
