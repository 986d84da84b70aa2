"""One user's response is never another's, and no secret is stored, logged or printed.

Partitioning (RFC 9111 §3.5, §4.1; docs/rfc.md "Credentials and privacy"): httpcache
keeps ``Authorization`` as part of every response's variant, in private and shared mode,
``public`` responses included, so a response fetched with credentials A is never served
to credentials B nor to an anonymous request. The origin here answers with the identity
it saw, so *every* response, from the cache or not, must name the identity of the
request that got it. A shared cache does not store a response to an authorized request
unless it is ``public`` (or has ``s-maxage`` / ``must-revalidate``), nor a ``private``
one; ``Cookie`` partitions only when ``Vary`` names it (RFC 9111 leaves unvaried
``Cookie`` responses reusable; httpcache documents that).

Secrets: requests carry ``Authorization: Bearer <unique>`` and ``Cookie: session=<unique>``,
responses ``Set-Cookie: sid=<unique>``, with and without a serializer ``secret_key``.
Afterwards no byte any backend keeps (files; the SQLite database, WAL and rows; Redis
values under the namespace, ``DUMP`` included; S3 objects and metadata), no log record of
the ``httpcache`` tree at DEBUG and no output of the ``httpcache`` command contains any of
them, raw or base64/hex/percent-encoded. Stored credentials are ``sha256:`` digests.
"""

from __future__ import annotations

import base64
import logging
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

import httpcache
from httpcache._cli._main import main
from tests.reliability._support import (
    Origin,
    Raw,
    abuild,
    aclose_async,
    build,
    cache_options,
    cli_build,
    cli_url,
    close_sync,
)

BASE = "http://example.com"
KEY = "reliability-secret-key-0123456789"


def _identity(request: httpx.Request) -> bytes:
    auth = request.headers.get("authorization", "anonymous")
    cookie = request.headers.get("cookie", "")
    return f"{auth}|{cookie}".encode()


RESPONSES = {
    "/plain": {"Cache-Control": "max-age=600"},
    "/public": {"Cache-Control": "public, max-age=600"},
    "/s-maxage": {"Cache-Control": "s-maxage=600"},
    "/private": {"Cache-Control": "private, max-age=600"},
    "/vary-cookie": {"Cache-Control": "max-age=600", "Vary": "Cookie"},
}


def _partition_origin() -> Origin:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=RESPONSES[request.url.path], content=_identity(request))

    return Origin(handler)


A = {"Authorization": "Bearer token-A"}
B = {"Authorization": "Bearer token-B"}
CA = {"Cookie": "session=cookie-A"}
CB = {"Cookie": "session=cookie-B"}
NONE: dict[str, str] = {}

# (path, who asks, in order): A twice, then B, anonymous, and A again.
SEQUENCES = {
    "/plain": [A, A, B, NONE, A, B],
    "/public": [A, A, B, NONE, A, NONE],
    "/s-maxage": [A, A, B, NONE, A],
    "/private": [A, A, B, NONE, A],
    "/vary-cookie": [CA, CA, CB, NONE, CA, CB, {**A, **CA}],
}


def _stored_for_a(path: str, shared: bool) -> bool:
    """Whether A's response may be stored (and reused by A) at all."""
    if not shared:  # a private cache ignores s-maxage: that response has no lifetime
        return path != "/s-maxage"
    return path in ("/public", "/s-maxage", "/vary-cookie")


def _check(path: str, shared: bool, who: dict[str, str], n: int, response: httpx.Response) -> None:
    expected = _identity(httpx.Request("GET", BASE + path, headers=who))
    assert response.content == expected, (path, who, response.extensions["cache_status"])
    if n == 1 and _stored_for_a(path, shared):  # A's second request is a hit
        assert response.extensions["from_cache"] is True, (path, shared)
    if n == 1 and not _stored_for_a(path, shared):
        assert response.extensions["from_cache"] is False, (path, shared)


