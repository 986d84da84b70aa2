"""Hit bookkeeping (pure): batching, sliding renewal, and what a batch carries."""

from __future__ import annotations

from dataclasses import replace

import pytest

from httpcache import Entry, RequestHead, ResponseHead
from httpcache._storages._expiry import Lifetime
from httpcache._storages._hits import HitBuffer

T0 = 1_000.0


def entry(url: str = "http://example.com/", **changes: object) -> Entry:
    base = Entry(
        key=url,
        variant="",
        request=RequestHead("GET", url),
        response=ResponseHead(200),
        request_time=T0,
        response_time=T0,
        created_at=T0,
        size=3,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_hits_within_the_interval_are_batched_then_due_once_it_passes() -> None:
    hits = HitBuffer(Lifetime(), interval=1.0)
    assert hits.add(entry(), T0) is False
    assert hits.add(entry(), T0 + 0.5) is False
    assert hits.add(entry("http://example.com/b"), T0 + 0.9) is False
    assert hits.add(entry(), T0 + 1.0) is True
    batch = {pending.key: pending for pending in hits.drain(T0 + 1.0)}
    assert batch["http://example.com/"].count == 3
    assert batch["http://example.com/"].accessed_at == T0 + 1.0
    assert batch["http://example.com/b"].count == 1
    assert len(hits) == 0
    assert hits.add(entry(), T0 + 1.5) is False  # the next interval starts at the drain


def test_a_newer_response_under_the_same_variant_is_counted_apart() -> None:
    hits = HitBuffer(Lifetime())
    hits.add(entry(), T0)
    hits.add(entry(created_at=T0 + 5, request_time=T0 + 5, response_time=T0 + 5), T0 + 6)
    batch = sorted(hits.drain(), key=lambda pending: pending.created_at)
    assert [(p.created_at, p.count) for p in batch] == [(T0, 1), (T0 + 5, 1)]


@pytest.mark.parametrize(
    ("lifetime", "accessed_at", "now", "due"),
    [
        pytest.param(Lifetime(ttl=100), None, T0 + 99, False, id="absolute-ttl-never-renews"),
        pytest.param(Lifetime(), None, T0 + 10**6, False, id="no-ttl-never-renews"),
        pytest.param(Lifetime(ttl=100, sliding=True), None, T0 + 9.9, False, id="under-a-tenth"),
        pytest.param(Lifetime(ttl=100, sliding=True), None, T0 + 10, True, id="a-tenth-passed"),
        pytest.param(
            Lifetime(ttl=100, sliding=True), T0 + 50, T0 + 55, False, id="recently-renewed"
        ),
        pytest.param(
            Lifetime(ttl=100, sliding=True), T0 + 50, T0 + 60, True, id="renewed-long-ago"
        ),
    ],
)
def test_renewal_is_due_once_a_tenth_of_the_ttl_has_passed(
    lifetime: Lifetime, accessed_at: float | None, now: float, due: bool
) -> None:
    hit = entry(accessed_at=accessed_at)
    assert lifetime.renewal_due(hit, now) is due
    hits = HitBuffer(lifetime, interval=3600)
    assert hits.add(hit, now) is due
    assert hits.drain()[0].renew is due


def test_the_entry_ttl_sets_the_renewal_step() -> None:
    lifetime = Lifetime(ttl=1000, sliding=True)
    assert lifetime.renewal_due(entry(ttl=10.0), T0 + 1)
    assert not lifetime.renewal_due(entry(), T0 + 1)


def test_discard_and_clear_forget_pending_hits() -> None:
    hits = HitBuffer(Lifetime())
    hits.add(entry(), T0)
    hits.add(entry(variant="v2"), T0)
    hits.add(entry("http://example.com/b"), T0)
    hits.discard("http://example.com/", {"v2"})
    assert sorted((p.key, p.variant) for p in hits.drain()) == [
        ("http://example.com/", ""),
        ("http://example.com/b", ""),
    ]
    hits.add(entry(), T0)
    hits.discard("http://example.com/")
    assert hits.drain() == []
    hits.add(entry(), T0)
    hits.clear()
    assert len(hits) == 0


def test_entry_body_must_match_its_size_and_is_never_compared() -> None:
    with pytest.raises(ValueError, match="exactly"):
        entry(body=b"toolong")
    assert entry(body=b"abc") == entry()
    assert "abc" not in repr(entry(body=b"abc"))


def test_counted_is_replace_of_hits_and_accessed_at_and_keeps_every_other_field() -> None:
    stored = entry(hits=4, ttl=9.0, invalidated=True, force_cached=True, body=b"abc", body_ref="r")
    hit = stored.counted(5, T0 + 7)
    assert hit == replace(stored, hits=5, accessed_at=T0 + 7)
    assert (hit.body, hit.body_ref) == (b"abc", "r")  # not compared, but carried
    for name in Entry.__dataclass_fields__:
        if name not in ("hits", "accessed_at"):
            assert getattr(hit, name) == getattr(stored, name), name


def test_freshened_replaces_headers_and_times_and_clears_invalidated() -> None:
    stored = entry(hits=2, invalidated=True, body=b"abc", body_ref="r", accessed_at=T0 + 1)
    headers = ((b"ETag", b'"v2"'),)
    fresh = stored.freshened(headers, T0 + 10, T0 + 11)
    assert fresh == replace(
        stored,
        response=replace(stored.response, headers=headers),
        request_time=T0 + 10,
        response_time=T0 + 11,
        invalidated=False,
    )
    assert (fresh.body, fresh.body_ref) == (b"abc", "r")


def test_pending_tells_the_hits_not_yet_written_back_of_one_response() -> None:
    hits = HitBuffer(Lifetime(), interval=60)
    first, later = entry(hits=1), entry(hits=2)
    hits.add(first, T0)
    hits.add(later, T0 + 1)
    pending = hits.pending("http://example.com/", "", T0)
    assert pending is not None
    assert (pending.count, pending.accessed_at, pending.entry) == (2, T0 + 1, later)
    assert hits.pending("http://example.com/", "", T0 + 1) is None  # another response
    hits.drain()
    assert hits.pending("http://example.com/", "", T0) is None
