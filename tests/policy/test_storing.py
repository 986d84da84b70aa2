"""Storing responses: checklist section 1 (S rows), RFC 9111 §3, RFC 9110 §6.6.1, §9.3.3.

Every test drives the pure policy through the scenario harness: an in-test origin,
entries in a dict, and scenario times ``at=`` in seconds after t=0.
"""

from __future__ import annotations

import pytest

from tests.policy.scenario import Outcome, Scenario, h, http_date, respond

LAST_MODIFIED_10D = http_date(-10 * 86400)


def assert_went_to_origin(outcome: Outcome) -> None:
    """The request was not answered from storage: exactly one request reached the origin."""
    assert outcome.kind in ("forwarded", "revalidated")
    assert len(outcome.sent) == 1


def names_and_values(outcome: Outcome, *, without: tuple[str, ...] = ("age",)) -> list[tuple]:
    """The served header lines, names lower-cased, in order, minus ``without``."""
    return [
        (name.lower(), value)
        for name, value in outcome.headers
        if name.lower().decode() not in without
    ]


# --- S-1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method",
    [
        pytest.param("OPTIONS", id="S-1 OPTIONS"),
        pytest.param("REPORT", id="S-1 REPORT (unknown method)"),
        pytest.param("PUT", id="S-1 PUT"),
        pytest.param("DELETE", id="S-1 DELETE"),
        pytest.param("TRACE", id="S-1 TRACE"),
        pytest.param("CONNECT", id="S-1 CONNECT"),
        pytest.param("PATCH", id="S-1 PATCH"),
    ],
)
def test_store_method_without_cache_rules_not_stored(method: str) -> None:
    """S-1, 9111 §3, 9110 §9.2.3: only GET/HEAD (POST when enabled) responses are stored."""
    cache = Scenario()
    first = cache.fetch(method=method, origin=respond(200, {"Cache-Control": "public, max-age=60"}))
    assert first.kind == "forwarded"
    assert cache.stored() == []

    again = cache.fetch(method=method, at=1)
    assert_went_to_origin(again)
    assert again.sent[0].method == method
    # Nor may it answer a later GET of the same URI.
    assert_went_to_origin(cache.fetch(at=2))


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(100, id="S-1 100 Continue"),
        pytest.param(103, id="S-1 103 Early Hints"),
    ],
)
def test_store_interim_response_not_stored(status: int) -> None:
    """S-1, 9111 §3: a 1xx interim response is never a stored response, even with max-age."""
    cache = Scenario()
    cache.fetch(origin=respond(status, {"Cache-Control": "public, max-age=60"}))
    assert cache.stored() == []
    assert_went_to_origin(cache.fetch(at=1, origin=respond(200, {"Cache-Control": "max-age=60"})))


# --- S-2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cache_control",
    [
        pytest.param(["max-age=60, no-store"], id="S-2 max-age then no-store"),
        pytest.param(["no-store, max-age=60"], id="S-2 no-store first"),
        pytest.param(["public, max-age=60", "no-store"], id="S-2 no-store on second line"),
        pytest.param(["public, max-age=60, NO-STORE"], id="S-2 directive names case-insensitive"),
        pytest.param(["no-store"], id="S-2 heuristic status with no-store"),
    ],
)
def test_store_response_no_store_not_stored(cache_control: list[str]) -> None:
    """S-2, 9111 §3, §5.2.2.5: a response carrying no-store is never stored."""
    headers = [("Cache-Control", line) for line in cache_control]
    headers += [("ETag", '"a"'), ("Last-Modified", LAST_MODIFIED_10D)]
    cache = Scenario()
    cache.fetch(origin=respond(200, headers))
    assert cache.stored() == []

    again = cache.fetch(at=1)
    assert_went_to_origin(again)
    assert again.sent[0].header("if-none-match") is None  # nothing stored to validate
    assert cache.stored() == []


# --- S-4 / S-5 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cache_control",
    [
        pytest.param("private, max-age=60", id="S-4 private"),
        pytest.param("max-age=60, PRIVATE", id="S-4 private upper-case"),
        pytest.param("public, private, max-age=60", id="S-4 private beats public"),
        pytest.param("private, s-maxage=60", id="S-4 private with s-maxage"),
    ],
)
def test_store_shared_private_response_not_stored(cache_control: str) -> None:
    """S-4, 9111 §3, §5.2.2.7: a shared cache never stores a private response."""
    cache = Scenario(shared=True)
    cache.fetch(origin=respond(200, {"Cache-Control": cache_control}))
    assert cache.stored() == []
    assert_went_to_origin(cache.fetch(at=1))


