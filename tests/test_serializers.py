"""JSONSerializer: a versioned, readable record that keeps raw header bytes (DESIGN §4)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from httpcache import (
    ConfigurationError,
    Entry,
    JSONSerializer,
    PickleSerializer,
    RequestHead,
    ResponseHead,
    SerializationError,
    Serializer,
    YAMLSerializer,
)
from httpcache._serializers import FORMAT_VERSION, entry_to_dict

T0 = 784111777.0

ENTRY = Entry(
    key="http://example.com/a",
    variant="0123456789abcdef",
    request=RequestHead(
        "GET",
        "http://example.com/a?q=1",
        ((b"accept-language", b"de"), (b"authorization", b"sha256:abcd")),
    ),
    response=ResponseHead(
        200,
        (
            (b"Content-Type", b"text/plain"),
            (b"Set-Cookie", b"a=1"),
            (b"X-Name", b"caf\xe9"),
            (b"Set-Cookie", b"b=2"),
            (b"x-lower", b"\x00\x7f\xff raw"),
            (b"Cache-Control", b"max-age=60"),
        ),
        "Everything Fine",
        "HTTP/2",
    ),
    request_time=T0,
    response_time=T0 + 0.25,
    created_at=T0 + 0.25,
    hits=3,
    size=5,
    invalidated=True,
    ttl=30.5,
    force_cached=True,
    accessed_at=T0 + 9.5,
)


KEY = "0123456789abcdef-test-key"
WITHOUT_COOKIES = replace(
    ENTRY.response, headers=tuple(h for h in ENTRY.response.headers if h[0] != b"Set-Cookie")
)
SERIALIZERS: dict[str, Callable[..., Serializer]] = {
    "json": JSONSerializer,
    "pickle": PickleSerializer,
    "yaml": YAMLSerializer,
}


def test_json_serializer_is_a_serializer() -> None:
    """DESIGN §4: the default serializer implements the Serializer protocol."""
    assert isinstance(JSONSerializer(), Serializer)


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(ENTRY, id="every-field-set"),
        pytest.param(
            Entry(
                key="k",
                variant="",
                request=RequestHead("HEAD", "http://example.com/"),
                response=ResponseHead(204),
                request_time=0.0,
                response_time=0.0,
                created_at=0.0,
            ),
            id="defaults",
        ),
    ],
)
def test_json_serializer_round_trip_gives_equal_entry(entry: Entry) -> None:
    """P-32, S-13, DESIGN §4: order, repeats and non-ASCII bytes survive a round trip."""
    serializer = JSONSerializer(secret_key=KEY)
    assert serializer.loads(serializer.dumps(entry)) == entry


def test_json_serializer_round_trip_keeps_raw_header_bytes() -> None:
    """P-32, RFC 9110 §5.5: the raw value `caf\\xe9` comes back byte for byte."""
    serializer = JSONSerializer(secret_key=KEY)
    loaded = serializer.loads(serializer.dumps(ENTRY))
    assert loaded.response.headers == ENTRY.response.headers
    assert (b"X-Name", b"caf\xe9") in loaded.response.headers
    assert [v for k, v in loaded.response.headers if k == b"Set-Cookie"] == [b"a=1", b"b=2"]


def test_json_serializer_writes_versioned_envelope() -> None:
    """DESIGN §4: the record is JSON with a version tag and the body left out."""
    data = JSONSerializer().dumps(ENTRY)
    decoded = json.loads(data)
    assert decoded["httpcache"] == FORMAT_VERSION == 1
    assert decoded["entry"]["key"] == ENTRY.key
    assert decoded["entry"]["response"]["status"] == 200
    assert "body" not in decoded["entry"]
    assert data.decode("ascii")  # readable: pure ASCII JSON


def _envelope(**changes: Any) -> bytes:
    record = entry_to_dict(ENTRY)
    record["entry"].update(changes)
    return json.dumps(record).encode()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00\xff\xfe garbage", id="binary-garbage"),
        pytest.param(b"\xff" + JSONSerializer().dumps(ENTRY), id="corrupt-prefix"),
        pytest.param(JSONSerializer().dumps(ENTRY)[:-5], id="truncated"),
        pytest.param(b"[" * 100_000, id="deeply-nested"),
        pytest.param(b'"a string"', id="foreign-string"),
        pytest.param(b"[1, 2, 3]", id="foreign-list"),
        pytest.param(b"null", id="foreign-null"),
        pytest.param(b'{"key": "http://example.com/a"}', id="foreign-object"),
        pytest.param(
            json.dumps({**entry_to_dict(ENTRY), "httpcache": 2}).encode(), id="future-version"
        ),
        pytest.param(
            json.dumps({**entry_to_dict(ENTRY), "httpcache": 0}).encode(), id="past-version"
        ),
        pytest.param(
            json.dumps({**entry_to_dict(ENTRY), "httpcache": "1"}).encode(), id="version-as-text"
        ),
        pytest.param(json.dumps({"httpcache": 1}).encode(), id="no-entry"),
        pytest.param(json.dumps({"httpcache": 1, "entry": None}).encode(), id="entry-null"),
        pytest.param(_envelope(request=[]), id="request-not-object"),
        pytest.param(_envelope(response={"status": 200}), id="response-incomplete"),
        pytest.param(_envelope(key=""), id="empty-key"),
        pytest.param(_envelope(hits=-1), id="negative-hits"),
        pytest.param(_envelope(size="five"), id="size-not-number"),
        pytest.param(_envelope(request_time=T0 + 10), id="request-after-response"),
        pytest.param(_envelope(force_cached="false"), id="flag-as-text"),
        pytest.param(
            _envelope(response={**entry_to_dict(ENTRY)["entry"]["response"], "status": 1000}),
            id="status-out-of-range",
        ),
        pytest.param(
            _envelope(response={**entry_to_dict(ENTRY)["entry"]["response"], "headers": [["a"]]}),
            id="header-not-a-pair",
        ),
        pytest.param(
            _envelope(
                response={**entry_to_dict(ENTRY)["entry"]["response"], "headers": [["a", 1]]}
            ),
            id="header-value-not-text",
        ),
        pytest.param(
            _envelope(
                response={
                    **entry_to_dict(ENTRY)["entry"]["response"],
                    "headers": [["X", "\u20ac"]],
                }
            ),
            id="header-beyond-latin-1",
        ),
    ],
)
def test_json_serializer_unreadable_record_raises_serialization_error(data: bytes) -> None:
    """DESIGN §4: corrupt, foreign or other-version data is a SerializationError, nothing else."""
    with pytest.raises(SerializationError):
        JSONSerializer().loads(data)


def test_json_serializer_reads_a_record_written_before_accessed_at_existed() -> None:
    data = json.loads(JSONSerializer().dumps(ENTRY))
    del data["entry"]["accessed_at"]
    loaded = JSONSerializer().loads(json.dumps(data).encode())
    assert loaded == replace(ENTRY, accessed_at=None, response=WITHOUT_COOKIES)


def test_serialization_error_is_httpcache_error() -> None:
    """STYLE 5: one exception tree."""
    from httpcache import HTTPCacheError

    assert issubclass(SerializationError, HTTPCacheError)


# -- secrets at rest (DESIGN §5) --------------------------------------------------------


@pytest.mark.parametrize("kind", SERIALIZERS)
def test_serializer_without_a_key_leaves_set_cookie_out_of_the_record(kind: str) -> None:
    serializer = SERIALIZERS[kind]()
    data = serializer.dumps(ENTRY)
    assert b"a=1" not in data and b"b=2" not in data
    assert serializer.loads(data) == replace(ENTRY, response=WITHOUT_COOKIES)


@pytest.mark.parametrize("kind", SERIALIZERS)
def test_serializer_with_a_key_seals_set_cookie_and_opens_it_again(kind: str) -> None:
    serializer = SERIALIZERS[kind](secret_key=KEY)
    data = serializer.dumps(ENTRY)
    assert b"a=1" not in data and b"b=2" not in data
    assert serializer.loads(data) == ENTRY  # order among the other fields kept
    assert "<set>" in repr(serializer) and KEY not in repr(serializer)


def test_serializer_short_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        JSONSerializer(secret_key=b"short")


@pytest.mark.parametrize(
    "sealed", [["0"], [True], [99], [-1], "0"], ids=["text", "bool", "beyond", "negative", "str"]
)
def test_serializer_refuses_a_malformed_sealed_list(sealed: Any) -> None:
    record = entry_to_dict(ENTRY)
    record["entry"]["response"]["sealed"] = sealed
    with pytest.raises(SerializationError, match="sealed"):
        JSONSerializer().loads(json.dumps(record).encode())
