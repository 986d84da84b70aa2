"""Extensions: immutable, Cache-Status and Warning (RFC 8246, RFC 9211, RFC 9111 §5.5).

E-1..E-5: ``immutable`` through the scenario. E-8, E-10, E-12: the pure
``Cache-Status`` member builder, fed with the engine's own decisions. E-11: the
``fwd`` reason the engine gives each kind of miss. E-20: no ``Warning`` is ever
generated. E-9 and E-13 (emission on real responses) are covered by the
transport tests; E-7 (shared mode) is below; E-14..E-19 (targeted fields) are in
``test_targeted.py``; E-6 (the delimitation check) is not built.
"""

from __future__ import annotations

import re

import pytest

from httpcache._policy._engine import Forward, Revalidate, Serve
from httpcache._policy._status import cache_status

from .scenario import Scenario, http_date, respond

HTTPS = "https://example.com/a"
HTTP = "http://example.com/a"


def immutable_cache(cc: str, *, url: str = HTTPS, shared: bool = False) -> Scenario:
    """A cache holding ``GET url`` stored at t=0 with ``Cache-Control: cc`` and ``ETag: "a"``."""
    cache = Scenario(shared=shared)
    cache.fetch(url=url, origin=respond(200, {"Cache-Control": cc, "ETag": '"a"'}))
    return cache


# --- E-1..E-5 immutable ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Cache-Control": "max-age=0"}, id="E-1-max-age-0"),
        pytest.param(
            {"Cache-Control": "max-age=0", "Pragma": "no-cache"},
            id="E-1-pragma-ignored-with-cache-control",
        ),
    ],
)
def test_immutable_fresh_soft_reload_hit_without_origin(headers: dict[str, str]) -> None:
    """E-1, RFC 8246 §2: a fresh immutable response is not revalidated on a soft
    reload (request max-age=0; a Pragma beside Cache-Control is ignored)."""
    cache = immutable_cache("max-age=3600, immutable")

    outcome = cache.fetch(url=HTTPS, at=10, headers=headers)

    assert outcome.kind == "hit"
    assert outcome.sent == []
    assert outcome.header("age") == "10"


@pytest.mark.parametrize(
    ("headers", "refresh"),
    [
        pytest.param({"Cache-Control": "no-cache"}, False, id="E-2-request-no-cache"),
        pytest.param({"Pragma": "no-cache"}, False, id="E-2-pragma-without-cache-control"),
        pytest.param(None, True, id="E-2-force-refresh-extension"),
    ],
)
def test_immutable_forced_reload_contacts_origin(
    headers: dict[str, str] | None, refresh: bool
) -> None:
    """E-2, RFC 8246 §2, §3: a forced reload ignores immutable: the origin is
    contacted (conditionally or not) and its answer is what the user gets."""
    cache = immutable_cache("max-age=3600, immutable")
    origin = respond(200, {"Cache-Control": "max-age=3600, immutable", "X-Version": "new"})

    outcome = cache.fetch(url=HTTPS, at=10, headers=headers, origin=origin, refresh=refresh)

    assert outcome.kind == "forwarded"
    assert len(outcome.sent) == 1
    assert outcome.header("x-version") == "new"


@pytest.mark.parametrize(
    "request_cc",
    [pytest.param(None, id="E-3-plain"), pytest.param("max-age=0", id="E-3-soft-reload")],
)
def test_immutable_stale_revalidated_as_usual(request_cc: str | None) -> None:
    """E-3, RFC 8246 §2: once stale, an immutable response is revalidated."""
    cache = immutable_cache("max-age=10, immutable")

    outcome = cache.fetch(
        url=HTTPS,
        at=20,
        headers={"Cache-Control": request_cc} if request_cc else None,
        origin=respond(304, {"ETag": '"a"'}),
    )

    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


