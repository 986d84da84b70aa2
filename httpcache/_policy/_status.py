"""The ``Cache-Status`` member describing this cache's decision (RFC 9211 §2)."""

from __future__ import annotations

__all__ = ["CACHE_NAME", "cache_status"]

CACHE_NAME = "httpcache"
"""The sf-token that names this cache in ``Cache-Status`` (E-8)."""


def cache_status(
    *,
    hit: bool,
    fwd: str | None = None,
    fwd_status: int | None = None,
    stored: bool | None = None,
    ttl: int | None = None,
    detail: str | None = None,
) -> str:
    """Return one ``Cache-Status`` list member (RFC 9211 §2.1 to §2.7).

    ``hit`` and ``fwd`` exclude each other (E-10); ``stored`` only goes with
    ``fwd`` (E-12); ``ttl`` is the remaining freshness in whole seconds, negative
    when stale. ``detail`` (§2.8) is an sf-token such as ``storage-unavailable``.
    The ``key`` parameter is never emitted (RFC 9211 §6).
    """
    if hit and ttl is not None and detail is None:  # the hit path's member, without the list
        return f"{CACHE_NAME}; hit; ttl={ttl}"
    parts = [CACHE_NAME]
    if hit:
        parts.append("hit")
    elif fwd is not None:
        parts.append(f"fwd={fwd}")
        if fwd_status is not None:
            parts.append(f"fwd-status={fwd_status}")
        if stored is not None:
            parts.append("stored" if stored else "stored=?0")
    if ttl is not None:
        parts.append(f"ttl={ttl}")
    if detail is not None:
        parts.append(f"detail={detail}")
    return "; ".join(parts)
