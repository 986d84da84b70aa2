"""Child process of the file-storage fault tests: ``python -m tests.reliability._file_faults``.

Arguments: the fault (``read-only`` or ``full-disk``), the mode (``sync`` or ``async``) and a
scratch directory. Prints the scenario's figures as one JSON line on stdout.

A full disk is simulated with ``RLIMIT_FSIZE`` set to 0 (writes that would grow a file fail
with ``EFBIG``; Python ignores ``SIGXFSZ``); a read-only directory with ``chmod``, after
dropping root privileges (root ignores permissions), which is why this runs in a child.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

import anyio

from httpcache import AsyncCacheClient, AsyncFileStorage, CacheClient, FileStorage
from tests.reliability._outage import Figures, adrive, drive, origin

NOBODY = 65534


def _chmod_tree(root: Path, mode: int) -> None:
    for directory, _, _ in os.walk(root):
        os.chmod(directory, mode)


def main() -> None:
    fault, mode, scratch = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    if os.geteuid() == 0:  # pytest's tmp_path is private to root: use a fresh dir in /tmp
        scratch = Path(tempfile.mkdtemp(prefix="httpcache-faults-"))
        os.chown(scratch, NOBODY, NOBODY)
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    cache = scratch / "cache"
    cache.mkdir()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def on() -> None:
        if fault == "read-only":
            _chmod_tree(cache, 0o555)
        else:
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))

    def off() -> None:
        if fault == "read-only":
            _chmod_tree(cache, 0o755)
        else:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    mock, _ = origin()
    if mode == "sync":
        with CacheClient(
            storage=FileStorage(base_path=cache), transport=mock, base_url="http://origin.test"
        ) as http:
            figures = drive(http, on, off)
    else:

        async def run() -> Figures:
            async def aon() -> None:
                on()

            async def aoff() -> None:
                off()

            async with AsyncCacheClient(
                storage=AsyncFileStorage(base_path=cache),
                transport=mock,
                base_url="http://origin.test",
            ) as http:
                return await adrive(http, aon, aoff)

        figures = anyio.run(run)
    off()
    if os.geteuid() == NOBODY:
        shutil.rmtree(scratch)
    print(json.dumps(dataclasses.asdict(figures)))


if __name__ == "__main__":
    main()
