"""Range requests in the pure policy (RFC 9110 §14, §13.1.5; RFC 9111 §3.3, §4).

A single ``bytes`` range on a stored complete 200 of known length that may be served
without validation becomes a 206 (``Serve.content_range``) or a 416; an ignored range
(invalid, another unit, HEAD) is the whole response; whatever needs the origin (several
ranges, a miss, a stale response) is forwarded as a bypass that stores nothing.
"""

from __future__ import annotations

import pytest

from httpcache import CacheOptions
from httpcache._models import Entry, RequestHead, ResponseHead
from httpcache._policy import _ranges
from httpcache._policy._engine import (
    CacheRequest,
    Forward,
    GatewayTimeout,
    Revalidate,
    Serve,
    on_request,
)
from httpcache._policy._keys import primary_key
from httpcache._policy._ranges import (
    FORWARD,
    ByteRange,
    if_range_holds,
    known_length,
    parse_range,
    requested_range,
    resolve,
)

from .scenario import BASE, T0, HeaderInput, Scenario, h, http_date, respond

BODY_LENGTH = 10
LAST_MODIFIED = http_date(-3600)


def stored(headers: HeaderInput | None = None, *, status: int = 200, **options: object) -> Scenario:
    """A cache holding one 10-byte response (``max-age=60``, ``ETag: "a"``) stored at t=0."""
    response = {
        "Cache-Control": "max-age=60",
        "ETag": '"a"',
        "Last-Modified": LAST_MODIFIED,
        "Content-Type": "text/plain",
        "Content-Length": str(BODY_LENGTH),
    }
    response.update(dict(headers or {}))  # type: ignore[arg-type]
    cache = Scenario(**options)
    cache.fetch(origin=respond(status, response))
    assert len(cache.stored()) == 1
    return cache


def served(outcome: object) -> Serve:
    decision = getattr(outcome, "decision", None)
    assert isinstance(decision, Serve), decision
    return decision


def bypassed(outcome: object) -> Forward:
    decision = getattr(outcome, "decision", None)
    assert isinstance(decision, Forward), decision
    assert (decision.reason, decision.storable) == ("bypass", False)
    return decision


def entry(headers: HeaderInput, **fields: object) -> Entry:
    """A stored 200 with ``headers``, received at t=0."""
    return Entry(
        key=primary_key(BASE + "/a"),
        variant="v",
        request=RequestHead("GET", BASE + "/a", ()),
        response=ResponseHead(200, h(headers)),
        request_time=T0,
        response_time=T0,
        created_at=T0,
        **fields,  # type: ignore[arg-type]
    )


