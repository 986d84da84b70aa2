"""stale-while-revalidate in the pure policy: checklist X-7 to X-11, RFC 5861 §3.

A stale response within its ``stale-while-revalidate`` window (or the
``CacheOptions.stale_while_revalidate`` window, for responses without the directive)
is served at once, as a :class:`Serve` carrying the ``background`` request that
revalidates it; the transports send that request behind the response
(``tests/_async/test_stale_while_revalidate.py``). Outcome kind ``"swr"`` is such a
serve; ``Scenario.refresh`` runs its background request.
"""

from __future__ import annotations

import pytest

from httpcache._policy._engine import Forward, Revalidate, Serve
from tests.policy.scenario import Scenario, fail, respond
from tests.policy.test_stale import stored


def background(outcome: object) -> Revalidate | Forward:
    decision = getattr(outcome, "decision", None)
    assert isinstance(decision, Serve) and decision.background is not None
    return decision.background


# --- served at once within the window ----------------------------------------------------


@pytest.mark.parametrize("etag", [False, True])
def test_within_window_served_stale_at_once(etag: bool) -> None:
    """X-7, 5861 §3: within `stale-while-revalidate=30` past `max-age=10`, an immediate hit."""
    cache = stored("max-age=10, stale-while-revalidate=30", etag=etag)
    outcome = cache.fetch(at=20)
    assert outcome.kind == "swr"
    assert not outcome.contacted_origin
    assert outcome.status == 200
    assert outcome.header("x-version") == "old"
    assert outcome.headers_named("age") == ["20"]
    served = outcome.decision
    assert isinstance(served, Serve)
    assert served.stale is True
    assert served.ttl == -10


def test_window_edge_is_inclusive() -> None:
    """X-7: staleness equal to the window (t=40 for 10 + 30) still qualifies."""
    cache = stored("max-age=10, stale-while-revalidate=30")
    assert cache.fetch(at=40).kind == "swr"


def test_fresh_response_is_a_plain_hit() -> None:
    """X-7: the directive changes nothing while the response is fresh."""
    cache = stored("max-age=10, stale-while-revalidate=30")
    outcome = cache.fetch(at=5)
    assert outcome.kind == "hit"
    assert isinstance(outcome.decision, Serve)
    assert outcome.decision.background is None


# --- the background request ---------------------------------------------------------------


def test_background_request_is_conditional_when_validators_exist() -> None:
    """X-8, 9111 §4.3.1: the refresh validates the stored response with its ETag."""
    cache = stored("max-age=10, stale-while-revalidate=30", etag=True)
    refresh = background(cache.fetch(at=20))
    assert isinstance(refresh, Revalidate)
    assert dict(refresh.conditional_headers) == {b"If-None-Match": b'"a"'}
    assert refresh.reason == "stale"


def test_background_request_without_validators_is_plain() -> None:
    """X-8: without validators the refresh asks for a full response."""
    cache = stored("max-age=10, stale-while-revalidate=30")
    refresh = background(cache.fetch(at=20))
    assert isinstance(refresh, Forward)
    assert refresh.reason == "stale"
    assert len(refresh.candidates) == 1


def test_refresh_304_freshens_the_entry() -> None:
    """X-8: a 304 from the refresh updates the entry, which is then fresh again."""
    cache = stored("max-age=10, stale-while-revalidate=30", etag=True)
    outcome = cache.fetch(at=20)
    result = cache.refresh(
        outcome, at=20, origin=respond(304, {"ETag": '"a"', "Cache-Control": "max-age=10"})
    )
    assert result.sent[0].header("if-none-match") == '"a"'
    later = cache.fetch(at=25)
    assert later.kind == "hit"
    assert later.header("x-version") == "old"
    assert later.headers_named("age") == ["5"]


