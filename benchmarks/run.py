"""httpcache's benchmark suite: every workload on every storage, against plain httpx.

    python benchmarks/run.py                      # all workloads and storages, 5 repeats
    python benchmarks/run.py --quick              # a smoke run, well under a minute
    python benchmarks/run.py --storages memory,sqlite --workloads W1,W3 --repeats 7
    python benchmarks/run.py --peers              # also hishel, requests-cache, CacheControl
    python benchmarks/run.py --render benchmarks/published.json  # reprint a saved run

Workloads (``harness.WORKLOADS``; W4 runs in a subprocess per storage):

* W1 hit: 100 URLs, 1 KiB, ``max-age=3600``, warmed, then 5,000 GETs round-robin.
* W2 miss + store: 2,000 unique URLs, each GET a miss that stores.
* W3 revalidate: 100 URLs, ``no-cache`` + ``ETag``; every GET is answered by a 304.
* W4 large body: a 256 MiB response streamed in 64 KiB chunks, stored, read back 3x:
  wall time and peak RSS growth (VmHWM minus the VmRSS before the first request).
* W5 async hit: W1 through ``AsyncCacheClient`` as 100 concurrent tasks.

Every figure is the median over the repeats of µs per request, next to its floor: a
plain ``httpx.Client`` / ``httpx.AsyncClient`` on the same ``MockTransport`` doing the
same requests in the same process, interleaved with the cached cases (the repeat loop
outside, the cases inside). Each workload checks that it did what it claims (hits
never reach the origin, 304s are revalidations) and stops the run if not.

S3 is moto in server mode on loopback, in its own process. The slow storages run a
fraction of the requests (``harness.STORAGE_FACTORS``: file and Redis 0.4, S3 0.02) so
that a default run stays within a few minutes; µs per request stays comparable, and
``--full-counts`` runs them all at the full count. Redis is the server at
``--redis-url``, used under a key namespace unique to the run; only that namespace is
deleted afterwards.

``--peers`` adds hishel 0.1.5, hishel 2, requests-cache and CacheControl, each in a
virtualenv of its own under ``benchmarks/.venvs`` (created once with ``python -m venv``
and pip), run by ``runner.py`` in a subprocess against its own floor (plain httpx, or a
plain ``requests.Session`` for the requests-based ones). The httpx floor is measured
again in this process between peers, to show drift.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import (  # noqa: E402
    LARGE_DEFAULT_MIB,
    STORAGE_FACTORS,
    WORKLOADS,
    WorkloadCase,
    interleave,
    median,
    request_count,
    scaled,
)
from libraries import LIBRARIES, Env, purge_redis  # noqa: E402
from report import attach_floors, render, render_large  # noqa: E402

ALL_STORAGES = ("memory", "file", "sqlite", "redis", "s3")
ALL_WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
PEERS = ("hishel01", "hishel2", "requests_cache", "cachecontrol")
VENVS = HERE / ".venvs"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- peers' virtualenvs ---------------------------------------------------------------------


def peer_requirements(key: str) -> list[str]:
    """What pip installs into peer ``key``'s virtualenv (httpx pinned to ours)."""
    from importlib import metadata

    httpx_pin = f"httpx=={metadata.version('httpx')}"
    requests_pins = ["requests==2.34.2", "urllib3==2.8.0", "redis==8.1.0"]
    return {
        # hishel 0.1.5's redis extra pins redis 6.2; its s3 extra pins boto3 1.15 on 3.11.
        "hishel01": ["hishel[redis,sqlite,s3]==0.1.5", httpx_pin],
        "hishel2": ["hishel[httpx,redis]>=2,<3", httpx_pin],
        "requests_cache": ["requests-cache==1.3.3", *requests_pins],
        "cachecontrol": ["CacheControl[filecache,redis]==0.14.4", *requests_pins],
    }[key]


def ensure_venv(key: str) -> Path:
    """Return peer ``key``'s interpreter, creating its virtualenv first if needed.

    A ``.bench-requirements`` file records what was installed; a change recreates it.
    """
    venv = VENVS / key
    python = venv / "bin" / "python"
    marker = venv / ".bench-requirements"
    wanted = "\n".join(peer_requirements(key))
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    _log(f"creating {venv} ({', '.join(peer_requirements(key))})")
    shutil.rmtree(venv, ignore_errors=True)
    VENVS.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *peer_requirements(key),
        ],
        check=True,
    )
    marker.write_text(wanted)
    return python


