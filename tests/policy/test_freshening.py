"""Freshening stored responses with 304 and HEAD (RFC 9111 §3.2, §4.3.4, §4.3.5; U-1..U-15).

A stored response goes stale, the cache validates it, and the origin's 304 (or
a 200 to a HEAD) updates it. The tests check which entries are updated, how
their headers merge, and how freshness is recomputed afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from httpcache import CacheOptions
from httpcache._models import Entry, Headers, RequestHead, ResponseHead
from httpcache._policy._engine import CacheRequest, Forward, Revalidate, on_response
from httpcache._policy._keys import primary_key

from .scenario import BASE, T0, Origin, OriginRequest, Scenario, h, http_date, respond


def conditional(
    not_modified: Mapping[str, str], full_status: int, full: Mapping[str, str]
) -> Origin:
    """An origin that answers 304 to a conditional request and ``full_status`` otherwise."""

    def origin(request: OriginRequest) -> tuple[int, Headers]:
        if request.header("if-none-match") or request.header("if-modified-since"):
            return 304, h(not_modified)
        return full_status, h(full)

    return origin


def header(entry: Entry, name: str) -> str | None:
    """The first value of ``name`` in a stored response, as text."""
    for key, value in entry.response.headers:
        if key.lower() == name.lower().encode():
            return value.decode("latin-1")
    return None


def entry_for(cache: Scenario, method: str, **request_fields: str) -> Entry:
    """The one stored entry of ``/a`` for ``method`` whose stored request fields match."""
    wanted = {k.lower().replace("_", "-").encode(): v.encode() for k, v in request_fields.items()}
    found = [
        e
        for e in cache.stored()
        if e.request.method == method
        and all(dict(e.request.headers).get(k) == v for k, v in wanted.items())
    ]
    assert len(found) == 1, found
    return found[0]


def stale_entry(headers: Mapping[str, str]) -> Scenario:
    """A cache holding ``GET /a`` stored at t=0 with ``max-age=10`` plus ``headers``."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=10", **headers}))
    assert len(cache.stored()) == 1
    return cache


# --- U-1..U-5: which stored responses a 304 updates ------------------------------------------


def test_304_updates_only_variant_selected_by_request() -> None:
    """U-1, RFC 9111 §4.3.4: only stored responses the request could have chosen
    (Vary matching) are candidates; the other variant is left alone."""
    cache = Scenario()
    for lang in ("en", "de"):
        cache.fetch(
            headers={"Accept-Language": lang},
            origin=respond(
                200, {"Cache-Control": "max-age=10", "Vary": "Accept-Language", "ETag": '"a"'}
            ),
        )
    assert len(cache.stored()) == 2

    outcome = cache.fetch(
        at=20,
        headers={"Accept-Language": "en"},
        origin=respond(304, {"ETag": '"a"', "Cache-Control": "max-age=100", "X-A": "2"}),
    )

    assert outcome.kind == "revalidated"
    en = entry_for(cache, "GET", accept_language="en")
    de = entry_for(cache, "GET", accept_language="de")
    assert header(en, "x-a") == "2"
    assert en.response_time == T0 + 20
    assert header(de, "x-a") is None
    assert header(de, "cache-control") == "max-age=10"
    assert de.response_time == T0
    assert cache.fetch(at=30, headers={"Accept-Language": "en"}).kind == "hit"
    de_later = cache.fetch(
        at=30, headers={"Accept-Language": "de"}, origin=respond(304, {"ETag": '"a"'})
    )
    assert de_later.kind == "revalidated"


def test_304_strong_validator_updates_entry_fresh_from_304() -> None:
    """U-2, RFC 9111 §4.3.4: a 304 with the stored strong ETag updates the entry,
    fresh for the new max-age counted from the 304."""
    cache = stale_entry({"ETag": '"a"'})

    outcome = cache.fetch(
        at=20, origin=respond(304, {"ETag": '"a"', "Cache-Control": "max-age=120"})
    )

    assert outcome.kind == "revalidated"
    assert cache.fetch(at=139).kind == "hit"
    assert cache.fetch(at=140, origin=respond(304, {"ETag": '"a"'})).kind == "revalidated"