def test_refresh_200_replaces_the_entry() -> None:
    """X-8: a 200 from the refresh replaces the stored response."""
    cache = stored("max-age=10, stale-while-revalidate=30")
    outcome = cache.fetch(at=20)
    cache.refresh(
        outcome, at=20, origin=respond(200, {"Cache-Control": "max-age=10", "X-Version": "new"})
    )
    later = cache.fetch(at=25)
    assert later.kind == "hit"
    assert later.header("x-version") == "new"
    assert len(cache.stored()) == 1


def test_failed_refresh_leaves_the_entry() -> None:
    """X-8: a refresh that fails leaves the stale entry, still served within the window."""
    cache = stored("max-age=10, stale-while-revalidate=30")
    outcome = cache.fetch(at=20)
    assert cache.refresh(outcome, at=20, origin=fail()).kind in ("error", "stale-on-error")
    assert cache.fetch(at=30).kind == "swr"


# --- past the window ----------------------------------------------------------------------


@pytest.mark.parametrize("etag", [False, True])
def test_past_window_the_request_waits_on_the_origin(etag: bool) -> None:
    """X-9, 5861 §3: at t=41 (window 10 + 30 passed) the request is forwarded."""
    cache = stored("max-age=10, stale-while-revalidate=30", etag=etag)
    outcome = cache.fetch(at=41, origin=respond(200, {"X-Version": "new"}))
    assert outcome.kind == "forwarded"
    assert outcome.header("x-version") == "new"


# --- only in answer to a request ---------------------------------------------------------


def test_no_request_no_refresh() -> None:
    """X-10, 5861 §5: a refresh is only planned when a request is answered: after 120 s
    without traffic, the entry is simply stale past its window and the next request waits."""
    cache = stored("max-age=10, stale-while-revalidate=30")
    assert cache.fetch(at=120, origin=respond(200, {"X-Version": "new"})).kind == "forwarded"


# --- the refresh carries the Vary-nominated fields ------------------------------------


def test_refresh_carries_vary_fields_and_validators() -> None:
    """X-11, 9111 §4.3.1: the refresh of a `Vary: Accept-Language` entry stored for `de`
    sends `Accept-Language: de` and `If-None-Match`."""
    cache = Scenario()
    cache.fetch(
        headers={"Accept-Language": "de"},
        origin=respond(
            200,
            {
                "Cache-Control": "max-age=10, stale-while-revalidate=30",
                "Vary": "Accept-Language",
                "ETag": '"a"',
            },
        ),
    )
    outcome = cache.fetch(at=20, headers={"Accept-Language": "de"})
    assert outcome.kind == "swr"
    refresh = background(outcome)
    assert isinstance(refresh, Revalidate)
    result = cache.refresh(
        outcome,
        at=20,
        headers={"Accept-Language": "de"},
        origin=respond(304, {"ETag": '"a"', "Cache-Control": "max-age=10"}),
    )
    assert result.sent[0].header("accept-language") == "de"
    assert result.sent[0].header("if-none-match") == '"a"'
    # Another language does not select the entry at all.
    other = cache.fetch(at=20, headers={"Accept-Language": "fr"}, origin=respond(200, {}))
    assert other.kind == "forwarded"


# --- what forbids it ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "shared", "kind"),
    [
        pytest.param(
            "max-age=10, stale-while-revalidate=60, must-revalidate",
            False,
            "forwarded",
            id="must-revalidate",
        ),
        pytest.param(
            "max-age=10, stale-while-revalidate=60, no-cache", False, "forwarded", id="no-cache"
        ),
        pytest.param(
            "max-age=10, s-maxage=10, stale-while-revalidate=60",
            True,
            "forwarded",
            id="X-3-shared-s-maxage",
        ),
        pytest.param(
            "max-age=10, s-maxage=10, stale-while-revalidate=60",
            False,
            "swr",
            id="X-3-private-s-maxage",
        ),
        pytest.param(
            "max-age=10, proxy-revalidate, stale-while-revalidate=60",
            True,
            "forwarded",
            id="D-7-shared",
        ),
        pytest.param(
            "max-age=10, proxy-revalidate, stale-while-revalidate=60",
            False,
            "swr",
            id="D-7-private",
        ),
        pytest.param("max-age=10, stale-while-revalidate", False, "forwarded", id="P-13-bare"),
    ],
)
def test_directives_that_forbid_stale(cache_control: str, shared: bool, kind: str) -> None:
    """X-2, X-3, D-7, P-13: what forbids stale serving forbids it here too."""
    cache = stored(cache_control, shared=shared)
    assert cache.fetch(at=15, origin=respond(200, {"X-Version": "new"})).kind == kind


