"""The ``httpcache`` command against real caches written by the library.

Each cache is written through a real ``CacheClient`` with an ``httpx.MockTransport``
origin, then read by the command: in a subprocess (``python -m httpcache`` and the
installed ``httpcache`` script) for what only a real process shows (exit codes,
stdout bytes, one-line errors), and in-process through ``main()`` for the rest.
Redis is the server on loopback (``REDIS_URL``), one namespace per test; S3 is the
session's moto server. Outside CI a missing server skips; under ``CI=true`` it fails.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import httpcache
from httpcache._cli import _format as _cli_format
from httpcache._cli import _main as _cli
from httpcache._cli._main import main

# -- the origin and the cache it leaves -------------------------------------------------------

HOME = "https://example.com/"
LOGO = "https://example.com/logo.png"
NEWS = "https://example.com/news"
GREETING = "https://example.com/greeting"
MISSING = "https://api.example.com/missing"
ME = "https://api.example.com/me"
TEMPORARY = "https://example.com/temporary"
CUSTOM = "https://example.com/custom"
CUSTOM_KEY = "custom:/custom"

BINARY = b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x80" + bytes(range(256)) * 20  # not UTF-8
SECRET = "Bearer s3cr3t-token"
LIVE = {HOME, LOGO, NEWS, GREETING, MISSING, ME}  # what every written cache lists


def _origin(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/logo.png":
        headers = {"Content-Type": "image/png", "Cache-Control": "max-age=86400"}
        return httpx.Response(200, headers=headers, content=BINARY)
    if path == "/missing":
        return httpx.Response(404, headers={"Cache-Control": "max-age=300"}, content=b"nope")
    if path == "/greeting":
        french = request.headers.get("accept-language") == "fr"
        headers = {"Vary": "Accept-Language", "Cache-Control": "max-age=3600"}
        return httpx.Response(200, headers=headers, content=b"bonjour" if french else b"hello")
    if path == "/me":
        headers = {"Cache-Control": "private, max-age=600"}
        return httpx.Response(200, headers=headers, content=b'{"user": "alice"}')
    if path == "/news":
        return httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=b"news")
    return httpx.Response(200, headers={"Cache-Control": "max-age=3600"}, content=b"<p>home</p>")


def _client(
    storage: httpcache.Storage, *, ago: float = 0.0, **options: Any
) -> httpcache.CacheClient:
    """A client whose clock reads ``ago`` seconds in the past (so entries are that old)."""
    now = time.time()
    return httpcache.CacheClient(
        storage=storage,
        options=httpcache.CacheOptions(clock=lambda: now - ago, **options),
        transport=httpx.MockTransport(_origin),
    )


def write_cache(store: str, *, expired: bool = False, custom: bool = False) -> None:
    """Store the entries of ``LIVE`` (two variants of GREETING) through the real client.

    NEWS is two hours old with ``max-age=60``: stale. With ``expired``, TEMPORARY is
    stored ten minutes ago with a 60 s entry ttl: past its storage lifetime. With
    ``custom``, CUSTOM is stored under the key CUSTOM_KEY (a ``key_func``).
    """
    storage = httpcache.storage_from_url(store)
    try:
        with _client(storage) as client:
            client.get(HOME)
            client.get(HOME)  # one hit
            client.get(LOGO)
            client.get(MISSING)
            client.get(GREETING, headers={"Accept-Language": "en"})
            client.get(GREETING, headers={"Accept-Language": "fr"})
            client.get(ME, headers={"Authorization": SECRET})
        with _client(storage, ago=7200) as client:
            client.get(NEWS)
        if expired:
            with _client(storage, ago=600) as client:
                client.get(TEMPORARY, extensions={"httpcache_ttl": 60})
        if custom:
            with _client(storage, key_func=lambda r: f"custom:{r.url.path}") as client:
                client.get(CUSTOM)
    finally:
        storage.close()


# -- running the command -----------------------------------------------------------------------

SCRIPT = str(Path(sys.executable).with_name("httpcache"))
Runner = Callable[..., subprocess.CompletedProcess[bytes]]


def _runner(command: list[str]) -> Runner:
    def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        return subprocess.run(
            [*command, *args],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )

    return run


run_module = _runner([sys.executable, "-m", "httpcache"])
run_script = _runner([SCRIPT])


def _json(result: subprocess.CompletedProcess[bytes]) -> Any:
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def _one_error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """Assert that ``result`` failed with exit code 1 and one error line; return it."""
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.startswith("httpcache: error: "), stderr
    return stderr


# -- stores ------------------------------------------------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _redis_store() -> Iterator[str]:
    import redis
    from redis.exceptions import RedisError

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        client.close()
        _unavailable(f"no Redis server at {REDIS_URL}: {exc}")
    namespace = f"httpcache-test:cli-{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in REDIS_URL else "?"
    try:
        yield f"{REDIS_URL}{separator}namespace={namespace}"
    finally:
        httpcache.RedisStorage(client=client, namespace=namespace).clear()
        client.close()


BUCKET = "httpcache-cli"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback for this module, with a bucket and dummy credentials."""
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ):
        os.environ.setdefault(name, value)  # inherited by the subprocesses
    try:
        import boto3  # type: ignore[import-untyped]
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
    except Exception as exc:  # ImportError, a port in use, ...
        _unavailable(f"moto server could not start: {exc!r}")
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        client: Any = boto3.session.Session().client("s3", endpoint_url=url)
        client.create_bucket(Bucket=BUCKET)
        client.close()
        yield url
    finally:
        server.stop()