def test_304_strong_validator_updates_every_candidate_with_it() -> None:
    """U-2, RFC 9111 §4.3.4: every candidate carrying the strong validator is
    updated: here the stored GET and the stored HEAD response a HEAD selects."""
    cache = Scenario()
    stored = {"Cache-Control": "max-age=10", "ETag": '"a"'}
    cache.fetch(method="HEAD", origin=respond(200, stored))
    cache.fetch(method="GET", origin=respond(200, stored))
    assert len(cache.stored()) == 2

    cache.fetch(
        at=20,
        method="HEAD",
        origin=respond(304, {"ETag": '"a"', "Cache-Control": "max-age=120"}),
    )

    for method in ("GET", "HEAD"):
        entry = entry_for(cache, method)
        assert header(entry, "cache-control") == "max-age=120", method
        assert entry.response_time == T0 + 20, method


def test_304_unmatched_strong_validator_updates_nothing_and_refetches() -> None:
    """U-3, RFC 9111 §4.3.4: a 304 whose strong ETag no candidate has updates
    nothing; an unconditional request follows and the user gets its 200."""
    cache = stale_entry({"ETag": '"a"', "X-Body": "old"})
    origin = conditional(
        {"ETag": '"b"', "Cache-Control": "max-age=100"},
        200,
        {"ETag": '"b"', "Cache-Control": "no-store", "X-Body": "new"},
    )

    outcome = cache.fetch(at=20, origin=origin)

    assert len(outcome.sent) == 2
    assert outcome.sent[0].header("if-none-match") == '"a"'
    assert outcome.sent[1].header("if-none-match") is None
    assert outcome.sent[1].header("if-modified-since") is None
    assert outcome.status == 200
    assert outcome.header("x-body") == "new"
    (entry,) = cache.stored()
    assert header(entry, "etag") == '"a"'
    assert header(entry, "cache-control") == "max-age=10"
    assert entry.response_time == T0


def test_304_weak_validator_updates_matching_entry() -> None:
    """U-4, RFC 9111 §4.3.4: a 304 with only a weak validator updates the matching entry."""
    cache = stale_entry({"ETag": 'W/"a"'})

    outcome = cache.fetch(
        at=20, origin=respond(304, {"ETag": 'W/"a"', "Cache-Control": "max-age=100"})
    )

    assert outcome.kind == "revalidated"
    assert outcome.status == 200
    assert cache.fetch(at=119).kind == "hit"


def test_304_weak_validator_updates_only_most_recent_candidate() -> None:
    """U-4, RFC 9111 §4.3.4: of several candidates matching a weak validator, only
    the most recent (by Date) is updated."""
    cache = Scenario()
    stored = {"Cache-Control": "max-age=10", "ETag": 'W/"a"'}
    cache.fetch(method="HEAD", at=0, origin=respond(200, stored))
    cache.fetch(method="GET", at=5, origin=respond(200, stored))

    cache.fetch(
        at=20, method="HEAD", origin=respond(304, {"ETag": 'W/"a"', "Cache-Control": "max-age=100"})
    )

    newest = entry_for(cache, "GET")
    older = entry_for(cache, "HEAD")
    assert header(newest, "cache-control") == "max-age=100"
    assert header(older, "cache-control") == "max-age=10"
    assert older.response_time == T0


def test_304_without_validators_updates_lone_entry_without_validators() -> None:
    """U-5, RFC 9111 §4.3.4: a validator-less 304 updates a single candidate that has
    no validator either (the request itself is unconditional: no invented validators)."""
    cache = stale_entry({"X-A": "1"})

    outcome = cache.fetch(at=20, origin=respond(304, {"Cache-Control": "max-age=100", "X-A": "2"}))

    assert outcome.sent[0].header("if-modified-since") is None
    assert outcome.kind == "revalidated"
    assert outcome.status == 200
    assert outcome.header("x-a") == "2"
    assert cache.fetch(at=50).kind == "hit"


