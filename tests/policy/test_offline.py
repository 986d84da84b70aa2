"""Offline mode and forced refresh in the pure engine (RFC 9111 §4.2.4, §5.2.1.7).

Offline is ``only-if-cached`` that also accepts any stale response: whatever is
stored and selected (method, Vary, credentials) is served without validation,
``no-cache`` and ``must-revalidate`` responses included; anything else is a 504.
The origin is never contacted: every scenario below fails the test if it is.
"""

from __future__ import annotations

import pytest

from httpcache._models import Entry, RequestHead, ResponseHead
from httpcache._policy import _headers
from httpcache._policy._engine import CacheRequest, Forward, GatewayTimeout, Serve, body_lost
from httpcache._policy._keys import primary_key, variant_key

from .scenario import BASE, T0, HeaderInput, Origin, OriginRequest, Scenario, respond


def unreachable() -> Origin:
    """An origin that fails the test when it is contacted."""

    def origin(request: OriginRequest) -> tuple[int, tuple[tuple[bytes, bytes], ...]]:
        raise AssertionError(f"the origin was contacted: {request.method} {request.url}")

    return origin


def stored(cache_control: str, headers: HeaderInput | None = None, **options: object) -> Scenario:
    """A cache holding one 200 (``X-Version: old``, ``ETag: "a"``) stored at t=0."""
    response = {"Cache-Control": cache_control, "X-Version": "old", "ETag": '"a"'}
    response.update(dict(headers or {}))  # type: ignore[arg-type]
    cache = Scenario(**options)
    cache.fetch(origin=respond(200, response))
    assert len(cache.stored()) == 1
    cache.origin = unreachable()
    return cache


def served(outcome: object) -> Serve:
    assert isinstance(outcome, Serve), outcome
    return outcome


# --- serving whatever is stored ----------------------------------------------------------------


def test_offline_fresh_entry_served_not_stale() -> None:
    """A fresh stored response is served as a plain hit."""
    cache = stored("max-age=60")

    outcome = cache.fetch(at=10, offline=True)

    assert (outcome.kind, outcome.header("x-version"), outcome.header("age")) == (
        "hit",
        "old",
        "10",
    )
    decision = served(outcome.decision)
    assert (decision.stale, decision.ttl) == (False, 50)


def test_offline_stale_entry_served_stale_with_negative_ttl() -> None:
    """RFC 9111 §4.2.4: a disconnected cache may serve stale; it says so (ttl < 0)."""
    cache = stored("max-age=10")

    outcome = cache.fetch(at=100, offline=True)

    assert (outcome.kind, outcome.status, outcome.header("age")) == ("hit", 200, "100")
    decision = served(outcome.decision)
    assert (decision.stale, decision.ttl) == (True, -90)


@pytest.mark.parametrize(
    ("cache_control", "at", "stale"),
    [
        pytest.param("max-age=60, no-cache", 10, False, id="no-cache-fresh"),
        pytest.param("no-cache", 10, True, id="no-cache-without-lifetime"),
        pytest.param("max-age=10, must-revalidate", 100, True, id="must-revalidate-stale"),
        pytest.param("max-age=10, proxy-revalidate, s-maxage=10", 100, True, id="proxy-revalidate"),
        pytest.param("max-age=0", 1, True, id="max-age-0"),
    ],
)
def test_offline_entries_requiring_validation_served_without_it(
    cache_control: str, at: float, stale: bool
) -> None:
    """Offline is the user's explicit request never to use the network (a browser's offline
    mode): responses that must be validated are served unvalidated, a documented departure
    from RFC 9111 §5.2.2.2's 504 for a disconnected cache."""
    cache = stored(cache_control, shared=True)

    outcome = cache.fetch(at=at, offline=True)

    assert (outcome.kind, outcome.header("x-version")) == ("hit", "old")
    assert served(outcome.decision).stale is stale


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Cache-Control": "no-cache"}, id="request-no-cache"),
        pytest.param({"Cache-Control": "max-age=0"}, id="request-max-age-0"),
        pytest.param({"Cache-Control": "min-fresh=3600"}, id="request-min-fresh"),
        pytest.param({"Pragma": "no-cache"}, id="request-pragma"),
    ],
)
def test_offline_request_directives_asking_for_validation_ignored(
    headers: dict[str, str],
) -> None:
    """Nothing is validated offline, whatever the request's own directives ask for."""
    cache = stored("max-age=10")

    outcome = cache.fetch(at=20, headers=headers, offline=True)

    assert outcome.kind == "hit"
    assert served(outcome.decision).stale is True