def test_store_private_cache_private_response_hit() -> None:
    """S-5, 9111 §3, §5.2.2.7: a private cache may store and reuse a private response."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "private, max-age=60", "X-Id": "1"}))
    outcome = cache.fetch(at=10)
    assert outcome.kind == "hit"
    assert outcome.header("x-id") == "1"
    assert outcome.header("age") == "10"


def test_store_private_cache_private_is_storage_permission() -> None:
    """S-5, 9111 §3: for a private cache ``private`` alone permits storing even a 302.

    With no freshness, the stored 302 is reused only after validation.
    """
    cache = Scenario()
    cache.fetch(origin=respond(302, {"Cache-Control": "private", "ETag": '"a"', "Location": "/b"}))
    assert len(cache.stored()) == 1
    outcome = cache.fetch(at=1, origin=respond(304, {"ETag": '"a"'}))
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'
    assert outcome.status == 302
    assert outcome.header("location") == "/b"


# --- S-6 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shared", "cache_control", "kind"),
    [
        pytest.param(True, "max-age=60", "forwarded", id="S-6 shared max-age only"),
        pytest.param(True, "public, max-age=60", "hit", id="S-6 shared public"),
        pytest.param(True, "max-age=60, must-revalidate", "hit", id="S-6 shared must-revalidate"),
        pytest.param(True, "s-maxage=60", "hit", id="S-6 shared s-maxage"),
        pytest.param(False, "max-age=60", "hit", id="S-6 private cache not bound"),
    ],
)
def test_store_authorized_request_needs_explicit_permission(
    shared: bool, cache_control: str, kind: str
) -> None:
    """S-6, 9111 §3, §3.5: shared + Authorization needs public, s-maxage or must-revalidate."""
    auth = {"Authorization": "Bearer x"}
    cache = Scenario(shared=shared)
    cache.fetch(headers=auth, origin=respond(200, {"Cache-Control": cache_control}))
    outcome = cache.fetch(at=1, headers=auth)
    assert outcome.kind == kind
    assert outcome.contacted_origin is (kind == "forwarded")
    assert len(cache.stored()) == (0 if kind == "forwarded" else 1)


def test_store_shared_authorized_must_revalidate_is_obeyed() -> None:
    """S-6, 9111 §3.5, §5.2.2.2: a shared cache storing under must-revalidate then obeys it.

    Once stale it is validated, even when the request would accept a stale response.
    """
    auth = {"Authorization": "Bearer x"}
    cache = Scenario(shared=True)
    cache.fetch(
        headers=auth,
        origin=respond(200, {"Cache-Control": "max-age=10, must-revalidate", "ETag": '"a"'}),
    )
    outcome = cache.fetch(
        at=20,
        headers={**auth, "Cache-Control": "max-stale=100"},
        origin=respond(304, {"ETag": '"a"'}),
    )
    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


# --- S-7 / S-8 / S-9 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(302, id="S-7 302"),
        pytest.param(303, id="S-7 303"),
        pytest.param(307, id="S-7 307"),
        pytest.param(201, id="S-7 201"),
        pytest.param(403, id="S-7 403"),
        pytest.param(500, id="S-7 500"),
        pytest.param(299, id="S-7 unknown 299"),
    ],
)
def test_store_no_storage_permission_not_stored(status: int) -> None:
    """S-7, 9111 §3: a non-heuristic status without explicit permission is not stored.

    Validators alone (ETag, Last-Modified) are no permission.
    """
    headers = {"Location": "/b", "ETag": '"a"', "Last-Modified": LAST_MODIFIED_10D}
    cache = Scenario()
    cache.fetch(origin=respond(status, headers))
    assert cache.stored() == []
    again = cache.fetch(at=1)
    assert_went_to_origin(again)
    assert again.sent[0].header("if-none-match") is None


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(status, id=f"S-8 {status}")
        for status in (200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501)
    ],
)
def test_store_heuristically_cacheable_status_hit(status: int) -> None:
    """S-8, 9111 §3, 9110 §15.1: heuristically cacheable statuses are stored without freshness."""
    cache = Scenario()
    cache.fetch(origin=respond(status, {"Last-Modified": LAST_MODIFIED_10D}))
    outcome = cache.fetch(at=1)
    assert outcome.kind == "hit"
    assert outcome.status == status


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(302, id="S-9 302"),
        pytest.param(307, id="S-9 307"),
        pytest.param(403, id="S-9 403"),
        pytest.param(299, id="S-9 unrecognised 299"),
    ],
)
def test_store_other_status_with_explicit_freshness_hit(status: int) -> None:
    """S-9, 9111 §3: any final status may be stored with explicit freshness."""
    cache = Scenario()
    cache.fetch(origin=respond(status, {"Cache-Control": "max-age=60", "Location": "/b"}))
    outcome = cache.fetch(at=10)
    assert outcome.kind == "hit"
    assert outcome.status == status
    assert outcome.header("location") == "/b"


# --- S-10 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shared", "kind", "stored"),
    [
        pytest.param(False, "forwarded", 0, id="S-10 private ignores s-maxage"),
        pytest.param(True, "hit", 1, id="S-10 shared stores on s-maxage"),
    ],
)
def test_store_s_maxage_only_permits_shared(shared: bool, kind: str, stored: int) -> None:
    """S-10, 9111 §3, §4.2.1: s-maxage permits storage (and freshness) to shared caches only."""
    cache = Scenario(shared=shared)
    cache.fetch(origin=respond(302, {"Cache-Control": "s-maxage=60", "Location": "/b"}))
    assert len(cache.stored()) == stored
    outcome = cache.fetch(at=1)
    assert outcome.kind == kind


def test_store_private_cache_s_maxage_gives_no_freshness() -> None:
    """S-10, 9111 §4.2.1: a private cache ignores s-maxage completely, freshness included."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "s-maxage=600", "ETag": '"a"'}))
    outcome = cache.fetch(at=1)
    assert_went_to_origin(outcome)
    assert outcome.sent[0].header("if-none-match") == '"a"'


