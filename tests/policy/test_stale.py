"""Serving stale responses: checklist section 5 (X rows), RFC 9111 §4.2.4, §4.3.3, RFC 5861 §4.

stale-while-revalidate (X-7 to X-11) is tested in test_stale_while_revalidate.py.
A ``fail()`` origin simulates a connection failure or timeout; the outcome is
then ``"stale-on-error"`` (a stored response stood in) or ``"error"`` (the
transport error reaches the user).
"""

from __future__ import annotations

import pytest

from tests.policy.scenario import Origin, Outcome, Scenario, fail, respond


def stored(cache_control: str, *, etag: bool = False, **options: object) -> Scenario:
    """A cache holding one 200 (``X-Version: old``) stored at t=0."""
    headers = {"Cache-Control": cache_control, "X-Version": "old"}
    if etag:
        headers["ETag"] = '"a"'
    cache = Scenario(**options)
    cache.fetch(origin=respond(200, headers))
    assert len(cache.stored()) == 1
    return cache


def assert_stale_served(outcome: Outcome, age: int) -> None:
    assert outcome.kind == "stale-on-error"
    assert outcome.status == 200
    assert outcome.header("x-version") == "old"
    assert outcome.headers_named("age") == [str(age)]


def assert_error_passed_on(outcome: Outcome, status: int | None) -> None:
    """The user got the origin's error (``status``) or the connection error (``None``)."""
    if status is None:
        assert outcome.kind == "error"
    else:
        assert outcome.kind == "forwarded"
        assert outcome.status == status
        assert outcome.header("x-version") != "old"


# --- X-1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("etag", "conditional"),
    [
        pytest.param(False, None, id="X-1 no validator: plain forward"),
        pytest.param(True, '"a"', id="X-1 with validator: conditional"),
    ],
)
def test_stale_no_allowance_origin_reachable_forwarded(etag: bool, conditional: str | None) -> None:
    """X-1, 9111 §4.2.4: with default settings and no allowance, stale is never served."""
    cache = stored("max-age=10", etag=etag)
    outcome = cache.fetch(at=20, origin=respond(200, {"X-Version": "new"}))
    assert outcome.kind == "forwarded"
    assert outcome.header("x-version") == "new"
    assert outcome.sent[0].header("if-none-match") == conditional


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param(respond(503, {}), id="X-1 origin 503"),
        pytest.param(fail(), id="X-1 origin unreachable"),
    ],
)
def test_stale_no_allowance_origin_error_passed_on(origin: Origin) -> None:
    """X-1, 9111 §4.2.4: without an allowance an error is passed on, not a stale response."""
    cache = stored("max-age=10", etag=True)
    outcome = cache.fetch(at=20, origin=origin)
    assert outcome.kind in ("forwarded", "error")
    assert outcome.header("x-version") is None


# --- X-2 / X-3 / X-4 -------------------------------------------------------------------------

FAILURES = [pytest.param(503, id="503"), pytest.param(None, id="unreachable")]


def failing(status: int | None) -> Origin:
    return fail() if status is None else respond(status, {"X-Version": "error"})


@pytest.mark.parametrize("status", FAILURES)
@pytest.mark.parametrize(
    ("cache_control", "request_cc", "options"),
    [
        pytest.param(
            "max-age=10, must-revalidate, stale-if-error=600",
            None,
            {},
            id="X-2 must-revalidate+SIE",
        ),
        pytest.param("max-age=10, no-cache, stale-if-error=600", None, {}, id="X-2 no-cache+SIE"),
        pytest.param(
            "max-age=10, must-revalidate",
            "stale-if-error=600",
            {},
            id="X-2 must-revalidate+req SIE",
        ),
        pytest.param(
            "max-age=10, must-revalidate",
            None,
            {"allow_stale": True},
            id="X-2 must-revalidate+allow_stale",
        ),
        pytest.param(
            "max-age=10, no-cache", None, {"allow_stale": True}, id="X-2 no-cache+allow_stale"
        ),
    ],
)
def test_stale_must_revalidate_or_no_cache_forbids_stale(
    cache_control: str, request_cc: str | None, options: dict[str, object], status: int | None
) -> None:
    """X-2, 9111 §4.2.4, §5.2.2.2, §5.2.2.4: must-revalidate/no-cache beat any stale allowance."""
    cache = stored(cache_control, etag=True, **options)
    headers = {"Cache-Control": request_cc} if request_cc else None
    outcome = cache.fetch(at=20, headers=headers, origin=failing(status))
    assert_error_passed_on(outcome, status)


