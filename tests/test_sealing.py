"""Sealing Set-Cookie values at rest on AES-256-GCM, with key rotation (DESIGN §5).

A record whose sealed value does not open (another key, no key, an older token format,
tampered, cut short, moved to another field or entry) or that holds a plain
``Set-Cookie`` is unreadable: a :class:`SerializationError`, which storages turn into a
logged miss and remove. Never a hit with its cookies silently missing or wrong.
"""

from __future__ import annotations

import base64
import json
import logging
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import httpcache
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
from httpcache._cli._main import main
from httpcache._sealing import TOKEN_PREFIX, Sealer, entry_context
from httpcache._serializers import entry_to_dict, without_sealed_values

OLD = "old-key-0123456789abcdef"
NEW = b"new-key-\x00\xff-0123456789abcdef"  # bytes keys may hold any byte
COOKIE_A = b"sid=COOKIE-A; HttpOnly"
COOKIE_B = b"pref=COOKIE-B"

ENTRY = Entry(
    key="http://example.com/a",
    variant="0123456789abcdef",
    request=RequestHead("GET", "http://example.com/a"),
    response=ResponseHead(
        200,
        (
            (b"Content-Type", b"text/plain"),
            (b"Set-Cookie", COOKIE_A),
            (b"Cache-Control", b"max-age=60"),
            (b"Set-Cookie2", COOKIE_B),
        ),
    ),
    request_time=1000.0,
    response_time=1000.5,
    created_at=1000.5,
)
OTHER = replace(ENTRY, key="http://example.com/b")
WITHOUT_COOKIES = replace(
    ENTRY,
    response=replace(
        ENTRY.response,
        headers=tuple(h for h in ENTRY.response.headers if not h[0].startswith(b"Set-Cookie")),
    ),
)

SERIALIZERS: dict[str, Callable[..., Serializer]] = {
    "json": JSONSerializer,
    "pickle": PickleSerializer,
    "yaml": YAMLSerializer,
}
ENCODE: dict[str, Callable[[Any], bytes]] = {
    "json": lambda record: json.dumps(record).encode(),
    "pickle": pickle.dumps,
    "yaml": lambda record: yaml.safe_dump(record).encode(),
}
DECODE: dict[str, Callable[[bytes], Any]] = {
    "json": json.loads,
    "pickle": pickle.loads,
    "yaml": yaml.safe_load,
}


def _field(token: str, at: int, char: str) -> str:
    """Return ``token`` with the character at ``at`` replaced by another one than ``char``."""
    swapped = char if token[at] != char else ("B" if char != "B" else "C")
    return token[:at] + swapped + token[at + 1 :]


# -- the sealer --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [b"", b"a=1", bytes(range(256)) * 40], ids=["empty", "short", "10k-every-byte"]
)
def test_sealer_round_trip_gives_the_value_back(value: bytes) -> None:
    sealer = Sealer(OLD)
    token = sealer.seal(value, field=b"Set-Cookie", context=b"ctx")
    assert token.startswith(TOKEN_PREFIX)
    assert sealer.open(token, field=b"set-cookie", context=b"ctx") == value  # names fold case
    assert Sealer(OLD.encode()).open(token, field=b"Set-Cookie", context=b"ctx") == value


def test_sealer_fresh_nonce_each_time() -> None:
    sealer = Sealer(OLD)
    tokens = {sealer.seal(b"same", field=b"set-cookie") for _ in range(50)}
    assert len(tokens) == 50


def test_sealer_rotation_first_key_seals_every_key_opens() -> None:
    old, new, both = Sealer(OLD), Sealer(NEW), Sealer([NEW, OLD])
    under_old = old.seal(b"v", field=b"set-cookie")
    assert both.open(under_old, field=b"set-cookie") == b"v"
    under_both = both.seal(b"v", field=b"set-cookie")
    assert new.open(under_both, field=b"set-cookie") == b"v"  # sealed under the first key
    with pytest.raises(SerializationError, match="does not hold"):
        old.open(under_both, field=b"set-cookie")
    with pytest.raises(SerializationError, match="does not hold"):
        new.open(under_old, field=b"set-cookie")
    assert both.key_count == 2 and new.key_count == 1


