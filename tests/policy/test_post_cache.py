"""Body-keyed POST caching (``CacheOptions.cache_post``): the pure policy's side.

Not RFC 9111 (requests-cache's behaviour, opt-in): an opted-in POST is keyed by its URL
plus the SHA-256 of its ``Content-Type`` and body (RFC 9111 §2 lets a cache add key
material), looked up and stored like a GET under that key (RFC 9111 §3, §4), never
validated (an origin answers a conditional POST with 412, RFC 9110 §13.1.2), and,
declared a query, invalidates nothing (RFC 9111 §4.4 is for unsafe methods).
"""

from __future__ import annotations

import re

import pytest

from httpcache import CacheOptions
from httpcache._models import Entry, ResponseHead
from httpcache._policy._decisions import CacheRequest, Forward, Revalidate, Serve
from httpcache._policy._engine import on_request, on_response
from httpcache._policy._invalidation import invalidated_urls
from httpcache._policy._keys import BODY_KEY_MARK, body_key, primary_key

from .scenario import BASE, T0, HeaderInput, Origin, Outcome, Scenario, h, http_date, respond

FRESH = {"Cache-Control": "max-age=60"}
JSON = "application/json"
QUERY = b'{"query": "{ me { name } }"}'


class PostScenario(Scenario):
    """The scenario harness, able to send body-keyed POSTs (keyed as the transport keys them)."""

    def post(
        self,
        path: str = "/a",
        body: bytes = QUERY,
        *,
        at: float = 0,
        content_type: str | None = JSON,
        headers: HeaderInput | None = None,
        origin: Origin | None = None,
        **flags: object,
    ) -> Outcome:
        """Send one opted-in POST of ``body`` at scenario time ``at``."""
        if origin is not None:
            self.origin = origin
        url = BASE + path
        raw = h(headers)
        if content_type is not None:
            raw = ((b"Content-Type", content_type.encode()), *raw)
        key = body_key(primary_key(url), body, None if content_type is None else raw[0][1])
        creq = CacheRequest("POST", url, raw, key, body_keyed=True, **flags)  # type: ignore[arg-type]
        now = T0 + at
        decision = on_request(creq, list(self.entries.get(key, {}).values()), now, self.options)
        if isinstance(decision, Serve):
            return Outcome("hit", decision.status, decision.headers, decision=decision)
        if not isinstance(decision, (Forward, Revalidate)):
            return Outcome("504", 504, (), decision=decision)
        return self._forward(creq, decision, now, at, 0)

    def stored_posts(self, path: str = "/a", body: bytes = QUERY) -> list[Entry]:
        """Entries stored under the body key of ``path`` and ``body`` (JSON)."""
        key = body_key(primary_key(BASE + path), body, JSON.encode())
        return list(self.entries.get(key, {}).values())


# --- keying ----------------------------------------------------------------------------------


def test_body_key_same_body_same_key() -> None:
    """RFC 9111 §2: the same URL, body and content type give the same key."""
    url = primary_key(BASE + "/graphql")
    assert body_key(url, QUERY, b"application/json") == body_key(url, QUERY, b"application/json")


def test_body_key_reads_key_mark_and_sha256() -> None:
    """The key is the primary key, ``#body=sha256:`` and 64 hex digits."""
    key = body_key("http://example.com/graphql", QUERY, None)
    assert key.startswith("http://example.com/graphql" + BODY_KEY_MARK)
    assert re.fullmatch(r"[0-9a-f]{64}", key.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    ("other_url", "other_body", "other_type"),
    [
        pytest.param(BASE + "/b", QUERY, b"application/json", id="other URL"),
        pytest.param(BASE + "/a", QUERY + b" ", b"application/json", id="other body"),
        pytest.param(BASE + "/a", QUERY, b"application/x-www-form-urlencoded", id="other type"),
        pytest.param(BASE + "/a", QUERY, None, id="no content type"),
        pytest.param(BASE + "/a", QUERY, b"application/json; charset=utf-8", id="parameters"),
    ],
)
def test_body_key_differs_with_url_body_or_content_type(
    other_url: str, other_body: bytes, other_type: bytes | None
) -> None:
    """RFC 9111 §2: the URL, body and content type each take part in the key."""
    key = body_key(primary_key(BASE + "/a"), QUERY, b"application/json")
    assert body_key(primary_key(other_url), other_body, other_type) != key


