"""Peak memory while caching, then reading back, a large response through a storage.

Each backend runs in its own subprocess: the process records its resident set
size after setup (the baseline), streams a SIZE MiB response through
``CacheClient`` into the storage (a miss), streams it back from the storage (a
hit), and reports its peak resident size (``VmHWM``) above the baseline. Bodies
are never held whole in memory, so the figure should stay far below SIZE.

    python benchmarks/bench_memory.py                 # file and sqlite, 256 MiB
    python benchmarks/bench_memory.py --size 64 file  # one backend, 64 MiB
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

CHUNK = 64 * 1024


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _child(backend: str, size_mib: int, directory: str) -> None:
    import httpx

    import httpcache

    total = size_mib * 1024 * 1024

    def body() -> Iterator[bytes]:
        block = b"x" * CHUNK
        for _ in range(total // CHUNK):
            yield block

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Cache-Control": "max-age=600", "Content-Length": str(total)},
            content=body(),
        )

    if backend == "file":
        storage = httpcache.storage_from_url(str(Path(directory) / "files"))
    elif backend == "sqlite":
        storage = httpcache.storage_from_url(f"sqlite:///{Path(directory) / 'cache.db'}")
    else:
        raise SystemExit(f"unknown backend {backend!r}")

    with httpcache.CacheClient(transport=httpx.MockTransport(handler), storage=storage) as client:
        baseline = _status_kib("VmRSS")
        received = 0
        with client.stream("GET", "http://origin.test/big") as response:
            for chunk in response.iter_raw():
                received += len(chunk)
        assert received == total, received
        read_back = 0
        with client.stream("GET", "http://origin.test/big") as response:
            assert response.extensions["from_cache"], "second request was not a hit"
            for chunk in response.iter_raw():
                read_back += len(chunk)
        assert read_back == total, read_back
        peak = _status_kib("VmHWM")
    storage.close()
    print(json.dumps({"backend": backend, "baseline_kib": baseline, "peak_kib": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backends", nargs="*", default=["file", "sqlite"])
    parser.add_argument("--size", type=int, default=256, help="response size in MiB")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.size, args.dir)
        return
    print(f"{args.size} MiB response: stored (miss), then read back (hit)")
    print(f"{'backend':<8} {'baseline':>10} {'peak':>10} {'peak above baseline':>20}")
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as directory:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    backend,
                    "--size",
                    str(args.size),
                    "--dir",
                    directory,
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        above = (result["peak_kib"] - result["baseline_kib"]) / 1024
        print(
            f"{backend:<8} {result['baseline_kib'] / 1024:>8.1f} MiB"
            f" {result['peak_kib'] / 1024:>7.1f} MiB {above:>17.1f} MiB"
        )


if __name__ == "__main__":
    main()
