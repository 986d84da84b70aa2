"""Targeted cache-control fields (RFC 9213; checklist E-14 to E-19).

Three layers: the strict RFC 8941 Dictionary parser (:func:`parse_dictionary`), the
mapping of a targeted field to the directives the cache acts on
(:func:`targeted_cache_control`, :func:`effective_cache_control`), and the engine end to
end through :class:`~tests.policy.scenario.Scenario` in shared mode with a target list.
"""

from __future__ import annotations

import dataclasses

import pytest

from httpcache import CacheOptions, ConfigurationError
from httpcache._policy._cache_control import ResponseCacheControl
from httpcache._policy._targeted import (
    Token,
    effective_cache_control,
    parse_dictionary,
    targeted_cache_control,
)

from .scenario import Scenario, fail, h, http_date, respond

CDN = CacheOptions.CDN_TARGETED_FIELDS
TARGETS = ("cdn-cache-control",)


def shared(*targets: str, **options: object) -> Scenario:
    """A shared cache whose target list is ``targets`` (``CDN-Cache-Control`` by default)."""
    return Scenario(shared=True, targeted_fields=targets or CDN, **options)


# --- the RFC 8941 Dictionary parser ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            'en="Applepie", da=:w4ZibGV0w6ZydGUK:',
            {"en": "Applepie", "da": b"\xc3\x86blet\xc3\xa6rte\n"},
            id="8941-3.2-string-and-bytes",
        ),
        pytest.param("a=?0, b, c; foo=bar", {"a": False, "b": True, "c": True}, id="8941-3.2-bool"),
        pytest.param(
            "rating=1.5, feelings=(joy sadness)",
            {"rating": 1.5, "feelings": (Token("joy"), Token("sadness"))},
            id="8941-3.2-decimal-inner-list",
        ),
        pytest.param(
            "a=(1 2), b=3, c=4;aa=bb, d=(5 6);valid",
            {"a": (1, 2), "b": 3, "c": 4, "d": (5, 6)},
            id="8941-3.2-params-dropped",
        ),
        pytest.param("max-age=60;foo=1", {"max-age": 60}, id="9213-param-ignored"),
        pytest.param("a=1, a=2", {"a": 2}, id="8941-4.2.2-duplicate-last-wins"),
        pytest.param("  max-age=60  ", {"max-age": 60}, id="8941-4.2-surrounding-sp"),
        pytest.param("a=1 ,\tb", {"a": 1, "b": True}, id="8941-4.2.2-ows-around-comma"),
        pytest.param("a=-12, b=0.001", {"a": -12, "b": 0.001}, id="8941-4.2.4-numbers"),
        pytest.param("a=123456789012345", {"a": 123456789012345}, id="8941-4.2.4-15-digits"),
        pytest.param('a="x\\"y\\\\z"', {"a": 'x"y\\z'}, id="8941-4.2.5-escapes"),
        pytest.param("a=foo:bar/baz", {"a": Token("foo:bar/baz")}, id="8941-4.2.6-token"),
        pytest.param("*k=*v", {"*k": Token("*v")}, id="8941-4.2.3.3-star-key"),
        pytest.param("", {}, id="empty"),
    ],
)
def test_parse_dictionary_valid_values_parse(text: str, expected: dict[str, object]) -> None:
    """RFC 8941 §3.2, §4.2.2: the specification's Dictionary examples and edge cases."""
    assert parse_dictionary(text) == expected


