"""Freshness lifetime: checklist section 2 (F rows), RFC 9111 §4.2, §4.2.1, §5.3."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from httpcache._policy._dates import parse_http_date
from tests.policy.scenario import T0, Outcome, Scenario, http_date, respond


def assert_went_to_origin(outcome: Outcome) -> None:
    """The request was not answered from storage: exactly one request reached the origin."""
    assert outcome.kind in ("forwarded", "revalidated")
    assert len(outcome.sent) == 1


def stored_then_fetch(
    headers: dict[str, str], at: float, *, shared: bool = False, dated: bool = True
) -> Outcome:
    """Store a 200 with ``headers`` at t=0, then GET at ``at``."""
    cache = Scenario(shared=shared)
    cache.fetch(origin=respond(200, headers, dated=dated))
    return cache.fetch(at=at)


# --- F-1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "hit"),
    [
        pytest.param(9, True, id="F-1 t=9 fresh"),
        pytest.param(9.9, True, id="F-1 t=9.9 fresh"),
        pytest.param(10, False, id="F-1 t=10 lifetime equals age is stale"),
        pytest.param(11, False, id="F-1 t=11 stale"),
    ],
)
def test_freshness_lifetime_greater_than_age_fresh(at: float, hit: bool) -> None:
    """F-1, 9111 §4.2: fresh only while freshness_lifetime > current_age (strictly)."""
    outcome = stored_then_fetch({"Cache-Control": "max-age=10"}, at)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


# --- F-2 / F-3 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "expires", "at", "hit"),
    [
        pytest.param("max-age=3600, s-maxage=10", None, 5, True, id="F-2 s-maxage fresh"),
        pytest.param("max-age=3600, s-maxage=10", None, 20, False, id="F-2 shorter s-maxage wins"),
        pytest.param("max-age=10, s-maxage=3600", None, 20, True, id="F-2 longer s-maxage wins"),
        pytest.param("s-maxage=3600", http_date(10), 20, True, id="F-2 s-maxage over Expires"),
        pytest.param("s-maxage=10", http_date(3600), 20, False, id="F-2 s-maxage under Expires"),
    ],
)
def test_freshness_shared_s_maxage_is_lifetime(
    cache_control: str, expires: str | None, at: float, hit: bool
) -> None:
    """F-2, 9111 §4.2.1, §5.2.2.10: in a shared cache s-maxage overrides max-age and Expires."""
    headers = {"Cache-Control": cache_control}
    if expires is not None:
        headers["Expires"] = expires
    outcome = stored_then_fetch(headers, at, shared=True)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


@pytest.mark.parametrize(
    ("cache_control", "at", "hit"),
    [
        pytest.param("s-maxage=0, max-age=3600", 20, True, id="F-3 s-maxage=0 ignored"),
        pytest.param("max-age=10, s-maxage=3600", 20, False, id="F-3 long s-maxage ignored"),
    ],
)
def test_freshness_private_s_maxage_ignored(cache_control: str, at: float, hit: bool) -> None:
    """F-3, 9111 §4.2.1: a private cache leaves s-maxage out of the lifetime."""
    outcome = stored_then_fetch({"Cache-Control": cache_control}, at)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


# --- F-4 / F-5 / F-6 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "hit"),
    [pytest.param(59, True, id="F-4 t=59 hit"), pytest.param(60, False, id="F-4 t=60 stale")],
)
def test_freshness_max_age_is_lifetime(at: float, hit: bool) -> None:
    """F-4, 9111 §4.2.1, §5.2.2.1: without s-maxage, max-age is the lifetime."""
    outcome = stored_then_fetch({"Cache-Control": "max-age=60"}, at)
    assert outcome.hit is hit


def test_freshness_max_age_zero_stale_from_start() -> None:
    """F-4, 9111 §5.2.2.1: max-age=0 means stale at once, so even t=0 is revalidated."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=0", "ETag": '"a"'}))
    outcome = cache.fetch(at=0, origin=respond(304, {"ETag": '"a"'}))
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


@pytest.mark.parametrize(
    ("headers", "at", "hit"),
    [
        pytest.param(
            [("Cache-Control", "max-age=3600"), ("Expires", "0")],
            10,
            True,
            id="F-5 invalid Expires",
        ),
        pytest.param(
            [("Cache-Control", "max-age=3600"), ("Expires", http_date(-3600))],
            10,
            True,
            id="F-5 earlier Expires",
        ),
        pytest.param(
            [("Expires", http_date(-3600)), ("Cache-Control", "max-age=3600")],
            10,
            True,
            id="F-5 Expires before Cache-Control line",
        ),
        pytest.param(
            [("Cache-Control", "max-age=0"), ("Expires", http_date(3600))],
            1,
            False,
            id="F-5 later Expires with max-age=0",
        ),
        pytest.param(
            [("Cache-Control", "max-age=10"), ("Expires", http_date(3600))],
            20,
            False,
            id="F-5 later Expires with max-age=10",
        ),
    ],
)
def test_freshness_max_age_present_expires_ignored(
    headers: list[tuple[str, str]], at: float, hit: bool
) -> None:
    """F-5, 9111 §5.3: with max-age present, Expires is ignored, earlier or later."""
    cache = Scenario()
    cache.fetch(origin=respond(200, headers))
    outcome = cache.fetch(at=at)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