@pytest.mark.parametrize("shared", [False, True], ids=["private", "shared"])
@pytest.mark.parametrize("backend", ["file", "sqlite", "redis"])
def test_credentials_partition_sync(backend: str, shared: bool, tmp_path: Path) -> None:
    storage = build(backend, tmp_path)
    origin = _partition_origin()
    options = cache_options(shared=shared)
    try:
        with httpcache.CacheClient(
            storage=storage, options=options, transport=httpx.MockTransport(origin)
        ) as client:
            for path, sequence in SEQUENCES.items():
                for n, who in enumerate(sequence):
                    _check(path, shared, who, n, client.get(BASE + path, headers=who))
    finally:
        close_sync(storage)


@pytest.mark.anyio
@pytest.mark.parametrize("shared", [False, True], ids=["private", "shared"])
@pytest.mark.parametrize("backend", ["file", "sqlite", "redis"])
async def test_credentials_partition_async(backend: str, shared: bool, tmp_path: Path) -> None:
    storage = await abuild(backend, tmp_path)
    origin = _partition_origin()
    options = cache_options(shared=shared)
    try:
        async with httpcache.AsyncCacheClient(
            storage=storage, options=options, transport=httpx.MockTransport(origin)
        ) as client:
            for path, sequence in SEQUENCES.items():
                for n, who in enumerate(sequence):
                    _check(path, shared, who, n, await client.get(BASE + path, headers=who))
    finally:
        await aclose_async(storage)


def test_unvaried_cookie_response_is_reused_as_the_rfc_allows(tmp_path: Path) -> None:
    """Documented: ``Cookie`` is no secondary key unless ``Vary`` names it (RFC 9111 §4.1)."""
    storage = build("file", tmp_path)
    origin = Origin(
        lambda r: httpx.Response(200, headers={"Cache-Control": "max-age=600"}, content=b"same")
    )
    try:
        with httpcache.CacheClient(
            storage=storage, options=cache_options(), transport=httpx.MockTransport(origin)
        ) as c:
            c.get(BASE + "/page", headers=CA)
            assert c.get(BASE + "/page", headers=CB).extensions["from_cache"] is True
            assert origin.calls == 1
    finally:
        close_sync(storage)


# -- secrets never at rest, in logs or in the command's output ----------------------------


def _forms(secret: str) -> set[bytes]:
    """The secret and the encodings of it (and of its header forms) a leak could take."""
    raw = secret.encode()
    found = {raw, raw.hex().encode(), raw.hex().upper().encode()}
    for text in (raw, b"Bearer " + raw, b"session=" + raw, b"sid=" + raw):
        found.add(base64.b64encode(text).rstrip(b"="))
        found.add(base64.urlsafe_b64encode(text).rstrip(b"="))
        found.add(urllib.parse.quote(text.decode(), safe="").encode())
    return found


def _leaks(haystack: bytes, secrets: list[str]) -> list[str]:
    return [f"{s} as {form!r}" for s in secrets for form in _forms(s) if form in haystack]


def _secrets_origin(sid: str) -> Origin:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/public":
            headers = {"Cache-Control": "public, max-age=600", "Set-Cookie": f"sid={sid}; Path=/"}
        else:
            headers = {
                "Cache-Control": "private, max-age=600",
                "Vary": "Cookie",
                "Set-Cookie": f"sid={sid}; HttpOnly",
            }
        return httpx.Response(200, headers=headers, content=b"body")

    return Origin(handler)


def _log_text(caplog: pytest.LogCaptureFixture) -> bytes:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(record.exc_text or "")
    return "\n".join(parts).encode()


CLI = [
    ["list", "{store}"],
    ["list", "--json", "{store}"],
    ["show", "--headers", "{store}", BASE + "/private"],
    ["show", "--json", "--headers", "{store}", BASE + "/public"],
    ["stats", "{store}"],
    ["stats", "--json", "{store}"],
]