# --- S-11 ------------------------------------------------------------------------------------


def test_store_partial_content_not_stored() -> None:
    """S-11, 9111 §3, §3.3: without range support a 206 is never stored."""
    cache = Scenario()
    ranged = {"Range": "bytes=0-9"}
    origin = respond(206, {"Cache-Control": "max-age=60", "Content-Range": "bytes 0-9/100"})
    cache.fetch(headers=ranged, origin=origin)
    assert cache.stored() == []
    assert_went_to_origin(cache.fetch(at=1, headers=ranged))
    assert cache.stored() == []
    # Nor does a 206 delivered to a plain request become an entry.
    cache.fetch(at=2)
    assert cache.stored() == []


def test_store_not_modified_never_becomes_entry() -> None:
    """S-11, 9111 §3, §4.3.4: a 304 to a user's conditional GET is never replayed later."""
    cache = Scenario()
    cache.fetch(
        headers={"If-None-Match": '"a"'},
        origin=respond(304, {"Cache-Control": "max-age=60", "ETag": '"a"'}),
    )
    assert cache.stored() == []
    outcome = cache.fetch(at=1, origin=respond(200, {"Cache-Control": "max-age=60"}))
    assert_went_to_origin(outcome)
    assert outcome.status == 200


# --- S-12 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cache_control"),
    [
        pytest.param(299, "max-age=60, must-understand, no-store", id="S-12 299 with no-store"),
        pytest.param(299, "max-age=60, must-understand", id="S-12 299 without no-store"),
        pytest.param(206, "max-age=60, must-understand, no-store", id="S-12 206 not implemented"),
    ],
)
def test_store_must_understand_unknown_status_not_stored(status: int, cache_control: str) -> None:
    """S-12, 9111 §3, §5.2.2.3: must-understand stores only statuses whose rules are implemented."""
    cache = Scenario()
    cache.fetch(origin=respond(status, {"Cache-Control": cache_control, "ETag": '"a"'}))
    assert cache.stored() == []
    assert_went_to_origin(cache.fetch(at=1))


# --- S-13 .. S-16 ----------------------------------------------------------------------------


def test_store_all_headers_kept_in_order() -> None:
    """S-13, 9111 §3.1: every header is stored, unknown ones too, order and repeats kept."""
    received = [
        ("Cache-Control", "max-age=60"),
        ("X-Custom", "a"),
        ("Link", "</s.css>; rel=preload"),
        ("X-Unknown-Thing", "b"),
        ("Link", "</t.js>; rel=preload"),
        ("Date", http_date(0)),
    ]
    cache = Scenario()
    cache.fetch(origin=respond(200, received))
    outcome = cache.fetch(at=1)
    assert outcome.kind == "hit"
    assert outcome.header("x-custom") == "a"
    assert outcome.headers_named("link") == ["</s.css>; rel=preload", "</t.js>; rel=preload"]
    assert names_and_values(outcome) == [(n.lower(), v) for n, v in h(received)]


