"""Reuse conditions and Vary: checklist section 6 (R rows), RFC 9111 §4, §4.1, RFC 9110 §4.2.3."""

from __future__ import annotations

import pytest

from httpcache._policy._engine import Serve
from tests.policy.scenario import HeaderInput, Outcome, Scenario, http_date, respond

FRESH = {"Cache-Control": "max-age=600"}


def assert_went_to_origin(outcome: Outcome) -> None:
    """The request was not answered from storage: exactly one request reached the origin."""
    assert outcome.kind in ("forwarded", "revalidated")
    assert len(outcome.sent) == 1


# --- R-1 .. R-4: the target URI --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "hit"),
    [
        pytest.param("/a?x=1", True, id="R-1 same query"),
        pytest.param("/a?x=2", False, id="R-1 other query value"),
        pytest.param("/a", False, id="R-1 no query"),
        pytest.param("/b?x=1", False, id="R-1 other path"),
    ],
)
def test_reuse_different_target_uri_forwarded(path: str, hit: bool) -> None:
    """R-1, 9111 §4, §2: reuse needs the same target URI, query included."""
    cache = Scenario()
    cache.fetch("/a?x=1", origin=respond(200, FRESH))
    outcome = cache.fetch(path, at=1)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


@pytest.mark.parametrize(
    ("stored_path", "path"),
    [
        pytest.param("/a", "/a#top", id="R-2 fragment on request"),
        pytest.param("/a#top", "/a", id="R-2 fragment on stored request"),
        pytest.param("/a#one", "/a#two", id="R-2 different fragments"),
    ],
)
def test_reuse_fragment_ignored_hit(stored_path: str, path: str) -> None:
    """R-2, 9110 §7.1: the fragment is not part of the target URI."""
    cache = Scenario()
    cache.fetch(stored_path, origin=respond(200, FRESH))
    assert cache.fetch(path, at=1).kind == "hit"


@pytest.mark.parametrize(
    ("stored_url", "url"),
    [
        pytest.param(
            "http://EXAMPLE.com:80/%7Ea", "http://example.com/~a", id="R-3 case, port, escape"
        ),
        pytest.param("HTTP://example.com/a", "http://example.com/a", id="R-3 scheme case"),
        pytest.param("http://example.com", "http://example.com/", id="R-3 empty path is /"),
        pytest.param(
            "https://example.com:443/a", "https://example.com/a", id="R-3 default https port"
        ),
    ],
)
def test_reuse_normalised_uri_hit(stored_url: str, url: str) -> None:
    """R-3, 9110 §4.2.3: equivalent URIs (after normalisation) share an entry."""
    cache = Scenario()
    cache.fetch(url=stored_url, origin=respond(200, FRESH))
    assert cache.fetch(url=url, at=1).kind == "hit"


@pytest.mark.parametrize(
    ("path", "hit"),
    [
        pytest.param("/A?x=1&y=2", True, id="R-4 identical"),
        pytest.param("/a?x=1&y=2", False, id="R-4 path case differs"),
        pytest.param("/A?y=2&x=1", False, id="R-4 query order differs"),
        pytest.param("/A?X=1&y=2", False, id="R-4 query case differs"),
    ],
)
def test_reuse_path_and_query_case_sensitive(path: str, hit: bool) -> None:
    """R-4, 9110 §4.2.3: path and query compare case-sensitively and in order."""
    cache = Scenario()
    cache.fetch("/A?x=1&y=2", origin=respond(200, FRESH))
    outcome = cache.fetch(path, at=1)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


@pytest.mark.parametrize(
    "other_port",
    [
        pytest.param("http://example.com:8080/a", id="R-1 non-default port"),
        pytest.param("https://example.com/a", id="R-1 other scheme"),
        pytest.param("http://other.example/a", id="R-1 other host"),
    ],
)
def test_reuse_other_origin_forwarded(other_port: str) -> None:
    """R-1, 9111 §2: scheme, host and (non-default) port are part of the target URI."""
    cache = Scenario()
    cache.fetch(url="http://example.com/a", origin=respond(200, FRESH))
    assert_went_to_origin(cache.fetch(url=other_port, at=1))