def test_304_without_validators_to_user_conditional_does_not_update_entry_with_validator() -> None:
    """U-5, RFC 9111 §4.3.4: a validator-less 304 to a conditional the cache did not
    generate (the user's own) does not update a candidate that has a validator."""
    cache = stale_entry({"ETag": '"a"'})

    outcome = cache.fetch(
        at=20,
        headers={"If-None-Match": '"a"'},
        origin=respond(304, {"Cache-Control": "max-age=100"}),
    )

    assert outcome.kind == "forwarded"
    assert outcome.status == 304
    (entry,) = cache.stored()
    assert header(entry, "cache-control") == "max-age=10"
    assert entry.response_time == T0


# --- U-5 (own conditional): a 304 without validators answers for what was validated ---------


@pytest.mark.parametrize(
    ("stored", "sent_field", "sent_value"),
    [
        pytest.param(
            {"Last-Modified": http_date(-3600), "Cache-Control": "max-age=0"},
            "if-modified-since",
            http_date(-3600),
            id="last-modified",
        ),
        pytest.param({"ETag": '"a"'}, "if-none-match", '"a"', id="etag"),
        pytest.param(
            {"ETag": 'W/"a"', "Last-Modified": http_date(-3600)},
            "if-none-match",
            'W/"a"',
            id="weak-etag-and-last-modified",
        ),
    ],
)
def test_304_without_validators_to_own_conditional_freshens_validated_entry(
    stored: dict[str, str], sent_field: str, sent_value: str
) -> None:
    """U-5, U-11, RFC 9111 §4.3.4, RFC 9110 §15.4.5: a 304 need not repeat the
    validators; when the cache built the conditional from one stored response, a 304
    with only a Date answers for it: it is freshened and served, with no second,
    unconditional request."""
    cache = stale_entry({"X-Body": "stored", **stored})

    outcome = cache.fetch(at=20, origin=respond(304, {}))

    assert len(outcome.sent) == 1
    assert outcome.sent[0].header(sent_field) == sent_value
    assert outcome.kind == "revalidated"
    assert outcome.status == 200
    assert outcome.header("x-body") == "stored"
    (entry,) = cache.stored()
    assert entry.response_time == T0 + 20
    for name, value in stored.items():  # the stored validators stay
        assert header(entry, name) == value


def test_304_without_validators_to_own_conditional_recomputes_freshness() -> None:
    """U-5, U-10, RFC 9111 §4.3.4: the freshened response's lifetime comes from the
    merged fields, counted from the validating exchange."""
    cache = stale_entry({"ETag": '"a"'})

    cache.fetch(at=20, origin=respond(304, {"Cache-Control": "max-age=100"}))

    assert cache.fetch(at=119).kind == "hit"
    assert cache.fetch(at=120, origin=respond(304, {})).kind == "revalidated"


def test_304_without_validators_updates_only_the_validated_candidate() -> None:
    """U-5, RFC 9111 §4.3.4: of several candidates (a stored GET and HEAD response a
    HEAD selects), only the one the conditional was built from (the GET) is updated."""
    cache = Scenario()
    stored = {"Cache-Control": "max-age=10", "ETag": '"a"'}
    cache.fetch(method="HEAD", origin=respond(200, stored))
    cache.fetch(method="GET", at=1, origin=respond(200, stored))

    outcome = cache.fetch(
        at=20, method="HEAD", origin=respond(304, {"Cache-Control": "max-age=120"})
    )

    assert outcome.kind == "revalidated"
    assert len(outcome.sent) == 1
    assert header(entry_for(cache, "GET"), "cache-control") == "max-age=120"
    assert header(entry_for(cache, "HEAD"), "cache-control") == "max-age=10"