def _prefix_len(token: str) -> int:
    return len(TOKEN_PREFIX) + token[len(TOKEN_PREFIX) :].index(".") + 1


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        pytest.param(lambda t: t[:-1], "cut short|base64|authentication", id="last-char-cut"),
        pytest.param(lambda t: t[: _prefix_len(t) + 20], "cut short|base64", id="truncated"),
        pytest.param(lambda t: t[: _prefix_len(t)], "cut short", id="body-missing"),
        pytest.param(lambda t: t[: len(TOKEN_PREFIX) + 4], "base64|cut short", id="key-id-cut"),
        pytest.param(lambda t: _field(t, -5, "A"), "authentication", id="tag-flipped"),
        pytest.param(lambda t: _field(t, _prefix_len(t) + 20, "A"), "auth", id="nonce-flipped"),
        pytest.param(lambda t: _field(t, len(TOKEN_PREFIX) + 2, "A"), "hold", id="key-id-flipped"),
        pytest.param(lambda t: t.replace("v2.", "v3.", 1), "not a sealed token", id="version"),
        pytest.param(lambda t: "v1." + t[3:], "earlier HMAC scheme", id="old-v1-token"),
        pytest.param(lambda t: t + "!", "base64", id="junk-appended"),
        pytest.param(lambda t: "", "not a sealed token", id="empty"),
        pytest.param(lambda t: "sid=plain", "not a sealed token", id="plain"),
    ],
)
def test_sealer_forged_token_fails_closed(forge: Callable[[str], str], reason: str) -> None:
    sealer = Sealer(OLD)
    token = sealer.seal(b"sid=1", field=b"set-cookie", context=b"ctx")
    with pytest.raises(SerializationError, match=reason):
        sealer.open(forge(token), field=b"set-cookie", context=b"ctx")


@pytest.mark.parametrize(
    ("field", "context"),
    [
        pytest.param(b"set-cookie2", b"ctx", id="other-secret-field"),
        pytest.param(b"x-anything", b"ctx", id="other-field"),
        pytest.param(b"set-cookie", b"ctx2", id="other-entry"),
        pytest.param(b"set-cookie", b"", id="no-context"),
    ],
)
def test_sealer_token_moved_to_another_field_or_entry_fails(field: bytes, context: bytes) -> None:
    sealer = Sealer(OLD)
    token = sealer.seal(b"sid=1", field=b"set-cookie", context=b"ctx")
    with pytest.raises(SerializationError, match="authentication"):
        sealer.open(token, field=field, context=context)


def test_entry_context_frames_key_and_variant_unambiguously() -> None:
    assert entry_context("ab", "c") != entry_context("a", "bc")
    assert entry_context("a\udcff", "") != entry_context("a", "")  # lone surrogates survive