def test_offline_wins_over_refresh() -> None:
    """A forced reload can't reach the origin offline: the stored response answers."""
    cache = stored("max-age=60")

    outcome = cache.fetch(at=10, offline=True, refresh=True)

    assert outcome.kind == "hit"


def test_offline_expired_force_cached_entry_served_stale() -> None:
    """A force-cached entry past its ``force_cache_ttl`` is still served offline, stale."""
    cache = Scenario(force_cache=True, force_cache_ttl=10)
    cache.fetch(origin=respond(200, {"Cache-Control": "no-cache", "X-Version": "old"}))
    cache.origin = unreachable()

    outcome = cache.fetch(at=30, offline=True)

    assert (outcome.kind, outcome.header("x-version")) == ("hit", "old")
    assert served(outcome.decision).stale is True


def test_offline_head_answered_from_stored_get_without_body() -> None:
    """R-5: a stored GET answers a HEAD offline, without a body."""
    cache = stored("max-age=10")

    outcome = cache.fetch(at=20, method="HEAD", offline=True)

    assert outcome.kind == "hit"
    assert served(outcome.decision).with_body is False


def test_offline_user_conditional_matching_stale_entry_gets_local_304() -> None:
    """RFC 9111 §4.3.2: a user's ``If-None-Match`` is evaluated against the stored entry."""
    cache = stored("max-age=10")

    outcome = cache.fetch(at=20, headers={"If-None-Match": '"a"'}, offline=True)

    assert (outcome.kind, outcome.status) == ("hit", 304)


# --- 504: nothing stored that may answer -------------------------------------------------------


def test_offline_empty_cache_gives_504() -> None:
    """Nothing stored: 504 Gateway Timeout, as for ``only-if-cached`` (§5.2.1.7)."""
    cache = Scenario()
    cache.origin = unreachable()

    outcome = cache.fetch(offline=True)

    assert outcome.kind == "504"
    assert isinstance(outcome.decision, GatewayTimeout)


@pytest.mark.parametrize(
    ("request_headers", "kind"),
    [
        pytest.param({"Accept-Language": "en"}, "hit", id="matching-variant"),
        pytest.param({"Accept-Language": "de"}, "504", id="other-variant"),
        pytest.param({}, "504", id="field-missing"),
    ],
)
def test_offline_vary_selects_variant_or_504(request_headers: dict[str, str], kind: str) -> None:
    """RFC 9111 §4.1: a variant that doesn't match the request is a miss, so a 504."""
    cache = Scenario()
    cache.fetch(
        headers={"Accept-Language": "en"},
        origin=respond(200, {"Cache-Control": "max-age=10", "Vary": "Accept-Language"}),
    )
    cache.origin = unreachable()

    assert cache.fetch(at=20, headers=request_headers, offline=True).kind == kind


def test_offline_vary_star_never_matches_gives_504() -> None:
    """R-11: ``Vary: *`` never matches; offline it can't be validated either."""
    cache = stored("max-age=60", {"Vary": "*"})

    assert cache.fetch(at=1, offline=True).kind == "504"


def test_offline_other_credentials_give_504() -> None:
    """DESIGN §5: a response stored for one credential never answers another, offline too."""
    cache = Scenario()
    cache.fetch(
        headers={"Authorization": "Bearer a"}, origin=respond(200, {"Cache-Control": "max-age=60"})
    )
    cache.origin = unreachable()

    assert cache.fetch(at=1, headers={"Authorization": "Bearer b"}, offline=True).kind == "504"
    assert cache.fetch(at=1, headers={"Authorization": "Bearer a"}, offline=True).kind == "hit"


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        pytest.param("POST", None, id="POST"),
        pytest.param("PUT", None, id="PUT"),
        pytest.param("DELETE", None, id="DELETE"),
        pytest.param("GET", {"Range": "bytes=0-1, 3-4"}, id="several-ranges"),
        pytest.param("GET", {"If-Match": '"a"'}, id="If-Match"),
    ],
)
def test_offline_request_only_the_origin_can_answer_gives_504(
    method: str, headers: dict[str, str] | None
) -> None:
    """Unsafe methods and origin-only requests get a 504; nothing is invalidated (§4.4)."""
    cache = stored("max-age=60")

    outcome = cache.fetch(at=1, method=method, headers=headers, offline=True)

    assert outcome.kind == "504"
    assert len(cache.stored()) == 1