def test_304_without_validators_in_background_freshens_entry() -> None:
    """U-5, X-8, RFC 5861 §3, RFC 9111 §4.3.4: the background revalidation behind a
    stale-while-revalidate hit is the cache's own conditional too."""
    cache = Scenario()
    cache.fetch(
        origin=respond(
            200, {"Cache-Control": "max-age=10, stale-while-revalidate=60", "ETag": '"a"'}
        )
    )
    served = cache.fetch(at=20)
    assert served.kind == "swr"

    refreshed = cache.refresh(served, at=20, origin=respond(304, {"Cache-Control": "max-age=100"}))

    assert len(refreshed.sent) == 1
    assert refreshed.kind == "revalidated"
    assert cache.fetch(at=110).kind == "hit"


def test_304_without_validators_with_entry_gone_asks_for_retry() -> None:
    """U-12, RFC 9111 §4.3.4: the stored response the conditional was built from is
    no longer a candidate: nothing answers for it, the request is sent again."""
    cache = stale_entry({"ETag": '"a"'})
    (entry,) = cache.stored()
    url = BASE + "/a"
    request = CacheRequest("GET", url, (), key=primary_key(url))
    decision = Revalidate(entry, (), ((b"If-None-Match", b'"a"'),), "stale")

    plan = on_response(request, decision, ResponseHead(304, ()), T0 + 20, T0 + 20, CacheOptions())

    assert plan.retry is True
    assert plan.update == ()


# --- U-6..U-9: how headers merge -------------------------------------------------------------


def test_304_headers_replace_and_add_stored_ones_kept() -> None:
    """U-6, RFC 9111 §3.2, §4.3.4: 304 fields replace or add; absent ones are kept,
    Content-* fields included."""
    cache = stale_entry({"ETag": '"a"', "X-A": "1", "X-B": "1", "Content-Language": "en"})

    outcome = cache.fetch(
        at=20,
        origin=respond(304, {"ETag": '"a"', "X-A": "2", "X-C": "3", "Content-Language": "en-GB"}),
    )

    assert outcome.headers_named("x-a") == ["2"]
    assert outcome.headers_named("x-b") == ["1"]
    assert outcome.headers_named("x-c") == ["3"]
    assert outcome.headers_named("content-language") == ["en-GB"]
    hit = cache.fetch(at=25)
    assert hit.kind == "hit"
    assert hit.headers_named("x-a") == ["2"]
    assert hit.headers_named("content-language") == ["en-GB"]


def test_304_content_length_not_copied() -> None:
    """U-7, RFC 9111 §3.2: the stored Content-Length (defined by the stored body) stays."""
    cache = stale_entry({"ETag": '"a"', "Content-Length": "5"})

    outcome = cache.fetch(at=20, origin=respond(304, {"ETag": '"a"', "Content-Length": "0"}))

    assert outcome.headers_named("content-length") == ["5"]
    (entry,) = cache.stored()
    assert header(entry, "content-length") == "5"


def test_304_excluded_fields_not_copied() -> None:
    """U-8, RFC 9111 §3.2, §3.1: connection-specific, hop-by-hop and proxy fields in
    a 304 never reach the stored or served response."""
    cache = stale_entry({"ETag": '"a"'})
    excluded = {
        "Connection": "X-Hop",
        "X-Hop": "1",
        "Keep-Alive": "timeout=5",
        "Proxy-Authenticate": "Basic",
        "Proxy-Authentication-Info": 'nextnonce="x"',
        "Upgrade": "h2c",
    }

    outcome = cache.fetch(at=20, origin=respond(304, {"ETag": '"a"', "X-Kept": "1", **excluded}))

    assert outcome.header("x-kept") == "1"
    for name in excluded:
        assert outcome.header(name) is None, name
        assert header(cache.stored()[0], name) is None, name