# --- methods ----------------------------------------------------------------------


def test_reuse_stored_get_answers_head_without_body() -> None:
    """R-5, 9111 §4, 9110 §9.3.2: a stored GET answers HEAD with its headers and no body."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {**FRESH, "Content-Length": "5"}))
    outcome = cache.fetch(method="HEAD", at=1)
    assert outcome.kind == "hit"
    assert outcome.status == 200
    assert outcome.header("content-length") == "5"
    assert isinstance(outcome.decision, Serve)
    assert outcome.decision.with_body is False


def test_reuse_stored_head_answers_head_only() -> None:
    """R-5, 9111 §4: a stored HEAD response may answer HEAD, never GET."""
    cache = Scenario()
    cache.fetch(method="HEAD", origin=respond(200, {**FRESH, "Content-Length": "5"}))
    head = cache.fetch(method="HEAD", at=1)
    assert head.kind == "hit"
    get = cache.fetch(at=2, origin=respond(200, {**FRESH, "X-From": "get"}))
    assert_went_to_origin(get)
    assert get.header("x-from") == "get"


@pytest.mark.parametrize(
    "method",
    [pytest.param(m, id=f"R-6 {m}") for m in ("POST", "PUT", "DELETE", "PATCH", "FOO")],
)
def test_reuse_unsafe_method_forwarded(method: str) -> None:
    """R-6, 9111 §4: unsafe requests always go to the origin, whose response is returned."""
    cache = Scenario(cacheable_methods={"GET", "HEAD", "POST"})
    cache.fetch(origin=respond(200, FRESH))
    outcome = cache.fetch(method=method, at=1, origin=respond(201, {"X-From": "origin"}))
    assert outcome.kind == "forwarded"
    assert outcome.sent[0].method == method
    assert outcome.status == 201
    assert outcome.header("x-from") == "origin"


# --- choosing among stored responses ---------------------------------------------


@pytest.mark.parametrize(
    ("first_date", "second_date", "chosen"),
    [
        pytest.param(0, 1, "second", id="R-7 later-stored has most recent Date"),
        pytest.param(0, -100, "first", id="R-7 earlier-stored has most recent Date"),
    ],
)
def test_reuse_several_matches_most_recent_date_wins(
    first_date: float, second_date: float, chosen: str
) -> None:
    """R-7, 9111 §4: when several stored responses qualify, use the most recent Date."""
    cache = Scenario()
    # Stored for Accept-Language: en under Vary: Accept-Language.
    cache.fetch(
        headers={"Accept-Language": "en"},
        origin=respond(
            200,
            {**FRESH, "Vary": "Accept-Language", "X-Id": "first", "Date": http_date(first_date)},
        ),
    )
    # A 'de' request misses it; its answer varies on another header, which 'en' requests lack too.
    cache.fetch(
        at=1,
        headers={"Accept-Language": "de"},
        origin=respond(
            200, {**FRESH, "Vary": "X-Other", "X-Id": "second", "Date": http_date(second_date)}
        ),
    )
    assert len(cache.stored()) == 2
    outcome = cache.fetch(at=2, headers={"Accept-Language": "en"})
    assert outcome.kind == "hit"
    assert outcome.header("x-id") == chosen


def test_reuse_prefer_response_with_vary() -> None:
    """R-12, 9111 §4.1: prefer the most recent response with a valid Vary over one without."""
    cache = Scenario()
    cache.fetch(
        headers={"Accept-Language": "en"},
        origin=respond(200, {**FRESH, "Vary": "Accept-Language", "X-Id": "B"}),
    )
    # A newer response without Vary, stored by a request B doesn't match.
    cache.fetch(
        at=10, headers={"Accept-Language": "de"}, origin=respond(200, {**FRESH, "X-Id": "A"})
    )
    assert len(cache.stored()) == 2
    outcome = cache.fetch(at=20, headers={"Accept-Language": "en"})
    assert outcome.kind == "hit"
    assert outcome.header("x-id") == "B"


# --- R-8 .. R-11: Vary -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "hit"),
    [
        pytest.param("en", True, id="R-8 same value"),
        pytest.param("de", False, id="R-8 different value"),
        pytest.param("EN", False, id="R-8 no case folding (choices)"),
    ],
)
def test_reuse_vary_mismatch_forwarded(language: str, hit: bool) -> None:
    """R-8, 9111 §4.1: every Vary-nominated request header must match to reuse."""
    cache = Scenario()
    cache.fetch(
        headers={"Accept-Language": "en", "Accept": "text/html"},
        origin=respond(200, {**FRESH, "Vary": "Accept, Accept-Language"}),
    )
    outcome = cache.fetch(at=1, headers={"Accept-Language": language, "Accept": "text/html"})
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


@pytest.mark.parametrize(
    ("headers", "hit"),
    [
        pytest.param({"Accept-Encoding": "gzip, br"}, True, id="R-9 space after comma"),
        pytest.param(
            [("Accept-Encoding", "gzip"), ("Accept-Encoding", "br")], True, id="R-9 two lines"
        ),
        pytest.param({"Accept-Encoding": " gzip ,\tbr "}, True, id="R-9 surrounding whitespace"),
        pytest.param({"Accept-Encoding": "br, gzip"}, False, id="R-9 no reordering (choices)"),
    ],
)
def test_reuse_vary_values_normalised(headers: HeaderInput, hit: bool) -> None:
    """R-9, 9111 §4.1: whitespace and repeated lines are normalised before comparison."""
    cache = Scenario()
    cache.fetch(
        headers={"Accept-Encoding": "gzip,br"},
        origin=respond(200, {**FRESH, "Vary": "Accept-Encoding"}),
    )
    outcome = cache.fetch(at=1, headers=headers)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


@pytest.mark.parametrize(
    ("stored_headers", "headers"),
    [
        pytest.param(None, {"Accept-Language": "en"}, id="R-10 absent then present"),
        pytest.param({"Accept-Language": "en"}, None, id="R-10 present then absent"),
    ],
)
def test_reuse_vary_header_absent_on_one_side_forwarded(
    stored_headers: dict[str, str] | None, headers: dict[str, str] | None
) -> None:
    """R-10, 9111 §4.1: an absent nominated header matches only an absent one."""
    cache = Scenario()
    cache.fetch(headers=stored_headers, origin=respond(200, {**FRESH, "Vary": "Accept-Language"}))
    assert_went_to_origin(cache.fetch(at=1, headers=headers))


def test_reuse_vary_header_absent_on_both_sides_hit() -> None:
    """R-10, 9111 §4.1: a nominated header absent from both requests matches."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {**FRESH, "Vary": "Accept-Language"}))
    assert cache.fetch(at=1).kind == "hit"


@pytest.mark.parametrize(
    "vary",
    [
        pytest.param(["*"], id="R-11 Vary: *"),
        pytest.param(["Accept, *"], id="R-11 * among names"),
        pytest.param(["Accept", "*"], id="R-11 * on its own line"),
    ],
)
def test_reuse_vary_star_never_matches(vary: list[str]) -> None:
    """R-11, 9111 §4.1, 9110 §12.5.5: Vary: * never matches; always go to the origin."""
    cache = Scenario()
    headers = [("Cache-Control", "max-age=60"), ("ETag", '"a"')] + [("Vary", v) for v in vary]
    cache.fetch(headers={"Accept": "text/html"}, origin=respond(200, headers))
    outcome = cache.fetch(at=1, headers={"Accept": "text/html"})
    assert_went_to_origin(outcome)
    assert outcome.status == 200
