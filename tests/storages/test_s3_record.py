"""The S3 record framing, its changes and the storage's memory of records (pure, no I/O)."""

from __future__ import annotations

import datetime
import json
import struct
from dataclasses import replace

import pytest

from httpcache import Entry, JSONSerializer, RequestHead, ResponseHead, SerializationError
from httpcache._storages._expiry import Lifetime
from httpcache._storages._hits import PendingHit
from httpcache._storages.s3._common import (
    KeyGroup,
    KeyGrouper,
    KeyPlace,
    ObjectInfo,
    digest,
    orphans,
    written_before,
)
from httpcache._storages.s3._memo import RecordMemo
from httpcache._storages.s3._record import (
    Record,
    Slot,
    add_hits,
    decode_record,
    drop_expired,
    drop_variants,
    dropped_bodies,
    encode_record,
    freshen,
    new_slot,
    parse_record_metadata,
    put_slot,
    record_metadata,
    slot_entry,
)

T0 = 1_000.0
KEY = "http://example.com/a"
KEY_HASH = digest(KEY)
SERIALIZER = JSONSerializer()


def entry(variant: str = "v", **changes: object) -> Entry:
    base = Entry(
        key=KEY,
        variant=variant,
        request=RequestHead("GET", KEY),
        response=ResponseHead(200),
        request_time=T0,
        response_time=T0,
        created_at=T0,
        size=4,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def slot(
    variant: str = "v", body: bytes | None = b"body", body_id: str = "a" * 32, **changes: object
) -> Slot:
    e = entry(variant, **changes)
    return new_slot(e, SERIALIZER.dumps(e), body, body_id)


def record(*slots: Slot) -> Record:
    return Record(KEY_HASH, tuple(slots))


# -- framing -------------------------------------------------------------------------------


def test_record_round_trip_keeps_heads_inline_bodies_and_references() -> None:
    original = record(
        slot("en"), slot("de", body=None, body_id="b" * 32), slot("fr", body=b"", size=0)
    )
    data = encode_record(original)
    assert b"body" in data and b"Ym9keQ" not in data  # raw bytes, never base64
    assert decode_record(data, KEY_HASH) == original
    assert original.body_ids() == {"b" * 32}


def test_slot_entry_carries_body_reference_and_pending_hits() -> None:
    stored = replace(slot(), hits=3, accessed_at=T0 + 1)
    pending = PendingHit(KEY, "v", T0, 4, 2, T0 + 5, False, entry())
    found = slot_entry(SERIALIZER, KEY_HASH, stored, lambda k, v, c: pending)
    assert (found.body, found.body_ref, found.hits, found.accessed_at) == (
        b"body",
        "a" * 32,
        5,
        T0 + 5,
    )
    assert slot_entry(SERIALIZER, KEY_HASH, stored).hits == 3


def _frame(index: object, blobs: bytes = b"") -> bytes:
    text = json.dumps(index).encode()
    return b"HCS3\x02" + struct.pack(">I", len(text)) + text + blobs


GOOD = encode_record(record(slot()))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"HCS3\x01" + GOOD[5:], id="other-version"),
        pytest.param(GOOD[:-1], id="truncated"),
        pytest.param(GOOD + b"x", id="trailing-bytes"),
        pytest.param(_frame({"k": "0" * 64, "s": []}), id="another-key"),
        pytest.param(_frame({"k": KEY_HASH, "s": [[1]]}), id="short-slot"),
        pytest.param(b"HCS3\x02\x00\x00\x00\x03{{{", id="index-not-json"),
        pytest.param(
            _frame(
                {"k": KEY_HASH, "s": [["a" * 32, "0" * 64, "NaN", T0, None, None, 0, 0, 0, True]]}
            ),
            id="not-a-number",
        ),
        pytest.param(
            _frame(
                {"k": KEY_HASH, "s": [["a" * 32, "0" * 64, T0, T0, None, None, -1, 0, 0, True]]}
            ),
            id="negative-hits",
        ),
        pytest.param(
            encode_record(record(slot(), replace(slot(), id="b" * 32))),
            id="variant-twice",
        ),
    ],
)
def test_decode_record_malformed_raises_serialization_error(data: bytes) -> None:
    with pytest.raises(SerializationError):
        decode_record(data, KEY_HASH)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"created_at": T0 + 1}, id="other-created-at"),
        pytest.param({"size": 5}, id="other-size"),
        pytest.param({"variant_hash": digest("w")}, id="other-variant"),
    ],
)
def test_slot_entry_head_that_disagrees_with_its_slot_raises(changes: dict[str, object]) -> None:
    with pytest.raises(SerializationError):
        slot_entry(SERIALIZER, KEY_HASH, replace(slot(), **changes))  # type: ignore[arg-type]


# -- metadata ------------------------------------------------------------------------------


def test_record_metadata_lets_a_sweep_judge_each_variant_under_its_own_lifetime() -> None:
    written = record(slot("a"), slot("b", ttl=5.0))
    meta = parse_record_metadata(record_metadata(written, Lifetime(ttl=10)))
    assert meta.entries == 2
    assert meta.expired(Lifetime(ttl=10), T0 + 6) == 1
    assert meta.expired(Lifetime(ttl=10), T0 + 10) == 2
    assert meta.expired(Lifetime(ttl=100), T0 + 10) == 1  # the reader's ttl applies
    assert meta.expired(Lifetime(), T0 + 10**9) == 1  # the entry's own ttl still does


