"""Request directives: checklist section 7 (Q rows), RFC 9111 §5.2, §5.2.1, §5.4.

Request directives are advisory (§5.2.1); httpcache honours all of them, so these
tests pin that choice.
"""

from __future__ import annotations

import pytest

from tests.policy.scenario import Outcome, Scenario, respond


def stored(cache_control: str, *, etag: bool = True, **options: object) -> Scenario:
    """A cache holding one 200 (``X-Version: old``) stored at t=0."""
    headers = {"Cache-Control": cache_control, "X-Version": "old"}
    if etag:
        headers["ETag"] = '"a"'
    cache = Scenario(**options)
    cache.fetch(origin=respond(200, headers))
    assert len(cache.stored()) == 1
    return cache


def cc(value: str) -> dict[str, str]:
    return {"Cache-Control": value}


def assert_went_to_origin(outcome: Outcome) -> None:
    """The request was not answered from storage: exactly one request reached the origin."""
    assert outcome.kind in ("forwarded", "revalidated")
    assert len(outcome.sent) == 1


NOT_MODIFIED = respond(304, {"ETag": '"a"'})


# --- Q-1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "hit"),
    [
        pytest.param(50, True, id="Q-1 age 50 within max-age=60"),
        pytest.param(60, True, id="Q-1 age equal to max-age=60"),
        pytest.param(100, False, id="Q-1 age 100 over max-age=60"),
    ],
)
def test_request_max_age_older_response_validated(at: float, hit: bool) -> None:
    """Q-1, 9111 §5.2.1.1: don't serve a stored response older than the request's max-age."""
    cache = stored("max-age=600")
    outcome = cache.fetch(at=at, headers=cc("max-age=60"), origin=NOT_MODIFIED)
    if hit:
        assert outcome.kind == "hit"
    else:
        assert outcome.kind == "revalidated"
        assert outcome.sent[0].header("if-none-match") == '"a"'


def test_request_max_age_zero_forces_validation() -> None:
    """Q-1, 9111 §5.2.1.1: max-age=0 forces a validation; a 304 gives a 200 from storage."""
    cache = stored("max-age=600")
    outcome = cache.fetch(at=5, headers=cc("max-age=0"), origin=NOT_MODIFIED)
    assert outcome.kind == "revalidated"
    assert outcome.status == 200
    assert outcome.header("x-version") == "old"
    assert outcome.sent[0].header("if-none-match") == '"a"'


def test_request_max_age_without_max_stale_rules_out_stale() -> None:
    """Q-1, 9111 §5.2.1.1: a generous request max-age doesn't make a stale response usable."""
    cache = stored("max-age=10", etag=False)
    assert_went_to_origin(cache.fetch(at=20, headers=cc("max-age=60")))


def test_request_max_age_with_max_stale_allows_stale() -> None:
    """Q-1, Q-2, 9111 §5.2.1.1, §5.2.1.2: with max-stale, request max-age bounds age only."""
    cache = stored("max-age=10", etag=False)
    outcome = cache.fetch(at=20, headers=cc("max-age=60, max-stale=100"))
    assert outcome.kind == "hit"
    assert outcome.header("age") == "20"
    assert_went_to_origin(cache.fetch(at=70, headers=cc("max-age=60, max-stale=100")))


# --- Q-2 / Q-3 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("directive", "at", "hit"),
    [
        pytest.param("max-stale=20", 25, True, id="Q-2 stale by 15 within 20"),
        pytest.param("max-stale=20", 30, True, id="Q-2 stale by exactly 20"),
        pytest.param("max-stale=20", 31, False, id="Q-2 stale by 21"),
        pytest.param("max-stale", 100000, True, id="Q-2 bare max-stale accepts any staleness"),
    ],
)
def test_request_max_stale_accepts_bounded_staleness(directive: str, at: float, hit: bool) -> None:
    """Q-2, 9111 §5.2.1.2: max-stale=N accepts staleness up to N; bare max-stale any."""
    cache = stored("max-age=10", etag=False)
    outcome = cache.fetch(at=at, headers=cc(directive))
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit
    if hit:
        assert outcome.header("age") == str(at)
        assert outcome.header("x-version") == "old"


@pytest.mark.parametrize(
    ("shared", "cache_control"),
    [
        pytest.param(False, "max-age=10, must-revalidate", id="Q-3 must-revalidate"),
        pytest.param(False, "max-age=10, no-cache", id="Q-3 no-cache"),
        pytest.param(True, "max-age=10, proxy-revalidate", id="Q-3 shared proxy-revalidate"),
        pytest.param(True, "max-age=10, s-maxage=10", id="Q-3 shared s-maxage"),
    ],
)
def test_request_max_stale_never_overrides_revalidation_directives(
    shared: bool, cache_control: str
) -> None:
    """Q-3, 9111 §4.2.4, §5.2.1.2: max-stale never beats must-revalidate/no-cache (etc.)."""
    cache = stored(cache_control, shared=shared)
    outcome = cache.fetch(at=15, headers=cc("max-stale=100"), origin=NOT_MODIFIED)
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