def test_304_content_encoding_of_stored_bytes_kept() -> None:
    """U-9, RFC 9111 §3.2: Content-Encoding describes the stored raw bytes and is not
    replaced by a 304."""
    cache = stale_entry({"ETag": '"a"', "Content-Encoding": "gzip"})

    outcome = cache.fetch(at=20, origin=respond(304, {"ETag": '"a"', "Content-Encoding": "br"}))

    assert outcome.headers_named("content-encoding") == ["gzip"]


# --- U-10, U-11: freshness after an update, what the user gets -------------------------------


@pytest.mark.parametrize(
    ("not_modified", "last_hit", "first_miss"),
    [
        pytest.param({"Cache-Control": "max-age=100"}, 119, 120, id="U-10-new-max-age"),
        pytest.param(
            {"Cache-Control": "max-age=100", "Age": "30"}, 89, 90, id="U-10-age-of-the-304"
        ),
        pytest.param(
            {"Cache-Control": "", "Expires": http_date(120)}, 119, 120, id="U-10-new-expires"
        ),
        pytest.param({}, 29, 30, id="U-10-stored-max-age-from-validation"),
    ],
)
def test_304_freshness_recomputed_from_merged_headers(
    not_modified: dict[str, str], last_hit: float, first_miss: float
) -> None:
    """U-10, RFC 9111 §4.2.1, §4.3.4: lifetime and age come from the merged headers and
    the validating exchange (the 304's Date is t=20)."""
    cache = stale_entry({"ETag": '"a"'})

    cache.fetch(at=20, origin=respond(304, {"ETag": '"a"', **not_modified}))

    assert cache.fetch(at=last_hit).kind == "hit"
    assert cache.fetch(at=first_miss, origin=respond(304, {"ETag": '"a"'})).kind == "revalidated"


def test_own_validation_304_served_as_200_from_storage() -> None:
    """U-11, RFC 9111 §4.3.3, §4.3.4: the 304 to the cache's own validation never
    reaches the user, who gets the stored response as a 200 with Age."""
    cache = stale_entry({"ETag": '"a"', "X-Body": "stored"})

    outcome = cache.fetch(at=20, origin=respond(304, {"ETag": '"a"'}))

    assert outcome.kind == "revalidated"
    assert outcome.status == 200
    assert outcome.header("x-body") == "stored"
    assert outcome.headers_named("age") == ["0"]


# --- U-12: the entry vanished before the 304 arrived -----------------------------------------


def test_304_with_no_candidates_left_asks_for_retry() -> None:
    """U-12, RFC 9111 §4.3.4: when the entry being validated is gone (no candidates),
    the plan is an unconditional retry, never a 304 for the user."""
    cache = stale_entry({"ETag": '"a"'})
    (entry,) = cache.stored()
    url = BASE + "/a"
    request = CacheRequest("GET", url, (), key=primary_key(url))
    decision = Revalidate(entry, (), ((b"If-None-Match", b'"a"'),), "stale")

    plan = on_response(
        request, decision, ResponseHead(304, h({"ETag": '"a"'})), T0 + 20, T0 + 20, CacheOptions()
    )

    assert plan.retry is True
    assert plan.serve is None
    assert plan.update == ()


# --- U-13: merged headers forbid storage -----------------------------------------------------


def test_304_adding_no_store_serves_once_and_deletes_entry() -> None:
    """U-13, RFC 9111 §4.3.4, §3: a 304 that adds no-store still answers this request
    from storage, then the entry is gone and the next GET is forwarded."""
    cache = stale_entry({"ETag": '"a"', "X-Body": "stored"})

    outcome = cache.fetch(at=20, origin=respond(304, {"ETag": '"a"', "Cache-Control": "no-store"}))
    after = cache.fetch(at=21, origin=respond(200, {"Cache-Control": "no-store"}))

    assert outcome.kind == "revalidated"
    assert outcome.status == 200
    assert outcome.header("x-body") == "stored"
    assert cache.stored() == []
    assert after.kind == "forwarded"
    assert after.sent[0].header("if-none-match") is None


