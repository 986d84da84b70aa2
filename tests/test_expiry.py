"""Storage lifetimes (pure): absolute ttl, sliding ttl, and the max_lifetime bound."""

from __future__ import annotations

from dataclasses import replace

import pytest

from httpcache import ConfigurationError, Entry, RequestHead, ResponseHead
from httpcache._storages._expiry import Lifetime, expires_at, is_expired

T0 = 1_000.0


def entry(**changes: object) -> Entry:
    base = Entry(
        key="http://example.com/",
        variant="",
        request=RequestHead("GET", "http://example.com/"),
        response=ResponseHead(200),
        request_time=T0,
        response_time=T0,
        created_at=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_no_ttl_and_no_bound_never_expires() -> None:
    assert expires_at(entry(), Lifetime()) is None
    assert not is_expired(entry(), Lifetime(), T0 + 10**9)


def test_ttl_counts_from_the_last_write() -> None:
    freshened = entry(response_time=T0 + 50, request_time=T0 + 49)
    assert expires_at(entry(), Lifetime(ttl=10)) == T0 + 10
    assert expires_at(freshened, Lifetime(ttl=10)) == T0 + 60


def test_a_hit_renews_only_a_sliding_ttl() -> None:
    hit = entry(accessed_at=T0 + 8)
    assert expires_at(hit, Lifetime(ttl=10)) == T0 + 10
    assert expires_at(hit, Lifetime(ttl=10, sliding=True)) == T0 + 18


def test_entry_ttl_overrides_the_storage_ttl_and_slides_too() -> None:
    hit = entry(ttl=5.0, accessed_at=T0 + 4)
    assert expires_at(hit, Lifetime(ttl=100, sliding=True)) == T0 + 9


def test_max_lifetime_bounds_renewals_and_counts_from_creation() -> None:
    lifetime = Lifetime(ttl=10, sliding=True, max_lifetime=25)
    assert expires_at(entry(accessed_at=T0 + 20), lifetime) == T0 + 25
    freshened = entry(response_time=T0 + 20, request_time=T0 + 20)
    assert expires_at(freshened, lifetime) == T0 + 25  # a 304 does not extend it either
    assert expires_at(entry(), Lifetime(max_lifetime=30)) == T0 + 30
    assert is_expired(entry(), Lifetime(max_lifetime=30), T0 + 30)
    assert not is_expired(entry(), Lifetime(max_lifetime=30), T0 + 29.9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"ttl": -1}, "ttl must not be negative", id="negative-ttl"),
        pytest.param({"max_lifetime": -1}, "max_lifetime must not", id="negative-bound"),
        pytest.param({"sliding": True}, "sliding expiry needs a ttl", id="sliding-no-ttl"),
    ],
)
def test_bad_lifetimes_are_configuration_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Lifetime(**kwargs)  # type: ignore[arg-type]