# --- Q-4 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("min_fresh", "hit"),
    [
        pytest.param(60, False, id="Q-4 not fresh for 60 more seconds"),
        pytest.param(40, True, id="Q-4 fresh for 40 more seconds"),
        pytest.param(50, True, id="Q-4 lifetime equals age + min-fresh"),
    ],
)
def test_request_min_fresh_requires_remaining_freshness(min_fresh: int, hit: bool) -> None:
    """Q-4, 9111 §5.2.1.3: serve only when lifetime >= current_age + min-fresh."""
    cache = stored("max-age=100", etag=False)
    outcome = cache.fetch(at=50, headers=cc(f"min-fresh={min_fresh}"))
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


# --- Q-5 / Q-6 -------------------------------------------------------------------------------


def test_request_no_cache_fresh_entry_validated() -> None:
    """Q-5, 9111 §5.2.1.4: no-cache sends even a fresh response to the origin (conditionally)."""
    cache = stored("max-age=600")
    outcome = cache.fetch(at=1, headers=cc("no-cache"), origin=NOT_MODIFIED)
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'
    assert outcome.status == 200
    assert outcome.header("x-version") == "old"


def test_request_no_cache_without_validator_forwarded() -> None:
    """Q-5, 9111 §5.2.1.4: with nothing to validate, no-cache forwards the request."""
    cache = stored("max-age=600", etag=False)
    outcome = cache.fetch(at=1, headers=cc("no-cache"), origin=respond(200, {"X-Version": "new"}))
    assert outcome.kind == "forwarded"
    assert outcome.header("x-version") == "new"


@pytest.mark.parametrize(
    ("headers", "hit"),
    [
        pytest.param({"Pragma": "no-cache"}, False, id="Q-6 Pragma alone is no-cache"),
        pytest.param(
            {"Pragma": "no-cache", "Cache-Control": "max-age=30"}, True, id="Q-6 ignored with CC"
        ),
        pytest.param(
            {"Pragma": "no-cache", "Cache-Control": "x-unknown"},
            True,
            id="Q-6 ignored with any CC",
        ),
    ],
)
def test_request_pragma_no_cache_only_without_cache_control(
    headers: dict[str, str], hit: bool
) -> None:
    """Q-6, 7234 §5.4, 9111 §5.4: Pragma: no-cache counts only when Cache-Control is absent."""
    cache = stored("max-age=600")
    outcome = cache.fetch(at=10, headers=headers, origin=NOT_MODIFIED)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit


# --- Q-7 / Q-8 -------------------------------------------------------------------------------


def test_request_no_store_response_not_stored() -> None:
    """Q-7, 9111 §5.2.1.5: with request no-store nothing from the exchange is stored."""
    cache = Scenario()
    cache.fetch(headers=cc("no-store"), origin=respond(200, {"Cache-Control": "max-age=60"}))
    assert cache.stored() == []
    assert_went_to_origin(cache.fetch(at=1))


def test_request_no_store_existing_entry_still_answers() -> None:
    """Q-8, 9111 §5.2.1.5: request no-store neither stops an entry answering nor deletes it."""
    cache = stored("max-age=600", etag=False)
    outcome = cache.fetch(at=1, headers=cc("no-store"))
    assert outcome.kind == "hit"
    assert outcome.header("x-version") == "old"
    assert len(cache.stored()) == 1
    assert cache.fetch(at=2).kind == "hit"


def test_request_no_store_forwarded_keeps_existing_entry() -> None:
    """Q-7, Q-8, 9111 §5.2.1.5: no-store: the answer isn't stored, the old entry isn't deleted."""
    cache = stored("max-age=10", etag=False)
    outcome = cache.fetch(
        at=20,
        headers=cc("no-store"),
        origin=respond(200, {"Cache-Control": "max-age=600", "X-Version": "new"}),
    )
    assert outcome.kind == "forwarded"
    assert outcome.header("x-version") == "new"
    (entry,) = cache.stored()
    assert (b"X-Version", b"old") in entry.response.headers


# --- Q-9 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "via",
    [pytest.param("header", id="Q-9 directive"), pytest.param("flag", id="Q-9 per-request flag")],
)
def test_request_only_if_cached_empty_cache_504(via: str) -> None:
    """Q-9, 9111 §5.2.1.7: only-if-cached with nothing stored gives 504, no origin contact."""
    cache = Scenario()
    if via == "header":
        outcome = cache.fetch(headers=cc("only-if-cached"))
    else:
        outcome = cache.fetch(only_if_cached=True)
    assert outcome.kind == "504"
    assert outcome.status == 504
    assert outcome.sent == []


