"""Invalidation after unsafe requests (RFC 9111 §4.4; checklist I-1..I-8).

httpcache invalidates by deleting (I-4's delete mode, per the choices table):
every stored response of the URI goes, and the next GET is forwarded. I-4's
marking mode is not built, and I-9 (a response to a request sent before the
invalidation) needs concurrency, so it lives in the transport tests.
"""

from __future__ import annotations

import pytest

from .scenario import Scenario, fail, respond

FRESH = {"Cache-Control": "max-age=600"}
NEW = respond(200, {"Cache-Control": "max-age=600", "X-Version": "new"})


def cache_with(*urls: str) -> Scenario:
    """A cache holding a fresh ``GET`` response for each URL, stored at t=0."""
    cache = Scenario()
    for url in urls:
        cache.fetch(url=url, origin=respond(200, FRESH))
    for url in urls:
        assert cache.fetch(url=url, at=1).kind == "hit", url
    return cache


# --- I-1, I-2: unsafe methods invalidate the target URI --------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(200, id="I-1-200"),
        pytest.param(201, id="I-1-201"),
        pytest.param(204, id="I-1-204"),
        pytest.param(303, id="I-1-303"),
        pytest.param(302, id="I-1-302"),
    ],
)
def test_post_success_or_redirect_invalidates_target(status: int) -> None:
    """I-1, RFC 9111 §4.4: a 2xx or 3xx to an unsafe method invalidates the target URI."""
    cache = cache_with("http://example.com/a")

    post = cache.fetch(at=2, method="POST", origin=respond(status, {}))
    outcome = cache.fetch(at=3, origin=NEW)

    assert post.kind == "forwarded"
    assert post.sent[0].method == "POST"
    assert outcome.kind == "forwarded"
    assert outcome.header("x-version") == "new"


def test_post_to_unnormalised_target_invalidates_normalised_uri() -> None:
    """I-1, RFC 9111 §4.4; RFC 9110 §4.2.3: the target is compared in normalised
    form, so ``POST http://EXAMPLE.com:80/a#x`` invalidates ``GET http://example.com/a``."""
    cache = cache_with("http://example.com/a")

    cache.fetch(url="http://EXAMPLE.com:80/a#x", at=2, method="POST", origin=respond(200, {}))

    assert cache.fetch(at=3, origin=NEW).kind == "forwarded"


@pytest.mark.parametrize(
    "method",
    [
        pytest.param("PUT", id="I-2-put"),
        pytest.param("DELETE", id="I-2-delete"),
        pytest.param("PATCH", id="I-2-patch"),
        pytest.param("PURGE", id="I-2-unknown-purge"),
        pytest.param("FROB", id="I-2-unknown-frob"),
        pytest.param("purge", id="I-2-lower-case-method"),
    ],
)
def test_unsafe_method_invalidates_target(method: str) -> None:
    """I-2, RFC 9111 §4.4; RFC 9110 §9.2.1: every method but GET, HEAD, OPTIONS and
    TRACE is unsafe, unknown ones included, and invalidates."""
    cache = cache_with("http://example.com/a")

    cache.fetch(at=2, method=method, origin=respond(204, {}))
    outcome = cache.fetch(at=3, origin=NEW)

    assert outcome.kind == "forwarded"
    assert outcome.header("x-version") == "new"


@pytest.mark.parametrize(
    "method",
    [
        pytest.param("OPTIONS", id="I-2-options-is-safe"),
        pytest.param("TRACE", id="I-2-trace-is-safe"),
    ],
)
def test_safe_method_does_not_invalidate(method: str) -> None:
    """I-2, RFC 9110 §9.2.1: OPTIONS and TRACE are safe and invalidate nothing."""
    cache = cache_with("http://example.com/a")

    forwarded = cache.fetch(at=2, method=method, origin=respond(200, {}))
    outcome = cache.fetch(at=3)

    assert forwarded.kind == "forwarded"
    assert outcome.kind == "hit"


# --- I-3: every stored response of the URI ---------------------------------------------------


def test_invalidation_removes_every_variant_and_head_entry() -> None:
    """I-3, RFC 9111 §4.4: all Vary variants and the HEAD entry of the URI go."""
    cache = Scenario()
    varied = respond(200, {"Cache-Control": "max-age=600", "Vary": "Accept-Language"})
    cache.fetch(headers={"Accept-Language": "en"}, origin=varied)
    cache.fetch(headers={"Accept-Language": "de"}, origin=varied)
    cache.fetch(method="HEAD", origin=respond(200, FRESH))
    assert sorted(e.request.method for e in cache.stored()) == ["GET", "GET", "HEAD"]

    cache.fetch(at=2, method="PUT", origin=respond(204, {}))

    assert cache.stored() == []
    unstored = respond(200, {"Cache-Control": "no-store"})
    for lang in ("en", "de"):
        outcome = cache.fetch(at=3, headers={"Accept-Language": lang}, origin=unstored)
        assert outcome.kind == "forwarded", lang
    assert cache.fetch(at=3, method="HEAD", origin=unstored).kind == "forwarded"