# --- parsing: RFC 9110 §14.1.2, §14.2 ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(b"bytes=0-4", ByteRange(first=0, last=4), id="int-range"),
        pytest.param(b"bytes=5-", ByteRange(first=5), id="open-ended"),
        pytest.param(b"bytes=-3", ByteRange(suffix_length=3), id="suffix"),
        pytest.param(b"bytes=0-0", ByteRange(first=0, last=0), id="one-byte"),
        pytest.param(b"BYTES=1-2", ByteRange(first=1, last=2), id="unit-case-insensitive"),
        pytest.param(b" bytes=1-2\t", ByteRange(first=1, last=2), id="surrounding-whitespace"),
        pytest.param(b"bytes=1-2, ", ByteRange(first=1, last=2), id="empty-list-member"),
        pytest.param(b"bytes=007-0009", ByteRange(first=7, last=9), id="leading-zeros"),
        pytest.param(
            b"bytes=0-" + b"9" * 200, ByteRange(first=0, last=int("9" * 200)), id="huge-last"
        ),
    ],
)
def test_parse_range_single_range_parsed(value: bytes, expected: ByteRange) -> None:
    """RFC 9110 §14.1.2: int-range, open-ended and suffix-range forms."""
    assert parse_range(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"bytes=5-4", id="last-before-first"),
        pytest.param(b"bytes=", id="empty-set"),
        pytest.param(b"bytes=-", id="dash-only"),
        pytest.param(b"bytes=a-b", id="not-digits"),
        pytest.param(b"bytes=+1-2", id="sign"),
        pytest.param(b"bytes=1_0-20", id="underscore"),
        pytest.param(b"bytes=1-2-3", id="two-dashes"),
        pytest.param(b"bytes=1", id="no-dash"),
        pytest.param(b"bytes=1 - 2", id="inner-whitespace"),
        pytest.param(b"bytes =1-2", id="space-before-equals"),
        pytest.param(b"bytes 1-2", id="no-equals"),
        pytest.param(b"items=1-2", id="other-unit"),
        pytest.param(b"bytes=\xd9\xa1-2", id="non-ascii-digit"),
        pytest.param(b"bytes=0-1, 5-4", id="one-member-invalid"),
        pytest.param(b"bytes=0-" + b"9" * 1001, id="too-many-digits"),
    ],
)
def test_parse_range_invalid_or_other_unit_is_ignored(value: bytes) -> None:
    """RFC 9110 §14.1.1, §14.2: an invalid ranges-specifier or unknown unit is ignored."""
    assert parse_range(value) is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"bytes=0-1,3-4", id="two"),
        pytest.param(b"bytes=0-1, -2", id="with-suffix"),
        pytest.param(b"bytes=0-1,0-1", id="same-twice"),
    ],
)
def test_parse_range_several_ranges_are_the_origins(value: bytes) -> None:
    """RFC 9110 §14.6: a multipart/byteranges answer is left to the origin."""
    assert parse_range(value) is FORWARD


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        pytest.param("GET", {"Range": "bytes=1-2"}, ByteRange(first=1, last=2), id="GET"),
        pytest.param("GET", {}, None, id="no-range"),
        pytest.param("HEAD", {"Range": "bytes=1-2"}, None, id="HEAD-ignores"),
        pytest.param("POST", {"Range": "bytes=1-2"}, FORWARD, id="POST-forwards"),
        pytest.param("GET", [("Range", "bytes=1-2"), ("Range", "bytes=3-4")], None, id="two-lines"),
    ],
)
def test_requested_range_by_method(
    method: str, headers: HeaderInput, expected: ByteRange | object
) -> None:
    """RFC 9110 §14.2: Range is defined for GET; a HEAD ignores it."""
    assert requested_range(method, h(headers)) == expected


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({}, id="neither-form"),
        pytest.param({"first": 1, "suffix_length": 2}, id="both-forms"),
        pytest.param({"suffix_length": 2, "last": 3}, id="suffix-with-last"),
        pytest.param({"first": -1}, id="negative"),
        pytest.param({"first": 3, "last": 2}, id="last-before-first"),
    ],
)
def test_byte_range_rejects_impossible_values(fields: dict[str, int]) -> None:
    """STYLE 4: values are validated on construction."""
    with pytest.raises(ValueError):
        ByteRange(**fields)


# --- satisfiability: RFC 9110 §14.1.1, §14.1.2 --------------------------------------------------


@pytest.mark.parametrize(
    ("byte_range", "length", "expected"),
    [
        pytest.param(ByteRange(first=0, last=4), 10, (0, 4), id="inside"),
        pytest.param(ByteRange(first=9, last=9), 10, (9, 9), id="last-byte"),
        pytest.param(ByteRange(first=5), 10, (5, 9), id="open-ended"),
        pytest.param(ByteRange(first=5, last=100), 10, (5, 9), id="last-clipped"),
        pytest.param(ByteRange(suffix_length=3), 10, (7, 9), id="suffix"),
        pytest.param(ByteRange(suffix_length=100), 10, (0, 9), id="suffix-longer-than-body"),
        pytest.param(ByteRange(first=10), 10, None, id="first-at-end"),
        pytest.param(ByteRange(first=11, last=12), 10, None, id="first-past-end"),
        pytest.param(ByteRange(suffix_length=0), 10, None, id="suffix-zero"),
        pytest.param(ByteRange(first=0), 0, None, id="empty-body"),
        pytest.param(ByteRange(suffix_length=1), 0, None, id="suffix-of-empty-body"),
    ],
)
def test_resolve_clips_or_reports_unsatisfiable(
    byte_range: ByteRange, length: int, expected: tuple[int, int] | None
) -> None:
    """RFC 9110 §14.1.2: past-the-end positions are clipped; §14.1.1 unsatisfiable."""
    assert resolve(byte_range, length) == expected