@pytest.mark.parametrize(
    "cache_control",
    [
        pytest.param("max-age=10, must-revalidate, stale-if-error=600", id="X-2 must-revalidate"),
        pytest.param("max-age=10, no-cache, stale-if-error=600", id="X-2 no-cache"),
    ],
)
def test_stale_must_revalidate_or_no_cache_beats_max_stale(cache_control: str) -> None:
    """X-2, 9111 §4.2.4: a request max-stale doesn't unlock a must-revalidate/no-cache response."""
    cache = stored(cache_control, etag=True)
    outcome = cache.fetch(
        at=20, headers={"Cache-Control": "max-stale=600"}, origin=respond(304, {"ETag": '"a"'})
    )
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


@pytest.mark.parametrize("status", FAILURES)
@pytest.mark.parametrize(
    ("shared", "cache_control", "served"),
    [
        pytest.param(
            True, "max-age=10, s-maxage=10, stale-if-error=60", False, id="X-3 shared s-maxage"
        ),
        pytest.param(
            True,
            "max-age=10, proxy-revalidate, stale-if-error=60",
            False,
            id="X-3 shared proxy-revalidate",
        ),
        pytest.param(
            False, "max-age=10, s-maxage=10, stale-if-error=60", True, id="X-3 private s-maxage"
        ),
        pytest.param(
            False,
            "max-age=10, proxy-revalidate, stale-if-error=60",
            True,
            id="X-3 private proxy-revalidate",
        ),
    ],
)
def test_stale_shared_s_maxage_or_proxy_revalidate_forbids_stale_if_error(
    shared: bool, cache_control: str, served: bool, status: int | None
) -> None:
    """X-3, 9111 §4.2.4, §5.2.2.8, §5.2.2.10: in a shared cache these forbid stale serving."""
    cache = stored(cache_control, shared=shared)
    outcome = cache.fetch(at=15, origin=failing(status))
    if served:
        assert_stale_served(outcome, 15)
    else:
        assert_error_passed_on(outcome, status)


@pytest.mark.parametrize(
    ("shared", "cache_control", "hit"),
    [
        pytest.param(True, "max-age=10, s-maxage=10", False, id="X-3 shared s-maxage"),
        pytest.param(True, "max-age=10, proxy-revalidate", False, id="X-3 shared proxy-revalidate"),
        pytest.param(False, "max-age=10, s-maxage=10", True, id="X-3 private s-maxage"),
        pytest.param(
            False, "max-age=10, proxy-revalidate", True, id="X-3 private proxy-revalidate"
        ),
    ],
)
def test_stale_shared_s_maxage_or_proxy_revalidate_forbids_max_stale(
    shared: bool, cache_control: str, hit: bool
) -> None:
    """X-3, 9111 §4.2.4: in a shared cache, max-stale doesn't unlock these either."""
    cache = stored(cache_control, etag=True, shared=shared)
    outcome = cache.fetch(
        at=15, headers={"Cache-Control": "max-stale=60"}, origin=respond(304, {"ETag": '"a"'})
    )
    if hit:
        assert outcome.kind == "hit"
        assert outcome.header("age") == "15"
    else:
        assert outcome.kind == "revalidated"
        assert outcome.sent[0].header("if-none-match") == '"a"'


@pytest.mark.parametrize(
    ("etag", "options"),
    [
        pytest.param(False, {}, id="X-4 default"),
        pytest.param(True, {}, id="X-4 with validator"),
        pytest.param(True, {"allow_stale": True}, id="X-4 even with allow_stale"),
    ],
)
def test_stale_must_revalidate_unreachable_error(etag: bool, options: dict[str, object]) -> None:
    """X-4, 9111 §5.2.2.2: must-revalidate + unreachable origin is an error, never stale content."""
    cache = stored("max-age=10, must-revalidate", etag=etag, **options)
    outcome = cache.fetch(at=20, origin=fail())
    assert outcome.kind == "error"
    assert outcome.header("x-version") is None


# --- X-5 / X-6 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "served"),
    [
        pytest.param({"allow_stale": True}, True, id="X-5 opted in"),
        pytest.param({}, False, id="X-5 default"),
    ],
)
def test_stale_disconnected_serves_stale_only_when_opted_in(
    options: dict[str, object], served: bool
) -> None:
    """X-5, 9111 §4.2.4: a disconnected cache serves stale only with the user's opt-in."""
    cache = stored("max-age=10", **options)
    outcome = cache.fetch(at=20, origin=fail())
    if served:
        assert_stale_served(outcome, 20)
    else:
        assert outcome.kind == "error"


