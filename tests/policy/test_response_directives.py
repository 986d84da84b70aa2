"""Response Cache-Control directives end to end (RFC 9111 §5.2.2; checklist D-1..D-11).

Each test stores a response through :class:`~tests.policy.scenario.Scenario` and
checks what a later request at scenario time ``at=`` gets: a hit, a
revalidation, a plain forward or an error. D-10 (``no-transform``: the stored
body is the raw wire bytes) is a storage/transport concern and lives in the
transport tests.
"""

from __future__ import annotations

import pytest

from .scenario import Scenario, fail, respond

# --- D-1 must-revalidate -----------------------------------------------------------------------


def test_must_revalidate_stale_entry_revalidated_and_served_after_304() -> None:
    """D-1, RFC 9111 §5.2.2.2: a stale must-revalidate response is reused only after a 304."""
    cache = Scenario()
    cache.fetch(
        origin=respond(200, {"Cache-Control": "max-age=10, must-revalidate", "ETag": '"a"'})
    )

    outcome = cache.fetch(at=20, origin=respond(304, {"ETag": '"a"'}))

    assert outcome.kind == "revalidated"
    assert outcome.status == 200
    assert len(outcome.sent) == 1
    assert outcome.sent[0].header("if-none-match") == '"a"'
    assert outcome.header("cache-control") == "max-age=10, must-revalidate"


@pytest.mark.parametrize(
    ("response_cc", "request_cc", "allow_stale"),
    [
        pytest.param("max-age=10, must-revalidate", "max-stale=100", False, id="D-1-max-stale"),
        pytest.param(
            "max-age=10, must-revalidate, stale-while-revalidate=60", None, False, id="D-1-swr"
        ),
        pytest.param("max-age=10, must-revalidate", None, True, id="D-1-allow-stale-option"),
    ],
)
def test_must_revalidate_stale_allowances_still_revalidate(
    response_cc: str, request_cc: str | None, allow_stale: bool
) -> None:
    """D-1, RFC 9111 §5.2.2.2, §4.2.4: nothing that permits stale serving overrides
    must-revalidate once the response is stale."""
    cache = Scenario(allow_stale=allow_stale)
    cache.fetch(origin=respond(200, {"Cache-Control": response_cc, "ETag": '"a"'}))

    outcome = cache.fetch(
        at=20,
        headers={"Cache-Control": request_cc} if request_cc else None,
        origin=respond(304, {"ETag": '"a"'}),
    )

    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


def test_must_revalidate_origin_unreachable_with_allow_stale_gives_error() -> None:
    """D-1, RFC 9111 §5.2.2.2: a failed validation never falls back to the stale copy."""
    cache = Scenario(allow_stale=True)
    cache.fetch(
        origin=respond(200, {"Cache-Control": "max-age=10, must-revalidate", "ETag": '"a"'})
    )

    outcome = cache.fetch(at=20, origin=fail())

    assert outcome.kind == "error"


# --- D-2 must-understand -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 404, 301])
def test_must_understand_known_status_ignores_no_store_and_hits(status: int) -> None:
    """D-2, RFC 9111 §5.2.2.3: with must-understand on an understood status, the
    accompanying no-store is ignored and the response is cached normally."""
    cache = Scenario()
    cache.fetch(
        origin=respond(
            status, {"Cache-Control": "max-age=60, must-understand, no-store", "Location": "/b"}
        )
    )

    outcome = cache.fetch(at=10)

    assert outcome.kind == "hit"
    assert outcome.status == status
    assert len(cache.stored()) == 1


# --- D-3 no-cache ------------------------------------------------------------------------------


def test_no_cache_fresh_response_revalidated_before_reuse() -> None:
    """D-3, RFC 9111 §5.2.2.4: unqualified no-cache needs a validation even while fresh."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=3600, no-cache", "ETag": '"a"'}))

    outcome = cache.fetch(at=1, origin=respond(304, {"ETag": '"a"'}))

    assert outcome.kind == "revalidated"
    assert outcome.status == 200
    assert outcome.sent[0].header("if-none-match") == '"a"'


@pytest.mark.parametrize(
    ("request_cc", "at", "allow_stale", "origin_ok"),
    [
        pytest.param("max-stale=100000", 10, False, True, id="D-3-max-stale-fresh"),
        pytest.param("max-stale=100000", 4000, False, True, id="D-3-max-stale-stale"),
        pytest.param(None, 4000, True, False, id="D-3-allow-stale-origin-down"),
        pytest.param("stale-if-error=100000", 4000, False, False, id="D-3-request-sie"),
    ],
)
def test_no_cache_stale_serving_configured_still_not_served(
    request_cc: str | None, at: float, allow_stale: bool, origin_ok: bool
) -> None:
    """D-3, RFC 9111 §5.2.2.4, §4.2.4: no-cache forbids reuse without a successful
    validation, even when stale serving is allowed by the request or the options."""
    cache = Scenario(allow_stale=allow_stale)
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=3600, no-cache", "ETag": '"a"'}))

    outcome = cache.fetch(
        at=at,
        headers={"Cache-Control": request_cc} if request_cc else None,
        origin=respond(304, {"ETag": '"a"'}) if origin_ok else fail(),
    )

    if origin_ok:
        assert outcome.kind == "revalidated"
        assert outcome.sent[0].header("if-none-match") == '"a"'
    else:
        assert outcome.kind == "error"


def test_no_cache_without_validator_forwarded_every_time() -> None:
    """D-3, RFC 9111 §5.2.2.4: a no-cache response without validators is never a hit."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=3600, no-cache"}))

    outcome = cache.fetch(at=1)

    assert outcome.kind == "forwarded"
    assert outcome.sent[0].header("if-none-match") is None