@pytest.mark.parametrize(
    ("fields", "headers", "expected"),
    [
        pytest.param({"body": b"12345"}, {"Content-Length": "99"}, 5, id="inline-body"),
        pytest.param({"size": 7}, {"Content-Length": "99"}, 7, id="recorded-size"),
        pytest.param({}, {"Content-Length": " 12 "}, 12, id="content-length"),
        pytest.param({}, {"Content-Length": "twelve"}, None, id="invalid-content-length"),
        pytest.param({}, {}, None, id="unknown"),
    ],
)
def test_known_length_prefers_the_stored_body(
    fields: dict[str, object], headers: HeaderInput, expected: int | None
) -> None:
    """The stored body's length: inline, then the storage's size, then Content-Length."""
    assert known_length(entry(headers, **fields)) == expected


# --- If-Range: RFC 9110 §13.1.5, §8.8.2.2, §8.8.3.2 ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored_headers", "holds"),
    [
        pytest.param(b'"a"', {"ETag": '"a"'}, True, id="strong-match"),
        pytest.param(b' "a" ', {"ETag": '"a"'}, True, id="whitespace-trimmed"),
        pytest.param(b'"b"', {"ETag": '"a"'}, False, id="other-tag"),
        pytest.param(b'W/"a"', {"ETag": 'W/"a"'}, False, id="weak-never-matches"),
        pytest.param(b'"a"', {"ETag": 'W/"a"'}, False, id="stored-weak"),
        pytest.param(b'"a"', {}, False, id="no-stored-etag"),
        pytest.param(
            http_date(-60).encode(),
            {"Last-Modified": http_date(-60), "Date": http_date(0)},
            True,
            id="date-strong",
        ),
        pytest.param(
            http_date(-1).encode(),
            {"Last-Modified": http_date(-1), "Date": http_date(0)},
            True,
            id="date-one-second-before",
        ),
        pytest.param(
            http_date(0).encode(),
            {"Last-Modified": http_date(0), "Date": http_date(0)},
            False,
            id="date-weak-same-second",
        ),
        pytest.param(
            http_date(-120).encode(),
            {"Last-Modified": http_date(-60), "Date": http_date(0)},
            False,
            id="date-other",
        ),
        pytest.param(
            b"Sunday, 06-Nov-94 07:49:37 GMT",
            {"Last-Modified": http_date(-3600), "Date": http_date(0)},
            False,
            id="same-moment-other-format",
        ),
        pytest.param(http_date(-60).encode(), {"Date": http_date(0)}, False, id="no-last-modified"),
        pytest.param(
            http_date(-60).encode(), {"Last-Modified": http_date(-60)}, False, id="no-date"
        ),
        pytest.param(b"garbage", {"Last-Modified": "garbage"}, False, id="not-a-date"),
        pytest.param(b"", {"ETag": '"a"'}, False, id="empty"),
    ],
)
def test_if_range_holds(value: bytes, stored_headers: HeaderInput, holds: bool) -> None:
    """§13.1.5: a strong entity-tag match, or exactly the stored strong Last-Modified."""
    assert if_range_holds(value, entry(stored_headers)) is holds


# --- the decision: a fresh stored 200 answers one range ------------------------------------------


