"""The S3 backend of the storage contract: a real S3 endpoint, moto in server mode on loopback.

One ``ThreadedMotoServer`` is started lazily per test session (on a free port, stopped
at exit) and one bucket is created in it; each storage gets its own key prefix. Dummy
credentials and ``us-east-1`` are set unless the environment already has them. If moto
cannot start, the S3 tests are skipped, or fail under ``CI=true``.
"""

from __future__ import annotations

import atexit
import logging
import os
from typing import Any

import pytest

import httpcache._storages.s3._sync
from httpcache import S3Storage, Entry
from httpcache._storages.s3._common import digest, record_name
from tests._sync.storage_backends import Backend, Context, Lifetime

# The storage module itself (tests patch its constants);
# unasync maps it to httpcache._storages.s3._sync.
s3_module = httpcache._storages.s3._sync

BUCKET = "httpcache-contract"

_endpoint: list[str] = []  # the running server's URL, once started
_failure: list[str] = []  # why it could not start


def _start() -> str:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ):
        os.environ.setdefault(name, value)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request

    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    atexit.register(server.stop)
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client: Any = boto3.session.Session().client("s3", endpoint_url=url, region_name="us-east-1")
    try:
        client.create_bucket(Bucket=BUCKET)
    finally:
        client.close()
    return url


def endpoint_url() -> str:
    """Return the URL of the session's moto server, starting it on first use."""
    if not _endpoint and not _failure:
        try:
            _endpoint.append(_start())
        except Exception as exc:  # ImportError, a port in use, ...
            _failure.append(f"moto server could not start: {exc!r}")
    if _failure:
        if os.environ.get("CI") == "true":
            pytest.fail(_failure[0])
        pytest.skip(_failure[0])
    return _endpoint[0]


def build(ctx: Context, lifetime: Lifetime) -> S3Storage:
    return S3Storage(
        bucket_name=BUCKET,
        key_prefix=f"t/{ctx.namespace}/",
        **lifetime,
        serializer=ctx.serializer,
        clock=ctx.clock,
        endpoint_url=endpoint_url(),
    )


def corrupt(storage: S3Storage, entry: Entry) -> None:
    """Overwrite the key's record with garbage, keeping its metadata (the framing refuses)."""
    client = storage._client()
    name = record_name(storage.key_prefix, digest(entry.key))
    head = client.head_object(Bucket=storage.bucket_name, Key=name)
    client.put_object(
        Bucket=storage.bucket_name, Key=name, Body=b"\x00not a record", Metadata=head["Metadata"]
    )


BACKEND = Backend("s3", build, corrupt)