def test_offline_with_bypass_gives_504() -> None:
    """Bypass reads nothing from the cache and offline reaches no origin: nothing answers."""
    cache = stored("max-age=60")

    assert cache.fetch(at=1, offline=True, bypass=True).kind == "504"


# --- forced refresh ----------------------------------------------------------------------------


def test_refresh_with_only_if_cached_gives_504_without_origin() -> None:
    """A forced reload with ``only-if-cached`` may neither reuse nor fetch (like the request
    directives ``no-cache, only-if-cached``): a 504, never the origin."""
    cache = stored("max-age=60")

    assert cache.fetch(at=1, refresh=True, only_if_cached=True).kind == "504"
    outcome = cache.fetch(at=1, refresh=True, headers={"Cache-Control": "only-if-cached"})
    assert outcome.kind == "504"


def test_refresh_forwards_and_new_response_replaces_stored() -> None:
    """E-2: a forced reload forwards even with a fresh entry, and its answer is stored."""
    cache = stored("max-age=60")

    outcome = cache.fetch(
        at=1, refresh=True, origin=respond(200, {"Cache-Control": "max-age=60", "X-Version": "new"})
    )

    assert outcome.kind == "forwarded"
    assert isinstance(outcome.decision, Forward)
    versions = [_headers.get_first(e.response.headers, b"x-version") for e in cache.stored()]
    assert versions == [b"new"]


# --- a body that vanished ----------------------------------------------------------------------


def _request(**flags: object) -> CacheRequest:
    headers = flags.pop("headers", ())
    return CacheRequest("GET", BASE + "/a", headers, BASE + "/a", **flags)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "gateway_timeout"),
    [
        pytest.param(_request(), False, id="plain-forwarded"),
        pytest.param(_request(offline=True), True, id="offline"),
        pytest.param(_request(only_if_cached=True), True, id="only-if-cached-extension"),
        pytest.param(
            _request(headers=((b"Cache-Control", b"only-if-cached"),)), True, id="Q-9-directive"
        ),
    ],
)
def test_body_lost_is_a_miss_or_504_when_origin_is_off_limits(
    request_: CacheRequest, gateway_timeout: bool
) -> None:
    """U-12, §5.2.1.7: the chosen response's body vanished: forward, unless the request must
    not reach the origin."""
    decision = body_lost(request_)

    if gateway_timeout:
        assert isinstance(decision, GatewayTimeout)
    else:
        assert decision == Forward("uri-miss")


def test_offline_invalidated_entry_served_stale() -> None:
    """An entry a HEAD marked for validation (§4.3.5) is still what is stored: served, stale."""
    cache = Scenario()
    entry = Entry(
        key=primary_key(BASE + "/a"),
        variant=variant_key("GET", ()),
        request=RequestHead("GET", BASE + "/a", ()),
        response=ResponseHead(200, ((b"Cache-Control", b"max-age=600"),)),
        request_time=T0,
        response_time=T0,
        created_at=T0,
        invalidated=True,
    )
    cache.entries[entry.key] = {entry.variant: entry}
    cache.origin = unreachable()

    outcome = cache.fetch(at=0, offline=True)

    assert outcome.kind == "hit"
    assert served(outcome.decision).stale is True


def test_offline_wins_over_always_revalidate() -> None:
    """`always_revalidate` asks for validation, which offline can't do: the entry is served."""
    cache = stored("max-age=60", always_revalidate=True)

    outcome = cache.fetch(at=1, offline=True)

    assert outcome.kind == "hit"
    assert served(outcome.decision).stale is False
