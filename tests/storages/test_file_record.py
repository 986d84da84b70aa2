"""File storage record framing and names (pure): round trips; every torn record refused."""

from __future__ import annotations

import pytest

from httpcache import SerializationError
from httpcache._storages.file import _layout as layout
from httpcache._storages.file._record import (
    MAGIC,
    Frame,
    decode_record,
    encode_record,
    record_size,
)

LIMIT = layout.MAX_RECORD_BYTES
TOKEN = "0123456789abcdef" * 2
FRAMES = [
    Frame(b'{"head": "inline"}', 5, body=b"hello"),
    Frame(b'{"head": "in a file"}', 123_456, token=TOKEN),
    Frame(b"", 0, body=b""),
]


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(FRAMES[:1], id="one-inline"),
        pytest.param(FRAMES[1:2], id="one-in-a-file"),
        pytest.param(FRAMES, id="mixed"),
    ],
)
def test_record_round_trip_keeps_every_frame(frames: list[Frame]) -> None:
    data = encode_record(frames)
    assert len(data) == record_size(frames)
    assert decode_record(data, LIMIT) == frames


def test_record_cut_short_anywhere_or_extended_is_refused() -> None:
    """A torn file (a crash, a foreign writer) never decodes into fewer or other frames."""
    data = encode_record(FRAMES)
    for end in range(len(data)):
        with pytest.raises(SerializationError):
            decode_record(data[:end], LIMIT)
    with pytest.raises(SerializationError):
        decode_record(data + b"\x00", LIMIT)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"httpcache-file/1 " + b"0" * 32 + b"\n{}", id="previous-format"),
        pytest.param(b"\x00not a record", id="garbage"),
        pytest.param(MAGIC + b"\x00\x00", id="no-variant"),
        pytest.param(MAGIC + b"\x00\x01\x07" + b"\x00" * 12, id="unknown-kind"),
        pytest.param(MAGIC + b"\x00\x01\x01" + b"\x00" * 12 + b"Z" * 32, id="token-not-hex"),
    ],
)
def test_record_foreign_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(SerializationError):
        decode_record(data, LIMIT)


def test_record_longer_than_the_limit_is_refused() -> None:
    data = encode_record([Frame(b"h", 100, body=b"x" * 100)])
    with pytest.raises(SerializationError):
        decode_record(data, len(data) - 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"body": b"x", "token": TOKEN}, id="both"),
        pytest.param({}, id="neither"),
        pytest.param({"body": b"xy"}, id="wrong-size"),
        pytest.param({"token": "../../etc/passwd"}, id="bad-token"),
    ],
)
def test_frame_invalid_raises(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Frame(b"head", 1, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        pytest.param("a" * 64 + ".head", "record", id="record"),
        pytest.param("a" * 64 + "." + TOKEN + ".body", "body", id="body"),
        pytest.param(".abc.tmp", "temp", id="temp"),
        pytest.param("a" * 63 + ".head", None, id="short-hash"),
        pytest.param("a" * 64 + ".xyz.body", None, id="bad-token"),
        pytest.param("notes.txt", None, id="foreign"),
    ],
)
def test_layout_parse_name_classifies_shard_files(name: str, kind: str | None) -> None:
    parsed = layout.parse_name(name)
    assert (parsed.kind if parsed else None) == kind


def test_layout_paths_shard_by_the_key_hash() -> None:
    hashed = layout.digest("http://example.com/a")
    assert layout.shard_dir("/c", hashed) == f"/c/entries/{hashed[:2]}"
    assert layout.record_name(hashed) == hashed + ".head"
    assert layout.body_name(hashed, TOKEN) == f"{hashed}.{TOKEN}.body"
    assert layout.namespace_dir("/c", ("a", "b")) == "/c/ns/a/ns/b"


def test_show_pending_adds_unwritten_hits_and_keeps_the_body() -> None:
    from dataclasses import replace

    from httpcache import Entry, RequestHead, ResponseHead
    from httpcache._storages._expiry import Lifetime
    from httpcache._storages._hits import HitBuffer
    from httpcache._storages.file._pending import show_pending

    entry = Entry(
        key="http://example.com/",
        variant="v",
        request=RequestHead("GET", "http://example.com/"),
        response=ResponseHead(200, ((b"ETag", b'"1"'),)),
        request_time=1.0,
        response_time=2.0,
        created_at=2.0,
        hits=3,
        size=2,
        accessed_at=5.0,
        body=b"hi",
        body_ref="ref",
    )
    other = replace(entry, variant="w")
    hits = HitBuffer(Lifetime(), interval=60)
    assert show_pending(hits, [entry]) == [entry]
    hits.add(entry, 9.0)
    hits.add(entry, 10.0)
    shown, untouched = show_pending(hits, [entry, other])
    assert shown == replace(entry, hits=5)  # accessed_at stays as written back
    assert (shown.body, shown.body_ref) == (b"hi", "ref")
    assert untouched is other