def test_parse_dictionary_string_and_token_are_told_apart() -> None:
    """RFC 8941 §3.3.3, §3.3.4: ``"60"`` is a String, ``abc`` a Token."""
    parsed = parse_dictionary('a="abc", b=abc')
    assert parsed is not None
    assert type(parsed["a"]) is str
    assert isinstance(parsed["b"], Token)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("max-age=600,", id="E-15-trailing-comma"),
        pytest.param("Max-Age=60", id="uppercase-key"),
        pytest.param("a=1,,b=2", id="empty-member"),
        pytest.param("a=1 b=2", id="missing-comma"),
        pytest.param("\tmax-age=60", id="leading-htab"),
        pytest.param("a=", id="missing-value"),
        pytest.param('a="open', id="unterminated-string"),
        pytest.param('a="\\q"', id="bad-escape"),
        pytest.param('a="caf\xe9"', id="non-ascii-string"),
        pytest.param("a=1.2345", id="decimal-4-fraction-digits"),
        pytest.param("a=1.", id="decimal-without-fraction"),
        pytest.param("a=1234567890123.1", id="decimal-13-integer-digits"),
        pytest.param("a=1234567890123456", id="integer-16-digits"),
        pytest.param("a=?2", id="bad-boolean"),
        pytest.param("a=(1 2", id="unclosed-inner-list"),
        pytest.param("a=(1,2)", id="comma-in-inner-list"),
        pytest.param("a=:abc!:", id="bad-base64"),
        pytest.param("a;B=1", id="uppercase-parameter-key"),
        pytest.param("a=@1659578233", id="9651-date-not-8941"),
        pytest.param("1a=1", id="key-starts-with-digit"),
        pytest.param("a=1;", id="empty-parameter"),
    ],
)
def test_parse_dictionary_invalid_values_fail(text: str) -> None:
    """RFC 8941 §4.2: parsing is strict; any error fails the whole field."""
    assert parse_dictionary(text) is None


# --- mapping a targeted field to directives ---------------------------------------------------


def directives(value: str | list[str]) -> ResponseCacheControl | None:
    """The directives of a response whose ``CDN-Cache-Control`` lines are ``value``."""
    lines = [value] if isinstance(value, str) else value
    return targeted_cache_control(h([("CDN-Cache-Control", line) for line in lines]), TARGETS)


@pytest.mark.parametrize(
    ("value", "max_age"),
    [
        pytest.param("max-age=60", 60, id="integer"),
        pytest.param("max-age=60;foo=1", 60, id="E-16-parameter-ignored"),
        pytest.param('max-age="60"', 0, id="E-16-string-is-not-integer"),
        pytest.param("max-age=1.5", 0, id="E-16-decimal-not-coerced"),
        pytest.param("max-age=-1", 0, id="negative"),
        pytest.param("max-age", 0, id="boolean"),
        pytest.param("max-age=99999999999999", 2147483648, id="capped"),
        pytest.param("no-store", None, id="absent"),
    ],
)
def test_targeted_max_age_wrong_type_is_stale_not_coerced(value: str, max_age: int | None) -> None:
    """E-16, RFC 9213 §2.1 (no coercion), RFC 9111 §4.2.1 (invalid freshness: stale)."""
    cc = directives(value)
    assert cc is not None
    assert cc.max_age == max_age
    assert cc.target == "cdn-cache-control"


def test_targeted_flags_restrictive_count_any_value_permissive_only_true() -> None:
    """RFC 9213 §2.1: a wrong-typed directive never makes the cache less careful."""
    cc = directives(
        'no-store=1, no-cache="set-cookie, X-A", private=?0, must-revalidate=x, '
        'proxy-revalidate, public=1, immutable=?0, must-understand="yes", '
        "stale-while-revalidate=1.5, stale-if-error=30"
    )
    assert cc == ResponseCacheControl(
        present=True,
        target="cdn-cache-control",
        no_store=True,
        no_cache=True,
        no_cache_fields=frozenset({"set-cookie", "x-a"}),
        private=True,
        private_fields=frozenset(),
        must_revalidate=True,
        proxy_revalidate=True,
        public=False,
        immutable=False,
        must_understand=False,
        stale_while_revalidate=None,
        stale_if_error=30,
    )


def test_targeted_several_lines_combine_into_one_dictionary() -> None:
    """RFC 8941 §4.2: the field's lines are joined with commas before parsing."""
    cc = directives(["max-age=600", "no-store"])
    assert cc is not None
    assert (cc.max_age, cc.no_store) == (600, True)


def test_targeted_one_invalid_line_invalidates_the_whole_field() -> None:
    """E-15, RFC 9213 §2.1: a parse error anywhere ignores the whole field."""
    assert directives(["max-age=600", "Max-Age=5"]) is None


@pytest.mark.parametrize("value", ["", "   "])
def test_targeted_empty_field_is_ignored(value: str) -> None:
    """E-14, RFC 9213 §2.1, §2.2: an empty field is not usable."""
    assert directives(value) is None


def test_targeted_field_name_matches_case_insensitively() -> None:
    """RFC 9110 §5.1: field names are case-insensitive, in the headers and the target list."""
    headers = h({"cdn-CACHE-control": "max-age=5"})
    cc = targeted_cache_control(headers, ("CDN-Cache-Control",))
    assert cc is not None and cc.max_age == 5