@pytest.mark.parametrize(
    "cc",
    [
        pytest.param('max-age=3600, immutable="x", immutable', id="E-4-argument-and-repeat"),
        pytest.param("max-age=3600, immutable=1", id="E-4-token-argument"),
        pytest.param("max-age=3600, IMMUTABLE", id="E-4-upper-case"),
    ],
)
def test_immutable_argument_ignored_directive_counts(cc: str) -> None:
    """E-4, RFC 8246 §2: an argument on immutable is ignored and it still counts."""
    cache = immutable_cache(cc)

    outcome = cache.fetch(url=HTTPS, at=10, headers={"Cache-Control": "max-age=0"})

    assert outcome.kind == "hit"


def test_immutable_in_request_changes_nothing() -> None:
    """E-4, RFC 8246 §2: immutable in a request has no effect (a soft reload of a
    non-immutable response still revalidates)."""
    cache = immutable_cache("max-age=3600")

    outcome = cache.fetch(
        url=HTTPS,
        at=10,
        headers={"Cache-Control": "max-age=0, immutable"},
        origin=respond(304, {"ETag": '"a"'}),
    )

    assert outcome.kind == "revalidated"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(HTTP, "revalidated", id="E-5-http-ignored"),
        pytest.param(HTTPS, "hit", id="E-5-https-honoured"),
        pytest.param("HTTPS://EXAMPLE.com:443/a", "hit", id="E-5-https-normalised"),
    ],
)
def test_immutable_only_honoured_over_https(url: str, expected: str) -> None:
    """E-5, RFC 8246 §3: immutable is ignored on responses not received over HTTPS."""
    cache = immutable_cache("max-age=3600, immutable", url=url)

    outcome = cache.fetch(
        url=url, at=10, headers={"Cache-Control": "max-age=0"}, origin=respond(304, {"ETag": '"a"'})
    )

    assert outcome.kind == expected


# --- E-8, E-10, E-12 Cache-Status member -----------------------------------------------------

_SF_TOKEN = r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*"
_SF_BARE = rf'(?:-?[0-9]{{1,15}}|"(?:[^"\\]|\\.)*"|\?[01]|{_SF_TOKEN})'
_SF_PARAM = rf"[a-z*][a-z0-9_\-.*]*(?:={_SF_BARE})?"
_SF_ITEM = re.compile(rf"({_SF_TOKEN})((?:; *{_SF_PARAM})*)")


def sf_params(member: str) -> tuple[str, dict[str, str]]:
    """Parse one Structured-Field List member into (token, {param: raw value})."""
    match = _SF_ITEM.fullmatch(member)
    assert match is not None, f"not a Structured-Field item: {member!r}"
    params: dict[str, str] = {}
    for part in match[2].split(";")[1:]:
        key, _, value = part.strip().partition("=")
        assert key not in params, f"repeated parameter {key!r} in {member!r}"
        params[key] = value or "?1"
    return match[1], params


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"hit": True}, id="E-8-hit"),
        pytest.param({"hit": True, "ttl": 50}, id="E-8-hit-ttl"),
        pytest.param({"hit": False, "fwd": "uri-miss", "stored": True}, id="E-8-miss-stored"),
        pytest.param({"hit": False, "fwd": "stale", "fwd_status": 304, "ttl": -3}, id="E-8-fwd"),
        pytest.param({"hit": False, "fwd": "bypass", "stored": False}, id="E-8-bypass"),
    ],
)
def test_cache_status_member_is_sf_item_named_httpcache(kwargs: dict[str, object]) -> None:
    """E-8, RFC 9211 §2: the member is a Structured-Field List item whose value is the
    token ``httpcache``."""
    token, _ = sf_params(cache_status(**kwargs))  # type: ignore[arg-type]

    assert token == "httpcache"


