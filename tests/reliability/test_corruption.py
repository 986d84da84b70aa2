"""Corrupt records and damaged bodies are misses, cleaned up, never errors or short bodies.

Every backend stores an entry through the real client; the test then damages what the
backend keeps, behind the storage's back (``_support.Raw``): the record truncated,
emptied, replaced by garbage, or rewritten by "a future httpcache" (an unknown format
version). The next request must be a miss that asks the origin and returns the right
body, nothing may raise, the bad record must be gone or replaced by the new good one,
and the request after that must be a hit again.

Large bodies (past every backend's inline limit, several chunks) get their body damaged
while the head stays intact: the body file, object or chunk list missing, a chunk gone,
the body cut short. The next request must be a clean re-fetch, never the short body
served as a complete 200.

The ``httpcache`` command run over a store holding a corrupt record reports it (a warning
line) and exits normally, never with a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import httpcache
from httpcache._cli._main import main
from tests.reliability._support import (
    NAMES,
    Origin,
    Raw,
    abuild,
    aclose_async,
    build,
    cache_options,
    cli_build,
    cli_url,
    close_sync,
    foreign_head,
)

URL = "http://example.com/item"
BODY = b"the origin's body"
CHUNKED = (bytes(range(256)) * 4096 * 3)[: 2 * 1024 * 1024 + 512 * 1024]  # 2.5 MiB: 3 chunks
LARGE = {"file": CHUNKED[: 200 * 1024], "s3": CHUNKED[: 200 * 1024]}  # past the inline limit
GARBAGE = bytes((i * 37 + 11) % 256 for i in range(600))


def _origin(body: bytes = BODY) -> Origin:
    headers = {"Cache-Control": "max-age=3600", "Content-Length": str(len(body))}
    return Origin(lambda request: httpx.Response(200, headers=headers, content=body))


def _damage(raw: Raw, entry: httpcache.Entry, kind: str) -> None:
    data = raw.record(entry)
    assert data is not None
    if kind == "truncated":
        raw.set_record(entry, data[: len(data) // 2])
    elif kind == "zero-length":
        raw.set_record(entry, b"")
    elif kind == "garbage":
        raw.set_record(entry, GARBAGE)
    else:
        raw.set_head(entry, foreign_head(raw.head(entry)))


KINDS = ("truncated", "zero-length", "garbage", "foreign-version")
WARNED = "httpcache.storage"


def _warned(caplog: pytest.LogCaptureFixture) -> bool:
    return any(
        r.name == WARNED and r.levelno == logging.WARNING and "unreadable" in r.getMessage()
        for r in caplog.records
    )


# -- a corrupt record -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", NAMES)
def test_corrupt_record_sync_is_a_cleaned_up_miss_then_a_hit(
    backend: str, kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = build(backend, tmp_path)
    raw = Raw(backend, storage, tmp_path)
    origin = _origin()
    try:
        with httpcache.CacheClient(
            storage=storage, options=cache_options(), transport=httpx.MockTransport(origin)
        ) as c:
            assert c.get(URL).content == BODY
            (entry,) = storage.get_entries(URL)
            _damage(raw, entry, kind)
            bad = raw.record(entry)
            with caplog.at_level(logging.WARNING, logger="httpcache"):
                second = c.get(URL)
            assert (second.status_code, second.content) == (200, BODY)
            assert second.extensions["from_cache"] is False
            assert origin.calls == 2
            assert _warned(caplog), "a dropped record is logged at WARNING"
            assert raw.record(entry) not in (None, bad)  # replaced by the new good one
            assert [e.variant for e in storage.get_entries(URL)] == [entry.variant]
            third = c.get(URL)
            assert third.extensions["from_cache"] is True
            assert (third.content, origin.calls) == (BODY, 2)
    finally:
        close_sync(storage)


ASYNC_CASES = [
    pytest.param(backend, kind, id=f"{backend}-{kind}")
    for backend in NAMES
    for kind in KINDS
    if backend != "s3" or kind in ("garbage", "foreign-version")  # moto is slow: the sync
]  # tests cover every kind on S3, and the async halves share the record code


@pytest.mark.anyio
@pytest.mark.parametrize(("backend", "kind"), ASYNC_CASES)
async def test_corrupt_record_async_is_a_cleaned_up_miss_then_a_hit(
    backend: str, kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = await abuild(backend, tmp_path)
    raw = Raw(backend, storage, tmp_path)
    origin = _origin()
    try:
        async with httpcache.AsyncCacheClient(
            storage=storage, options=cache_options(), transport=httpx.MockTransport(origin)
        ) as c:
            assert (await c.get(URL)).content == BODY
            (entry,) = await storage.get_entries(URL)
            _damage(raw, entry, kind)
            bad = raw.record(entry)
            with caplog.at_level(logging.WARNING, logger="httpcache"):
                second = await c.get(URL)
            assert (second.status_code, second.content) == (200, BODY)
            assert second.extensions["from_cache"] is False
            assert origin.calls == 2
            assert _warned(caplog)
            assert raw.record(entry) not in (None, bad)
            assert [e.variant for e in await storage.get_entries(URL)] == [entry.variant]
            third = await c.get(URL)
            assert third.extensions["from_cache"] is True
            assert (third.content, origin.calls) == (BODY, 2)
    finally:
        await aclose_async(storage)


@pytest.mark.parametrize("backend", NAMES)
def test_corrupt_record_read_directly_is_removed(backend: str, tmp_path: Path) -> None:
    """Without a new store to replace it, the storage itself removes the bad record."""
    storage = build(backend, tmp_path)
    raw = Raw(backend, storage, tmp_path)
    try:
        with httpcache.CacheClient(
            storage=storage, options=cache_options(), transport=httpx.MockTransport(_origin())
        ) as client:
            client.get(URL)
        (entry,) = storage.get_entries(URL)
        raw.set_record(entry, GARBAGE)
        assert storage.get_entries(URL) == []
        assert raw.record(entry) is None
    finally:
        close_sync(storage)


# -- a large body damaged behind an intact head ------------------------------------------

BREAKS = [
    pytest.param(backend, how, id=f"{backend}-{how}")
    for backend, hows in (
        ("file", ("missing", "truncated")),
        ("sqlite", ("missing", "gap", "truncated")),
        ("redis", ("missing", "gap", "truncated")),
        ("s3", ("missing", "truncated")),
    )
    for how in hows
]


@pytest.mark.parametrize(("backend", "how"), BREAKS)
def test_damaged_large_body_sync_is_refetched_never_served_short(
    backend: str, how: str, tmp_path: Path
) -> None:
    storage = build(backend, tmp_path)
    raw = Raw(backend, storage, tmp_path)
    body = LARGE.get(backend, CHUNKED)
    origin = _origin(body)
    try:
        with httpcache.CacheClient(
            storage=storage, options=cache_options(), transport=httpx.MockTransport(origin)
        ) as c:
            assert c.get(URL).content == body
            (entry,) = storage.get_entries(URL)
            assert entry.body is None and entry.size == len(body)  # not inline
            raw.break_body(entry, how)
            second = c.get(URL)
            assert second.content == body
            assert (second.extensions["from_cache"], origin.calls) == (False, 2)
            third = c.get(URL)
            assert third.content == body
            assert (third.extensions["from_cache"], origin.calls) == (True, 2)
    finally:
        close_sync(storage)


@pytest.mark.anyio
@pytest.mark.parametrize(("backend", "how"), BREAKS)
async def test_damaged_large_body_async_is_refetched_never_served_short(
    backend: str, how: str, tmp_path: Path
) -> None:
    storage = await abuild(backend, tmp_path)
    raw = Raw(backend, storage, tmp_path)
    body = LARGE.get(backend, CHUNKED)
    origin = _origin(body)
    try:
        async with httpcache.AsyncCacheClient(
            storage=storage, options=cache_options(), transport=httpx.MockTransport(origin)
        ) as c:
            assert (await c.get(URL)).content == body
            (entry,) = await storage.get_entries(URL)
            assert entry.body is None and entry.size == len(body)
            raw.break_body(entry, how)
            second = await c.get(URL)
            assert second.content == body
            assert (second.extensions["from_cache"], origin.calls) == (False, 2)
            third = await c.get(URL)
            assert third.content == body
            assert (third.extensions["from_cache"], origin.calls) == (True, 2)
    finally:
        await aclose_async(storage)


# -- the command over a corrupt store ------------------------------------------------------


COMMANDS: list[tuple[str, Callable[[str], list[str]]]] = [
    ("list", lambda store: ["list", store]),
    ("list-json", lambda store: ["list", "--json", store]),
    ("show", lambda store: ["show", "--headers", store, URL + "/bad"]),
    ("stats", lambda store: ["stats", store]),
    ("purge-expired", lambda store: ["purge-expired", store]),
]


@pytest.mark.parametrize("backend", ["file", "sqlite", "redis", "s3"])
def test_cli_over_a_corrupt_record_reports_it_and_exits_normally(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = cli_build(backend, tmp_path)
    raw = Raw(backend, storage, tmp_path)
    store = cli_url(backend, storage, tmp_path)
    try:
        with httpcache.CacheClient(
            storage=storage, options=cache_options(), transport=httpx.MockTransport(_origin())
        ) as client:
            client.get(URL + "/good")
            for command, argv in COMMANDS:
                client.get(URL + "/bad")  # (again: the last command may have dropped it)
                (bad,) = storage.get_entries(URL + "/bad")
                raw.set_record(bad, GARBAGE)
                capsys.readouterr()
                code = main(argv(store))
                out, err = capsys.readouterr()
                assert "Traceback" not in out + err
                if command == "show":  # the only entry it names was unreadable: not found
                    assert code == 1
                    assert err.count("\n") <= 2 and "no entry" in err
                elif command == "purge-expired":  # SQLite and S3 judge expiry by metadata
                    assert code == 0, err
                else:
                    assert code == 0, err
                    assert "unreadable" in err  # the warning line names the problem
                if command.startswith("list"):
                    assert URL + "/good" in out and URL + "/bad" not in out
    finally:
        close_sync(storage)


@pytest.mark.parametrize("backend", ["file", "sqlite", "redis", "s3"])
def test_cli_over_a_foreign_version_stops_cleanly_and_keeps_the_record(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record of an unknown version is not corrupt: the command says so and leaves it."""
    storage = cli_build(backend, tmp_path)
    raw = Raw(backend, storage, tmp_path)
    try:
        with httpcache.CacheClient(
            storage=storage, options=cache_options(), transport=httpx.MockTransport(_origin())
        ) as client:
            client.get(URL)
        (entry,) = storage.get_entries(URL)
        raw.set_head(entry, foreign_head(raw.head(entry)))
        kept = raw.record(entry)
        capsys.readouterr()
        store = cli_url(backend, storage, tmp_path)
        for command in ("list", "stats", "show", "purge-expired"):
            argv = [command, store, URL] if command == "show" else [command, store]
            code = main(argv)
            out, err = capsys.readouterr()
            assert "Traceback" not in out + err
            if command != "purge-expired" or backend in ("file", "redis"):
                assert code == 1, (argv, out, err)  # these read the heads: stop at it
                assert "version" in err and len(err.strip().splitlines()) == 1
            else:  # judged by metadata alone: nothing expired, nothing to say
                assert code == 0, (argv, out, err)
            assert raw.record(entry) == kept
    finally:
        close_sync(storage)
