"""What both transports read from an httpx exchange: the policy's request, a response head.

Shared by :mod:`httpcache._async._transport` and the generated sync transport; nothing here
awaits or does I/O. A body-keyed POST (``CacheOptions.cache_post``) needs its body in memory:
the transport reads it (``aread``/``read``) when :func:`reads_body` says so, before
:func:`cache_request` digests it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import httpx

from ._models import ResponseHead
from ._options import CacheOptions, URLRule
from ._policy._decisions import CacheRequest
from ._policy._headers import get_first
from ._policy._keys import body_key, normalize_url, primary_key
from ._policy._rules import match_rule
from ._policy._validation import USER_CONDITIONALS

__all__ = [
    "REQUEST_EXTENSIONS",
    "background_exchange",
    "cache_request",
    "reads_body",
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
        "httpcache_cache_post",
    }
)


def _caches_post(request: httpx.Request, rule: URLRule | None, options: CacheOptions) -> bool:
    """Tell whether a POST is body-keyed: extension > the matching rule > ``CacheOptions``."""
    chosen = request.extensions.get("httpcache_cache_post")
    if chosen is None and rule is not None:
        chosen = rule.cache_post
    return bool(options.cache_post if chosen is None else chosen)


def _declared_too_large(request: httpx.Request, limit: int | None) -> bool:
    length = request.headers.get("content-length")
    return limit is not None and length is not None and length.isdigit() and int(length) > limit


def reads_body(request: httpx.Request, options: CacheOptions) -> bool:
    """Tell whether the transport must read ``request``'s body before :func:`cache_request`.

    True for a POST that is body-keyed (:func:`_caches_post`) whose declared
    ``Content-Length`` does not exceed ``CacheOptions.max_entry_size``. Reading buffers
    the body in memory; httpx then sends the bytes read.
    """
    if request.method != "POST":
        return False
    rule = match_rule(options.url_rules, str(request.url)) if options.url_rules else None
    return _caches_post(request, rule, options) and not _declared_too_large(
        request, options.max_entry_size
    )


def _body_digest_key(request: httpx.Request, key: str, options: CacheOptions) -> str | None:
    """The body-keyed POST's key, or ``None`` when its body was not read or is too large."""
    try:
        body = request.content
    except httpx.RequestNotRead:
        return None
    limit = options.max_entry_size
    if limit is not None and len(body) > limit:
        return None
    return body_key(key, body, get_first(tuple(request.headers.raw), b"content-type"))


def cache_request(request: httpx.Request, options: CacheOptions) -> CacheRequest:
    """The policy's view of ``request``: its key and the per-request controls in force.

    A body-keyed POST's key is the usual key (``key_func``'s, when set) plus its body's
    digest (:func:`~._policy._keys.body_key`); its body must have been read (see
    :func:`reads_body`). One whose body was not read or exceeds ``max_entry_size``
    is sent on without the cache (``bypass``), still as a query that invalidates nothing.
    """
    url = str(request.url)
    key = options.key_func(request) if options.key_func is not None else primary_key(url)
    ext = request.extensions
    rule = match_rule(options.url_rules, url) if options.url_rules else None
    body_keyed = unkeyed = False
    if request.method == "POST" and _caches_post(request, rule, options):
        keyed = _body_digest_key(request, key, options)
        body_keyed, unkeyed, key = True, keyed is None, key if keyed is None else keyed
    # The common case: no rule, no per-request control, none set for the whole client.
    if (
        rule is None
        and ext.keys().isdisjoint(REQUEST_EXTENSIONS)
        and not (options.offline or options.refresh or body_keyed)
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
        bypass=unkeyed or bool(ext.get("httpcache_bypass", bypass)),
        refresh=bool(ext.get("httpcache_refresh", options.refresh)),
        only_if_cached=bool(ext.get("httpcache_only_if_cached", False)),
        offline=bool(ext.get("httpcache_offline", options.offline)),
        force_cache=bool(ext.get("httpcache_force_cache", force_cache)),
        ttl=rule_ttl if ttl is None else float(ttl),
        body_keyed=body_keyed,
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