# --- D-4 no-cache="fields" ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "directive",
    [
        pytest.param('no-cache="Set-Cookie"', id="D-4-quoted"),
        pytest.param('no-cache="set-cookie, X-Other"', id="D-4-list-lower-case"),
        pytest.param("no-cache=Set-Cookie", id="D-4-token-form"),
    ],
)
def test_no_cache_qualified_never_hit_with_listed_field(directive: str) -> None:
    """D-4, RFC 9111 §5.2.2.4: a qualified no-cache is treated as unqualified (the
    suggested default), so the listed field is never served without validation."""
    cache = Scenario()
    cache.fetch(
        origin=respond(
            200,
            {"Cache-Control": f"max-age=60, {directive}", "Set-Cookie": "a=1", "ETag": '"a"'},
        )
    )

    outcome = cache.fetch(at=10, origin=respond(304, {"ETag": '"a"'}))

    assert not (outcome.kind == "hit" and outcome.header("set-cookie") is not None)
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


# --- D-5, D-6 private="fields" -----------------------------------------------------------------


def test_private_qualified_shared_cache_not_stored() -> None:
    """D-5, RFC 9111 §5.2.2.7: a shared cache treats private="Set-Cookie" as plain
    private (the suggested default): nothing is kept and a later request is forwarded."""
    cache = Scenario(shared=True)
    cache.fetch(
        origin=respond(
            200, {"Cache-Control": 'max-age=60, private="Set-Cookie"', "Set-Cookie": "a=1"}
        )
    )

    outcome = cache.fetch(at=10, origin=respond(200, {"Cache-Control": "no-store"}))

    assert cache.stored() == []
    assert outcome.kind == "forwarded"
    assert outcome.header("set-cookie") is None


def test_private_qualified_private_cache_hit_includes_field() -> None:
    """D-6, RFC 9111 §5.2.2.7: a private cache stores the whole response, listed field too."""
    cache = Scenario()
    cache.fetch(
        origin=respond(
            200, {"Cache-Control": 'max-age=60, private="Set-Cookie"', "Set-Cookie": "a=1"}
        )
    )

    outcome = cache.fetch(at=10)

    assert outcome.kind == "hit"
    assert outcome.header("set-cookie") == "a=1"


# --- D-7 proxy-revalidate ----------------------------------------------------------------------


def test_proxy_revalidate_shared_stale_swr_blocks_on_revalidation() -> None:
    """D-7, RFC 9111 §5.2.2.8: a shared cache validates a stale proxy-revalidate
    response, stale-while-revalidate notwithstanding."""
    cache = Scenario(shared=True)
    cc = "max-age=10, proxy-revalidate, stale-while-revalidate=60"
    cache.fetch(origin=respond(200, {"Cache-Control": cc, "ETag": '"a"'}))

    outcome = cache.fetch(at=15, origin=respond(304, {"ETag": '"a"'}))

    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


@pytest.mark.parametrize(
    ("shared", "expected"),
    [
        pytest.param(True, "revalidated", id="D-7-shared-max-stale-revalidates"),
        pytest.param(False, "hit", id="D-7-private-max-stale-hits"),
    ],
)
def test_proxy_revalidate_request_max_stale_binds_shared_only(shared: bool, expected: str) -> None:
    """D-7, RFC 9111 §5.2.2.8: proxy-revalidate forbids stale reuse in a shared cache
    only; a private cache honours the request's max-stale."""
    cache = Scenario(shared=shared)
    cache.fetch(
        origin=respond(200, {"Cache-Control": "max-age=10, proxy-revalidate", "ETag": '"a"'})
    )

    outcome = cache.fetch(
        at=15, headers={"Cache-Control": "max-stale=100"}, origin=respond(304, {"ETag": '"a"'})
    )

    assert outcome.kind == expected


@pytest.mark.parametrize("shared", [False, True])
def test_proxy_revalidate_alone_gives_no_storage_permission(shared: bool) -> None:
    """D-7, RFC 9111 §5.2.2.8, §3: a 302 with only proxy-revalidate is never stored."""
    cache = Scenario(shared=shared)
    cache.fetch(origin=respond(302, {"Cache-Control": "proxy-revalidate", "Location": "/b"}))

    outcome = cache.fetch(at=1)

    assert cache.stored() == []
    assert outcome.kind == "forwarded"