def test_body_key_media_type_case_and_spaces_ignored() -> None:
    """RFC 9110 §8.3.1: the media type is case-insensitive; surrounding spaces do not count."""
    key = body_key("k", QUERY, b"application/json; charset=utf-8")
    assert body_key("k", QUERY, b" Application/JSON ;charset=utf-8") == key
    assert body_key("k", QUERY, b"Application/JSON; charset=utf-8") == key
    assert body_key("k", QUERY, b"application/json; charset=latin-1") != key


def test_body_key_never_a_url_key() -> None:
    """RFC 9110 §7.1: a normalised URL has no fragment, so no URL maps to a body key."""
    key = body_key(primary_key(BASE + "/a"), QUERY, None)
    assert primary_key(key) != key


def test_cache_request_body_keyed_only_for_post() -> None:
    """A GET (or PUT) is never body-keyed: that is a programming error."""
    with pytest.raises(ValueError, match="only a POST"):
        CacheRequest("GET", BASE + "/a", (), "k", body_keyed=True)
    assert CacheRequest("post", BASE + "/a", (), "k", body_keyed=True).body_keyed


# --- storing and serving ---------------------------------------------------------------------


def test_post_same_body_fresh_is_hit() -> None:
    """RFC 9111 §4.2: a stored fresh answer serves the same POST, with its Age."""
    cache = PostScenario()
    first = cache.post(origin=respond(200, FRESH))
    second = cache.post(at=10)
    assert first.kind == "forwarded"
    assert second.kind == "hit"
    assert second.header("age") == "10"
    (entry,) = cache.stored_posts()
    assert entry.request.method == "POST"


def test_post_other_body_is_miss() -> None:
    """A different body is a different key: forwarded."""
    cache = PostScenario()
    cache.post(origin=respond(200, FRESH))
    outcome = cache.post(body=b'{"query": "{ you }"}', at=1)
    assert outcome.kind == "forwarded"


def test_post_cacheable_methods_need_not_list_post() -> None:
    """cache_post is its own opt-in: the default cacheable_methods (GET, HEAD) suffice."""
    cache = PostScenario()
    cache.post(origin=respond(200, FRESH))
    assert cache.post(at=1).kind == "hit"


@pytest.mark.parametrize(
    ("options", "headers", "request_headers"),
    [
        pytest.param({}, {"Cache-Control": "no-store, max-age=60"}, None, id="S-2 no-store"),
        pytest.param({}, FRESH, {"Cache-Control": "no-store"}, id="Q-7 request no-store"),
        pytest.param(
            {"shared": True}, {"Cache-Control": "private, max-age=60"}, None, id="S-4 private"
        ),
        pytest.param(
            {"shared": True}, FRESH, {"Authorization": "Bearer a"}, id="S-6 Authorization"
        ),
        pytest.param({}, {"ETag": '"v1"'}, None, id="validator without freshness"),
        pytest.param({}, {"Cache-Control": "max-age=0"}, None, id="stale on arrival"),
        pytest.param({"cacheable_status_codes": {203}}, FRESH, None, id="status not allowed"),
    ],
)
def test_post_storage_rules_as_for_get(
    options: dict[str, object], headers: dict[str, str], request_headers: dict[str, str] | None
) -> None:
    """RFC 9111 §3: the storage rules of a GET; a POST answer is never validated, so
    freshness alone makes it worth storing."""
    cache = PostScenario(**options)
    cache.post(headers=request_headers, origin=respond(200, headers))
    assert cache.stored_posts() == []
    assert cache.post(headers=request_headers, at=1).kind == "forwarded"


def test_post_heuristic_freshness_for_heuristic_status() -> None:
    """RFC 9111 §4.2.2: a 200 with Last-Modified gets a heuristic lifetime, as for GET."""
    cache = PostScenario()
    cache.post(origin=respond(200, {"Last-Modified": "Sat, 01 Jan 1994 00:00:00 GMT"}))
    assert cache.post(at=60).kind == "hit"


