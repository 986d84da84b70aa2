"""Targeted cache-control fields (RFC 9213) through the public API: a shared client with a
target list, a counting `MockTransport` origin and a fake clock (checklist E-14 to E-19)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from httpcache import AsyncCacheClient, AsyncInMemoryStorage, CacheOptions

from .support import BASE, Clock, Origin, respond


async def fetch_twice(
    headers: dict[str, str], *, after: float = 10, **options: Any
) -> tuple[Origin, httpx.Response, httpx.Response]:
    """GET /a, let `after` seconds pass, GET it again; the origin always sends `headers`."""
    clock = Clock()
    origin = Origin(respond(200, headers, content=b"body"))
    async with AsyncCacheClient(
        transport=httpx.MockTransport(origin),
        base_url=BASE,
        storage=AsyncInMemoryStorage(clock=clock),
        options=CacheOptions(clock=clock, cache_status_header=True, **options),
    ) as client:
        first = await client.get("/a")
        clock.advance(after)
        second = await client.get("/a")
    return origin, first, second


CDN_SHARED = {"shared": True, "targeted_fields": CacheOptions.CDN_TARGETED_FIELDS}


@pytest.mark.anyio
async def test_targeted_field_overrides_cache_control_no_store() -> None:
    """E-14, RFC 9213 §2.2, §3: a CDN cache stores what `Cache-Control: no-store` keeps from
    other caches, and passes `CDN-Cache-Control` on."""
    origin, first, second = await fetch_twice(
        {"Cache-Control": "no-store", "CDN-Cache-Control": "max-age=600"}, **CDN_SHARED
    )

    assert origin.calls == 1
    assert second.extensions["from_cache"] is True
    assert second.content == b"body"
    assert second.headers["CDN-Cache-Control"] == "max-age=600"
    assert second.headers["Cache-Control"] == "no-store"
    assert second.headers["Age"] == "10"
    assert second.headers["Cache-Status"] == "httpcache; hit; ttl=590"
    assert first.headers["CDN-Cache-Control"] == "max-age=600"


@pytest.mark.anyio
async def test_targeted_no_store_keeps_response_out_of_shared_cache() -> None:
    """E-17: the targeted field's `no-store` wins over a storable `Cache-Control`."""
    origin, _, second = await fetch_twice(
        {"Cache-Control": "max-age=600", "CDN-Cache-Control": "no-store"}, **CDN_SHARED
    )

    assert origin.calls == 2
    assert second.extensions["from_cache"] is False


@pytest.mark.anyio
async def test_invalid_targeted_field_falls_back_to_cache_control() -> None:
    """E-15: an unparsable targeted field is ignored; `Cache-Control: max-age=5` applies."""
    origin, _, second = await fetch_twice(
        {"Cache-Control": "max-age=5", "CDN-Cache-Control": "max-age=600,"}, **CDN_SHARED
    )

    assert origin.calls == 2
    assert second.extensions["from_cache"] is False


@pytest.mark.anyio
async def test_private_client_ignores_targeted_field() -> None:
    """E-19: a private cache has no target list, even when `targeted_fields` is set."""
    origin, _, second = await fetch_twice(
        {"Cache-Control": "no-store", "CDN-Cache-Control": "max-age=600"},
        targeted_fields=CacheOptions.CDN_TARGETED_FIELDS,
    )

    assert origin.calls == 2
    assert second.headers["CDN-Cache-Control"] == "max-age=600"


@pytest.mark.anyio
async def test_custom_targeted_field_takes_precedence_in_list_order() -> None:
    """RFC 9213 §2.2: `[Acme-CDN-Cache-Control, CDN-Cache-Control]`: Acme's field decides."""
    origin, _, second = await fetch_twice(
        {"CDN-Cache-Control": "no-store", "Acme-CDN-Cache-Control": "max-age=60"},
        shared=True,
        targeted_fields=["Acme-CDN-Cache-Control", "CDN-Cache-Control"],
    )

    assert origin.calls == 1
    assert second.extensions["from_cache"] is True
    assert second.headers["CDN-Cache-Control"] == "no-store"


@pytest.mark.anyio
async def test_targeted_stale_while_revalidate_serves_stale_at_once() -> None:
    """E-18: `stale-while-revalidate` in the targeted field: at t=20 a stale hit, served at
    once while it is revalidated in the background."""
    _, _, second = await fetch_twice(
        {"CDN-Cache-Control": "max-age=10, stale-while-revalidate=60"}, after=20, **CDN_SHARED
    )

    assert second.extensions["from_cache"] is True
    assert second.extensions["stale"] is True
    assert second.headers["Cache-Status"] == (
        "httpcache; hit; ttl=-10; detail=stale-while-revalidate"
    )