@pytest.mark.parametrize(
    ("fields", "targets", "expected"),
    [
        pytest.param(
            {"Acme-CDN-Cache-Control": "max-age=1", "CDN-Cache-Control": "max-age=2"},
            ("Acme-CDN-Cache-Control", "CDN-Cache-Control"),
            1,
            id="first-listed-wins",
        ),
        pytest.param(
            {"Acme-CDN-Cache-Control": "max-age=1", "CDN-Cache-Control": "max-age=2"},
            ("CDN-Cache-Control", "Acme-CDN-Cache-Control"),
            2,
            id="list-order-not-header-order",
        ),
        pytest.param(
            {"Acme-CDN-Cache-Control": "max-age=1,", "CDN-Cache-Control": "max-age=2"},
            ("Acme-CDN-Cache-Control", "CDN-Cache-Control"),
            2,
            id="invalid-first-skipped",
        ),
        pytest.param(
            {"Acme-CDN-Cache-Control": "", "CDN-Cache-Control": "max-age=2"},
            ("Acme-CDN-Cache-Control", "CDN-Cache-Control"),
            2,
            id="empty-first-skipped",
        ),
        pytest.param(
            {"CDN-Cache-Control": "max-age=2"},
            ("Acme-CDN-Cache-Control", "CDN-Cache-Control"),
            2,
            id="absent-first-skipped",
        ),
    ],
)
def test_targeted_first_usable_field_in_target_list_order(
    fields: dict[str, str], targets: tuple[str, ...], expected: int
) -> None:
    """E-14, RFC 9213 §2.2: the first field in target-list order that is valid and non-empty."""
    cc = targeted_cache_control(h(fields), targets)
    assert cc is not None and cc.max_age == expected


@pytest.mark.parametrize(
    ("options", "expected_no_store"),
    [
        pytest.param(CacheOptions(shared=True, targeted_fields=CDN), False, id="shared-listed"),
        pytest.param(CacheOptions(shared=False, targeted_fields=CDN), True, id="E-19-private"),
        pytest.param(CacheOptions(shared=True), True, id="E-19-empty-list"),
        pytest.param(
            CacheOptions(shared=True, targeted_fields=("Foo-Cache-Control",)),
            True,
            id="E-19-not-listed",
        ),
    ],
)
def test_effective_cache_control_only_listed_fields_in_shared_mode(
    options: CacheOptions, expected_no_store: bool
) -> None:
    """E-19, RFC 9213 §2.2: a field not on the target list changes nothing; private caches
    have no target list."""
    headers = h({"Cache-Control": "no-store", "CDN-Cache-Control": "max-age=600"})
    cc = effective_cache_control(headers, options)
    assert cc.no_store is expected_no_store
    assert (cc.target is None) is expected_no_store


# --- end to end: E-14 precedence ---------------------------------------------------------------


def test_targeted_max_age_overrides_cache_control_no_store() -> None:
    """E-14, RFC 9213 §2.2, §3.1: ``CDN-Cache-Control: max-age=600`` with ``Cache-Control:
    no-store``: the CDN stores and serves it; the targeted field stays on the response."""
    cache = shared()
    cache.fetch(
        origin=respond(200, {"Cache-Control": "no-store", "CDN-Cache-Control": "max-age=600"})
    )

    outcome = cache.fetch(at=10)

    assert outcome.hit
    assert outcome.header("cdn-cache-control") == "max-age=600"
    assert outcome.header("cache-control") == "no-store"
    assert outcome.header("age") == "10"


def test_targeted_no_store_prevents_storing_though_cache_control_allows() -> None:
    """E-17, RFC 9213 §2.2: the targeted field's ``no-store`` wins over ``Cache-Control``."""
    cache = shared()
    cache.fetch(
        origin=respond(200, {"Cache-Control": "max-age=600", "CDN-Cache-Control": "no-store"})
    )

    assert cache.stored() == []
    assert not cache.fetch(at=1).hit


def test_targeted_shorter_max_age_replaces_cache_control_lifetime() -> None:
    """E-14: Cache-Control is ignored as a whole, its longer lifetime too."""
    cache = shared()
    cache.fetch(
        origin=respond(200, {"Cache-Control": "max-age=600", "CDN-Cache-Control": "max-age=10"})
    )

    assert cache.fetch(at=5).hit
    assert not cache.fetch(at=20).hit