@pytest.mark.parametrize(
    "connection",
    [
        pytest.param("close, X-Hop", id="S-14 Connection names X-Hop"),
        pytest.param("X-HOP", id="S-14 Connection names are case-insensitive"),
    ],
)
def test_store_connection_fields_not_replayed(connection: str) -> None:
    """S-14, 9111 §3.1, 9110 §7.6.1: Connection and the fields it names are never replayed."""
    cache = Scenario()
    cache.fetch(
        origin=respond(
            200,
            [
                ("Cache-Control", "max-age=60"),
                ("Connection", connection),
                ("X-Hop", "1"),
                ("X-Kept", "2"),
            ],
        )
    )
    outcome = cache.fetch(at=1)
    assert outcome.kind == "hit"
    assert outcome.header("connection") is None
    assert outcome.header("x-hop") is None
    assert outcome.header("x-kept") == "2"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("Keep-Alive", "timeout=5", id="S-15 Keep-Alive"),
        pytest.param("Transfer-Encoding", "chunked", id="S-15 Transfer-Encoding"),
        pytest.param("Proxy-Connection", "keep-alive", id="S-15 Proxy-Connection"),
        pytest.param("TE", "trailers", id="S-15 TE"),
        pytest.param("Upgrade", "h2c", id="S-15 Upgrade"),
    ],
)
def test_store_hop_by_hop_fields_stripped(name: str, value: str) -> None:
    """S-15, 9111 §3.1, 9110 §7.6.1: known hop-by-hop fields are stripped, listed or not."""
    cache = Scenario()
    cache.fetch(origin=respond(200, [("Cache-Control", "max-age=60"), (name, value)]))
    outcome = cache.fetch(at=1)
    assert outcome.kind == "hit"
    assert outcome.header(name) is None
    assert outcome.header("cache-control") == "max-age=60"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("Proxy-Authentication-Info", 'nextnonce="x"', id="S-16 Proxy-Auth-Info"),
        pytest.param("Proxy-Authenticate", 'Basic realm="p"', id="S-16 Proxy-Authenticate"),
        pytest.param("Proxy-Authorization", "Basic eDp5", id="S-16 Proxy-Authorization"),
    ],
)
def test_store_proxy_fields_not_stored(name: str, value: str) -> None:
    """S-16, 9111 §3.1: proxy-specific fields are not stored (the proxy is not in the key)."""
    cache = Scenario()
    cache.fetch(origin=respond(200, [("Cache-Control", "max-age=60"), (name, value)]))
    assert all(n.lower() != name.lower().encode() for n, _ in cache.stored()[0].response.headers)
    outcome = cache.fetch(at=1)
    assert outcome.kind == "hit"
    assert outcome.header(name) is None


# --- S-19 / S-20 -----------------------------------------------------------------------------


def test_store_missing_date_gets_receipt_time() -> None:
    """S-19, 9110 §6.6.1: a response stored without Date gets its receipt time as IMF-fixdate."""
    cache = Scenario()
    # Sent at t=0, received at t=3.
    cache.fetch(delay=3, origin=respond(200, {"Cache-Control": "max-age=60"}, dated=False))
    outcome = cache.fetch(at=10)
    assert outcome.kind == "hit"
    assert outcome.headers_named("date") == ["Sun, 06 Nov 1994 08:49:40 GMT"]  # t=3
    assert outcome.header("age") == "10"


@pytest.mark.parametrize(
    "dates",
    [
        pytest.param(["yesterday"], id="S-20 invalid Date"),
        pytest.param([http_date(-100), http_date(-50)], id="S-20 conflicting Dates"),
    ],
)
def test_store_invalid_date_replaced_with_receipt_time(dates: list[str]) -> None:
    """S-20, 9110 §6.6.1: an invalid Date or conflicting Dates become the receipt time."""
    cache = Scenario()
    headers = [("Cache-Control", "max-age=60")] + [("Date", d) for d in dates]
    cache.fetch(at=5, origin=respond(200, headers))
    outcome = cache.fetch(at=15)
    assert outcome.kind == "hit"
    assert outcome.header("age") == "10"
    assert outcome.headers_named("date") == [http_date(5)]