@pytest.mark.parametrize(
    ("stored_cc", "request_cc", "at", "kind"),
    [
        pytest.param("max-age=10", "only-if-cached", 5, "hit", id="Q-9 fresh: hit"),
        pytest.param("max-age=10", "only-if-cached", 20, "504", id="Q-9 stale: 504"),
        pytest.param(
            "max-age=10", "only-if-cached, max-stale=60", 20, "hit", id="Q-9 stale accepted: hit"
        ),
        pytest.param(
            "max-age=100", "only-if-cached, min-fresh=60", 50, "504", id="Q-9 min-fresh unmet: 504"
        ),
        pytest.param(
            "max-age=100", "only-if-cached, no-cache", 1, "504", id="Q-9 no-cache needs origin: 504"
        ),
        pytest.param(
            "max-age=100, no-cache", "only-if-cached", 1, "504", id="Q-9 response no-cache: 504"
        ),
    ],
)
def test_request_only_if_cached_never_contacts_origin(
    stored_cc: str, request_cc: str, at: float, kind: str
) -> None:
    """Q-9, 9111 §5.2.1.7: answer from storage if the other constraints allow, else 504."""
    cache = stored(stored_cc)
    outcome = cache.fetch(at=at, headers=cc(request_cc), origin=NOT_MODIFIED)
    assert outcome.kind == kind
    assert outcome.sent == []
    if kind == "hit":
        assert outcome.header("x-version") == "old"


def test_request_only_if_cached_vary_mismatch_504() -> None:
    """Q-9, 9111 §5.2.1.7: a stored response the request doesn't select gives 504."""
    cache = Scenario()
    cache.fetch(
        headers={"Accept-Language": "en"},
        origin=respond(200, {"Cache-Control": "max-age=60", "Vary": "Accept-Language"}),
    )
    outcome = cache.fetch(at=1, headers={"Accept-Language": "de", **cc("only-if-cached")})
    assert outcome.kind == "504"
    assert outcome.sent == []


# --- Q-10 / Q-11 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("etag", "conditional"),
    [
        pytest.param(False, None, id="Q-10 on a forward"),
        pytest.param(True, '"a"', id="Q-10 on a revalidation"),
    ],
)
def test_request_cache_control_forwarded_unchanged(etag: bool, conditional: str | None) -> None:
    """Q-10, 9111 §5.2: the user's Cache-Control and Pragma reach the origin unchanged."""
    cache = stored("max-age=600", etag=etag)
    outcome = cache.fetch(
        at=5,
        headers={"Cache-Control": "max-age=0, x-foo", "Pragma": "no-cache"},
        origin=respond(200, {"X-Version": "new"}),
    )
    assert_went_to_origin(outcome)
    sent = outcome.sent[0]
    assert sent.header("if-none-match") == conditional
    assert sent.header("cache-control") == "max-age=0, x-foo"
    assert sent.header("pragma") == "no-cache"


def test_request_cache_control_forwarded_on_miss_unchanged() -> None:
    """Q-10, 9111 §5.2: on a plain miss the request directives reach the origin as sent."""
    cache = Scenario()
    outcome = cache.fetch(
        headers=[("Cache-Control", "no-cache"), ("Cache-Control", 'max-stale=5, x-foo="1"')]
    )
    assert outcome.sent[0].header("cache-control") == 'no-cache, max-stale=5, x-foo="1"'


@pytest.mark.parametrize(
    "directive",
    [
        pytest.param("max-age=3600", id="Q-11 request max-age"),
        pytest.param("max-stale=3600", id="Q-11 request max-stale"),
        pytest.param("stale-if-error=3600", id="Q-11 request stale-if-error"),
    ],
)
def test_request_directive_gives_response_no_lifetime(directive: str) -> None:
    """Q-11, 9111 §5.2: request directives never act as response directives."""
    cache = Scenario()
    cache.fetch(headers=cc(directive), origin=respond(200, {}))
    assert cache.stored() == []
    assert_went_to_origin(cache.fetch(at=10))


def test_request_max_age_gives_validatable_response_no_lifetime() -> None:
    """Q-11, 9111 §5.2: a validatable response still gets no lifetime from the request."""
    cache = Scenario()
    cache.fetch(headers=cc("max-age=3600"), origin=respond(200, {"ETag": '"a"'}))
    outcome = cache.fetch(at=10, headers=cc("max-age=3600"), origin=NOT_MODIFIED)
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'
