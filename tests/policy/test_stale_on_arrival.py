"""Responses already stale when they arrive (RFC 9111 §3, §4.2.3, §4.2.4; RFC 5861).

A response whose ``Age`` or ``Date`` says it is stale on arrival (behind a CDN that
serves stale, or from a skewed origin clock) and that has no validator could only ever
be used stale. It is stored when some stale use of it is permitted: nothing forbids
stale use (X-2, X-3) and the response's ``stale-if-error`` or ``stale-while-revalidate``
window (or ``CacheOptions.stale_while_revalidate``) still covers its staleness, or
``CacheOptions(allow_stale=True)``. A request directive never makes a response worth
storing (Q-11, X-14), but a later request's ``max-stale`` may use one stored so.
"""

from __future__ import annotations

import pytest

from .scenario import Scenario, fail, http_date, respond
from .test_post_cache import PostScenario


def arrived(headers: dict[str, str], **options: object) -> Scenario:
    """A cache offered, at t=0, a 200 (``X-Version: old``) with ``headers``."""
    cache = Scenario(**options)
    cache.fetch(origin=respond(200, {"X-Version": "old", **headers}))
    return cache


# --- stored: a stale use is permitted --------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Cache-Control": "max-age=60, stale-if-error=3600", "Age": "100"}, id="Age"),
        pytest.param(
            {"Cache-Control": "max-age=60, stale-if-error=3600", "Date": http_date(-300)},
            id="Date-in-the-past",
        ),
        pytest.param(
            {"Cache-Control": "stale-if-error=3600", "Expires": http_date(-60)},
            id="Expires-before-Date",
        ),
    ],
)
def test_stale_on_arrival_with_stale_if_error_stored_and_served_on_error(
    headers: dict[str, str],
) -> None:
    """X-12, RFC 5861 §4, RFC 9111 §4.2.3: a response stale on arrival (by ``Age``,
    ``Date`` or ``Expires``) that allows ``stale-if-error`` is stored, and stands in
    for a later connection failure."""
    cache = arrived(headers)

    assert len(cache.stored()) == 1
    outcome = cache.fetch(at=10, origin=fail())
    assert outcome.kind == "stale-on-error"
    assert outcome.header("x-version") == "old"


def test_stale_on_arrival_with_stale_if_error_forwarded_when_origin_answers() -> None:
    """X-1, X-12, RFC 9111 §4.2.4: stored that way, it is never served while the
    origin answers: a plain request goes to the origin."""
    cache = arrived({"Cache-Control": "max-age=60, stale-if-error=3600", "Age": "100"})

    outcome = cache.fetch(at=10, origin=respond(200, {"X-Version": "new"}))

    assert outcome.kind == "forwarded"
    assert outcome.header("x-version") == "new"


def test_stale_on_arrival_with_stale_while_revalidate_served_while_refreshed() -> None:
    """X-7, RFC 5861 §3: a response stale on arrival within its
    ``stale-while-revalidate`` window is stored and served stale at once."""
    cache = arrived({"Cache-Control": "max-age=60, stale-while-revalidate=3600", "Age": "100"})

    outcome = cache.fetch(at=10)

    assert outcome.kind == "swr"
    assert outcome.header("x-version") == "old"
    assert outcome.headers_named("age") == ["110"]


def test_stale_on_arrival_with_swr_option_stored() -> None:
    """X-7, RFC 5861 §3: the ``CacheOptions.stale_while_revalidate`` window counts as
    a permitted stale use of a response without the directive."""
    cache = arrived({"Cache-Control": "max-age=60", "Age": "100"}, stale_while_revalidate=600)

    assert cache.fetch(at=10).kind == "swr"


def test_stale_on_arrival_with_allow_stale_stored_and_served_on_error() -> None:
    """X-5, RFC 9111 §4.2.4: with ``allow_stale=True`` any staleness is usable on an
    origin error, so the response is stored."""
    cache = arrived({"Cache-Control": "max-age=60", "Age": "100000"}, allow_stale=True)

    assert len(cache.stored()) == 1
    assert cache.fetch(at=10, origin=fail()).kind == "stale-on-error"


