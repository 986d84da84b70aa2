"""A collapsed request (``CacheRequest.validated_since``) reuses what its leader got for it."""

from __future__ import annotations

from tests.policy.scenario import T0, Scenario, respond


def test_a_response_validated_after_the_waiter_arrived_is_served_without_validation() -> None:
    cache = Scenario()
    origin = respond(200, {"Cache-Control": "max-age=0", "ETag": '"v1"'})
    cache.fetch("/a", at=0, origin=origin)  # stored at t=0, stale at once
    assert not cache.fetch("/a", at=5).hit  # a plain request must validate it
    waited = cache.fetch("/a", at=5, validated_since=T0 + 5)  # stored by t=5: it is ours
    assert waited.hit


def test_a_response_older_than_the_waiters_arrival_is_validated_as_usual() -> None:
    cache = Scenario()
    cache.fetch("/a", at=0, origin=respond(200, {"Cache-Control": "max-age=0", "ETag": '"v1"'}))
    assert not cache.fetch("/a", at=5, validated_since=T0 + 1).hit
