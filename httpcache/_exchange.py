"""What both transports read from an httpx exchange: the policy's request, a response head.

Shared by :mod:`httpcache._async._transport` and the generated sync transport; nothing here
awaits or does I/O.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import httpx

from ._models import ResponseHead
from ._options import CacheOptions
from ._policy._decisions import CacheRequest
from ._policy._keys import normalize_url, primary_key
from ._policy._rules import match_rule
from ._policy._validation import USER_CONDITIONALS

__all__ = [
    "REQUEST_EXTENSIONS",
    "background_exchange",
    "cache_request",
    "response_head",
    "with_cache_status",
]

logger = logging.getLogger("httpcache.transport")

REQUEST_EXTENSIONS = frozenset(
    {
        "httpcache_bypass",
        "httpcache_refresh",
        "httpcache_only_if_cached",
        "httpcache_offline",
        "httpcache_force_cache",
        "httpcache_ttl",
    }
)


def cache_request(request: httpx.Request, options: CacheOptions) -> CacheRequest:
    """The policy's view of ``request``: its key and the per-request controls in force."""
    url = str(request.url)
    key = options.key_func(request) if options.key_func is not None else primary_key(url)
    ext = request.extensions
    rule = match_rule(options.url_rules, url) if options.url_rules else None
    # The common case: no rule, no per-request control, none set for the whole client.
    if (
        rule is None
        and ext.keys().isdisjoint(REQUEST_EXTENSIONS)
        and not (options.offline or options.refresh)
    ):
        return CacheRequest(request.method, url, tuple(request.headers.raw), key)
    ttl = ext.get("httpcache_ttl")
    if ttl is not None and (not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or ttl < 0):
        raise ValueError("the httpcache_ttl extension must be a non-negative number of seconds")
    # Precedence: an extension the request carries > the first matching rule > CacheOptions.
    bypass, force_cache, rule_ttl = False, False, None
    if rule is not None:
        bypass, force_cache, rule_ttl = not rule.cache, rule.force_cache, rule.ttl
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s matches the URL rule %r", normalize_url(url), rule)
    return CacheRequest(
        method=request.method,
        url=url,
        headers=tuple(request.headers.raw),
        key=key,
        bypass=bool(ext.get("httpcache_bypass", bypass)),
        refresh=bool(ext.get("httpcache_refresh", options.refresh)),
        only_if_cached=bool(ext.get("httpcache_only_if_cached", False)),
        offline=bool(ext.get("httpcache_offline", options.offline)),
        force_cache=bool(ext.get("httpcache_force_cache", force_cache)),
        ttl=rule_ttl if ttl is None else float(ttl),
    )


def background_exchange(
    request: httpx.Request, creq: CacheRequest
) -> tuple[httpx.Request, CacheRequest]:
    """The request that revalidates, in the background, a response served stale for ``request``.

    The cache's own request (RFC 5861 §3): a GET (a HEAD was answered from a stored GET,
    whose body the refresh renews too) without the user's conditional fields, whose
    answer was for the user's request alone; the cache adds its own validators.
    """
    headers = [
        (name, value)
        for name, value in request.headers.raw
        if name.lower() not in USER_CONDITIONALS
    ]
    outgoing = httpx.Request("GET", request.url, headers=headers, extensions=request.extensions)
    return outgoing, replace(creq, method="GET", headers=tuple(headers))


def response_head(response: httpx.Response) -> ResponseHead:
    """The head of an origin response, as stored."""
    return ResponseHead(
        response.status_code,
        tuple(response.headers.raw),
        response.reason_phrase,
        response.http_version,
    )


def with_cache_status(headers: list[tuple[bytes, bytes]], member: str) -> list[tuple[bytes, bytes]]:
    """Append our member to any ``Cache-Status`` the response has (RFC 9211 §2, E-9)."""
    existing = [v for k, v in headers if k.lower() == b"cache-status"]
    rest = [(k, v) for k, v in headers if k.lower() != b"cache-status"]
    value = b", ".join([*existing, member.encode("ascii")])
    return [*rest, (b"Cache-Status", value)]