# --- D-8 public --------------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True])
def test_public_with_no_store_not_stored(shared: bool) -> None:
    """D-8, RFC 9111 §5.2.2.9: public never overrides no-store."""
    cache = Scenario(shared=shared)
    cache.fetch(origin=respond(200, {"Cache-Control": "public, no-store"}))

    outcome = cache.fetch(at=1)

    assert outcome.kind == "forwarded"
    assert cache.stored() == []


def test_public_makes_otherwise_unstorable_status_storable() -> None:
    """D-8, RFC 9111 §5.2.2.9, §4.2.2: public lets a 302 be stored and given a heuristic."""
    cache = Scenario()
    cache.fetch(
        origin=respond(
            302,
            {
                "Cache-Control": "public",
                "Location": "/b",
                "Last-Modified": "Sun, 27 Oct 1994 08:49:37 GMT",
            },
        )
    )

    outcome = cache.fetch(at=1)

    assert outcome.kind == "hit"
    assert outcome.header("location") == "/b"


# --- D-9 s-maxage implies proxy-revalidate -----------------------------------------------------


def test_s_maxage_shared_origin_unreachable_gives_error_not_stale() -> None:
    """D-9, RFC 9111 §5.2.2.10: a shared cache never serves an s-maxage response
    stale, even when the origin is down and stale-on-error is configured."""
    cache = Scenario(shared=True, allow_stale=True)
    cache.fetch(origin=respond(200, {"Cache-Control": "s-maxage=10", "ETag": '"a"'}))

    outcome = cache.fetch(at=20, origin=fail())

    assert outcome.kind == "error"


def test_s_maxage_shared_stale_if_error_503_passed_through() -> None:
    """D-9, RFC 9111 §5.2.2.10; RFC 5861 §4: stale-if-error does not let a shared
    cache serve an s-maxage response stale: the origin's 503 reaches the user."""
    cache = Scenario(shared=True)
    cache.fetch(origin=respond(200, {"Cache-Control": "s-maxage=10, stale-if-error=600"}))

    outcome = cache.fetch(at=20, origin=respond(503, {}))

    assert outcome.kind == "forwarded"
    assert outcome.status == 503


def test_s_maxage_private_origin_unreachable_serves_stale() -> None:
    """D-9, RFC 9111 §5.2.2.10, §4.2.4: the rule binds shared caches only; a private
    cache with stale-on-error configured serves the stored copy."""
    cache = Scenario(allow_stale=True)
    cache.fetch(origin=respond(200, {"Cache-Control": "s-maxage=10", "ETag": '"a"'}))

    outcome = cache.fetch(at=20, origin=fail())

    assert outcome.kind == "stale-on-error"
    assert outcome.status == 200


def test_s_maxage_shared_request_max_stale_still_revalidates() -> None:
    """D-9, RFC 9111 §5.2.2.10: max-stale does not let a shared cache reuse it stale."""
    cache = Scenario(shared=True)
    cache.fetch(origin=respond(200, {"Cache-Control": "s-maxage=10", "ETag": '"a"'}))

    outcome = cache.fetch(
        at=20, headers={"Cache-Control": "max-stale=1000"}, origin=respond(304, {"ETag": '"a"'})
    )

    assert outcome.kind == "revalidated"


# --- D-11 extension directives -----------------------------------------------------------------


@pytest.mark.parametrize(
    "extension",
    [
        pytest.param("x-foo", id="D-11-bare"),
        pytest.param("x-foo=bar", id="D-11-token"),
        pytest.param('x-foo="bar, baz"', id="D-11-quoted-with-comma"),
        pytest.param("x-foo=", id="D-11-empty-argument"),
        pytest.param('x-foo="a\\"b"', id="D-11-escaped-quote"),
        pytest.param("community=UCI", id="D-11-community"),
    ],
)
def test_unknown_response_directive_ignored_others_honoured(extension: str) -> None:
    """D-11, RFC 9111 §5.2.3: unknown response directives are ignored, whatever their
    argument syntax, and the known ones beside them still apply."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": f"max-age=60, {extension}"}))

    assert cache.fetch(at=10).kind == "hit"
    assert cache.fetch(at=60, origin=respond(200, {"Cache-Control": "no-store"})).kind == (
        "forwarded"
    )


def test_unknown_extension_falls_back_to_private_in_shared_cache() -> None:
    """D-11, RFC 9111 §5.2.3: an extension sent with a base directive falls back to
    it: shared, ``private, community="UCI"`` is not stored."""
    cache = Scenario(shared=True)
    cache.fetch(origin=respond(200, {"Cache-Control": 'private, community="UCI", max-age=60'}))

    outcome = cache.fetch(at=1)

    assert cache.stored() == []
    assert outcome.kind == "forwarded"


def test_unknown_request_directive_ignored_others_honoured() -> None:
    """D-11, RFC 9111 §5.2.3: an unknown request directive leaves max-age in force."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=600", "ETag": '"a"'}))

    hit = cache.fetch(at=10, headers={"Cache-Control": "x-foo, max-age=60"})
    too_old = cache.fetch(
        at=100,
        headers={"Cache-Control": "x-foo, max-age=60"},
        origin=respond(304, {"ETag": '"a"'}),
    )

    assert hit.kind == "hit"
    assert too_old.kind == "revalidated"