def test_targeted_field_makes_expires_ignored() -> None:
    """E-14, RFC 9213 §2.2: with a usable targeted field, ``Expires`` is ignored too."""
    cache = shared()
    cache.fetch(
        origin=respond(
            200,
            {
                "CDN-Cache-Control": "must-revalidate",
                "Expires": http_date(3600),
                "ETag": '"a"',
            },
        )
    )

    outcome = cache.fetch(at=10, origin=respond(304, {"ETag": '"a"'}))

    assert outcome.kind == "revalidated"


def test_targeted_field_makes_expires_no_storage_permission() -> None:
    """RFC 9111 §3, RFC 9213 §2.2: ``Expires`` no longer permits storing a 302."""
    headers = {"Expires": http_date(3600), "ETag": '"a"'}
    plain = shared()
    plain.fetch(origin=respond(302, headers))
    targeted = shared()
    targeted.fetch(origin=respond(302, {**headers, "CDN-Cache-Control": "none"}))

    assert len(plain.stored()) == 1
    assert targeted.stored() == []


def test_targeted_unknown_directive_lets_cdn_store_what_cache_control_forbids() -> None:
    """RFC 9213 §3.1's example: ``Cache-Control: no-store`` with ``CDN-Cache-Control: none``
    keeps every cache but the CDN from storing (``none`` only keeps the field non-empty)."""
    headers = {"Cache-Control": "no-store", "CDN-Cache-Control": "none", "ETag": '"a"'}
    cdn = shared()
    cdn.fetch(origin=respond(200, headers))
    other = Scenario(shared=True)
    other.fetch(origin=respond(200, headers))

    assert len(cdn.stored()) == 1
    assert other.stored() == []


def test_targeted_field_absent_expires_still_applies() -> None:
    """RFC 9213 §2.2: on a response without a usable targeted field, ``Expires`` applies."""
    cache = shared()
    cache.fetch(origin=respond(200, {"Expires": http_date(3600), "CDN-Cache-Control": "a=,"}))

    assert cache.fetch(at=10).hit


def test_targeted_empty_field_falls_back_to_cache_control() -> None:
    """E-14: given an empty ``CDN-Cache-Control`` and ``Cache-Control: max-age=60``, a hit
    at t=10 and not a hit at t=61."""
    cache = shared()
    cache.fetch(origin=respond(200, {"CDN-Cache-Control": "", "Cache-Control": "max-age=60"}))

    assert cache.fetch(at=10).hit
    assert not cache.fetch(at=61).hit


def test_targeted_invalid_field_falls_back_to_cache_control() -> None:
    """E-15: ``CDN-Cache-Control: max-age=600,`` (trailing comma) is ignored, so
    ``Cache-Control: max-age=5`` applies: not a hit at t=10."""
    cache = shared()
    cache.fetch(
        origin=respond(200, {"CDN-Cache-Control": "max-age=600,", "Cache-Control": "max-age=5"})
    )

    assert not cache.fetch(at=10).hit


def test_targeted_field_ignores_pragma_like_cache_control() -> None:
    """RFC 9213 §2.2: the targeted field sets the policy; ``Pragma: no-cache`` (RFC 9111
    §5.4, used only without Cache-Control) is not consulted."""
    cache = shared()
    cache.fetch(origin=respond(200, {"Pragma": "no-cache", "CDN-Cache-Control": "max-age=60"}))

    assert cache.fetch(at=10).hit


def test_targeted_s_maxage_applies_in_shared_cache() -> None:
    """RFC 9213 §2.2: directives keep their Cache-Control semantics (s-maxage, shared)."""
    cache = shared()
    cache.fetch(origin=respond(200, {"CDN-Cache-Control": "max-age=600, s-maxage=10"}))

    assert cache.fetch(at=5).hit
    assert not cache.fetch(at=20).hit


# --- E-16 wrong types ----------------------------------------------------------------------------


def test_targeted_decimal_max_age_not_coerced() -> None:
    """E-16: ``CDN-Cache-Control: max-age=1.5``: not a hit at t=1."""
    cache = shared()
    cache.fetch(
        origin=respond(200, {"CDN-Cache-Control": "max-age=1.5", "Cache-Control": "max-age=60"})
    )

    assert not cache.fetch(at=1).hit


