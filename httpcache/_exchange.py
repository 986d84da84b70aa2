"""The httpx side of the policy: what both transports read from an exchange and hand out.

The policy's request (:func:`cache_request`), a response head (:func:`response_head`),
and the responses built from a decision: from storage (:func:`stored_response`), the
origin's with the cache's extensions (:func:`passed_on`), a 504 (:func:`gateway_timeout`).
Shared by :mod:`httpcache._async._transport` and the generated sync transport; nothing here
awaits or does I/O. A body-keyed POST (``CacheOptions.cache_post``) needs its body in memory:
the transport reads it (``aread``/``read``) when :func:`reads_body` says so, before
:func:`cache_request` digests it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import httpx

from ._models import ResponseHead
from ._options import CacheOptions, URLRule
from ._policy._decisions import CacheRequest, Serve
from ._policy._headers import get_first
from ._policy._keys import body_key, normalize_url, primary_key
from ._policy._rules import match_rule
from ._policy._status import cache_status
from ._policy._validation import USER_CONDITIONALS

__all__ = [
    "REQUEST_EXTENSIONS",
    "background_exchange",
    "cache_request",
    "gateway_timeout",
    "passed_on",
    "reads_body",
    "response_head",
    "stored_response",
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


# --- the responses the transports hand out ----------------------------------------------


def _cache_extensions(base: dict[str, Any], key: str, status: str) -> dict[str, Any]:
    """``base`` plus the cache's extensions, for a response that is not from the cache."""
    extensions = dict(base)
    extensions.update(
        from_cache=False,
        revalidated=False,
        stale=False,
        cache_key=key,
        cache_status=status,
        cache_metadata=None,
    )
    return extensions


def stored_response(
    serve: Serve,
    creq: CacheRequest,
    stream: Any,
    options: CacheOptions,
    *,
    revalidated: bool,
    fwd: str | None = None,
    fwd_status: int | None = None,
) -> httpx.Response:
    """The response for ``serve``, its body read from ``stream`` (the transport opened it).

    ``fwd`` (with ``fwd_status``) is set when the origin was contacted on the way: a 304
    revalidation, or an origin error a stale response stands in for (E-10).
    """
    if fwd is not None:
        member = cache_status(hit=False, fwd=fwd, fwd_status=fwd_status, ttl=serve.ttl)
    elif serve.background is not None:  # RFC 5861 §3: revalidated behind this response
        member = cache_status(hit=True, ttl=serve.ttl, detail="stale-while-revalidate")
    else:
        member = cache_status(hit=True, ttl=serve.ttl)
    headers: Any = serve.headers
    if options.cache_status_header:
        headers = with_cache_status(list(headers), member)
    entry = serve.entry
    from_cache = not revalidated
    extensions = {
        "http_version": entry.response.http_version.encode("ascii", "replace"),
        "reason_phrase": entry.response.reason.encode("ascii", "replace"),
        "from_cache": from_cache,
        "revalidated": revalidated,
        "stale": serve.stale,
        "cache_key": creq.key,
        "cache_status": member,
        "cache_metadata": {
            "created_at": entry.created_at,
            "age": serve.age,
            "hits": entry.hits + int(from_cache and options.record_hits),
        },
    }
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s from storage: %s", normalize_url(creq.url), member)
    return httpx.Response(serve.status, headers=headers, stream=stream, extensions=extensions)


def gateway_timeout(creq: CacheRequest) -> httpx.Response:
    """RFC 9111 §5.2.1.7: ``only-if-cached`` with nothing usable (Q-9, E-13)."""
    return httpx.Response(
        504,
        headers=[(b"Content-Length", b"0")],
        extensions=_cache_extensions({}, creq.key, ""),
    )


def passed_on(
    response: httpx.Response,
    creq: CacheRequest,
    reason: str,
    options: CacheOptions,
    *,
    stored: bool,
    available: bool,
    stream: Any = None,
) -> httpx.Response:
    """Return the origin's response with the cache's extensions (and ``Cache-Status``).

    ``available`` is whether the storage is in use (else ``detail=storage-unavailable``).
    Without a new ``stream`` the response itself is returned, changed in place: a body
    httpx already read (an in-memory response) is then not decoded twice.
    """
    member = cache_status(
        hit=False,
        fwd=reason,
        fwd_status=response.status_code,
        stored=stored,
        detail=None if available else "storage-unavailable",
    )
    extensions = _cache_extensions(response.extensions, creq.key, member)
    if stream is None:
        response.extensions = extensions
        if options.cache_status_header:
            headers = with_cache_status(list(response.headers.raw), member)
            response.headers = httpx.Headers(headers)
        return response
    raw = list(response.headers.raw)
    if options.cache_status_header:
        raw = with_cache_status(raw, member)
    return httpx.Response(response.status_code, headers=raw, stream=stream, extensions=extensions)