def test_cache_status_fresh_hit_reports_hit_and_remaining_ttl() -> None:
    """E-10, RFC 9211 §2.1, §2.7: a fresh hit is ``hit`` with the remaining freshness."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=60"}))
    decision = cache.fetch(at=10).decision
    assert isinstance(decision, Serve)

    assert cache_status(hit=True, ttl=decision.ttl) == "httpcache; hit; ttl=50"


def test_cache_status_revalidation_reports_fwd_stale_with_status() -> None:
    """E-10, RFC 9211 §2.2, §2.3: a revalidation answered 304 went forward: it is
    ``fwd=stale; fwd-status=304``, never ``hit``."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=10", "ETag": '"a"'}))
    outcome = cache.fetch(at=20, origin=respond(304, {"ETag": '"a"'}))
    assert isinstance(outcome.decision, Revalidate)

    member = cache_status(hit=False, fwd=outcome.decision.reason, fwd_status=304)

    assert member == "httpcache; fwd=stale; fwd-status=304"


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"hit": True, "fwd": "stale"}, id="E-10-hit-drops-fwd"),
        pytest.param(
            {"hit": True, "fwd": "stale", "fwd_status": 304, "stored": True}, id="E-10-all"
        ),
    ],
)
def test_cache_status_hit_and_fwd_exclusive(kwargs: dict[str, object]) -> None:
    """E-10, E-12, RFC 9211 §2.1, §2.2, §2.5: hit and fwd exclude each other, and
    ``stored`` goes only with ``fwd``."""
    _, params = sf_params(cache_status(**kwargs))  # type: ignore[arg-type]

    assert "hit" in params
    assert not {"fwd", "fwd-status", "stored"} & params.keys()


def test_cache_status_stale_hit_negative_ttl() -> None:
    """E-12, RFC 9211 §2.7: a response served stale at age 30 with max-age=10 has ttl=-20."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=10"}))
    decision = cache.fetch(at=30, headers={"Cache-Control": "max-stale=100"}).decision
    assert isinstance(decision, Serve)

    _, params = sf_params(cache_status(hit=True, ttl=decision.ttl))

    assert params["ttl"] == "-20"


def test_cache_status_heuristic_lifetime_counts_in_ttl() -> None:
    """E-12, RFC 9211 §2.7: ttl includes heuristic freshness (10% of 10 days = 1 day)."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Last-Modified": http_date(-864000)}))
    decision = cache.fetch(at=100).decision
    assert isinstance(decision, Serve)

    assert cache_status(hit=True, ttl=decision.ttl) == "httpcache; hit; ttl=86300"


def test_cache_status_no_store_miss_reports_not_stored() -> None:
    """E-12, RFC 9211 §2.2, §2.5: a no-store miss is ``fwd=uri-miss; stored=?0``."""
    cache = Scenario()
    outcome = cache.fetch(origin=respond(200, {"Cache-Control": "no-store"}))
    assert isinstance(outcome.decision, Forward)

    member = cache_status(hit=False, fwd=outcome.decision.reason, stored=bool(cache.stored()))

    assert member == "httpcache; fwd=uri-miss; stored=?0"


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"hit": True, "ttl": 5}, id="E-12-hit"),
        pytest.param({"hit": False, "fwd": "uri-miss", "stored": True}, id="E-12-miss"),
        pytest.param({"hit": False, "fwd": "stale", "fwd_status": 200, "ttl": 1}, id="E-12-fwd"),
    ],
)
def test_cache_status_never_emits_key(kwargs: dict[str, object]) -> None:
    """E-12, RFC 9211 §2.6, §6: the ``key`` parameter is left out by default."""
    _, params = sf_params(cache_status(**kwargs))  # type: ignore[arg-type]

    assert "key" not in params


# --- E-11 most specific fwd reason -----------------------------------------------------------


def _reason(outcome: object) -> str:
    decision = outcome.decision  # type: ignore[attr-defined]
    assert isinstance(decision, (Forward, Revalidate)), decision
    return decision.reason


def test_fwd_reason_uri_miss_for_empty_cache() -> None:
    """E-11, RFC 9211 §2.2: nothing stored for the URI gives ``uri-miss``."""
    assert _reason(Scenario().fetch()) == "uri-miss"


def test_fwd_reason_vary_miss_for_other_variant() -> None:
    """E-11, RFC 9211 §2.2: a stored ``en`` variant and a ``de`` request give ``vary-miss``."""
    cache = Scenario()
    cache.fetch(
        headers={"Accept-Language": "en"},
        origin=respond(200, {"Cache-Control": "max-age=60", "Vary": "Accept-Language"}),
    )

    assert _reason(cache.fetch(at=1, headers={"Accept-Language": "de"})) == "vary-miss"


