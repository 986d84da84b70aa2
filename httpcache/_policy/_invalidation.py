"""Invalidation after unsafe requests (RFC 9111 §4.4)."""

from __future__ import annotations

from .._models import Headers
from . import _headers
from ._keys import normalize_url, resolve_reference, same_origin

__all__ = ["SAFE_METHODS", "invalidated_urls"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""RFC 9110 §9.2.1: every other method, unknown ones included, is unsafe (I-2)."""


def invalidated_urls(
    method: str,
    url: str,
    status: int,
    response_headers: Headers,
    *,
    body_keyed: bool = False,
) -> list[str]:
    """Return the normalised URLs whose stored responses an exchange invalidates.

    A non-error (2xx or 3xx) response to an unsafe method invalidates the target
    URI (I-1, I-2) and the URIs in ``Location`` and ``Content-Location``,
    resolved against the target (I-6, I-8) and only when same-origin (I-7).
    Error responses invalidate nothing (I-5). A ``body_keyed`` POST
    (``CacheOptions.cache_post``) invalidates nothing either: the user declared it
    a query, safe in the sense of RFC 9110 §9.2.1, so RFC 9111 §4.4 does not apply.
    """
    if body_keyed or method.upper() in SAFE_METHODS or not 200 <= status < 400:
        return []
    target = normalize_url(url)
    urls = [target]
    for name in (b"location", b"content-location"):
        value = _headers.get_first(response_headers, name)
        if value is None:
            continue
        resolved = resolve_reference(target, value)
        if resolved is not None and resolved not in urls and same_origin(target, resolved):
            urls.append(resolved)
    return urls