# --- U-14, U-15: freshening with HEAD --------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "head"),
    [
        pytest.param({"ETag": '"a"'}, {"ETag": '"a"'}, id="U-14-etag"),
        pytest.param(
            {"ETag": '"a"', "Content-Length": "5"},
            {"ETag": '"a"', "Content-Length": "5"},
            id="U-14-etag-and-same-length",
        ),
        pytest.param(
            {"Last-Modified": http_date(-86400)},
            {"Last-Modified": http_date(-86400)},
            id="U-14-last-modified",
        ),
        pytest.param(
            {"ETag": '"a"', "Last-Modified": http_date(-86400)},
            {"ETag": '"a"'},
            id="U-14-only-received-validators-compared",
        ),
        pytest.param({}, {"Content-Length": "5"}, id="U-14-no-validators-on-either-side"),
    ],
)
def test_head_200_matching_validators_updates_stored_get(
    stored: dict[str, str], head: dict[str, str]
) -> None:
    """U-14, RFC 9111 §4.3.5: a 200 to a HEAD whose received validators (ETag and
    Last-Modified, those the HEAD response carries) match updates the stored GET
    response (§3.2 rules: Content-Length stays). §4.3.5 names a stored response
    without validators as the very case HEAD freshening is for."""
    cache = stale_entry({"Content-Length": "5", **stored})

    cache.fetch(
        at=20,
        method="HEAD",
        origin=respond(200, {"Cache-Control": "max-age=100", "X-A": "2", **head}),
    )
    outcome = cache.fetch(at=30)

    assert outcome.kind == "hit"
    assert outcome.header("x-a") == "2"
    assert outcome.headers_named("content-length") == ["5"]
    assert entry_for(cache, "GET").response_time == T0 + 20


@pytest.mark.parametrize(
    "head",
    [
        pytest.param({"ETag": '"b"'}, id="U-15-other-etag"),
        pytest.param({"ETag": '"a"', "Content-Length": "6"}, id="U-15-other-length"),
        pytest.param(
            {"ETag": '"a"', "Last-Modified": http_date(-60)}, id="U-15-other-last-modified"
        ),
    ],
)
def test_head_200_mismatch_marks_stored_get_stale(head: dict[str, str]) -> None:
    """U-15, RFC 9111 §4.3.5: a HEAD 200 with a different validator or length makes the
    stored (still fresh) GET response stale: the next GET is not a hit."""
    cache = Scenario()
    cache.fetch(
        origin=respond(
            200,
            {
                "Cache-Control": "max-age=100",
                "ETag": '"a"',
                "Last-Modified": http_date(-86400),
                "Content-Length": "5",
            },
        )
    )

    cache.fetch(
        at=10,
        method="HEAD",
        headers={"Cache-Control": "no-cache"},
        origin=respond(200, {"Cache-Control": "max-age=100", **head}),
    )
    outcome = cache.fetch(at=11, origin=respond(304, {"ETag": '"a"'}))

    assert outcome.kind != "hit"
    assert outcome.sent


def test_head_200_matching_keeps_fresh_get_usable() -> None:
    """U-15, RFC 9111 §4.3.5 (control): a HEAD 200 whose validators and length match
    leaves the stored GET response usable."""
    cache = Scenario()
    cache.fetch(
        origin=respond(200, {"Cache-Control": "max-age=100", "ETag": '"a"', "Content-Length": "5"})
    )

    cache.fetch(
        at=10,
        method="HEAD",
        headers={"Cache-Control": "no-cache"},
        origin=respond(200, {"Cache-Control": "max-age=100", "ETag": '"a"', "Content-Length": "5"}),
    )
    outcome = cache.fetch(at=11)

    assert outcome.kind == "hit"


# --- U-14, U-15: HEAD and the stored responses it could have chosen -------------------------