@pytest.mark.parametrize(
    ("value", "content_range", "length"),
    [
        pytest.param("bytes=2-5", "bytes 2-5/10", 4, id="int-range"),
        pytest.param("bytes=4-", "bytes 4-9/10", 6, id="open-ended"),
        pytest.param("bytes=-3", "bytes 7-9/10", 3, id="suffix"),
        pytest.param("bytes=8-100", "bytes 8-9/10", 2, id="clipped"),
        pytest.param("bytes=-50", "bytes 0-9/10", 10, id="suffix-longer"),
    ],
)
def test_fresh_stored_200_answers_a_range_with_206(
    value: str, content_range: str, length: int
) -> None:
    """RFC 9110 §14.4, §15.3.7: a 206 with Content-Range and the part's Content-Length."""
    cache = stored()

    outcome = cache.fetch(at=10, headers={"Range": value})

    decision = served(outcome)
    assert not outcome.contacted_origin
    first, last = (int(n) for n in content_range.split()[1].split("/")[0].split("-"))
    assert (decision.status, decision.content_range, decision.with_body) == (
        206,
        (first, last),
        True,
    )
    assert outcome.header("content-range") == content_range
    assert outcome.header("content-length") == str(length)
    assert outcome.header("age") == "10"  # RFC 9111 §4, A-8: as any hit
    assert outcome.header("etag") == '"a"'
    assert outcome.header("content-type") == "text/plain"
    assert (decision.stale, decision.ttl) == (False, 50)


def test_range_206_leaves_off_content_digests() -> None:
    """RFC 9530 §2: Content-Digest is the whole content's; Repr-Digest is the representation's."""
    cache = stored({"Content-Digest": "sha-256=:x:", "Repr-Digest": "sha-256=:y:"})

    outcome = cache.fetch(at=1, headers={"Range": "bytes=0-1"})

    assert outcome.status == 206
    assert outcome.header("content-digest") is None
    assert outcome.header("repr-digest") == "sha-256=:y:"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("bytes=10-", id="first-at-end"),
        pytest.param("bytes=20-30", id="past-end"),
        pytest.param("bytes=-0", id="suffix-zero"),
    ],
)
def test_unsatisfiable_range_gives_416(value: str) -> None:
    """RFC 9110 §15.5.17: a 416 with ``Content-Range: bytes */length`` and no body."""
    cache = stored({"Content-Encoding": "gzip"})

    outcome = cache.fetch(at=1, headers={"Range": value})

    decision = served(outcome)
    assert not outcome.contacted_origin
    assert (decision.status, decision.with_body, decision.content_range) == (416, False, None)
    assert outcome.header("content-range") == "bytes */10"
    assert outcome.header("content-length") == "0"
    assert outcome.header("content-type") is None
    assert outcome.header("content-encoding") is None
    assert outcome.header("etag") == '"a"'


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("bytes=5-4", id="last-before-first"),
        pytest.param("bytes=x", id="garbage"),
        pytest.param("items=0-1", id="other-unit"),
    ],
)
def test_ignored_range_serves_whole_200(value: str) -> None:
    """RFC 9110 §14.2: a server MAY ignore Range; an invalid one is ignored."""
    cache = stored()

    outcome = cache.fetch(at=1, headers={"Range": value})

    decision = served(outcome)
    assert (decision.status, decision.content_range) == (200, None)
    assert outcome.header("content-range") is None
    assert outcome.header("content-length") == "10"


def test_range_on_stored_200_of_unknown_length_serves_whole() -> None:
    """Only a body of known length is sliced."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=60"}))

    decision = served(cache.fetch(at=1, headers={"Range": "bytes=0-1"}))

    assert (decision.status, decision.content_range) == (200, None)


def test_range_on_empty_stored_body() -> None:
    """RFC 9110 §14.1.1: of an empty body only a suffix is satisfiable: it selects it all."""
    cache = stored({"Content-Length": "0"})

    assert served(cache.fetch(at=1, headers={"Range": "bytes=-5"})).status == 200
    assert served(cache.fetch(at=1, headers={"Range": "bytes=0-"})).status == 416


def test_range_on_stored_non_200_serves_it_whole() -> None:
    """Range applies to a 200's representation: a stored 404 is served as it is."""
    cache = stored(status=404)

    decision = served(cache.fetch(at=1, headers={"Range": "bytes=0-1"}))

    assert (decision.status, decision.content_range) == (404, None)