@pytest.mark.parametrize("sealed", [False, True], ids=["no-key", "secret-key"])
@pytest.mark.parametrize("backend", ["file", "sqlite", "redis", "s3"])
def test_no_secret_is_stored_logged_or_printed(
    backend: str,
    sealed: bool,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tag = uuid.uuid4().hex
    bearer, session, sid = f"bearer-{tag}", f"session-{tag}", f"sid-{tag}"
    secrets = [bearer, session, sid]
    assert _leaks(base64.b64encode(f"Bearer {bearer}".encode()), secrets)  # the scan works
    serializer = httpcache.JSONSerializer(secret_key=KEY if sealed else None)
    storage = cli_build(backend, tmp_path, serializer)
    raw = Raw(backend, storage, tmp_path)
    headers = {"Authorization": f"Bearer {bearer}", "Cookie": f"session={session}"}
    origin = _secrets_origin(sid)
    caplog.set_level(logging.DEBUG, logger="httpcache")
    try:
        with httpcache.CacheClient(
            storage=storage, options=cache_options(), transport=httpx.MockTransport(origin)
        ) as c:
            for path in ("/private", "/public"):
                first = c.get(BASE + path, headers=headers)
                assert first.headers["Set-Cookie"].startswith(f"sid={sid}")  # the user gets it
                hit = c.get(BASE + path, headers=headers)
                assert hit.extensions["from_cache"] is True
                assert ("Set-Cookie" in hit.headers) is sealed  # replayed only when sealed
        assert origin.calls == 2
        entries = list(storage.iter_entries())
        assert len(entries) == 2
        for entry in entries:
            for name, value in entry.request.headers:
                if name in (b"authorization", b"cookie"):
                    assert value.startswith(b"sha256:") and len(value) == 7 + 64, value
        stored = raw.dump()
        assert b"sha256:" in stored  # the credential partition really is there
        capsys.readouterr()
        store = cli_url(backend, storage, tmp_path)
        printed = []
        for argv in CLI if backend != "s3" else CLI[1:4]:  # moto is slow: fewer on S3
            code = main([arg.replace("{store}", store) for arg in argv])
            out, err = capsys.readouterr()
            assert code == 0, (argv, err)
            printed.append(out + err)
        assert "sha256:" in printed[2 if backend != "s3" else 1]  # show --headers: the digest
        assert _leaks(stored, secrets) == []
        assert _leaks(_log_text(caplog), secrets) == []
        assert _leaks("\n".join(printed).encode(), secrets) == []
    finally:
        close_sync(storage)


def test_logs_at_debug_name_no_credentials_through_every_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Misses, hits, revalidations, invalidations and a storage failure: no secret logged."""
    tag = uuid.uuid4().hex
    bearer, session, sid = f"bearer-{tag}", f"session-{tag}", f"sid-{tag}"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(204)
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers={"ETag": '"v1"', "Set-Cookie": f"sid={sid}"})
        headers = {"Cache-Control": "no-cache", "ETag": '"v1"', "Set-Cookie": f"sid={sid}"}
        return httpx.Response(200, headers=headers, content=b"body")

    storage: Any = build("file", tmp_path)
    headers = {"Authorization": f"Bearer {bearer}", "Cookie": f"session={session}"}
    caplog.set_level(logging.DEBUG, logger="httpcache")
    try:
        transport = httpx.MockTransport(Origin(handler))
        with httpcache.CacheClient(
            storage=storage, options=cache_options(), transport=transport
        ) as client:
            client.get(BASE + "/doc", headers=headers)
            client.get(BASE + "/doc", headers=headers)  # revalidated: 304
            client.post(BASE + "/doc", headers=headers)  # invalidates
            raw = Raw("file", storage, tmp_path)
            client.get(BASE + "/doc", headers=headers)
            (entry,) = storage.get_entries(BASE + "/doc")
            raw.set_record(entry, b"\x00garbage")
            client.get(BASE + "/doc", headers=headers)  # an unreadable record: WARNING
        assert any(r.levelno == logging.WARNING for r in caplog.records)
        assert len(caplog.records) >= 5
        assert _leaks(_log_text(caplog), [bearer, session, sid]) == []
    finally:
        close_sync(storage)