def test_post_no_heuristics_for_201() -> None:
    """RFC 9111 §4.2.2: 201 is not heuristically cacheable: not stored without max-age."""
    cache = PostScenario()
    cache.post(origin=respond(201, {"Last-Modified": "Sat, 01 Jan 1994 00:00:00 GMT"}))
    assert cache.stored_posts() == []


def test_post_force_cache_and_ttl_flags_store_no_store_answer() -> None:
    """A rule's ttl (force-cache) stores a no-store POST answer and serves it for ttl."""
    cache = PostScenario()
    cache.post(origin=respond(200, {"Cache-Control": "no-store"}), force_cache=True, ttl=30)
    assert cache.post(at=20, force_cache=True, ttl=30).kind == "hit"
    assert cache.post(at=31, force_cache=True, ttl=30).kind == "forwarded"


def test_post_vary_still_applies() -> None:
    """RFC 9111 §4.1: a POST answer with Vary serves only matching requests."""
    cache = PostScenario()
    cache.post(headers={"Accept": "a/b"}, origin=respond(200, {**FRESH, "Vary": "Accept"}))
    assert cache.post(headers={"Accept": "a/b"}, at=1).kind == "hit"
    assert cache.post(headers={"Accept": "c/d"}, at=1).kind == "forwarded"


def test_post_user_conditional_forwarded_unstored() -> None:
    """RFC 9110 §13.1.2: If-None-Match on a POST is the origin's to evaluate (412, not 304)."""
    cache = PostScenario()
    cache.post(origin=respond(200, {**FRESH, "ETag": '"v1"'}))
    outcome = cache.post(headers={"If-None-Match": '"v1"'}, at=1)
    assert outcome.kind == "forwarded"
    assert isinstance(outcome.decision, Forward) and not outcome.decision.storable


def test_post_offline_serves_stored_answer() -> None:
    """Offline mode serves a stored body-keyed POST answer, stale or not."""
    cache = PostScenario()
    cache.post(origin=respond(200, FRESH))
    assert cache.post(at=3600, offline=True).kind == "hit"
    assert cache.post(body=b"other", at=1, offline=True).kind == "504"
    assert cache.post(at=1, offline=True, headers={"If-None-Match": "*"}).kind == "504"


def test_post_refresh_forwards_and_replaces() -> None:
    """A forced refresh goes to the origin and stores its answer in place."""
    cache = PostScenario()
    cache.post(origin=respond(200, {**FRESH, "X-V": "1"}))
    cache.post(at=1, refresh=True, origin=respond(200, {**FRESH, "X-V": "2"}))
    assert len(cache.stored_posts()) == 1
    assert cache.post(at=2).header("x-v") == "2"


# --- stale: forwarded unconditionally --------------------------------------------------------


def test_post_stale_with_validator_forwarded_unconditionally() -> None:
    """A stale POST answer is never validated: no If-None-Match, the entry is the fallback."""
    cache = PostScenario()
    cache.post(origin=respond(200, {**FRESH, "ETag": '"v1"', "Last-Modified": "x"}))
    outcome = cache.post(at=120, origin=respond(200, FRESH))
    decision = outcome.decision
    assert isinstance(decision, Forward)
    assert decision.reason == "stale"
    assert decision.fallback is not None and decision.fallback.request.method == "POST"
    assert outcome.sent[0].header("if-none-match") is None
    assert outcome.sent[0].header("if-modified-since") is None


def test_post_stale_if_error_serves_stored_answer() -> None:
    """RFC 5861 §4: stale-if-error applies to a stale POST answer when the origin fails."""
    cache = PostScenario()
    cache.post(origin=respond(200, {"Cache-Control": "max-age=60, stale-if-error=600"}))
    outcome = cache.post(at=120, origin=respond(503, {}))
    assert outcome.kind == "stale-on-error"
    assert outcome.status == 200