@pytest.mark.parametrize(
    ("status", "extra"),
    [
        pytest.param(404, {}, id="U-14-404"),
        pytest.param(410, {}, id="U-14-410"),
        pytest.param(301, {"Location": "/b"}, id="U-14-301"),
        pytest.param(203, {}, id="U-14-203"),
    ],
)
def test_head_same_status_matching_validators_updates_stored_non_200(
    status: int, extra: dict[str, str]
) -> None:
    """U-14, RFC 9111 §4.3.5: a stored GET response with a final status other than
    200 is freshened by a HEAD answer with that status whose validators match."""
    cache = Scenario()
    stored = {"Cache-Control": "max-age=10", "ETag": '"a"', "Content-Length": "5", **extra}
    cache.fetch(origin=respond(status, stored))

    cache.fetch(
        at=20,
        method="HEAD",
        origin=respond(
            status, {"Cache-Control": "max-age=100", "ETag": '"a"', "X-A": "2", **extra}
        ),
    )
    outcome = cache.fetch(at=30)

    assert outcome.kind == "hit"
    assert outcome.status == status
    assert outcome.header("x-a") == "2"
    assert entry_for(cache, "GET").response_time == T0 + 20


@pytest.mark.parametrize(
    ("stored_status", "head_status"),
    [
        pytest.param(200, 404, id="U-15-200-now-404"),
        pytest.param(200, 410, id="U-15-200-now-410"),
        pytest.param(200, 301, id="U-15-200-now-moved"),
        pytest.param(404, 200, id="U-15-404-now-200"),
        pytest.param(301, 200, id="U-15-301-now-200"),
    ],
)
def test_head_other_status_marks_stored_get_stale(stored_status: int, head_status: int) -> None:
    """U-15, RFC 9111 §4.3.5: a HEAD answer with another final status shows the
    stored (still fresh) GET response out of date: the next GET is not a hit, and
    the stored one is not updated with the other status's fields."""
    cache = Scenario()
    cache.fetch(origin=respond(stored_status, {"Cache-Control": "max-age=100", "ETag": '"a"'}))

    cache.fetch(
        at=10,
        method="HEAD",
        headers={"Cache-Control": "no-cache"},
        origin=respond(head_status, {"Cache-Control": "max-age=100", "X-A": "2"}),
    )
    get = entry_for(cache, "GET")
    outcome = cache.fetch(at=11, origin=respond(304, {"ETag": '"a"'}))

    assert get.invalidated
    assert header(get, "x-a") is None
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


@pytest.mark.parametrize(
    "head_status",
    [
        pytest.param(500, id="500"),
        pytest.param(503, id="503"),
        pytest.param(501, id="501-no-HEAD-support"),
        pytest.param(405, id="405-HEAD-not-allowed"),
        pytest.param(429, id="429-too-many-requests"),
        pytest.param(408, id="408-request-timeout"),
    ],
)
def test_head_answer_about_the_exchange_leaves_stored_get_alone(head_status: int) -> None:
    """RFC 9111 §4.3.5 (control): a HEAD answer that speaks of the server or the
    request (5xx, 405, 408, 429), not of the resource, neither updates nor
    invalidates the stored GET response."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=100", "ETag": '"a"'}))

    cache.fetch(
        at=10,
        method="HEAD",
        headers={"Cache-Control": "no-cache"},
        origin=respond(head_status, {"Cache-Control": "max-age=1000", "X-A": "2"}),
    )

    outcome = cache.fetch(at=11)
    assert outcome.kind == "hit"
    assert outcome.header("x-a") is None
    assert not entry_for(cache, "GET").invalidated


def test_head_updates_only_variant_the_request_could_choose() -> None:
    """U-14, RFC 9111 §4.3.5, §4.1: only stored GET responses that could have been
    chosen for the HEAD request (Vary matching) are updated or invalidated."""
    cache = Scenario()
    vary = {"Cache-Control": "max-age=10", "Vary": "Accept-Language", "ETag": '"a"'}
    for lang in ("en", "de"):
        cache.fetch(headers={"Accept-Language": lang}, origin=respond(200, vary))

    cache.fetch(
        at=20,
        method="HEAD",
        headers={"Accept-Language": "en"},
        origin=respond(200, {**vary, "Cache-Control": "max-age=100", "X-A": "2"}),
    )

    en = entry_for(cache, "GET", accept_language="en")
    de = entry_for(cache, "GET", accept_language="de")
    assert header(en, "x-a") == "2"
    assert en.response_time == T0 + 20
    assert header(de, "x-a") is None
    assert de.response_time == T0
    assert not de.invalidated


def test_head_leaves_vary_star_response_alone() -> None:
    """RFC 9111 §4.3.5, §4.1, R-11: a stored response with ``Vary: *`` could never
    have been chosen, so a HEAD answer neither updates nor invalidates it."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=10", "Vary": "*", "ETag": '"a"'}))

    cache.fetch(
        at=20,
        method="HEAD",
        origin=respond(200, {"Cache-Control": "max-age=100", "ETag": '"b"', "X-A": "2"}),
    )

    get = entry_for(cache, "GET")
    assert header(get, "x-a") is None
    assert get.response_time == T0
    assert not get.invalidated