@pytest.mark.parametrize(
    ("shared", "expires", "at", "hit"),
    [
        pytest.param(True, http_date(-3600), 10, True, id="F-6 shared ignores past Expires"),
        pytest.param(False, http_date(-3600), 10, False, id="F-6 private obeys past Expires"),
        pytest.param(False, http_date(3600), 600, True, id="F-6 private obeys later Expires"),
        pytest.param(True, http_date(3600), 600, False, id="F-6 shared ignores later Expires"),
    ],
)
def test_freshness_s_maxage_expires_by_mode(
    shared: bool, expires: str, at: float, hit: bool
) -> None:
    """F-6, 9111 §5.3: a shared cache ignores Expires under s-maxage; a private cache doesn't."""
    headers = {"Cache-Control": "s-maxage=60", "Expires": expires}
    outcome = stored_then_fetch(headers, at, shared=shared)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


# --- F-7 / F-8 / F-9 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "at", "hit"),
    [
        # Origin Date is 50 s behind our clock: lifetime 100, apparent age 50 (A-5's max form).
        pytest.param(-50, 49, True, id="F-7 origin behind, t=49 fresh"),
        pytest.param(-50, 50, False, id="F-7 origin behind, t=50 stale"),
        # Origin Date 1000 s ahead of our clock: apparent age 0, lifetime still 100.
        pytest.param(1000, 99, True, id="F-7 origin ahead, t=99 fresh"),
        pytest.param(1000, 100, False, id="F-7 origin ahead, t=100 stale"),
    ],
)
def test_freshness_expires_minus_date_is_lifetime(date: float, at: float, hit: bool) -> None:
    """F-7, 9111 §4.2.1: lifetime = Expires - Date, both origin clock, so skew cancels out."""
    headers = {"Date": http_date(date), "Expires": http_date(date + 100)}
    outcome = stored_then_fetch(headers, at)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


@pytest.mark.parametrize(
    ("at", "hit"),
    [pytest.param(99, True, id="F-8 t=99 fresh"), pytest.param(100, False, id="F-8 t=100 stale")],
)
def test_freshness_missing_date_uses_receipt_time(at: float, hit: bool) -> None:
    """F-8, 9111 §4.2.1: without Date the receipt time stands in for it."""
    outcome = stored_then_fetch({"Expires": http_date(100)}, at, dated=False)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


@pytest.mark.parametrize(
    "expires",
    [
        pytest.param(http_date(0), id="F-9 Expires equals Date"),
        pytest.param(http_date(-60), id="F-9 Expires before Date"),
    ],
)
def test_freshness_expires_not_after_date_stale_on_arrival(expires: str) -> None:
    """F-9, 9111 §4.2.1: Expires at or before Date gives lifetime <= 0: stale on arrival."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Date": http_date(0), "Expires": expires, "ETag": '"a"'}))
    outcome = cache.fetch(at=0, origin=respond(304, {"ETag": '"a"'}))
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


# --- F-10 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cache_control",
    [
        pytest.param(["max-age=3600, no-cache"], id="F-10 no-cache last"),
        pytest.param(["no-cache, max-age=3600"], id="F-10 no-cache first"),
        pytest.param(["public, max-age=3600", "no-cache"], id="F-10 no-cache on own line"),
    ],
)
def test_freshness_no_cache_beats_max_age_revalidated(cache_control: list[str]) -> None:
    """F-10, 9111 §4.2.1: conflicting directives, the most restrictive wins (no-cache)."""
    headers = [("Cache-Control", line) for line in cache_control] + [("ETag", '"a"')]
    cache = Scenario()
    cache.fetch(origin=respond(200, headers))
    outcome = cache.fetch(at=10, origin=respond(304, {"ETag": '"a"'}))
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


def test_freshness_no_store_beats_everything() -> None:
    """F-10, 9111 §4.2.1: no-store beats public and max-age."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "public, max-age=3600, no-store"}))
    assert cache.stored() == []
    assert_went_to_origin(cache.fetch(at=10))


# --- F-11 / F-12 -----------------------------------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param("IST-5:30", id="F-11 Asia/Kolkata (UTC+5:30)"),
        pytest.param("PST+8PDT,M3.2.0,M11.1.0", id="F-11 America/Los_Angeles (UTC-8)"),
    ]
)
def local_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test with the process's local time zone set to a non-UTC zone (POSIX TZ)."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    assert time.timezone != 0  # the zone really took effect
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_freshness_local_time_zone_ignored(local_zone: str) -> None:
    """F-11, 9111 §4.2: the local time zone never affects expiry (UTC epoch arithmetic)."""
    assert parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT") == 784111777
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Expires": http_date(100)}))
    assert cache.fetch(at=99).kind == "hit"
    assert cache.fetch(at=100).contacted_origin


def test_freshness_expires_parsed_not_rounded_up() -> None:
    """F-12, 9111 §4.2: a parsed Expires is never rounded up (exact with float seconds)."""
    assert parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT") == 784111777.0 == T0
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Expires": http_date(10)}))
    assert cache.fetch(at=9.999).kind == "hit"
    assert cache.fetch(at=10).contacted_origin