def _s3_store(endpoint: str) -> Iterator[str]:
    store = f"s3://{BUCKET}/cli-{uuid.uuid4().hex[:12]}?endpoint_url={endpoint}"
    try:
        yield store
    finally:
        storage = httpcache.storage_from_url(store)
        try:
            storage.clear()
        finally:
            storage.close()


@pytest.fixture(params=["file", "sqlite", "redis", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store of each backend, as the command names it."""
    if request.param == "file":
        yield str(tmp_path / "cache")
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cache.db'}"
    elif request.param == "redis":
        yield from _redis_store()
    else:
        yield from _s3_store(request.getfixturevalue("s3_endpoint"))


@pytest.fixture(scope="module")
def file_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One File cache for the read-only tests of this module (no expired entries)."""
    path = str(tmp_path_factory.mktemp("cli") / "cache")
    write_cache(path, custom=True)
    return path


@pytest.fixture
def scratch_cache(tmp_path: Path) -> str:
    """A File cache of its own, for a test that changes it."""
    path = str(tmp_path / "scratch")
    write_cache(path)
    return path


# -- every backend, end to end (subprocess) ----------------------------------------------------


def test_cli_every_backend_full_session_reads_prunes_and_clears(store: str) -> None:
    """Write a cache with the library, then drive every command against it."""
    write_cache(store, expired=True)
    # The file backend goes through the installed script, the others through -m.
    run = run_script if "://" not in store else run_module

    assert _json(run("purge-expired", store, "--json")) == {"deleted": 1}

    rows = _json(run("list", store, "--json"))
    assert {row["url"] for row in rows} == LIVE
    assert len(rows) == 7  # GREETING has two variants
    by_url = {row["url"]: row for row in rows}
    assert by_url[NEWS]["stale"] is True
    assert by_url[NEWS]["freshness_left_seconds"] < 0
    assert all(not row["stale"] for row in rows if row["url"] != NEWS)
    assert by_url[MISSING]["status"] == 404
    assert by_url[LOGO]["size"] == len(BINARY)
    assert by_url[HOME]["hits"] == 1
    assert [row["variants"] for row in rows if row["url"] == GREETING] == [2, 2]

    body = run("show", store, LOGO, "--body")
    assert body.returncode == 0, body.stderr.decode()
    assert body.stdout == BINARY

    shown = _json(run("show", store, GREETING, "--json"))
    languages = sorted(dict(e["request_headers"])["accept-language"] for e in shown["entries"])
    assert languages == ["en", "fr"]

    stats = _json(run("stats", store, "--json"))
    assert (stats["listed"], stats["stale"], stats["fresh"]) == (7, 1, 6)
    assert stats["hosts"] == {"example.com": 5, "api.example.com": 2}
    assert stats["statuses"] == {"200": 6, "404": 1}
    assert stats["expired"] == 0  # purged above
    assert stats["body_bytes"] >= len(BINARY)

    # A URL as the user typed it: normalised the way the cache keys it.
    deleted = run("delete", store, "HTTPS://Example.COM:443/greeting#top")
    assert (deleted.returncode, deleted.stdout) == (0, b"deleted 2 entries\n")
    assert _json(run("delete", store, "--url", "https://api.example.com/*", "--json")) == {
        "deleted": 2
    }
    cleared = run("clear", store, "--yes")
    assert cleared.returncode == 0 and cleared.stdout.startswith(b"cleared "), cleared.stderr
    assert _json(run("list", store, "--json")) == []


# -- errors (subprocess: one line on stderr, exit code 1) --------------------------------------


def test_cli_unknown_scheme_is_one_error_line() -> None:
    line = _one_error_line(run_module("list", "ftp://example.com/cache"))
    assert "unknown storage URL scheme 'ftp'" in line


def test_cli_missing_directory_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-cache"
    line = _one_error_line(run_script("stats", str(missing)))
    assert f"no cache at {missing}" in line
    assert not missing.exists()


def test_cli_unreachable_redis_is_one_error_line() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    line = _one_error_line(run_module("list", f"redis://127.0.0.1:{port}/0?namespace=x"))
    assert "Redis" in line and str(port) in line


def test_cli_corrupt_entry_is_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    write_cache(str(path))
    storage = httpcache.FileStorage(base_path=path)
    (entry,) = storage.get_entries(HOME)
    storage._head_path(entry.key, entry.variant).write_bytes(b"\x00not a record")

    result = run_module("list", str(path), "--json")
    assert result.returncode == 0
    assert {row["url"] for row in json.loads(result.stdout)} == LIVE - {HOME}
    stderr = result.stderr.decode()
    assert stderr.startswith("warning: dropping an unreadable cache record")
    assert stderr.count("\n") == 1 and "Traceback" not in stderr


def test_cli_clear_without_terminal_or_yes_refuses(scratch_cache: str) -> None:
    line = _one_error_line(run_module("clear", scratch_cache))
    assert "pass --yes" in line
    assert len(_json(run_module("list", scratch_cache, "--json"))) == 7


def test_cli_help_works_through_the_script_and_the_module() -> None:
    top = run_script("--help")
    assert top.returncode == 0
    for command in ("list", "show", "stats", "delete", "purge-expired", "clear"):
        assert command.encode() in top.stdout
    sub = run_module("show", "--help")
    assert sub.returncode == 0 and b"examples:" in sub.stdout and b"--body" in sub.stdout


# -- list (in-process) -------------------------------------------------------------------------


def _list(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["list", *args, "--json"]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return rows


@pytest.mark.parametrize(
    ("args", "urls"),
    [
        pytest.param(["--status", "404"], [MISSING], id="status"),
        pytest.param(["--status", "404", "--status", "200", "--limit", "1"], [ME], id="statuses"),
        pytest.param(["--stale"], [NEWS], id="stale"),
        pytest.param(["--expired"], [NEWS], id="expired-is-stale"),
        pytest.param(["--larger-than", "1k"], [LOGO], id="larger-than"),
        pytest.param(["--larger-than", "1.5MiB"], [], id="larger-than-none"),
        pytest.param(["--url", "https://api.example.com/*"], [ME, MISSING], id="url-glob"),
        pytest.param(["--sort", "size", "--limit", "2"], [LOGO, ME], id="size"),
        pytest.param(["--sort", "age", "--limit", "1"], [NEWS], id="age-oldest-first"),
        pytest.param(["--sort", "url", "--reverse", "--limit", "1"], [NEWS], id="reverse"),
        pytest.param(["--limit", "0"], [], id="limit-zero"),
    ],
)
def test_list_filters_sort_and_limit_select_rows(
    file_cache: str, capsys: pytest.CaptureFixture[str], args: list[str], urls: list[str]
) -> None:
    assert [row["url"] for row in _list(capsys, file_cache, *args)] == urls


def test_list_fresh_leaves_out_stale_entries(
    file_cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = {row["url"] for row in _list(capsys, file_cache, "--fresh")}
    assert urls == (LIVE | {CUSTOM}) - {NEWS}


def test_list_json_rows_have_the_documented_fields(
    file_cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    row = _list(capsys, file_cache, "--url", HOME)[0]
    assert list(row) == [
        "key",
        "variant",
        "method",
        "url",
        "status",
        "size",
        "hits",
        "variants",
        "created_at",
        "request_time",
        "response_time",
        "accessed_at",
        "age_seconds",
        "freshness_lifetime_seconds",
        "freshness_left_seconds",
        "heuristic",
        "stale",
        "invalidated",
        "force_cached",
        "ttl_seconds",
    ]
    assert (row["key"], row["method"], row["status"], row["size"]) == (HOME, "GET", 200, 11)
    assert row["created_at"].endswith("Z") and row["freshness_lifetime_seconds"] == 3600
    assert row["accessed_at"].endswith("Z")  # HOME was hit once


def test_list_text_is_an_aligned_table_without_colour_off_a_terminal(
    file_cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", file_cache, "--sort", "size"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "METHOD",
        "STATUS",
        "SIZE",
        "AGE",
        "FRESH",
        "HITS",
        "VARIANTS",
        "URL",
    ]
    assert len(lines) == 9
    assert "\x1b[" not in "\n".join(lines)
    column = lines[0].index("URL")
    assert {line[column:].split()[0] for line in lines[1:]} == LIVE | {CUSTOM}
    logo = lines[1].split()
    assert logo[:3] == ["GET", "200", "5.0"] and logo[3] == "KiB"
    assert "stale" in next(line for line in lines if line.endswith(NEWS))


def test_list_nothing_matching_says_so_on_stderr(
    file_cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", file_cache, "--url", "https://nowhere.example/*"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == "no matching entries\n"


# -- show (in-process) -------------------------------------------------------------------------


def test_show_headers_prints_every_variant_and_hashed_credentials_only(
    file_cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", file_cache, GREETING, "--headers"]) == 0
    out = capsys.readouterr().out
    assert "(entry 1 of 2)" in out and "(entry 2 of 2)" in out
    assert "accept-language: en" in out and "accept-language: fr" in out
    assert "Vary: Accept-Language" in out

    assert main(["show", file_cache, ME, "--headers"]) == 0
    out = capsys.readouterr().out
    assert "authorization: sha256:" in out
    assert "s3cr3t" not in out
    assert "freshness:" in out and "left (lifetime 10m)" in out


def test_show_lists_every_credential_partition_without_the_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "cache")
    storage = httpcache.FileStorage(base_path=path)
    with _client(storage) as client:
        client.get(ME, headers={"Authorization": "Bearer token-of-alice"})
        client.get(ME, headers={"Authorization": "Bearer token-of-bob"})
    assert main(["show", path, ME, "--json"]) == 0
    out = capsys.readouterr().out
    hashes = {dict(e["request_headers"])["authorization"] for e in json.loads(out)["entries"]}
    assert len(hashes) == 2 and all(h.startswith("sha256:") for h in hashes)
    assert "alice" not in out and "bob" not in out


def test_show_stale_entry_says_for_how_long(
    file_cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", file_cache, NEWS]) == 0
    out = capsys.readouterr().out
    assert "freshness:  stale for " in out and "(lifetime 1m)" in out  # two hours old
    assert "request headers" not in out


def test_show_json_has_heads_and_metadata(
    file_cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", file_cache, ME, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["store"], shown["query"]) == (file_cache, ME)
    (entry,) = shown["entries"]
    assert entry["reason"] == "OK" and entry["http_version"] == "HTTP/1.1"
    assert entry["request_headers"][0][0] == "authorization"
    assert entry["request_headers"][0][1].startswith("sha256:")
    assert ["Cache-Control", "private, max-age=600"] in entry["response_headers"]


def test_show_key_exactly_and_url_of_a_custom_key(
    file_cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", file_cache, CUSTOM_KEY, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"][0]["url"] == CUSTOM
    assert main(["show", file_cache, CUSTOM, "--json"]) == 0  # found by URL: keyed otherwise
    assert json.loads(capsys.readouterr().out)["entries"][0]["key"] == CUSTOM_KEY


def test_show_body_with_headers_writes_the_response_head_first(
    file_cache: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["show", file_cache, HOME, "--body", "--headers"]) == 0
    out = capsysbinary.readouterr().out
    head, body = out.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Cache-Control: max-age=3600" in head
    assert body == b"<p>home</p>"


def test_show_body_of_several_variants_needs_a_variant(
    file_cache: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["show", file_cache, GREETING, "--body"]) == 1
    err = capsysbinary.readouterr().err.decode()
    assert "2 entries match" in err and "--variant" in err

    assert main(["list", file_cache, "--url", GREETING, "--json"]) == 0
    rows = json.loads(capsysbinary.readouterr().out)
    french = next(r for r in rows if r["size"] == len(b"bonjour"))
    assert main(["show", file_cache, GREETING, "--variant", french["variant"][:8], "--body"]) == 0
    assert capsysbinary.readouterr().out == b"bonjour"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["show", "{cache}", "https://example.com/absent"], "no entry for", id="show"),
        pytest.param(["show", "{cache}", HOME, "--variant", "zz"], "no variant", id="variant"),
        pytest.param(["delete", "{cache}", "https://example.com/absent"], "no entry", id="del"),
        pytest.param(["list", "memory://"], "memory:// storage", id="memory"),
        pytest.param(["list", "sqlite:///{tmp}/absent.db"], "no cache at", id="no-sqlite"),
        pytest.param(["list", "sqlite:///{tmp}/other.db"], "no 'httpcache' table", id="table"),
        pytest.param(["list", "sqlite:///{tmp}/junk.db"], "not a readable SQLite", id="junk"),
        pytest.param(["list", "{tmp}/other.db"], "is not a cache directory", id="a-file"),
        pytest.param(["clear", "{tmp}/project", "--yes"], "does not look like", id="foreign"),
    ],
)
def test_runtime_errors_exit_1_with_one_line(
    file_cache: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    import sqlite3

    connection = sqlite3.connect(tmp_path / "other.db")
    connection.execute("CREATE TABLE notes (text TEXT)")
    connection.close()
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 10)
    (tmp_path / "project" / "entries").mkdir(parents=True)
    (tmp_path / "project" / "entries" / "important.txt").write_text("keep me")

    argv = [a.format(cache=file_cache, tmp=tmp_path) for a in args]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("httpcache: error: ") and err.count("\n") == 1
    assert message in err
    assert (tmp_path / "project" / "entries" / "important.txt").exists()
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["show", "STORE", HOME, "--body", "--json"], id="body-json"),
        pytest.param(["delete", "STORE"], id="delete-nothing"),
        pytest.param(["delete", "STORE", HOME, "--url", "*"], id="delete-both"),
        pytest.param(["list", "STORE", "--larger-than", "ten"], id="bad-size"),
        pytest.param(["list", "STORE", "--status", "2000"], id="bad-status"),
        pytest.param(["list", "STORE", "--stale", "--fresh"], id="stale-and-fresh"),
        pytest.param(["list", "STORE", "--limit", "-1"], id="negative-limit"),
        pytest.param(["frobnicate", "STORE"], id="unknown-command"),
        pytest.param([], id="no-command"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    assert main(args) == 2
    assert "usage: httpcache" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", ["list", "show", "stats", "delete", "purge-expired", "clear", None]
)
def test_help_of_every_command_has_examples(
    capsys: pytest.CaptureFixture[str], command: str | None
) -> None:
    assert main([command, "--help"] if command else ["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: httpcache")
    assert ("examples:" in out) if command else ("exit codes:" in out)


def test_missing_extra_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # as if the extra were not installed
    assert main(["list", "redis://127.0.0.1:6379/0?namespace=x"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'httpcache[redis]'" in err


def test_unexpected_error_is_one_line_and_verbose_shows_the_traceback(
    file_cache: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object) -> object:
        raise TypeError("a bug")

    monkeypatch.setattr(_cli_format, "entry_views", broken)
    assert main(["list", file_cache]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected TypeError: a bug" in err and "--verbose" in err
    assert main(["list", file_cache, "--verbose"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("(run again with --verbose for the traceback)\n")


# -- records of another serializer are never deleted as corrupt --------------------------------


def _heads(path: Path) -> list[Path]:
    return sorted(path.glob("entries/*/*.head"))


@pytest.mark.parametrize(
    ("serializer", "name"),
    [(httpcache.PickleSerializer, "pickle"), (httpcache.YAMLSerializer, "yaml")],
)
@pytest.mark.parametrize("command", ["list", "purge-expired", "stats"])
def test_records_of_another_serializer_stop_the_command_and_stay(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    serializer: Callable[[], httpcache.Serializer],
    name: str,
    command: str,
) -> None:
    path = tmp_path / "cache"
    with _client(httpcache.FileStorage(base_path=path, serializer=serializer())) as client:
        client.get(HOME)
        client.get(LOGO)
    assert main([command, str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert f"it holds {name} records, not json: run again with --serializer {name}" in err
    assert len(_heads(path)) == 2  # nothing was deleted as "unreadable"
    assert {row["url"] for row in _list(capsys, str(path), "--serializer", name)} == {HOME, LOGO}


def test_records_of_another_format_version_stop_the_command_and_stay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cache"
    with _client(httpcache.FileStorage(base_path=path)) as client:
        client.get(HOME)
    (head,) = _heads(path)
    head.write_bytes(head.read_bytes().replace(b'{"httpcache":1,', b'{"httpcache":2,'))
    assert main(["list", str(path)]) == 1
    err = capsys.readouterr().err
    assert "format version 2 and this httpcache reads version 1" in err
    assert _heads(path) == [head]


# -- stats, delete, purge-expired, clear (in-process) ------------------------------------------


def test_stats_counts_storage_expired_entries_before_listing_prunes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "cache")
    write_cache(path, expired=True)
    assert main(["stats", path, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["entries"], stats["expired"], stats["listed"], stats["stale"]) == (8, 1, 7, 1)
    assert stats["oldest_created_at"] < stats["newest_created_at"]

    assert main(["stats", path]) == 0
    out = capsys.readouterr().out
    assert "by host:" in out and "by status:" in out and "storage-expired:  0" in out


def test_delete_key_and_purge_expired_report_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "cache")
    write_cache(path, expired=True, custom=True)
    assert main(["purge-expired", path]) == 0
    assert capsys.readouterr().out == "removed 1 expired entry\n"
    assert main(["delete", path, LOGO]) == 0
    assert capsys.readouterr().out == "deleted 1 entry\n"
    assert main(["delete", path, CUSTOM_KEY, "--json"]) == 0  # a key that is no URL
    assert json.loads(capsys.readouterr().out) == {"deleted": 1}
    assert main(["delete", path, "--url", "https://nowhere.example/*"]) == 0  # not an error
    assert capsys.readouterr().out == "deleted 0 entries\n"
    assert {row["url"] for row in _list(capsys, path)} == LIVE - {LOGO}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code", "left"), [("y\n", 0, 0), ("n\n", 1, 7), ("", 1, 7)])
def test_clear_on_a_terminal_asks_first(
    scratch_cache: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answer: str,
    code: int,
    left: int,
) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal(answer))
    assert main(["clear", scratch_cache]) == code
    err = capsys.readouterr().err
    assert err.startswith(f"Delete every entry in {scratch_cache}? [y/N] ")
    assert len(_list(capsys, scratch_cache)) == left


# -- the shell's small parts -------------------------------------------------------------------


def test_progress_shows_on_a_terminal_only_after_the_delay_and_clears_itself() -> None:
    ticks = iter(float(n) for n in range(100))
    stream = _Terminal()
    progress = _cli._Progress(stream, delay=2.5, every=1.0, clock=lambda: next(ticks))
    assert list(progress.wrap(range(5))) == [0, 1, 2, 3, 4]
    written = stream.getvalue()
    assert "\rscanning: 1 entry..." not in written and "\rscanning: 3 entries..." in written
    assert written.endswith("\r\x1b[K")

    quiet = io.StringIO()
    assert list(_cli._Progress(quiet, delay=0).wrap("ab")) == ["a", "b"]
    assert quiet.getvalue() == ""


@pytest.mark.parametrize(
    ("terminal", "no_color", "expected"),
    [(True, None, True), (True, "1", False), (False, None, False), (True, "", True)],
)
def test_colour_only_on_a_terminal_without_no_color(
    monkeypatch: pytest.MonkeyPatch, terminal: bool, no_color: str | None, expected: bool
) -> None:
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    stream = _Terminal() if terminal else io.StringIO()
    assert _cli._color(stream) is expected
