"""P-1, RFC 9110 §2.3/§2.4: nothing a server or user sends makes the policy raise.

Random values for every field the cache reads are thrown at the whole engine:
storing, reusing, revalidating, freshening with a 304, serving stale on error
and invalidating.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from httpcache import CacheOptions
from httpcache._models import ResponseHead
from httpcache._policy._engine import (
    CacheRequest,
    Forward,
    Revalidate,
    Serve,
    on_request,
    on_response,
    stale_on_error,
)
from httpcache._policy._keys import primary_key

FIELDS = [
    b"cache-control",
    b"pragma",
    b"expires",
    b"date",
    b"last-modified",
    b"age",
    b"etag",
    b"vary",
    b"connection",
    b"location",
    b"content-location",
    b"content-length",
    b"if-none-match",
    b"if-modified-since",
    b"accept-language",
    b"authorization",
]
ALPHABET = '=,; \t"\\W/0123456789abcdefmax-agenostorecachepublicprivate*GMTMonNov-:'

values = st.one_of(
    st.binary(max_size=40),
    st.text(alphabet=ALPHABET, max_size=40).map(lambda t: t.encode("latin-1")),
)
headers = st.lists(st.tuples(st.sampled_from(FIELDS), values), max_size=8).map(tuple)
statuses = st.sampled_from([200, 203, 204, 206, 301, 302, 304, 404, 500, 503, 599])
methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PURGE"])
options = st.builds(
    CacheOptions,
    shared=st.booleans(),
    allow_stale=st.booleans(),
    cacheable_methods=st.sampled_from([{"GET", "HEAD"}, {"GET", "HEAD", "POST"}]),
)
URL = "http://example.com/a"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    opts=options,
    method=methods,
    first_request=headers,
    first_response=headers,
    second_request=headers,
    second_response=headers,
    status=statuses,
    second_status=statuses,
    elapsed=st.floats(min_value=0, max_value=1e7, allow_nan=False),
)
def test_engine_random_headers_never_raise(
    opts: CacheOptions,
    method: str,
    first_request: tuple[tuple[bytes, bytes], ...],
    first_response: tuple[tuple[bytes, bytes], ...],
    second_request: tuple[tuple[bytes, bytes], ...],
    second_response: tuple[tuple[bytes, bytes], ...],
    status: int,
    second_status: int,
    elapsed: float,
) -> None:
    """P-1: a full store → reuse/revalidate → freshen cycle on random fields."""
    now = 1_000_000.0
    first = CacheRequest(method, URL, first_request, primary_key(URL))
    decision = on_request(first, [], now, opts)
    assert isinstance(decision, (Forward, Revalidate))
    plan = on_response(first, decision, ResponseHead(status, first_response), now, now, opts)
    stored = [plan.store] if plan.store is not None else []

    later = now + elapsed
    second = CacheRequest("GET", URL, second_request, primary_key(URL))
    decision = on_request(second, stored, later, opts)
    if isinstance(decision, Serve):
        assert int(decision.age) >= 0
        return
    if isinstance(decision, (Forward, Revalidate)):
        on_response(
            second, decision, ResponseHead(second_status, second_response), later, later, opts
        )
        fallback = decision.entry if isinstance(decision, Revalidate) else decision.fallback
        if fallback is not None:
            stale_on_error(second, fallback, second_status, later, opts)
            stale_on_error(second, fallback, None, later, opts)