def test_record_metadata_too_many_variants_leaves_judging_to_a_read() -> None:
    many = record(*(replace(slot(str(i)), id=f"{i:032x}") for i in range(100)))
    meta = parse_record_metadata(record_metadata(many, Lifetime(ttl=10)))
    assert (meta.entries, meta.times, meta.expired(Lifetime(ttl=10), T0)) == (100, None, None)


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({}, id="none"),
        pytest.param({"httpcache-format": "1", "httpcache-entries": "1"}, id="first-format"),
        pytest.param({"httpcache-format": "2", "httpcache-entries": "x"}, id="bad-count"),
        pytest.param(
            {"httpcache-format": "2", "httpcache-entries": "2", "httpcache-times": "1,1,-,-"},
            id="count-disagrees",
        ),
        pytest.param(
            {"httpcache-format": "2", "httpcache-entries": "1", "httpcache-times": "1,x,-,-"},
            id="bad-times",
        ),
    ],
)
def test_parse_record_metadata_foreign_raises(metadata: dict[str, str]) -> None:
    with pytest.raises(SerializationError):
        parse_record_metadata(metadata)


# -- changes -------------------------------------------------------------------------------


def test_put_slot_replaces_its_variant_keeps_others_and_drops_expired() -> None:
    old = record(slot("en", body_id="1" * 32), slot("de", ttl=1.0), slot("fr"))
    new = put_slot(old, KEY_HASH, slot("en", body_id="2" * 32), Lifetime(), T0 + 2)
    assert [s.variant_hash for s in new.slots] == [digest("fr"), digest("en")]
    assert new.slots[-1].id == "2" * 32
    assert put_slot(None, KEY_HASH, slot(), Lifetime(), T0).slots == (slot(),)


def test_add_hits_only_on_the_stored_response_they_were_on() -> None:
    stored = record(slot("en"), slot("de"))
    hits = [
        PendingHit(KEY, "en", T0, 4, 3, T0 + 9, False, entry("en")),
        PendingHit(KEY, "de", T0 - 1, 4, 7, T0 + 9, False, entry("de")),  # an older response
    ]
    new = add_hits(stored, hits)
    assert new is not None
    assert [(s.hits, s.accessed_at) for s in new.slots] == [(3, T0 + 9), (0, None)]
    assert add_hits(stored, hits[1:]) is None
    assert add_hits(None, hits) is None


def test_freshen_replaces_the_head_keeps_body_and_hits() -> None:
    stored = record(replace(slot(), hits=4))
    fresher = entry(response=ResponseHead(200, ((b"etag", b'"2"'),)), response_time=T0 + 50)
    new = freshen(stored, fresher, SERIALIZER.dumps(fresher))
    assert new is not None
    [s] = new.slots
    assert (s.body, s.hits, s.written_at) == (b"body", 4, T0 + 50)
    assert SERIALIZER.loads(s.head).response.headers == ((b"etag", b'"2"'),)
    replaced = replace(fresher, body_ref="f" * 32)  # from another write of the variant
    assert freshen(stored, replaced, b"") is None


def test_drop_variants_and_expired_report_no_change_as_none() -> None:
    stored = record(slot("en", body=None, body_id="1" * 32), slot("de", ttl=1.0))
    assert drop_variants(stored, frozenset({digest("xx")})) is None
    emptied = drop_variants(stored, None)
    assert emptied is not None and emptied.slots == ()
    assert dropped_bodies(stored, emptied) == ["1" * 32]
    assert drop_expired(stored, Lifetime(), T0) is None
    pruned = drop_expired(stored, Lifetime(), T0 + 1)
    assert pruned is not None and [s.variant_hash for s in pruned.slots] == [digest("en")]


# -- memory --------------------------------------------------------------------------------


def test_record_memo_bounds_entries_and_bytes() -> None:
    memo = RecordMemo(size=2, budget=20)
    small = record(slot(body=b"", size=0))
    memo.put("a", '"1"', None)
    memo.put("b", '"2"', None)
    memo.put("c", '"3"', None)
    assert (memo.get("a"), memo.get("c"), len(memo)) == (None, ('"3"', None), 2)
    memo.put("big", '"4"', small)  # its head alone is over the budget: not kept
    assert memo.get("big") is None
    memo.forget("c")
    assert memo.get("c") is None


# -- listings ------------------------------------------------------------------------------

WALL = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


def info(name: str, age: float) -> ObjectInfo:
    return ObjectInfo(name, 1, WALL - datetime.timedelta(seconds=age))


def test_key_grouper_groups_across_pages_and_namespaces() -> None:
    grouper = KeyGrouper("p/")
    a, b = digest("a"), digest("b")
    names = [
        f"p/e/{a}/{'1' * 32}.body",
        f"p/e/{a}/record",
        f"p/e/{a}/{'0' * 64}.head",  # the first layout
        "p/e/not-ours",
        f"p/ns/x/e/{b}/record",
    ]
    done = [g for n in names if (g := grouper.add(info(n, 0))) is not None]
    last = grouper.finish()
    assert last is not None
    groups = [*done, last]
    assert [g.place for g in groups] == [KeyPlace("p/", a), KeyPlace("p/ns/x/", b)]
    assert (groups[0].legacy_heads, list(groups[0].bodies)) == (1, ["1" * 32])
    assert groups[1].place.record == f"p/ns/x/e/{b}/record"


def test_orphans_and_a_dead_records_bodies() -> None:
    place = KeyPlace("p/", digest("a"))
    record = info(place.record, 100)
    group = KeyGroup(place, record=record)
    group.bodies = {
        "1" * 32: info(place.body("1" * 32), 7200),  # named by the record
        "2" * 32: info(place.body("2" * 32), 7200),  # named by none: debris
        "3" * 32: info(place.body("3" * 32), 10),  # too young to judge
    }
    assert orphans(group, frozenset({"1" * 32}), WALL) == [place.body("2" * 32)]
    assert written_before(group, record) == [place.body("1" * 32), place.body("2" * 32)]