@pytest.mark.parametrize(
    ("headers", "refresh"),
    [
        pytest.param({"Cache-Control": "no-cache"}, False, id="E-11-request-no-cache"),
        pytest.param({"Cache-Control": "max-age=0"}, False, id="E-11-request-max-age"),
        pytest.param(None, True, id="E-11-force-refresh"),
    ],
)
def test_fwd_reason_request_when_request_forbids_fresh_entry(
    headers: dict[str, str] | None, refresh: bool
) -> None:
    """E-11, RFC 9211 §2.2: a fresh entry the request refuses gives ``request``."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=60", "ETag": '"a"'}))

    outcome = cache.fetch(
        at=10, headers=headers, origin=respond(304, {"ETag": '"a"'}), refresh=refresh
    )

    assert _reason(outcome) == "request"


def test_fwd_reason_stale_for_stale_entry() -> None:
    """E-11, RFC 9211 §2.2: a stale entry gives ``stale``."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=10", "ETag": '"a"'}))

    assert _reason(cache.fetch(at=20, origin=respond(304, {"ETag": '"a"'}))) == "stale"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_fwd_reason_method_for_unsafe_method(method: str) -> None:
    """E-11, RFC 9211 §2.2: a method the cache can't answer gives ``method``."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=60"}))

    assert _reason(cache.fetch(at=1, method=method, origin=respond(200, {}))) == "method"


def test_fwd_reason_bypass_for_bypass_flag() -> None:
    """E-11, RFC 9211 §2.2: the per-request bypass flag gives ``bypass``."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=60"}))

    assert _reason(cache.fetch(at=1, bypass=True)) == "bypass"


# --- E-20 Warning ----------------------------------------------------------------------------


def test_stale_if_error_serve_adds_no_warning() -> None:
    """E-20, RFC 9111 §5.5: a response served stale under stale-if-error gets no Warning."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=10, stale-if-error=60"}))

    outcome = cache.fetch(at=20, origin=respond(503, {}))

    assert outcome.kind == "stale-on-error"
    assert outcome.status == 200
    assert outcome.header("warning") is None


def test_stale_max_stale_hit_adds_no_warning() -> None:
    """E-20, RFC 9111 §5.5: a stale hit under request max-stale gets no Warning either."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=10"}))

    outcome = cache.fetch(at=20, headers={"Cache-Control": "max-stale=60"})

    assert outcome.kind == "hit"
    assert outcome.header("warning") is None


def test_received_warning_replayed_as_plain_header() -> None:
    """E-20, RFC 9111 §5.5: a received Warning is just another stored header."""
    cache = Scenario()
    cache.fetch(
        origin=respond(200, {"Cache-Control": "max-age=60", "Warning": '299 - "deprecated"'})
    )

    outcome = cache.fetch(at=10)

    assert outcome.kind == "hit"
    assert outcome.headers_named("warning") == ['299 - "deprecated"']


# --- E-7 immutable in a shared cache ------------------------------------------------------


def test_shared_immutable_conditional_is_answered_locally() -> None:
    """E-7, RFC 8246 §2.1: in shared mode a fresh `immutable` response is not revalidated for
    `max-age=0`; the client's `If-None-Match: "a"` gets a local 304, without the origin."""
    cache = immutable_cache("max-age=3600, immutable", shared=True)
    outcome = cache.fetch(
        url=HTTPS,
        at=10,
        headers={"If-None-Match": '"a"', "Cache-Control": "max-age=0"},
        origin=respond(200, {"Cache-Control": "max-age=3600"}),
    )
    assert outcome.kind == "hit"
    assert outcome.status == 304
    assert not outcome.contacted_origin


def test_shared_immutable_no_cache_request_revalidates() -> None:
    """E-7, RFC 8246 §2.1: unless the client asks for it: `no-cache` still revalidates."""
    cache = immutable_cache("max-age=3600, immutable", shared=True)
    outcome = cache.fetch(
        url=HTTPS,
        at=10,
        headers={"Cache-Control": "no-cache"},
        origin=respond(304, {"ETag": '"a"', "Cache-Control": "max-age=3600, immutable"}),
    )
    assert outcome.contacted_origin