# --- I-5: errors don't invalidate ------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param(respond(500, {}), id="I-5-500"),
        pytest.param(respond(503, {}), id="I-5-503"),
        pytest.param(respond(404, {}), id="I-5-404"),
        pytest.param(respond(409, {}), id="I-5-409"),
        pytest.param(fail(), id="I-5-connect-error"),
    ],
)
def test_unsafe_method_error_does_not_invalidate(origin: object) -> None:
    """I-5, RFC 9111 §4.4: a 4xx, 5xx or transport failure to POST invalidates nothing."""
    cache = cache_with("http://example.com/a")

    cache.fetch(at=2, method="POST", origin=origin)  # type: ignore[arg-type]
    outcome = cache.fetch(at=10)

    assert outcome.kind == "hit"


# --- I-6..I-8: Location and Content-Location -------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("Location", "/b", id="I-6-location-path"),
        pytest.param("Content-Location", "/b", id="I-6-content-location-path"),
        pytest.param("Location", "http://example.com/b", id="I-6-location-absolute"),
        pytest.param("Location", "HTTP://EXAMPLE.com:80/b", id="I-6-location-normalised"),
    ],
)
def test_unsafe_response_location_invalidates_that_uri(field: str, value: str) -> None:
    """I-6, RFC 9111 §4.4: the same-origin URIs in Location and Content-Location of the
    response are invalidated too."""
    cache = cache_with("http://example.com/a", "http://example.com/b")

    cache.fetch(at=2, method="POST", origin=respond(201, {field: value}))

    assert cache.fetch("/b", at=3, origin=NEW).kind == "forwarded"


def test_unsafe_response_location_and_content_location_both_invalidated() -> None:
    """I-6, RFC 9111 §4.4: both fields count in one response; other URIs are untouched."""
    cache = cache_with(
        "http://example.com/a",
        "http://example.com/b",
        "http://example.com/c",
        "http://example.com/d",
    )

    cache.fetch(
        at=2,
        method="POST",
        origin=respond(201, {"Location": "/b", "Content-Location": "/c"}),
    )

    assert cache.fetch("/b", at=3, origin=NEW).kind == "forwarded"
    assert cache.fetch("/c", at=3, origin=NEW).kind == "forwarded"
    assert cache.fetch("/d", at=3).kind == "hit"


@pytest.mark.parametrize(
    ("other", "location"),
    [
        pytest.param("https://other.example/b", "https://other.example/b", id="I-7-other-host"),
        pytest.param("http://api.example/b", "http://api.example/b", id="I-7-other-scheme"),
        pytest.param(
            "https://api.example:8443/b", "https://api.example:8443/b", id="I-7-other-port"
        ),
        pytest.param(
            "https://other.example/b", "//other.example/b", id="I-7-scheme-relative-other-host"
        ),
    ],
)
@pytest.mark.parametrize("field", ["Location", "Content-Location"])
def test_unsafe_response_cross_origin_location_not_invalidated(
    other: str, location: str, field: str
) -> None:
    """I-7, RFC 9111 §4.4: a Location/Content-Location of another origin (scheme, host,
    port) is never invalidated."""
    cache = cache_with(other)

    cache.fetch(
        url="https://api.example/a", at=2, method="POST", origin=respond(201, {field: location})
    )

    assert cache.fetch(url=other, at=3).kind == "hit"


@pytest.mark.parametrize(
    ("location", "invalidated"),
    [
        pytest.param("../c", "https://api.example/c", id="I-8-dot-dot"),
        pytest.param("c", "https://api.example/a/c", id="I-8-sibling"),
        pytest.param("./c?x=1", "https://api.example/a/c?x=1", id="I-8-dot-with-query"),
        pytest.param("/c", "https://api.example/c", id="I-8-absolute-path"),
    ],
)
def test_unsafe_response_relative_location_resolved_against_target(
    location: str, invalidated: str
) -> None:
    """I-8, RFC 9110 §10.2.2: a relative Location is resolved against the target URI
    before the origin check, and the resolved URI is invalidated."""
    cache = cache_with(invalidated, "https://api.example/untouched")

    cache.fetch(
        url="https://api.example/a/b",
        at=2,
        method="POST",
        origin=respond(201, {"Location": location}),
    )

    assert cache.fetch(url=invalidated, at=3, origin=NEW).kind == "forwarded"
    assert cache.fetch(url="https://api.example/untouched", at=3).kind == "hit"