@pytest.mark.parametrize(
    "etag",
    [pytest.param(False, id="X-6 plain forward"), pytest.param(True, id="X-6 revalidation")],
)
def test_stale_server_error_while_revalidating_serves_stale(etag: bool) -> None:
    """X-6, 9111 §4.3.3: a 5xx while revalidating may be replaced by a permitted stale response."""
    cache = stored("max-age=10, stale-if-error=60", etag=etag)
    outcome = cache.fetch(at=20, origin=respond(500, {"X-Version": "error"}))
    assert_stale_served(outcome, 20)
    assert len(outcome.sent) == 1


# --- X-12 .. X-15 ----------------------------------------------------------------------------


def test_stale_if_error_response_directive_serves_stale_on_error() -> None:
    """X-12, 5861 §4: stale-if-error=N lets a response stale by <= N stand in for an error."""
    cache = stored("max-age=10, stale-if-error=60")
    assert_stale_served(cache.fetch(at=30, origin=respond(503, {})), 30)


def test_stale_if_error_never_extends_freshness() -> None:
    """X-12, 5861 §4: without an error the origin's new response is returned."""
    cache = stored("max-age=10, stale-if-error=60")
    outcome = cache.fetch(at=30, origin=respond(200, {"X-Version": "new"}))
    assert outcome.kind == "forwarded"
    assert outcome.header("x-version") == "new"


@pytest.mark.parametrize(
    ("at", "origin", "served"),
    [
        pytest.param(70, respond(500, {}), True, id="X-13 stale by exactly N"),
        pytest.param(71, respond(500, {}), False, id="X-13 stale by N+1 500"),
        pytest.param(71, fail(), False, id="X-13 stale by N+1 unreachable"),
    ],
)
def test_stale_if_error_window_passed_error_returned(
    at: float, origin: Origin, served: bool
) -> None:
    """X-13, 5861 §4: a response stale by more than N seconds isn't used for errors."""
    cache = stored("max-age=10, stale-if-error=60")
    outcome = cache.fetch(at=at, origin=origin)
    if served:
        assert_stale_served(outcome, int(at))
    else:
        assert outcome.kind in ("forwarded", "error")
        assert outcome.header("x-version") is None
        if outcome.kind == "forwarded":
            assert outcome.status == 500


def test_stale_if_error_request_directive_applies_to_that_request() -> None:
    """X-14, 5861 §4: a request's stale-if-error=N applies to that request only."""
    cache = stored("max-age=10")
    served = cache.fetch(
        at=30, headers={"Cache-Control": "stale-if-error=60"}, origin=respond(502, {})
    )
    assert_stale_served(served, 30)
    plain = cache.fetch(at=31)
    assert plain.kind == "forwarded"
    assert plain.status == 502


def test_stale_if_error_request_directive_window_respected() -> None:
    """X-14, X-13, 5861 §4: a request stale-if-error=60 doesn't cover a response stale by 61."""
    cache = stored("max-age=10")
    outcome = cache.fetch(
        at=71, headers={"Cache-Control": "stale-if-error=60"}, origin=respond(502, {})
    )
    assert outcome.kind == "forwarded"
    assert outcome.status == 502


@pytest.mark.parametrize(
    ("origin", "served", "status"),
    [
        pytest.param(respond(500, {}), True, None, id="X-15 500 is an error"),
        pytest.param(respond(502, {}), True, None, id="X-15 502 is an error"),
        pytest.param(respond(503, {}), True, None, id="X-15 503 is an error"),
        pytest.param(respond(504, {}), True, None, id="X-15 504 is an error"),
        pytest.param(fail(), True, None, id="X-15 connection failure or timeout is an error"),
        pytest.param(respond(404, {}), False, 404, id="X-15 404 is not an error"),
        pytest.param(respond(501, {}), False, 501, id="X-15 501 is not an error"),
        pytest.param(respond(505, {}), False, 505, id="X-15 505 is not an error"),
        pytest.param(respond(429, {}), False, 429, id="X-15 429 is not an error"),
    ],
)
def test_stale_if_error_only_for_500_502_503_504_and_failures(
    origin: Origin, served: bool, status: int | None
) -> None:
    """X-15, 5861 §4: 'error' means 500, 502, 503, 504 or a failure to get a response."""
    cache = stored("max-age=10, stale-if-error=60")
    outcome = cache.fetch(at=20, origin=origin)
    if served:
        assert_stale_served(outcome, 20)
    else:
        assert outcome.kind == "forwarded"
        assert outcome.status == status
        assert outcome.header("x-version") is None
