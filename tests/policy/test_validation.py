"""Validation and conditional requests end to end (RFC 9111 §4.3; checklist V-1..V-14).

V-1..V-3: the validating requests httpcache sends and what it does with a full
answer. V-4..V-12: a user's own conditional GET answered from storage, or left
to the origin. V-14: a user's conditional answered 304 by the origin.
V-13 (adding stored ETags to a user's ``If-None-Match``) is not built.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from httpcache._models import Headers

from .scenario import T0, Origin, OriginRequest, Scenario, h, http_date, respond

LAST_MODIFIED = "Tue, 01 Nov 1994 12:45:26 GMT"  # before t=0 (Sun, 06 Nov 1994)
T_MINUS_1H = http_date(-3600)


def conditional(
    not_modified: Mapping[str, str], full_status: int, full: Mapping[str, str]
) -> Origin:
    """An origin that answers 304 to a conditional request and ``full_status`` otherwise."""

    def origin(request: OriginRequest) -> tuple[int, Headers]:
        if request.header("if-none-match") or request.header("if-modified-since"):
            return 304, h(not_modified)
        return full_status, h(full)

    return origin


def stored_fresh(headers: Mapping[str, str]) -> Scenario:
    """A private cache holding one response with ``headers`` for ``GET /a`` at t=0."""
    cache = Scenario()
    cache.fetch(origin=respond(200, headers))
    assert len(cache.stored()) == 1
    return cache


# --- V-1, V-2: the validating request ------------------------------------------------------------


@pytest.mark.parametrize(
    "etag",
    [
        pytest.param('W/"v1"', id="V-1-weak"),
        pytest.param('"v1"', id="V-1-strong"),
        pytest.param('"a, b"', id="V-1-comma-inside"),
        pytest.param('W/"x\\y"', id="V-1-backslash-kept"),
    ],
)
def test_revalidation_stale_entry_sends_stored_etag_verbatim(etag: str) -> None:
    """V-1, RFC 9111 §4.3.1: If-None-Match carries the stored entity tag exactly."""
    cache = stored_fresh({"Cache-Control": "max-age=10", "ETag": etag})

    outcome = cache.fetch(at=20, origin=respond(304, {"ETag": etag}))

    assert outcome.sent[0].header("if-none-match") == etag
    assert outcome.kind == "revalidated"


@pytest.mark.parametrize(
    ("stored", "inm", "ims"),
    [
        pytest.param(
            {"ETag": '"a"', "Last-Modified": LAST_MODIFIED}, '"a"', LAST_MODIFIED, id="V-2-both"
        ),
        pytest.param({"Last-Modified": LAST_MODIFIED}, None, LAST_MODIFIED, id="V-2-lm-only"),
        pytest.param({"ETag": '"a"'}, '"a"', None, id="V-2-etag-only-no-ims-from-date"),
        pytest.param({}, None, None, id="V-2-no-validator-unconditional"),
    ],
)
def test_revalidation_sends_if_modified_since_from_last_modified_only(
    stored: dict[str, str], inm: str | None, ims: str | None
) -> None:
    """V-2, RFC 9111 §4.3.1; RFC 9110 §13.1.3: If-Modified-Since is the stored
    Last-Modified verbatim, never made up from Date (choices table: no invented
    validators)."""
    cache = stored_fresh({"Cache-Control": "max-age=10", **stored})

    outcome = cache.fetch(at=20, origin=respond(304, {}))

    assert len(outcome.sent) >= 1
    assert outcome.sent[0].header("if-none-match") == inm
    assert outcome.sent[0].header("if-modified-since") == ims


# --- V-3: a full answer to the validation ----------------------------------------------------


def test_revalidation_full_response_returned_and_replaces_entry() -> None:
    """V-3, RFC 9111 §4.3.3: a 200 to the conditional request goes to the user and
    replaces the stored response."""
    cache = stored_fresh({"Cache-Control": "max-age=10", "ETag": '"a"', "X-Version": "old"})

    outcome = cache.fetch(
        at=20,
        origin=respond(200, {"Cache-Control": "max-age=60", "ETag": '"b"', "X-Version": "new"}),
    )
    later = cache.fetch(at=21)

    assert outcome.kind == "forwarded"
    assert outcome.status == 200
    assert outcome.header("x-version") == "new"
    (entry,) = cache.stored()
    assert entry.response.headers == h(
        {
            "Cache-Control": "max-age=60",
            "ETag": '"b"',
            "X-Version": "new",
            "Date": http_date(20),
        }
    )
    assert later.kind == "hit"
    assert later.header("etag") == '"b"'
    assert later.header("x-version") == "new"


# --- V-4..V-11: the user's conditional answered from storage ---------------------------------


def test_user_if_none_match_fresh_match_answered_304_locally() -> None:
    """V-4, RFC 9111 §4.3.2: a matching If-None-Match on a fresh entry gets a 304
    from storage without contacting the origin."""
    cache = stored_fresh({"Cache-Control": "max-age=60", "ETag": '"a"'})

    outcome = cache.fetch(at=10, headers={"If-None-Match": '"a"'})

    assert outcome.kind == "hit"
    assert outcome.status == 304
    assert outcome.sent == []


def test_local_304_carries_required_fields_and_no_body() -> None:
    """V-5, RFC 9110 §15.4.5: the local 304 has Date, ETag, Vary, Content-Location,
    Cache-Control, Expires and Age, and no body."""
    cache = Scenario()
    cache.fetch(
        headers={"Accept": "text/html"},
        origin=respond(
            200,
            {
                "Cache-Control": "max-age=60",
                "ETag": '"a"',
                "Vary": "Accept",
                "Content-Location": "/a.html",
                "Expires": http_date(60),
                "Content-Type": "text/html",
            },
        ),
    )

    outcome = cache.fetch(at=10, headers={"Accept": "text/html", "If-None-Match": '"a"'})

    assert outcome.status == 304
    assert outcome.header("etag") == '"a"'
    assert outcome.header("cache-control") == "max-age=60"
    assert outcome.header("date") == http_date(0)
    assert outcome.header("vary") == "Accept"
    assert outcome.header("content-location") == "/a.html"
    assert outcome.header("expires") == http_date(60)
    assert outcome.header("age") == "10"
    assert outcome.decision.with_body is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("stored_etag", "inm", "status"),
    [
        pytest.param('"1"', 'W/"1"', 304, id="V-6-weak-request-matches-strong"),
        pytest.param('W/"1"', '"1"', 304, id="V-6-strong-request-matches-weak"),
        pytest.param('"1"', "*", 304, id="V-6-star"),
        pytest.param('"1"', '"x", "1"', 304, id="V-6-list-member"),
        pytest.param('"1"', '"2"', 200, id="V-6-no-match-full-from-storage"),
    ],
)
def test_user_if_none_match_weak_comparison(stored_etag: str, inm: str, status: int) -> None:
    """V-6, RFC 9110 §13.1.2, §8.8.3.2: If-None-Match compares weakly; * matches any."""
    cache = stored_fresh({"Cache-Control": "max-age=60", "ETag": stored_etag})

    outcome = cache.fetch(at=10, headers={"If-None-Match": inm})

    assert outcome.kind == "hit"
    assert outcome.status == status


def test_304_strong_etag_does_not_update_weak_stored_etag() -> None:
    """V-7, RFC 9110 §8.8.3.2; RFC 9111 §4.3.4: W/"1" and "1" are no strong match, so a
    304 with "1" updates nothing and a full response is fetched (U-3)."""
    cache = stored_fresh({"Cache-Control": "max-age=10", "ETag": 'W/"1"', "X-Stored": "1"})
    origin = conditional(
        {"ETag": '"1"', "Cache-Control": "max-age=100"},
        200,
        {"ETag": '"1"', "Cache-Control": "no-store", "X-Stored": "full"},
    )

    outcome = cache.fetch(at=20, origin=origin)

    assert len(outcome.sent) == 2
    assert outcome.sent[1].header("if-none-match") is None
    assert outcome.status == 200
    assert outcome.header("x-stored") == "full"
    (entry,) = cache.stored()
    assert entry.response_time == T0
    assert (b"Cache-Control", b"max-age=10") in entry.response.headers


def test_user_if_none_match_present_if_modified_since_ignored() -> None:
    """V-8, RFC 9110 §13.1.3, §13.2.2: with If-None-Match present, If-Modified-Since
    is ignored, so a non-matching tag gets the full stored response."""
    cache = stored_fresh(
        {"Cache-Control": "max-age=60", "ETag": '"a"', "Last-Modified": T_MINUS_1H}
    )

    outcome = cache.fetch(
        at=10, headers={"If-None-Match": '"b"', "If-Modified-Since": http_date(86400)}
    )

    assert outcome.kind == "hit"
    assert outcome.status == 200


@pytest.mark.parametrize(
    "ims",
    [
        pytest.param([("If-Modified-Since", "yesterday")], id="V-9-not-a-date"),
        pytest.param(
            [("If-Modified-Since", http_date(3600)), ("If-Modified-Since", http_date(3600))],
            id="V-9-two-lines",
        ),
        pytest.param(
            [("If-Modified-Since", f"{http_date(3600)}, {http_date(3600)}")],
            id="V-9-two-members",
        ),
        pytest.param([("If-Modified-Since", "")], id="V-9-empty"),
    ],
)
def test_user_if_modified_since_invalid_ignored(ims: list[tuple[str, str]]) -> None:
    """V-9, RFC 9110 §13.1.3: an invalid or multi-member If-Modified-Since is ignored."""
    cache = stored_fresh({"Cache-Control": "max-age=60", "Last-Modified": T_MINUS_1H})

    outcome = cache.fetch(at=10, headers=ims)

    assert outcome.kind == "hit"
    assert outcome.status == 200


@pytest.mark.parametrize(
    ("since", "status"),
    [
        pytest.param(T_MINUS_1H, 304, id="V-10-equal"),
        pytest.param(http_date(-3601), 200, id="V-10-one-second-earlier"),
        pytest.param(http_date(-3599), 304, id="V-10-later"),
    ],
)
def test_user_if_modified_since_compared_with_last_modified(since: str, status: int) -> None:
    """V-10, RFC 9110 §13.1.3: 304 when the stored Last-Modified is not after the date."""
    cache = stored_fresh({"Cache-Control": "max-age=60", "Last-Modified": T_MINUS_1H})

    outcome = cache.fetch(at=10, headers={"If-Modified-Since": since})

    assert outcome.kind == "hit"
    assert outcome.status == status


@pytest.mark.parametrize(
    ("dated", "since", "status"),
    [
        pytest.param(True, http_date(10), 304, id="V-11-date-earlier"),
        pytest.param(True, http_date(-10), 200, id="V-11-date-later"),
        pytest.param(False, http_date(10), 304, id="V-11-receipt-time-earlier"),
        pytest.param(False, http_date(-10), 200, id="V-11-receipt-time-later"),
    ],
)
def test_user_if_modified_since_without_last_modified_uses_date(
    dated: bool, since: str, status: int
) -> None:
    """V-11, RFC 9111 §4.3.2: without Last-Modified, compare with Date (or the receipt
    time when the response had no Date)."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=60"}, dated=dated))

    outcome = cache.fetch(at=20, headers={"If-Modified-Since": since})

    assert outcome.kind == "hit"
    assert outcome.status == status