def test_head_with_range_is_a_plain_head() -> None:
    """RFC 9110 §14.2: Range is for GET; a HEAD is answered as a HEAD."""
    cache = stored()

    outcome = cache.fetch(at=1, method="HEAD", headers={"Range": "bytes=0-1"})

    decision = served(outcome)
    assert (decision.status, decision.with_body, decision.content_range) == (200, False, None)
    assert outcome.header("content-range") is None


# --- preconditions with a range --------------------------------------------------------------


@pytest.mark.parametrize(
    ("if_range", "status"),
    [
        pytest.param('"a"', 206, id="etag-strong-match"),
        pytest.param('"b"', 200, id="etag-changed"),
        pytest.param('W/"a"', 200, id="etag-weak"),
        pytest.param(LAST_MODIFIED, 206, id="date-matches-strong-last-modified"),
        pytest.param(http_date(-7200), 200, id="date-other"),
    ],
)
def test_if_range_gives_206_or_whole_200(if_range: str, status: int) -> None:
    """RFC 9110 §13.1.5: a validator that does not hold asks for the whole response."""
    cache = stored()

    outcome = cache.fetch(at=1, headers={"Range": "bytes=0-1", "If-Range": if_range})

    decision = served(outcome)
    assert not outcome.contacted_origin
    assert decision.status == status
    assert (decision.content_range is not None) is (status == 206)


def test_if_range_date_on_weak_last_modified_gives_whole_200() -> None:
    """RFC 9110 §8.8.2.2: a Last-Modified equal to Date is weak: never a 206 on a date."""
    cache = stored({"Last-Modified": http_date(0)})

    decision = served(cache.fetch(at=1, headers={"Range": "bytes=0-1", "If-Range": http_date(0)}))

    assert decision.status == 200


def test_if_range_without_range_still_goes_to_the_origin() -> None:
    """V-12: If-Range alone is the origin's to ignore (RFC 9110 §13.1.5)."""
    cache = stored()

    bypassed(cache.fetch(at=1, headers={"If-Range": '"a"'}))


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [pytest.param('"a"', 304, id="matches-304"), pytest.param('"b"', 206, id="differs-206")],
)
def test_user_conditional_is_evaluated_before_range(if_none_match: str, status: int) -> None:
    """RFC 9110 §13.2.2: If-None-Match first; when it does not match, the range applies."""
    cache = stored()

    outcome = cache.fetch(at=1, headers={"Range": "bytes=0-1", "If-None-Match": if_none_match})

    assert served(outcome).status == status


def test_range_with_origin_only_precondition_is_forwarded() -> None:
    """V-12: If-Match is evaluated by the origin, with or without a Range."""
    cache = stored()

    bypassed(cache.fetch(at=1, headers={"Range": "bytes=0-1", "If-Match": '"a"'}))


# --- what the origin answers -------------------------------------------------------------------


def test_several_ranges_are_forwarded_even_when_fresh() -> None:
    """RFC 9110 §14.6: several ranges are forwarded; the origin's 206 is not stored."""
    cache = stored()
    before = cache.stored()

    outcome = cache.fetch(
        at=1,
        headers={"Range": "bytes=0-1,4-5"},
        origin=respond(206, {"Content-Type": "multipart/byteranges; boundary=x"}),
    )

    bypassed(outcome)
    assert outcome.sent[0].header("range") == "bytes=0-1,4-5"
    assert cache.stored() == before