def test_targeted_parameters_on_directives_ignored() -> None:
    """E-16: ``CDN-Cache-Control: max-age=60;foo=1``: a hit at t=10."""
    cache = shared()
    cache.fetch(origin=respond(200, {"CDN-Cache-Control": "max-age=60;foo=1"}))

    assert cache.fetch(at=10).hit


# --- E-17 required directives -----------------------------------------------------------------


def test_targeted_no_store_defeats_max_age() -> None:
    """E-17: ``CDN-Cache-Control: max-age=600, no-store``: not stored."""
    cache = shared()
    cache.fetch(origin=respond(200, {"CDN-Cache-Control": "max-age=600, no-store", "ETag": '"a"'}))

    assert cache.stored() == []


def test_targeted_private_not_stored_by_shared_cache() -> None:
    """E-17, RFC 9111 §5.2.2.7: a targeted ``private`` keeps the shared cache from storing."""
    cache = shared()
    cache.fetch(origin=respond(200, {"CDN-Cache-Control": "private, max-age=600", "ETag": '"a"'}))

    assert cache.stored() == []


def test_targeted_no_cache_defeats_max_age() -> None:
    """E-17, RFC 9111 §5.2.2.4: a fresh ``no-cache`` response is validated before reuse."""
    cache = shared()
    cache.fetch(origin=respond(200, {"CDN-Cache-Control": "max-age=600, no-cache", "ETag": '"a"'}))

    outcome = cache.fetch(at=10, origin=respond(304, {"ETag": '"a"'}))

    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


def test_targeted_must_revalidate_forbids_stale_on_error() -> None:
    """E-17, RFC 9111 §5.2.2.2: a stale targeted ``must-revalidate`` is never served stale,
    even with ``allow_stale`` (Cache-Control's permissive ``stale-if-error`` is ignored)."""
    cache = shared(allow_stale=True)
    cache.fetch(
        origin=respond(
            200,
            {
                "CDN-Cache-Control": "max-age=10, must-revalidate",
                "Cache-Control": "max-age=10, stale-if-error=600",
                "ETag": '"a"',
            },
        )
    )

    assert cache.fetch(at=20, origin=fail()).kind == "error"


def test_targeted_no_store_on_304_deletes_entry_after_serving() -> None:
    """U-13, RFC 9213 §2.2: a 304 whose targeted field says ``no-store`` is served once and
    the entry forgotten."""
    cache = shared()
    cache.fetch(origin=respond(200, {"CDN-Cache-Control": "max-age=10", "ETag": '"a"'}))

    outcome = cache.fetch(
        at=20, origin=respond(304, {"ETag": '"a"', "CDN-Cache-Control": "no-store"})
    )

    assert outcome.kind == "revalidated"
    assert cache.stored() == []


def test_targeted_public_satisfies_authorization_rule() -> None:
    """RFC 9111 §3.5 read through RFC 9213 §2.2: the targeted field's ``public`` lets a
    shared cache store an answer to a request with ``Authorization``."""
    cache = shared()
    auth = {"Authorization": "Bearer t"}
    cache.fetch(
        headers=auth,
        origin=respond(
            200, {"CDN-Cache-Control": "public, max-age=60", "Cache-Control": "max-age=60"}
        ),
    )

    assert cache.fetch(at=10, headers=auth).hit


def test_cache_control_public_ignored_for_authorization_rule_when_targeted() -> None:
    """RFC 9213 §2.2: ``Cache-Control: public`` is ignored when a targeted field applies."""
    cache = shared()
    cache.fetch(
        headers={"Authorization": "Bearer t"},
        origin=respond(
            200,
            {"CDN-Cache-Control": "max-age=60", "Cache-Control": "public", "ETag": '"a"'},
        ),
    )

    assert cache.stored() == []


# --- E-18 other directives --------------------------------------------------------------------


def test_targeted_stale_while_revalidate_serves_stale() -> None:
    """E-18: ``CDN-Cache-Control: max-age=10, stale-while-revalidate=60``: at t=20 a stale hit."""
    cache = shared()
    cache.fetch(origin=respond(200, {"CDN-Cache-Control": "max-age=10, stale-while-revalidate=60"}))

    outcome = cache.fetch(at=20)

    assert outcome.kind == "swr"
    assert outcome.header("age") == "20"