@pytest.mark.parametrize(
    ("secret_key", "message"),
    [
        pytest.param("short", "at least 16 bytes", id="short"),
        pytest.param([NEW, "short"], "at least 16 bytes", id="short-in-list"),
        pytest.param([], "at least one key", id="empty-list"),
        pytest.param([OLD, OLD.encode()], "twice", id="same-key-twice"),
        pytest.param({OLD}, "sequence of keys", id="set-has-no-order"),
        pytest.param(12345678901234567890, "sequence of keys", id="int"),
        pytest.param([1234567890123456789], "at least 16 bytes", id="int-in-list"),
    ],
)
def test_sealer_bad_secret_key_is_a_configuration_error(secret_key: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Sealer(secret_key)
    with pytest.raises(ConfigurationError, match=message):
        JSONSerializer(secret_key=secret_key)


def test_sealer_repr_never_shows_a_key() -> None:
    for secret_key in (OLD, [NEW, OLD]):
        sealer = Sealer(secret_key)
        assert OLD not in repr(sealer) and "new-key" not in repr(sealer)
    assert repr(Sealer(OLD)) == "Sealer(<1 secret key>)"
    assert repr(Sealer([NEW, OLD])) == "Sealer(<2 secret keys>)"


# -- through the serializers -------------------------------------------------------------------


@pytest.mark.parametrize("kind", SERIALIZERS)
@pytest.mark.parametrize(
    "secret_key", [pytest.param(OLD, id="one-key"), pytest.param([NEW, OLD], id="two-keys")]
)
def test_serializer_secret_never_appears_in_record_or_repr(kind: str, secret_key: Any) -> None:
    serializer = SERIALIZERS[kind](secret_key=secret_key)
    data = serializer.dumps(ENTRY)
    forms = [COOKIE_A, COOKIE_B, b"COOKIE-A", b"COOKIE-B"]
    for key in (OLD.encode(), NEW):
        forms += [key, key.hex().encode(), base64.b64encode(key), base64.urlsafe_b64encode(key)]
    for form in forms:
        assert form not in data, form
    shown = repr(serializer)
    assert "key-" not in shown and "<set" in shown
    assert serializer.loads(data) == ENTRY


@pytest.mark.parametrize("kind", SERIALIZERS)
def test_serializer_rotation_old_records_open_new_records_use_the_new_key(kind: str) -> None:
    make = SERIALIZERS[kind]
    under_old = make(secret_key=OLD).dumps(ENTRY)
    rotated = make(secret_key=[NEW, OLD])
    assert rotated.loads(under_old) == ENTRY
    under_new = rotated.dumps(ENTRY)
    assert make(secret_key=NEW).loads(under_new) == ENTRY
    with pytest.raises(SerializationError, match="does not hold"):
        make(secret_key=OLD).loads(under_new)
    with pytest.raises(SerializationError, match="does not hold"):
        make(secret_key=NEW).loads(under_old)  # the old key retired: old records are misses


def _tamper_token(record: dict[str, Any]) -> None:
    response = record["entry"]["response"]
    first = response["sealed"][0]
    response["headers"][first][1] = _field(response["headers"][first][1], -5, "A")


def _truncate_token(record: dict[str, Any]) -> None:
    response = record["entry"]["response"]
    first = response["sealed"][0]
    response["headers"][first][1] = response["headers"][first][1][:30]


def _swap_names(record: dict[str, Any]) -> None:
    headers = record["entry"]["response"]["headers"]
    first, second = record["entry"]["response"]["sealed"]
    headers[first][0], headers[second][0] = headers[second][0], headers[first][0]


def _rename_to_plain_field(record: dict[str, Any]) -> None:
    response = record["entry"]["response"]
    response["headers"][response["sealed"][0]][0] = "X-Leak"


def _unlist_sealed(record: dict[str, Any]) -> None:
    record["entry"]["response"]["sealed"] = record["entry"]["response"]["sealed"][1:]


def _plant_plain_cookie(record: dict[str, Any]) -> None:
    record["entry"]["response"]["headers"].append(["set-cookie", "planted=1"])


def _move_to_other_entry(record: dict[str, Any]) -> None:
    other = entry_to_dict(OTHER, Sealer(OLD))  # same key, another entry
    record["entry"]["response"]["headers"] = other["entry"]["response"]["headers"]


def _old_v1_token(record: dict[str, Any]) -> None:
    response = record["entry"]["response"]
    response["headers"][response["sealed"][0]][1] = "v1." + "A" * 64


FORGERIES = [
    pytest.param(_tamper_token, "authentication", id="tampered"),
    pytest.param(_truncate_token, "cut short|base64", id="truncated"),
    pytest.param(_swap_names, "authentication", id="set-cookie-swapped-with-set-cookie2"),
    pytest.param(_rename_to_plain_field, "never sealed", id="moved-to-a-plain-field"),
    pytest.param(_unlist_sealed, "plain text", id="sealed-token-unlisted"),
    pytest.param(_plant_plain_cookie, "plain text", id="plain-cookie-planted"),
    pytest.param(_move_to_other_entry, "authentication", id="tokens-from-another-entry"),
    pytest.param(_old_v1_token, "v1", id="old-v1-token"),
]


@pytest.mark.parametrize("kind", SERIALIZERS)
@pytest.mark.parametrize(("forge", "reason"), FORGERIES)
def test_serializer_forged_record_is_unreadable(
    kind: str, forge: Callable[[dict[str, Any]], None], reason: str
) -> None:
    serializer = SERIALIZERS[kind](secret_key=OLD)
    record = DECODE[kind](serializer.dumps(ENTRY))
    forge(record)
    with pytest.raises(SerializationError, match=reason):
        serializer.loads(ENCODE[kind](record))


@pytest.mark.parametrize("kind", SERIALIZERS)
def test_serializer_wrong_key_or_no_key_makes_sealed_records_unreadable(kind: str) -> None:
    data = SERIALIZERS[kind](secret_key=OLD).dumps(ENTRY)
    with pytest.raises(SerializationError, match="does not hold"):
        SERIALIZERS[kind](secret_key="another key, 16 bytes or more").loads(data)
    with pytest.raises(SerializationError, match="no secret_key"):
        SERIALIZERS[kind]().loads(data)


@pytest.mark.parametrize("kind", SERIALIZERS)
def test_serializer_with_a_key_reads_records_written_without_one(kind: str) -> None:
    """A record written without a key holds no cookie: nothing to open, nothing missing."""
    data = SERIALIZERS[kind]().dumps(ENTRY)
    assert SERIALIZERS[kind](secret_key=OLD).loads(data) == WITHOUT_COOKIES


@pytest.mark.parametrize("kind", SERIALIZERS)
def test_without_sealed_values_reads_sealed_records_with_cookies_left_out(kind: str) -> None:
    data = SERIALIZERS[kind](secret_key=OLD).dumps(ENTRY)
    plain = SERIALIZERS[kind]()
    reader = without_sealed_values(plain)
    assert reader.loads(data) == WITHOUT_COOKIES
    with pytest.raises(SerializationError):
        plain.loads(data)  # the serializer it copied still refuses
    record = DECODE[kind](data)
    _plant_plain_cookie(record)
    with pytest.raises(SerializationError, match="plain text"):
        reader.loads(ENCODE[kind](record))
    custom = _Custom(plain)
    assert without_sealed_values(custom) is custom  # not ours: returned as it is


class _Custom:
    def __init__(self, inner: Serializer) -> None:
        self.inner = inner

    def dumps(self, entry: Entry) -> bytes:
        return self.inner.dumps(entry)

    def loads(self, data: bytes) -> Entry:
        return self.inner.loads(data)


# -- the optional extra ------------------------------------------------------------------------


def test_no_cryptography_import_works_and_secret_key_names_the_extra() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["cryptography"] = None  # makes `import cryptography...` raise ImportError
        import httpcache
        from httpcache import JSONSerializer, PickleSerializer, YAMLSerializer
        entry = httpcache.Entry(
            key="k", variant="", request=httpcache.RequestHead("GET", "http://e/"),
            response=httpcache.ResponseHead(200, ((b"Set-Cookie", b"a=1"), (b"X", b"1"))),
            request_time=0.0, response_time=0.0, created_at=0.0,
        )
        plain = JSONSerializer()
        assert plain.loads(plain.dumps(entry)).response.headers == ((b"X", b"1"),)
        for kind in (JSONSerializer, PickleSerializer, YAMLSerializer):
            try:
                kind(secret_key="0123456789abcdef-key")
            except httpcache.ConfigurationError as exc:
                print(exc)
            else:
                raise AssertionError(kind)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert "pip install 'httpcache[crypto]'" in line


# -- storages: an unreadable record is a logged miss and is removed ----------------------------


def _file_storage(tmp_path: Path, serializer: Serializer) -> httpcache.FileStorage:
    return httpcache.FileStorage(base_path=tmp_path / "files", serializer=serializer)


def _sqlite_storage(tmp_path: Path, serializer: Serializer) -> httpcache.SQLiteStorage:
    return httpcache.SQLiteStorage(path=tmp_path / "cache.db", serializer=serializer)


STORAGES = {"file": _file_storage, "sqlite": _sqlite_storage}


def _store(storage: Any, entry: Entry) -> None:
    writer = storage.open_writer(entry)
    writer.write(b"hello")
    writer.commit()


@pytest.mark.parametrize("backend", STORAGES)
def test_storage_record_under_a_retired_key_is_a_logged_miss_and_removed(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make = STORAGES[backend]
    writer = make(tmp_path, JSONSerializer(secret_key=OLD))
    try:
        _store(writer, ENTRY)
    finally:
        writer.close()

    rotated = make(tmp_path, JSONSerializer(secret_key=[NEW, OLD]))
    try:
        [found] = rotated.get_entries(ENTRY.key)
        assert found.response.headers == ENTRY.response.headers
    finally:
        rotated.close()

    retired = make(tmp_path, JSONSerializer(secret_key=NEW))
    try:
        with caplog.at_level(logging.WARNING, logger="httpcache"):
            assert retired.get_entries(ENTRY.key) == []
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("does not hold" in message for message in warnings), warnings
        assert list(retired.iter_entries()) == []  # removed, not only skipped
        assert OLD not in "".join(warnings)
    finally:
        retired.close()


def _tampered(raw: bytes) -> bytes:
    """Return stored bytes with one character of the first sealed token's tag changed."""
    start = raw.index(TOKEN_PREFIX.encode())
    end = raw.index(b'"', start)
    at = end - 5
    return raw[:at] + (b"B" if raw[at : at + 1] == b"A" else b"A") + raw[at + 1 :]


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["file", "sqlite"])
async def test_async_storage_record_tampered_at_rest_is_a_miss_and_removed(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The generated async file half and the hand-written async SQLite half refuse it too."""
    serializer = JSONSerializer(secret_key=OLD)
    storage: Any
    if backend == "file":
        storage = httpcache.AsyncFileStorage(base_path=tmp_path / "files", serializer=serializer)
    else:
        storage = httpcache.AsyncSQLiteStorage(path=tmp_path / "cache.db", serializer=serializer)
    try:
        writer = await storage.open_writer(ENTRY)
        await writer.write(b"hello")
        await writer.commit()
        if backend == "file":
            path = storage._record_path(ENTRY.key)
            path.write_bytes(_tampered(path.read_bytes()))
        else:
            [(head,)] = await storage._fetchall(f'SELECT head FROM "{storage.table_name}"')
            changed = await storage._execute(
                f'UPDATE "{storage.table_name}" SET head = ?', (_tampered(head),)
            )
            assert changed == 1
        with caplog.at_level(logging.WARNING, logger="httpcache"):
            assert await storage.get_entries(ENTRY.key) == []
        assert any("authentication" in r.getMessage() for r in caplog.records)
        assert [entry async for entry in storage.iter_entries()] == []
    finally:
        await storage.aclose()


# -- through the client and the command --------------------------------------------------------


def test_client_retired_key_refetches_and_reseals_under_the_new_key(tmp_path: Path) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        headers = {"Cache-Control": "max-age=600", "Set-Cookie": f"sid=v{len(calls)}"}
        return httpx.Response(200, headers=headers, content=b"body")

    url = "http://example.com/rotated"
    transport = httpx.MockTransport(handler)
    for secret_key, expected_calls, cookie in (
        (OLD, 1, "sid=v1"),  # stored under the old key
        (OLD, 1, "sid=v1"),  # a hit replays it
        ([NEW, OLD], 1, "sid=v1"),  # rotated: the old record still opens
        ([NEW], 2, "sid=v2"),  # the old key retired: a miss, fetched again
        ([NEW], 2, "sid=v2"),  # stored again under the new key
    ):
        storage = _file_storage(tmp_path, JSONSerializer(secret_key=secret_key))
        with httpcache.CacheClient(storage=storage, transport=transport) as client:
            response = client.get(url)
        assert len(calls) == expected_calls
        assert response.headers["Set-Cookie"] == cookie


def test_cli_shows_a_sealed_cache_without_its_key_and_keeps_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = _file_storage(tmp_path, JSONSerializer(secret_key=OLD))
    try:
        _store(storage, ENTRY)
    finally:
        storage.close()
    store = str(tmp_path / "files")
    assert main(["show", store, ENTRY.key, "--json"]) == 0
    out = capsys.readouterr().out
    assert "COOKIE-A" not in out and "v2." not in out
    assert "Content-Type" in out and "max-age=60" in out
    keyed = _file_storage(tmp_path, JSONSerializer(secret_key=OLD))
    try:
        [found] = keyed.get_entries(ENTRY.key)  # still there, cookies and all
        assert found.response.headers == ENTRY.response.headers
    finally:
        keyed.close()
