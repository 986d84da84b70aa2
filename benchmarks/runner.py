"""Run the workloads of one library, in this process, against its own floors.

``run.py`` calls :func:`run_library` in-process for httpcache, and runs this file as a
script with each peer's virtualenv interpreter, which prints the same result as JSON
on stdout (progress goes to stderr). The script imports only the standard library,
the peer library and httpx or requests (through ``libraries``, ``stack_httpx`` and
``stack_requests``, which import lazily)::

    python runner.py --library hishel01 --env '{"tmp": ...}' --workloads W1,W3 \\
        --storages memory,sqlite --repeats 5 --scale 1
    python runner.py --library hishel01 --env '{...}' --large sqlite --size 268435456

Within the process the cases of a workload are interleaved (``harness.interleave``),
so a peer's figures and its floors share the same noise.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import WORKLOADS, WorkloadCase, interleave, request_count, scaled
from libraries import LIBRARIES, Env, Library

__all__ = ["expand_storages", "run_large", "run_library"]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def expand_storages(lib: Library, storages: Sequence[str]) -> list[str]:
    """The storage kinds of ``lib`` to run for the requested ``storages``.

    CacheControl's ``file-separate`` (SeparateBodyFileCache) rides along with ``file``.
    """
    kinds: list[str] = []
    for kind in storages:
        kinds.append(kind)
        if kind == "file" and "file-separate" in lib.storages:
            kinds.append("file-separate")
    return kinds


def _floor_drivers(stack: str, workload: str) -> list[tuple[str, Any]]:
    """(mode, driver) for the plain-client floors of ``workload`` on ``stack``."""
    if stack == "httpx":
        from stack_httpx import floor_async, floor_sync

        if workload == "W5":
            return [("async", floor_async())]
        return [("sync", floor_sync()), ("async", floor_async())]
    from stack_requests import floor_session

    return [] if workload == "W5" else [("sync", floor_session())]


def _host(env: Env, *parts: str) -> str:
    label = "-".join([env.namespace, *parts]).replace("_", "").lower()
    return f"http://{label[:63]}.test"


def run_library(
    key: str,
    env: Env,
    workloads: Sequence[str],
    storages: Sequence[str],
    repeats: int,
    scale: float,
    log: Callable[[str], None] = _log,
    *,
    full_counts: bool = False,
) -> dict[str, Any]:
    """Run ``workloads`` for library ``key`` on ``storages``, with its floors.

    Returns ``{"library", "versions", "rows"}``; each row is one (workload, storage,
    mode) with the raw per-repeat figures (µs per request) or an ``error`` that says
    why it is n/a. Floor rows have ``storage`` ``None`` and ``floor`` true.
    """
    lib = LIBRARIES[key]
    rows: list[dict[str, Any]] = []
    for workload in workloads:
        spec = scaled(WORKLOADS[workload], scale)
        started = time.perf_counter()
        log(f"{lib.name} {workload} ({spec.title})")
        cases: list[WorkloadCase] = []
        meta: list[dict[str, Any]] = []
        for mode, driver in _floor_drivers(lib.stack, workload):
            stack = lib.stack
            cases.append(
                WorkloadCase(
                    f"{stack} {mode} floor",
                    spec,
                    request_count(spec, scale, None),
                    driver,
                    _host(env, key, "floor", mode, workload),
                    cached=False,
                    strict=True,
                )
            )
            meta.append({"storage": None, "mode": mode, "floor": True, "stack": stack})
        for storage in expand_storages(lib, storages):
            modes = ["async"] if workload == "W5" else ["sync", "async"]
            for mode in modes:
                row = {
                    "workload": workload,
                    "library": lib.name,
                    "key": key,
                    "storage": storage,
                    "mode": mode,
                    "floor": False,
                    "stack": lib.stack,
                }
                if storage not in lib.storages:
                    rows.append({**row, "error": f"no {storage} storage", "us": []})
                    continue
                if mode == "async" and not lib.has_async:
                    reason = "no asyncio API" if lib.stack == "requests" else "no async client"
                    rows.append({**row, "error": reason, "us": []})
                    continue
                name = f"{env.namespace}-{key}-{storage}-{mode}-{workload}".replace("_", "")
                try:
                    driver = lib.make(storage, mode == "async", env, name)
                except Exception as exc:  # a storage whose extra is missing, say
                    rows.append({**row, "error": f"{type(exc).__name__}: {exc}", "us": []})
                    continue
                cases.append(
                    WorkloadCase(
                        f"{lib.name} {mode} {storage}",
                        spec,
                        request_count(spec, scale, storage, full=full_counts),
                        driver,
                        _host(env, key, storage, mode, workload),
                        cached=True,
                        strict=key == "httpcache",
                    )
                )
                meta.append({k: v for k, v in row.items() if k != "workload"})
        for info, measured in zip(meta, interleave(cases, repeats, log), strict=True):
            entry = {
                "workload": workload,
                "library": lib.name if not info["floor"] else f"{info['stack']} (no cache)",
                "key": key,
                **{k: v for k, v in info.items() if k not in ("library", "key")},
                "requests": measured.requests,
                "us": measured.us,
                "median_us": measured.median_us,
            }
            if measured.error is not None:
                entry["error"] = measured.error
            rows.append(entry)
            if measured.error is None:
                log(f"  {measured.label}: {measured.median_us:.1f} µs ({measured.requests} req)")
        log(f"  ({time.perf_counter() - started:.1f} s)")
    versions = {"python": platform.python_version(), **lib.versions()}
    return {"library": lib.name, "key": key, "versions": versions, "rows": rows}


def run_large(key: str, storage: str | None, env: Env, size: int, reads: int) -> dict[str, Any]:
    """W4 for library ``key`` on ``storage`` (``None``: the plain floor), in this process.

    Meant for a fresh process per call: the peak resident size is the process's own.
    """
    lib = LIBRARIES[key]
    if lib.stack == "httpx":
        from stack_httpx import floor_sync, large_body_run
    else:
        from stack_requests import floor_session as floor_sync  # type: ignore[assignment]
        from stack_requests import large_body_run  # type: ignore[assignment]
    if storage is None:
        build = floor_sync().build
    else:
        name = f"{env.namespace}-{key}-{storage}-W4".replace("_", "")
        build = lib.make(storage, False, env, name).build
    assert build is not None
    result = large_body_run(
        build, _host(env, key, storage or "floor", "W4"), size, reads, cached=storage is not None
    )
    return {"library": lib.name, "key": key, "storage": storage, "size": size, **result}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: print one JSON document on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", required=True, choices=sorted(LIBRARIES))
    parser.add_argument("--env", required=True, help="the run's Env, as JSON")
    parser.add_argument("--workloads", default="W1,W2,W3,W5")
    parser.add_argument("--storages", default="memory,file,sqlite,redis,s3")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--full-counts", action="store_true")
    parser.add_argument("--large", metavar="STORAGE", help="run W4 on STORAGE ('floor': none)")
    parser.add_argument("--size", type=int, default=256 * 1024 * 1024)
    parser.add_argument("--reads", type=int, default=3)
    args = parser.parse_args(argv)
    env = Env(**json.loads(args.env))
    try:
        if args.large:
            storage = None if args.large == "floor" else args.large
            result = run_large(args.library, storage, env, args.size, args.reads)
        else:
            result = run_library(
                args.library,
                env,
                [w for w in args.workloads.split(",") if w],
                [s for s in args.storages.split(",") if s],
                args.repeats,
                args.scale,
                full_counts=args.full_counts,
            )
    except Exception as exc:
        traceback.print_exc()
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