def test_targeted_stale_if_error_serves_stale_on_503() -> None:
    """E-18, RFC 5861 §4: a targeted ``stale-if-error`` covers an origin error."""
    cache = shared()
    cache.fetch(origin=respond(200, {"CDN-Cache-Control": "max-age=10, stale-if-error=60"}))

    outcome = cache.fetch(at=20, origin=respond(503))

    assert outcome.kind == "stale-on-error"


def test_cache_control_stale_if_error_ignored_when_targeted() -> None:
    """E-14: Cache-Control's ``stale-if-error`` does not apply beside a usable targeted field."""
    cache = shared()
    cache.fetch(
        origin=respond(
            200,
            {"CDN-Cache-Control": "max-age=10", "Cache-Control": "max-age=10, stale-if-error=60"},
        )
    )

    assert cache.fetch(at=20, origin=respond(503)).kind == "forwarded"


def test_targeted_immutable_skips_soft_reload_over_https() -> None:
    """E-18, RFC 8246 §2: a targeted ``immutable`` works as in Cache-Control."""
    cache = shared()
    url = "https://example.com/a"
    cache.fetch(url=url, origin=respond(200, {"CDN-Cache-Control": "max-age=600, immutable"}))

    assert cache.fetch(url=url, at=10, headers={"Cache-Control": "max-age=0"}).hit


# --- E-19 not on the list ---------------------------------------------------------------------


def test_private_cache_ignores_targeted_field_and_keeps_it() -> None:
    """E-19: private, ``Cache-Control: no-store`` and ``CDN-Cache-Control: max-age=600``:
    not stored, and the targeted field is still on the response."""
    cache = Scenario(targeted_fields=CDN)
    first = cache.fetch(
        origin=respond(200, {"Cache-Control": "no-store", "CDN-Cache-Control": "max-age=600"})
    )

    assert cache.stored() == []
    assert first.header("cdn-cache-control") == "max-age=600"


def test_unlisted_cache_control_suffix_field_is_ignored() -> None:
    """E-19, RFC 9213 §2.4: ``Foo-Cache-Control: no-store`` is not targeted by its suffix."""
    cache = shared()
    cache.fetch(
        origin=respond(200, {"Foo-Cache-Control": "no-store", "Cache-Control": "max-age=60"})
    )

    outcome = cache.fetch(at=10)

    assert outcome.hit
    assert outcome.header("foo-cache-control") == "no-store"


def test_custom_targeted_field_before_cdn_cache_control() -> None:
    """RFC 9213 §2.2: a target list ``[Acme-CDN-Cache-Control, CDN-Cache-Control]``."""
    cache = shared("Acme-CDN-Cache-Control", "CDN-Cache-Control")
    cache.fetch(
        origin=respond(
            200, {"CDN-Cache-Control": "no-store", "Acme-CDN-Cache-Control": "max-age=60"}
        )
    )

    assert cache.fetch(at=10).hit


# --- the option ----------------------------------------------------------------------------------


def test_options_targeted_fields_default_empty_and_appended() -> None:
    """The option was appended after the fields before it, so their positional order is kept."""
    names = [field.name for field in dataclasses.fields(CacheOptions)]
    assert names.index("targeted_fields") == names.index("cache_post") + 1
    assert CacheOptions().targeted_fields == ()
    assert CacheOptions.CDN_TARGETED_FIELDS == ("CDN-Cache-Control",)


def test_options_targeted_fields_stored_as_tuple() -> None:
    options = CacheOptions(targeted_fields=["Acme-CDN-Cache-Control", "CDN-Cache-Control"])
    assert options.targeted_fields == ("Acme-CDN-Cache-Control", "CDN-Cache-Control")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("CDN-Cache-Control", id="bare-string"),
        pytest.param(["CDN Cache Control"], id="not-a-token"),
        pytest.param([""], id="empty-name"),
        pytest.param([b"CDN-Cache-Control"], id="bytes"),
        pytest.param(["Cache-Control"], id="cache-control-itself"),
        pytest.param(["CDN-Cache-Control", "cdn-cache-control"], id="duplicate"),
        pytest.param(None, id="none"),
    ],
)
def test_options_targeted_fields_invalid_raise(value: object) -> None:
    with pytest.raises(ConfigurationError):
        CacheOptions(targeted_fields=value)  # type: ignore[arg-type]