@pytest.mark.parametrize(
    "request_cc",
    [
        pytest.param("no-cache", id="no-cache"),
        pytest.param("max-age=0", id="max-age"),
        pytest.param("min-fresh=1", id="min-fresh"),
    ],
)
def test_request_directives_that_ask_for_validation(request_cc: str) -> None:
    """9111 §5.2.1: a request that wants a validated or fresh response waits for one."""
    cache = stored("max-age=10, stale-while-revalidate=30")
    outcome = cache.fetch(
        at=20, headers={"Cache-Control": request_cc}, origin=respond(200, {"X-Version": "new"})
    )
    assert outcome.kind == "forwarded"


def test_request_max_age_within_age_allows_it() -> None:
    """9111 §5.2.1.1: `max-age=30` accepts a response aged 20, so SWR applies."""
    cache = stored("max-age=10, stale-while-revalidate=30")
    assert cache.fetch(at=20, headers={"Cache-Control": "max-age=30"}).kind == "swr"


def test_always_revalidate_option_forbids_it() -> None:
    cache = stored("max-age=10, stale-while-revalidate=30", always_revalidate=True)
    assert cache.fetch(at=20, origin=respond(200, {})).kind == "forwarded"


# --- the option --------------------------------------------------------------------------------


def test_option_window_for_responses_without_the_directive() -> None:
    """`CacheOptions.stale_while_revalidate` applies to responses without the directive."""
    cache = stored("max-age=10", stale_while_revalidate=30.0)
    assert cache.fetch(at=40).kind == "swr"
    assert cache.fetch(at=41, origin=respond(200, {})).kind == "forwarded"


def test_directive_window_wins_over_the_option() -> None:
    """The response's own window applies, shorter or longer than the option's."""
    cache = stored("max-age=10, stale-while-revalidate=5", stale_while_revalidate=60.0)
    assert cache.fetch(at=15).kind == "swr"
    assert cache.fetch(at=16, origin=respond(200, {})).kind == "forwarded"


def test_option_does_not_override_must_revalidate() -> None:
    cache = stored("max-age=10, must-revalidate", stale_while_revalidate=60.0)
    assert cache.fetch(at=20, origin=respond(200, {})).kind == "forwarded"


def test_negative_option_is_rejected() -> None:
    from httpcache import CacheOptions, ConfigurationError

    with pytest.raises(ConfigurationError, match="stale_while_revalidate"):
        CacheOptions(stale_while_revalidate=-1)


# --- conditional requests and only-if-cached --------------------------------------------------


def test_user_conditional_gets_304_while_revalidating() -> None:
    """A matching `If-None-Match` is answered 304 from the stale entry, refreshed behind it."""
    cache = stored("max-age=10, stale-while-revalidate=30", etag=True)
    outcome = cache.fetch(at=20, headers={"If-None-Match": '"a"'})
    assert outcome.kind == "swr"
    assert outcome.status == 304
    assert isinstance(background(outcome), Revalidate)


def test_only_if_cached_serves_stale_without_refresh() -> None:
    """9111 §5.2.1.7: `only-if-cached` may get the stale response, but nothing is sent."""
    cache = stored("max-age=10, stale-while-revalidate=30")
    outcome = cache.fetch(at=20, headers={"Cache-Control": "only-if-cached"})
    assert outcome.kind == "hit"
    assert isinstance(outcome.decision, Serve)
    assert outcome.decision.stale is True
    assert outcome.decision.background is None