def test_head_last_modified_same_instant_other_format_matches() -> None:
    """U-14, RFC 9111 §4.3.5, RFC 9110 §5.6.7: Last-Modified values are dates, so the
    same instant in the obsolete RFC 850 format matches the stored IMF-fixdate."""
    cache = stale_entry({"Last-Modified": "Sun, 06 Nov 1994 08:49:37 GMT"})

    cache.fetch(
        at=20,
        method="HEAD",
        origin=respond(
            200, {"Cache-Control": "max-age=100", "Last-Modified": "Sunday, 06-Nov-94 08:49:37 GMT"}
        ),
    )

    assert cache.fetch(at=30).kind == "hit"


@pytest.mark.parametrize(
    ("head_length", "kind"),
    [
        pytest.param("5", "updated", id="U-14-length-of-stored-body"),
        pytest.param("6", "invalidated", id="U-15-other-length"),
        pytest.param("five", "invalidated", id="U-15-unreadable-length"),
    ],
)
def test_head_content_length_compared_with_stored_body_size(head_length: str, kind: str) -> None:
    """U-14, U-15, RFC 9111 §4.3.5: a stored response without Content-Length (its body
    came chunked) is compared by the size of its stored body."""
    url = BASE + "/a"
    stored = Entry(
        key=primary_key(url),
        variant="get",
        request=RequestHead("GET", url),
        response=ResponseHead(200, h({"Date": http_date(0), "Cache-Control": "max-age=10"})),
        request_time=T0,
        response_time=T0,
        created_at=T0,
        size=5,
    )
    request = CacheRequest("HEAD", url, (), key=primary_key(url))
    decision = Forward("stale", candidates=(stored,))
    head = ResponseHead(200, h({"Date": http_date(20), "Content-Length": head_length}))

    plan = on_response(request, decision, head, T0 + 20, T0 + 20, CacheOptions())

    (updated,) = plan.update
    assert updated.invalidated is (kind == "invalidated")
    assert (updated.response_time == T0 + 20) is (kind == "updated")
    assert header(updated, "content-length") is None


def test_head_adding_no_store_deletes_stored_get() -> None:
    """U-13, U-14, RFC 9111 §4.3.5, §3: a matching HEAD answer whose fields forbid
    storing (here no-store) removes the stored GET response it would update."""
    cache = stale_entry({"ETag": '"a"'})

    cache.fetch(
        at=20, method="HEAD", origin=respond(200, {"ETag": '"a"', "Cache-Control": "no-store"})
    )

    assert cache.stored() == []
    assert (
        cache.fetch(at=21, origin=respond(200, {"Cache-Control": "no-store"})).kind == "forwarded"
    )