# --- V-12: origin-only preconditions ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("If-Match", '"zzz"', id="V-12-if-match"),
        pytest.param("If-Unmodified-Since", http_date(-86400), id="V-12-if-unmodified-since"),
        pytest.param("If-Range", '"zzz"', id="V-12-if-range"),
    ],
)
def test_user_origin_only_precondition_forwarded_unchanged(name: str, value: str) -> None:
    """V-12, RFC 9111 §4.3.2; RFC 9110 §13.1.1, §13.1.4: the cache evaluates no
    If-Match/If-Unmodified-Since itself (no local 412): it forwards them."""
    cache = stored_fresh({"Cache-Control": "max-age=60", "ETag": '"a"'})

    outcome = cache.fetch(at=10, headers={name: value}, origin=respond(412, {}))

    assert outcome.kind == "forwarded"
    assert outcome.status == 412
    assert outcome.sent[0].header(name) == value
    assert outcome.sent[0].header("if-none-match") is None


# --- V-14: the origin's 304 to the user's own conditional ------------------------------------


def test_user_conditional_origin_304_passed_on_nothing_stored() -> None:
    """V-14, RFC 9110 §15.4.5: a 304 answering the user's own conditional goes back
    to the user as a 304 and is not stored."""
    cache = Scenario()

    outcome = cache.fetch(headers={"If-None-Match": '"u"'}, origin=respond(304, {"ETag": '"u"'}))

    assert outcome.kind == "forwarded"
    assert outcome.status == 304
    assert outcome.sent[0].header("if-none-match") == '"u"'
    assert cache.stored() == []


def test_user_conditional_stale_entry_origin_304_passed_on_as_304() -> None:
    """V-14, RFC 9110 §15.4.5; RFC 9111 §4.3.4: with a stale entry the user's own
    conditional still gets the 304, and the entry it matches is freshened."""
    cache = stored_fresh({"Cache-Control": "max-age=10", "ETag": '"a"'})

    outcome = cache.fetch(
        at=20,
        headers={"If-None-Match": '"a"'},
        origin=respond(304, {"ETag": '"a"', "Cache-Control": "max-age=100"}),
    )
    later = cache.fetch(at=30)

    assert outcome.status == 304
    assert outcome.sent[0].header("if-none-match") == '"a"'
    assert later.kind == "hit"
    assert later.header("age") == "10"