def test_post_max_stale_serves_stale() -> None:
    """RFC 9111 §5.2.1.2: the request's max-stale accepts a stale POST answer."""
    cache = PostScenario()
    cache.post(origin=respond(200, FRESH))
    assert cache.post(at=100, headers={"Cache-Control": "max-stale=60"}).kind == "hit"
    assert cache.post(at=100).kind == "forwarded"


def test_post_always_revalidate_forwards_unconditionally() -> None:
    """always_revalidate means "ask the origin": for a POST, a plain forward."""
    cache = PostScenario(always_revalidate=True)
    cache.post(origin=respond(200, {**FRESH, "ETag": '"v1"'}))
    outcome = cache.post(at=1)
    assert isinstance(outcome.decision, Forward)


# --- invalidation (RFC 9111 §4.4) ------------------------------------------------------------


def test_body_keyed_post_leaves_get_entry() -> None:
    """The user declared the POST a query: the URL's stored GET answer stays."""
    cache = PostScenario()
    cache.fetch(origin=respond(200, FRESH))
    cache.post(at=1, origin=respond(200, {**FRESH, "Content-Location": "/a", "Location": "/a"}))
    assert cache.fetch(at=2).kind == "hit"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_plain_unsafe_request_invalidates_get_entry(method: str) -> None:
    """I-1, I-2: a POST that is not body-keyed, and every other unsafe method, invalidate."""
    cache = PostScenario()
    cache.fetch(origin=respond(200, FRESH))
    cache.fetch(at=1, method=method, origin=respond(200, {}))
    assert cache.fetch(at=2, origin=respond(200, FRESH)).kind == "forwarded"


def test_invalidated_urls_none_for_body_keyed() -> None:
    """RFC 9111 §4.4 is for unsafe requests; a body-keyed POST is a query."""
    headers = h({"Location": "/b"})
    assert invalidated_urls("POST", BASE + "/a", 200, headers) == [BASE + "/a", BASE + "/b"]
    assert invalidated_urls("POST", BASE + "/a", 200, headers, body_keyed=True) == []


def test_on_response_body_keyed_plan_invalidates_nothing() -> None:
    """The plan of a body-keyed POST's answer stores it and invalidates nothing."""
    options = CacheOptions()
    key = body_key(primary_key(BASE + "/a"), QUERY, None)
    creq = CacheRequest("POST", BASE + "/a", (), key, body_keyed=True)
    answer = ResponseHead(200, h({**FRESH, "Location": "/b", "Date": http_date(0)}))
    plan = on_response(creq, Forward("uri-miss"), answer, T0, T0, options)
    assert plan.invalidate == ()
    assert plan.store is not None and plan.store.key == key


# --- selection: a stored POST answers only a body-keyed POST ---------------------------------


def test_stored_post_never_answers_get_or_plain_post() -> None:
    """RFC 9111 §4: a stored POST answer (even under the same key) answers only a
    body-keyed POST; a GET or a plain POST goes to the origin."""
    cache = PostScenario()
    cache.post(origin=respond(200, FRESH))
    (entry,) = cache.stored_posts()
    options = cache.options
    get = CacheRequest("GET", BASE + "/a", (), entry.key)
    head = CacheRequest("HEAD", BASE + "/a", (), entry.key)
    plain = CacheRequest("POST", BASE + "/a", (), entry.key)
    keyed = CacheRequest("POST", BASE + "/a", (), entry.key, body_keyed=True)
    assert isinstance(on_request(get, [entry], T0 + 1, options), Forward)
    assert isinstance(on_request(head, [entry], T0 + 1, options), Forward)
    assert isinstance(on_request(plain, [entry], T0 + 1, options), Forward)
    assert isinstance(on_request(keyed, [entry], T0 + 1, options), Serve)


def test_rfc_9110_post_path_unchanged_for_plain_post() -> None:
    """S-24, RFC 9110 §9.3.3: a plain POST's answer with Content-Location still serves GET."""
    cache = PostScenario(cacheable_methods={"GET", "HEAD", "POST"})
    cache.fetch(method="POST", origin=respond(200, {**FRESH, "Content-Location": "/a"}))
    assert cache.fetch(at=1).kind == "hit"
    assert cache.post(at=1).kind == "forwarded"  # stored as a GET's: no body-keyed match