# --- S-21 / S-22 -----------------------------------------------------------------------------


def test_store_content_coding_headers_kept() -> None:
    """S-21, 9111 §3.2, 9110 §7.7: content is stored as received, coding headers unchanged.

    The policy's part: the stored header section still describes the coded bytes.
    """
    cache = Scenario()
    cache.fetch(
        origin=respond(
            200,
            {"Cache-Control": "max-age=60", "Content-Encoding": "gzip", "Content-Length": "31"},
        )
    )
    outcome = cache.fetch(at=1)
    assert outcome.kind == "hit"
    assert outcome.header("content-encoding") == "gzip"
    assert outcome.header("content-length") == "31"


@pytest.mark.parametrize(
    "shared",
    [pytest.param(False, id="S-22 private"), pytest.param(True, id="S-22 shared")],
)
def test_store_set_cookie_response_hit(shared: bool) -> None:
    """S-22, 9111 §7.3: Set-Cookie alone doesn't make a response uncacheable."""
    cache = Scenario(shared=shared)
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=60", "Set-Cookie": "a=1"}))
    outcome = cache.fetch(at=10)
    assert outcome.kind == "hit"
    assert outcome.header("set-cookie") == "a=1"


# --- S-24 ------------------------------------------------------------------------------------

POST_ON = frozenset({"GET", "HEAD", "POST"})


@pytest.mark.parametrize(
    ("methods", "headers", "method", "kind"),
    [
        pytest.param(
            POST_ON,
            {"Cache-Control": "max-age=60", "Content-Location": "/a"},
            "GET",
            "hit",
            id="S-24 answers GET",
        ),
        pytest.param(
            POST_ON,
            {"Cache-Control": "max-age=60", "Content-Location": "/a"},
            "HEAD",
            "hit",
            id="S-24 answers HEAD",
        ),
        pytest.param(
            POST_ON,
            {"Cache-Control": "max-age=60", "Content-Location": "http://example.com/a"},
            "GET",
            "hit",
            id="S-24 absolute Content-Location",
        ),
        pytest.param(
            POST_ON,
            {"Expires": http_date(60), "Content-Location": "/a"},
            "GET",
            "hit",
            id="S-24 Expires is explicit freshness",
        ),
        pytest.param(
            POST_ON,
            {"Cache-Control": "max-age=60", "Content-Location": "/b"},
            "GET",
            "forwarded",
            id="S-24 Content-Location elsewhere",
        ),
        pytest.param(
            POST_ON,
            {"Cache-Control": "max-age=60"},
            "GET",
            "forwarded",
            id="S-24 no Content-Location",
        ),
        pytest.param(
            POST_ON,
            {"Last-Modified": LAST_MODIFIED_10D, "Content-Location": "/a"},
            "GET",
            "forwarded",
            id="S-24 heuristic freshness is not enough",
        ),
        pytest.param(
            frozenset({"GET", "HEAD"}),
            {"Cache-Control": "max-age=60", "Content-Location": "/a"},
            "GET",
            "forwarded",
            id="S-24 POST caching off by default",
        ),
    ],
)
def test_store_post_response_answers_get_when_allowed(
    methods: frozenset[str], headers: dict[str, str], method: str, kind: str
) -> None:
    """S-24, 9110 §9.3.3: a POST answer with explicit freshness and Content-Location = target."""
    cache = Scenario(cacheable_methods=methods)
    cache.fetch(method="POST", origin=respond(200, {**headers, "X-From": "post"}))
    outcome = cache.fetch(at=1, method=method, origin=respond(200, {"X-From": "get"}))
    assert outcome.kind == kind
    assert outcome.header("x-from") == ("post" if kind == "hit" else "get")


def test_store_post_response_never_answers_post() -> None:
    """S-24, 9110 §9.3.3: a cached POST answer may serve GET/HEAD, never another POST."""
    cache = Scenario(cacheable_methods=POST_ON)
    cache.fetch(
        method="POST",
        origin=respond(200, {"Cache-Control": "max-age=60", "Content-Location": "/a"}),
    )
    assert len(cache.stored()) == 1
    outcome = cache.fetch(at=1, method="POST")
    assert_went_to_origin(outcome)
    assert outcome.sent[0].method == "POST"