def test_stale_on_arrival_stored_for_a_reason_serves_later_max_stale() -> None:
    """Q-3, X-1, RFC 9111 §5.2.1.2: a later request's ``max-stale`` may use a response
    stored stale on arrival (stored because of its ``stale-if-error``)."""
    cache = arrived({"Cache-Control": "max-age=60, stale-if-error=3600", "Age": "100"})

    outcome = cache.fetch(at=10, headers={"Cache-Control": "max-stale=3600"})

    assert outcome.kind == "hit"
    assert outcome.header("x-version") == "old"
    assert outcome.headers_named("age") == ["110"]


# --- not stored: no stale use is possible ----------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "options"),
    [
        pytest.param("max-age=60", {}, id="X-1-no-allowance"),
        pytest.param(
            "max-age=60, must-revalidate, stale-if-error=3600", {}, id="X-2-must-revalidate"
        ),
        pytest.param("max-age=60, no-cache, stale-while-revalidate=3600", {}, id="X-2-no-cache"),
        pytest.param(
            "max-age=60, must-revalidate", {"allow_stale": True}, id="X-2-beats-allow_stale"
        ),
        pytest.param(
            "max-age=60, proxy-revalidate, stale-if-error=3600",
            {"shared": True},
            id="X-3-shared-proxy-revalidate",
        ),
        pytest.param(
            "s-maxage=60, stale-while-revalidate=3600", {"shared": True}, id="X-3-shared-s-maxage"
        ),
        pytest.param("max-age=60, stale-if-error=30", {}, id="X-13-window-already-passed"),
        pytest.param("max-age=60", {"stale_while_revalidate": 30}, id="X-9-option-window-passed"),
        pytest.param(
            "max-age=60, stale-while-revalidate=3600",
            {"always_revalidate": True},
            id="always_revalidate-no-swr",
        ),
    ],
)
def test_stale_on_arrival_without_permitted_stale_use_not_stored(
    cache_control: str, options: dict[str, object]
) -> None:
    """X-1..X-3, X-9, X-13, RFC 9111 §3, §4.2.4: a response stale on arrival (``Age:
    100`` against ``max-age=60``) with no validator, whose stale use is forbidden or
    not permitted for its staleness, could never be reused: it is not stored."""
    cache = arrived({"Cache-Control": cache_control, "Age": "100"}, **options)

    assert cache.stored() == []


@pytest.mark.parametrize(
    "request_directive",
    [pytest.param("max-stale=3600", id="max-stale"), pytest.param("stale-if-error=3600", id="SIE")],
)
def test_stale_on_arrival_request_allowance_alone_not_stored(request_directive: str) -> None:
    """Q-11, X-14, RFC 9111 §5.2: the storing request's own ``max-stale`` or
    ``stale-if-error`` applies to that request only and does not make the response
    worth storing."""
    cache = Scenario()

    cache.fetch(
        headers={"Cache-Control": request_directive},
        origin=respond(200, {"Cache-Control": "max-age=60", "Age": "100"}),
    )

    assert cache.stored() == []


def test_stale_on_arrival_with_validator_stored_and_revalidated() -> None:
    """V-1, RFC 9111 §4.3.1 (control): with a validator a response stale on arrival
    was always worth storing: it is revalidated."""
    cache = arrived({"Cache-Control": "max-age=60", "Age": "100", "ETag": '"a"'})

    outcome = cache.fetch(at=10, origin=respond(304, {"ETag": '"a"'}))

    assert outcome.kind == "revalidated"
    assert outcome.sent[0].header("if-none-match") == '"a"'


# --- body-keyed POST: never revalidated in the background -------------------------------------


def test_stale_on_arrival_post_swr_not_a_use() -> None:
    """RFC 5861 §3, ``cache_post``: a stored POST is never revalidated in the
    background, so a stale-while-revalidate window does not make it worth storing."""
    cache = PostScenario(stale_while_revalidate=600)

    cache.post(
        origin=respond(
            200, {"Cache-Control": "max-age=60, stale-while-revalidate=600", "Age": "100"}
        )
    )

    assert cache.stored_posts() == []


def test_stale_on_arrival_post_stale_if_error_stored() -> None:
    """RFC 5861 §4, ``cache_post``: a stored POST may stand in for an origin error, so
    ``stale-if-error`` makes a POST answer stale on arrival worth storing."""
    cache = PostScenario()

    cache.post(
        origin=respond(200, {"Cache-Control": "max-age=60, stale-if-error=600", "Age": "100"})
    )

    assert len(cache.stored_posts()) == 1
    assert cache.post(at=10, origin=fail()).kind == "stale-on-error"
