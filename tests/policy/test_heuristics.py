"""Heuristic freshness: checklist section 3 (H rows), RFC 9111 §4.2.2, RFC 9110 §8.8.2.1.

httpcache's choice (checklist choices table): 10% of ``Date - Last-Modified``,
capped at 24 h, configurable; no heuristic without ``Last-Modified``.
"""

from __future__ import annotations

import pytest

from tests.policy.scenario import Outcome, Scenario, http_date, respond

DAY = 86400
LAST_MODIFIED_10D = http_date(-10 * DAY)


def assert_went_to_origin(outcome: Outcome) -> None:
    """The request was not answered from storage: exactly one request reached the origin."""
    assert outcome.kind in ("forwarded", "revalidated")
    assert len(outcome.sent) == 1


def test_heuristic_last_modified_without_expiry_hit() -> None:
    """H-1, 9111 §4.2.2: a response without explicit expiry gets a Last-Modified heuristic."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Date": http_date(0), "Last-Modified": LAST_MODIFIED_10D}))
    outcome = cache.fetch(at=3600)
    assert outcome.kind == "hit"
    assert outcome.header("age") == "3600"


@pytest.mark.parametrize(
    ("shared", "headers"),
    [
        pytest.param(False, {"Expires": "soon"}, id="H-2 invalid Expires"),
        pytest.param(False, {"Expires": http_date(-1)}, id="H-2 past Expires"),
        pytest.param(False, {"Expires": http_date(5)}, id="H-2 short Expires"),
        pytest.param(False, {"Cache-Control": "max-age=5"}, id="H-2 short max-age"),
        pytest.param(False, {"Cache-Control": "max-age=0"}, id="H-2 max-age=0"),
        pytest.param(True, {"Cache-Control": "s-maxage=5"}, id="H-2 shared s-maxage"),
    ],
)
def test_heuristic_explicit_expiry_present_not_used(shared: bool, headers: dict[str, str]) -> None:
    """H-2, 9111 §4.2.2, §5.3: no heuristic when any explicit expiration is present.

    Without that rule the 10-day-old Last-Modified would make the response fresh for 24 h.
    """
    cache = Scenario(shared=shared)
    cache.fetch(origin=respond(200, {**headers, "Last-Modified": LAST_MODIFIED_10D}))
    outcome = cache.fetch(at=10, origin=respond(304, {"Last-Modified": LAST_MODIFIED_10D}))
    assert_went_to_origin(outcome)
    assert outcome.sent[0].header("if-modified-since") == LAST_MODIFIED_10D


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        pytest.param({}, "forwarded", id="H-3 302 not heuristically cacheable"),
        pytest.param({"Cache-Control": "public"}, "hit", id="H-3 302 marked public"),
    ],
)
def test_heuristic_status_not_cacheable_needs_public(headers: dict[str, str], kind: str) -> None:
    """H-3, 9111 §4.2.2, §5.2.2.9: heuristics only for cacheable statuses or public responses."""
    cache = Scenario()
    cache.fetch(
        origin=respond(302, {**headers, "Last-Modified": LAST_MODIFIED_10D, "Location": "/b"})
    )
    outcome = cache.fetch(at=1)
    assert outcome.kind == kind
    assert outcome.contacted_origin is (kind == "forwarded")


@pytest.mark.parametrize(
    ("shared", "kind"),
    [
        pytest.param(False, "hit", id="H-4 private cache"),
        pytest.param(True, "forwarded", id="H-4 shared cache"),
    ],
)
def test_heuristic_private_marks_cacheable_in_private_cache(shared: bool, kind: str) -> None:
    """H-4, 9111 §5.2.2.7, §4.2.2: in a private cache ``private`` allows heuristics on a 302."""
    cache = Scenario(shared=shared)
    cache.fetch(
        origin=respond(
            302,
            {"Cache-Control": "private", "Last-Modified": LAST_MODIFIED_10D, "Location": "/b"},
        )
    )
    outcome = cache.fetch(at=1)
    assert outcome.kind == kind
    assert outcome.contacted_origin is (kind == "forwarded")


@pytest.mark.parametrize(
    ("options", "last_modified", "at", "hit"),
    [
        pytest.param({}, -1000, 99, True, id="H-5 10% of 1000 s, t=99 fresh"),
        pytest.param({}, -1000, 100, False, id="H-5 10% of 1000 s, t=100 stale"),
        pytest.param({}, -1000 * DAY, DAY - 1, True, id="H-5 capped at 24 h, t=24h-1 fresh"),
        pytest.param({}, -1000 * DAY, DAY, False, id="H-5 capped at 24 h, t=24h stale"),
        pytest.param(
            {"heuristic_fraction": 0.5}, -1000, 499, True, id="H-5 fraction option, fresh"
        ),
        pytest.param(
            {"heuristic_fraction": 0.5}, -1000, 500, False, id="H-5 fraction option, stale"
        ),
        pytest.param(
            {"heuristic_max_age": 60}, -10 * DAY, 60, False, id="H-5 cap option, stale at cap"
        ),
        pytest.param(
            {"allow_heuristics": False}, -10 * DAY, 1, False, id="H-5 heuristics turned off"
        ),
    ],
)
def test_heuristic_lifetime_fraction_of_last_modified_age(
    options: dict[str, object], last_modified: float, at: float, hit: bool
) -> None:
    """H-5, 9111 §4.2.2: the heuristic is a fraction (10%) of Date - Last-Modified, capped."""
    cache = Scenario(**options)
    cache.fetch(
        origin=respond(200, {"Date": http_date(0), "Last-Modified": http_date(last_modified)})
    )
    outcome = cache.fetch(at=at)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="H-6 no Last-Modified"),
        pytest.param({"Last-Modified": "last tuesday"}, id="H-6 unparseable Last-Modified"),
    ],
)
def test_heuristic_no_last_modified_lifetime_zero(headers: dict[str, str]) -> None:
    """H-6, 9111 §4.2.2: without a usable Last-Modified the heuristic lifetime is 0."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {**headers, "ETag": '"a"'}))
    outcome = cache.fetch(at=1, origin=respond(304, {"ETag": '"a"'}))
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'
    assert outcome.sent[0].header("if-modified-since") is None


def test_heuristic_last_modified_after_date_lifetime_zero() -> None:
    """H-7, 9110 §8.8.2.1, 9111 §4.2.2: Last-Modified later than Date gives lifetime 0."""
    cache = Scenario()
    cache.fetch(
        origin=respond(200, {"Date": http_date(0), "Last-Modified": http_date(3600), "ETag": '"a"'})
    )
    outcome = cache.fetch(at=1, origin=respond(304, {"ETag": '"a"'}))
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


def test_heuristic_query_string_url_hit() -> None:
    """H-8, 9111 §4.2.2 (note): URLs with a query get heuristics like any other."""
    cache = Scenario()
    cache.fetch("/a?x=1", origin=respond(200, {"Last-Modified": LAST_MODIFIED_10D}))
    outcome = cache.fetch("/a?x=1", at=60)
    assert outcome.kind == "hit"
    assert outcome.header("age") == "60"