# --- services -------------------------------------------------------------------------------


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_MOTO = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("ready", flush=True)
sys.stdin.read()
server.stop()
"""


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's S3 in server mode in a child process (off this process's GIL)."""
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-c", _MOTO, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **AWS_ENV},
    )
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("moto server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def redis_reachable(url: str) -> str | None:
    """``None`` if a Redis server answers at ``url``, else why not."""
    try:
        import redis
    except ImportError:
        return "the redis package is not installed"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except Exception as exc:
        return f"no Redis server at {url} ({type(exc).__name__})"
    finally:
        client.close()
    return None


# --- measuring ------------------------------------------------------------------------------


def httpx_floor_drift(env: Env, scale: float, when: str) -> dict[str, Any]:
    """The W1 httpx floors, sync and async, measured again in this process now."""
    from stack_httpx import floor_async, floor_sync

    spec = scaled(WORKLOADS["W1"], scale)
    n = request_count(spec, scale, None)
    cases = [
        WorkloadCase("httpx sync floor", spec, n, floor_sync(), f"{env.base_url}", False, True),
        WorkloadCase("httpx async floor", spec, n, floor_async(), f"{env.base_url}", False, True),
    ]
    sync, asynchronous = interleave(cases, 3)
    result = {"when": when, "sync_us": sync.median_us, "async_us": asynchronous.median_us}
    _log(
        f"drift check ({when}): httpx W1 floor sync {sync.median_us:.1f} µs,"
        f" async {asynchronous.median_us:.1f} µs"
    )
    return result


def child_env(with_httpcache: bool) -> dict[str, str]:
    """The environment of a child process: AWS dummies; PYTHONPATH only for httpcache's."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(AWS_ENV)
    if with_httpcache:
        import httpcache

        env["PYTHONPATH"] = str(Path(httpcache.__file__).resolve().parent.parent)
    return env


def run_child(python: Path | str, args: Sequence[str], env: dict[str, str], timeout: float) -> Any:
    """Run ``runner.py`` with ``python``; return its JSON, or ``{"error": ...}``."""
    try:
        done = subprocess.run(
            [str(python), str(HERE / "runner.py"), *args],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else {"error": f"no output (exit {done.returncode})"}
    except json.JSONDecodeError:
        return {"error": f"unreadable output (exit {done.returncode})"}


def run_large(
    python: Path | str,
    key: str,
    storages: Sequence[str],
    env: Env,
    size: int,
    reads: int,
    repeats: int,
    with_httpcache: bool,
) -> list[dict[str, Any]]:
    """W4 for ``key``: a fresh process per (repeat, storage), the floor included.

    Repeats outside, storages inside, as for the other workloads.
    """
    from runner import expand_storages

    lib = LIBRARIES[key]
    kinds = ["floor", *[s for s in expand_storages(lib, storages) if s in lib.storages]]
    raw: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    errors: dict[str, str] = {}
    for repeat in range(repeats):
        for kind in kinds:
            if kind in errors:
                continue
            _log(f"{lib.name} W4 {kind} (repeat {repeat + 1}/{repeats})")
            args = [
                "--library",
                key,
                "--env",
                json.dumps(env.__dict__),
                "--large",
                kind,
                "--size",
                str(size),
                "--reads",
                str(reads),
            ]
            result = run_child(python, args, child_env(with_httpcache), timeout=900)
            if "error" in result:
                errors[kind] = result["error"]
                _log(f"  n/a: {result['error']}")
                continue
            raw[kind].append(result)
    rows: list[dict[str, Any]] = []
    floor = raw.get("floor", [])
    floor_store = median([r["store_s"] for r in floor]) if floor else None
    floor_read = median([t for r in floor for t in r["read_s"]]) if floor else None
    for kind in kinds:
        row: dict[str, Any] = {
            "workload": "W4",
            "key": key,
            "library": lib.name if kind != "floor" else f"{lib.stack} (no cache)",
            "storage": None if kind == "floor" else kind,
            "stack": lib.stack,
            "size": size,
            "reads": reads,
            "raw": raw[kind],
        }
        if kind in errors or not raw[kind]:
            row["error"] = errors.get(kind, "no result")
            rows.append(row)
            continue
        store = median([r["store_s"] for r in raw[kind]])
        read = median([t for r in raw[kind] for t in r["read_s"]])
        growth = median([(r["peak_kib"] - r["baseline_kib"]) / 1024 for r in raw[kind]])
        row.update(
            store_s=store,
            read_s=read,
            rss_growth_mib=growth,
            store_ratio=store / floor_store if floor_store else None,
            read_ratio=read / floor_read if floor_read else None,
        )
        rows.append(row)
    for kind in storages:
        if kind not in lib.storages:
            rows.append(
                {
                    "workload": "W4",
                    "key": key,
                    "library": lib.name,
                    "storage": kind,
                    "stack": lib.stack,
                    "error": f"no {kind} storage",
                }
            )
    return rows


# --- machine --------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    with contextlib.suppress(OSError):
        info["loadavg_start"] = os.getloadavg()[0]
    return info


def git_commit(path: Path) -> str | None:
    """The commit checked out where ``path`` lives (with ``+dirty`` for local changes)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return (commit + ("+dirty" if dirty else "")) or None


# --- the run --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--storages",
        default=",".join(ALL_STORAGES),
        help="comma-separated: memory,file,sqlite,redis,s3 (default: all)",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(ALL_WORKLOADS),
        help="comma-separated: W1,W2,W3,W4,W5 (default: all)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed runs per case; the median counts (default 5; --quick 3)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: a tenth of the requests, URLs and tasks, 3 repeats; W4 at 16 MiB, once",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="multiply every request count (default 1; --quick 0.1)",
    )
    parser.add_argument(
        "--full-counts",
        action="store_true",
        help="run every storage at the full request counts (slow on S3)",
    )
    parser.add_argument(
        "--large-mib",
        type=float,
        default=None,
        help=f"W4's body size in MiB (default {LARGE_DEFAULT_MIB}; --quick 16)",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also run hishel 0.1.5, hishel 2, requests-cache, CacheControl",
    )
    parser.add_argument(
        "--peer-list", default=",".join(PEERS), help="which peers --peers runs (default: all)"
    )
    parser.add_argument(
        "--json",
        default=str(HERE / "results.json"),
        metavar="PATH",
        help="where to write the results (default benchmarks/results.json)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--render", metavar="JSON", help="print the tables of a saved run")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.scale = args.scale or (0.1 if args.quick else 1.0)
    args.large_mib = args.large_mib or (16 if args.quick else LARGE_DEFAULT_MIB)
    args.large_repeats = 1 if args.quick else args.repeats
    args.storage_list = [s for s in args.storages.split(",") if s]
    args.workload_list = [w.upper() for w in args.workloads.split(",") if w]
    for name in args.storage_list:
        if name not in ALL_STORAGES:
            parser.error(f"unknown storage {name!r}")
    for name in args.workload_list:
        if name not in ALL_WORKLOADS:
            parser.error(f"unknown workload {name!r}")
    args.peer_keys = [p for p in args.peer_list.split(",") if p] if args.peers else []
    for name in args.peer_keys:
        if name not in PEERS:
            parser.error(f"unknown peer {name!r}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def library_names(results: dict[str, Any]) -> list[str]:
    """Display names in table order: httpcache, then the peers as run."""
    return ["httpcache", *[LIBRARIES[k].name for k in results["config"]["peers"]]]


def print_report(results: dict[str, Any]) -> None:
    """Print the Markdown tables of a run."""
    names = library_names(results)
    config = results["config"]
    print(render(results["rows"], names))
    if results.get("large"):
        print(render_large(results["large"], names, config["large_mib"], config["large_reads"]))
    if results.get("drift"):
        print("httpx W1 floor re-measured in the main process (µs, sync / async):")
        for point in results["drift"]:
            print(f"  {point['when']}: {point['sync_us']:.1f} / {point['async_us']:.1f}")
    if results.get("skipped"):
        for name, reason in results["skipped"].items():
            print(f"skipped {name}: {reason}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; print the tables; write the JSON."""
    args = parse_args(argv)
    if args.render:
        print_report(json.loads(Path(args.render).read_text()))
        return 0

    import httpcache

    # A SIGTERM (or a terminal's SIGHUP) unwinds like Ctrl-C, so the cleanup below runs:
    # the Redis namespace, the S3 server, the temporary directory.
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)

    started = time.time()
    os.environ.update(AWS_ENV)
    skipped: dict[str, str] = {}
    storages = list(args.storage_list)
    if "redis" in storages and (reason := redis_reachable(args.redis_url)):
        skipped["redis"] = reason
        storages.remove("redis")
    namespace = f"hcb{uuid.uuid4().hex[:10]}"
    tmp = tempfile.mkdtemp(prefix="httpcache-bench-")
    workloads = [w for w in args.workload_list if w != "W4"]
    large_size = int(args.large_mib * 1024 * 1024)
    large_reads = 3

    results: dict[str, Any] = {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": {"python": platform.python_version()},
        "config": {
            "storages": storages,
            "workloads": args.workload_list,
            "repeats": args.repeats,
            "scale": args.scale,
            "quick": args.quick,
            "full_counts": args.full_counts,
            "storage_factors": {} if args.full_counts else STORAGE_FACTORS,
            "peers": args.peer_keys,
            "large_mib": args.large_mib,
            "large_reads": large_reads,
            "large_repeats": args.large_repeats,
            "requests": {
                w: {
                    str(s): request_count(
                        scaled(WORKLOADS[w], args.scale), args.scale, s, full=args.full_counts
                    )
                    for s in [None, *storages]
                }
                for w in workloads
            },
            "httpcache_path": str(Path(httpcache.__file__).resolve().parent),
            "httpcache_commit": git_commit(Path(httpcache.__file__).resolve().parent),
        },
        "rows": [],
        "large": [],
        "drift": [],
        "peers": {},
        "skipped": skipped,
    }
    stack = contextlib.ExitStack()
    try:
        s3_endpoint = s3_bucket = None
        if "s3" in storages:
            try:
                s3_endpoint = stack.enter_context(moto_server())
                import boto3

                s3_bucket = f"{namespace}-bucket"
                boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=s3_bucket)
            except Exception as exc:
                skipped["s3"] = f"no moto S3 server ({type(exc).__name__}: {exc})"
                storages.remove("s3")
        env = Env(tmp, args.redis_url, namespace, s3_endpoint, s3_bucket)

        from runner import run_library

        own = run_library(
            "httpcache",
            env,
            workloads,
            storages,
            args.repeats,
            args.scale,
            _log,
            full_counts=args.full_counts,
        )
        results["rows"].extend(own["rows"])
        results["versions"].update(own["versions"])
        if "W4" in args.workload_list:
            results["large"].extend(
                run_large(
                    sys.executable,
                    "httpcache",
                    storages,
                    env,
                    large_size,
                    large_reads,
                    args.large_repeats,
                    with_httpcache=True,
                )
            )
        results["httpcache_duration_s"] = round(time.time() - started, 1)
        _log(f"httpcache done in {results['httpcache_duration_s']:.0f} s")
        for key in args.peer_keys:
            results["drift"].append(httpx_floor_drift(env, args.scale, f"before {key}"))
            lib = LIBRARIES[key]
            try:
                python = ensure_venv(key)
            except subprocess.CalledProcessError as exc:
                results["peers"][key] = {"error": f"could not create its virtualenv: {exc}"}
                continue
            _log(f"== {lib.name} ({python})")
            peer_args = [
                "--library",
                key,
                "--env",
                json.dumps(env.__dict__),
                "--workloads",
                ",".join(workloads),
                "--storages",
                ",".join(storages),
                "--repeats",
                str(args.repeats),
                "--scale",
                str(args.scale),
                *(["--full-counts"] if args.full_counts else []),
            ]
            peer = run_child(python, peer_args, child_env(False), timeout=3600) if workloads else {}
            if "error" in peer:
                results["peers"][key] = {"error": peer["error"]}
            else:
                results["peers"][key] = {"versions": peer.get("versions", {})}
                results["rows"].extend(peer.get("rows", []))
            if "W4" in args.workload_list:
                results["large"].extend(
                    run_large(
                        python,
                        key,
                        storages,
                        env,
                        large_size,
                        large_reads,
                        args.large_repeats,
                        with_httpcache=False,
                    )
                )
            if "versions" not in results["peers"][key]:
                probe = run_child(
                    python,
                    [
                        "--library",
                        key,
                        "--env",
                        json.dumps(env.__dict__),
                        "--workloads",
                        "",
                        "--storages",
                        "",
                    ],
                    child_env(False),
                    timeout=120,
                )
                results["peers"][key]["versions"] = probe.get("versions", {})
        if args.peer_keys:
            results["drift"].append(httpx_floor_drift(env, args.scale, "after the peers"))
    finally:
        stack.close()
        if "redis" in storages:
            with contextlib.suppress(Exception):
                left = purge_redis(args.redis_url, namespace)
                if left:
                    _log(f"removed {left} leftover Redis keys of namespace {namespace}")
        shutil.rmtree(tmp, ignore_errors=True)

    results["rows"] = attach_floors(results["rows"])
    with contextlib.suppress(OSError):
        results["machine"]["loadavg_end"] = os.getloadavg()[0]
    results["duration_s"] = round(time.time() - started, 1)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    print_report(results)
    _log(f"wrote {args.json} ({results['duration_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