@pytest.mark.parametrize(
    "cache_control",
    [
        pytest.param("max-age=60", id="stale-with-validator"),
        pytest.param("max-age=60, stale-while-revalidate=600", id="within-swr-window"),
        pytest.param("no-cache", id="must-validate"),
    ],
)
def test_range_on_response_needing_validation_is_forwarded(cache_control: str) -> None:
    """A stale or unvalidated stored response: the origin answers the range (a bypass).

    The 206 it sends is never stored over the complete 200 (RFC 9111 §3.3, §3.4).
    """
    cache = stored({"Cache-Control": cache_control})
    before = cache.stored()
    partial = respond(206, {"Cache-Control": "max-age=60", "Content-Range": "bytes 0-1/10"})

    outcome = cache.fetch(at=100, headers={"Range": "bytes=0-1"}, origin=partial)

    bypassed(outcome)
    assert outcome.sent[0].header("range") == "bytes=0-1"
    assert outcome.sent[0].header("if-none-match") is None  # sent as the user sent it
    assert cache.stored() == before


def test_range_miss_is_forwarded_and_not_stored() -> None:
    """S-11: nothing stored, the origin answers; a 206 never becomes an entry."""
    cache = Scenario()
    partial = respond(206, {"Cache-Control": "max-age=60", "Content-Range": "bytes 0-1/10"})

    bypassed(cache.fetch(headers={"Range": "bytes=0-1"}, origin=partial))

    assert cache.stored() == []


def test_range_from_body_keyed_post_is_forwarded() -> None:
    """RFC 9110 §14.2: Range is not defined for POST; as before, the origin's."""
    creq = CacheRequest("POST", BASE + "/a", h({"Range": "bytes=0-1"}), "post-key", body_keyed=True)

    decision = on_request(creq, [], T0, CacheOptions(cache_post=True))

    assert decision == Forward("bypass", storable=False)


# --- no origin allowed: offline, only-if-cached ------------------------------------------------


def test_offline_answers_a_range_from_a_stale_response() -> None:
    """Offline serves what is stored, stale too (§4.2.4): the range is cut from it."""
    cache = stored()

    outcome = cache.fetch(at=100, headers={"Range": "bytes=1-2"}, offline=True)

    decision = served(outcome)
    assert (decision.status, decision.stale, decision.content_range) == (206, True, (1, 2))
    assert not outcome.contacted_origin


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param({"offline": True}, id="offline"),
        pytest.param({"only_if_cached": True}, id="only-if-cached"),
    ],
)
def test_several_ranges_without_the_origin_give_504(flags: dict[str, bool]) -> None:
    """RFC 9111 §5.2.1.7: what only the origin answers is a 504 when it must not be asked."""
    cache = stored()

    outcome = cache.fetch(at=1, headers={"Range": "bytes=0-1,3-4"}, **flags)  # type: ignore[arg-type]

    assert outcome.kind == "504"


def test_only_if_cached_range_on_stale_response_gives_504() -> None:
    """RFC 9111 §5.2.1.7: a stale response is not served; the origin is not asked."""
    cache = stored()

    outcome = cache.fetch(at=100, headers={"Range": "bytes=0-1", "Cache-Control": "only-if-cached"})

    assert outcome.kind == "504"


def test_answer_keeps_other_decisions_away_from_storage() -> None:
    """Anything but a plain Serve (or a 504) becomes a bypass that stores nothing."""
    creq = CacheRequest("GET", BASE + "/a", h({"Range": "bytes=0-1"}), primary_key(BASE + "/a"))
    stale = entry({"ETag": '"a"', "Content-Length": "10"})
    revalidate = Revalidate(stale, (stale,), h({"If-None-Match": '"a"'}), "stale")
    decisions = (revalidate, Forward("uri-miss"), Forward("stale", fallback=stale))
    for decision in decisions:
        answered = _ranges.answer(decision, ByteRange(first=0, last=1), creq)
        assert answered == Forward("bypass", storable=False)
    assert isinstance(_ranges.answer(GatewayTimeout(), None, creq), GatewayTimeout)
