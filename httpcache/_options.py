"""The cache's configuration: one immutable value, changed by copying."""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, ClassVar

from ._exceptions import ConfigurationError

if TYPE_CHECKING:  # pragma: no cover
    import httpx

__all__ = ["CacheOptions", "HEURISTICALLY_CACHEABLE_STATUSES", "URLRule"]

HEURISTICALLY_CACHEABLE_STATUSES = frozenset(
    {200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501}
)
"""Statuses RFC 9110 §15.1 defines as heuristically cacheable (RFC 9111 §4.2.2)."""


STORAGE_TIMEOUT_VARIABLE = "HTTPCACHE_STORAGE_TIMEOUT"
"""Environment variable that overrides the default ``storage_timeout``."""


def _default_storage_timeout() -> float | None:
    """0.5 s, or ``HTTPCACHE_STORAGE_TIMEOUT`` (seconds, or ``none`` for no deadline)."""
    value = os.environ.get(STORAGE_TIMEOUT_VARIABLE)
    if value is None or not value.strip():
        return 0.5
    if value.strip().lower() == "none":
        return None
    try:
        return float(value)
    except ValueError:
        raise ConfigurationError(
            f"{STORAGE_TIMEOUT_VARIABLE} must be a number of seconds or 'none', not {value!r}"
        ) from None


def _frozen_methods(methods: Iterable[str]) -> frozenset[str]:
    if isinstance(methods, str):
        raise ConfigurationError("cacheable_methods must be a collection of method names")
    result = frozenset(method.upper() for method in methods)
    if not result:
        raise ConfigurationError("cacheable_methods must name at least one method")
    unsupported = result - {"GET", "HEAD", "POST"}
    if unsupported:
        raise ConfigurationError(
            f"cacheable_methods may only contain GET, HEAD and POST, not {sorted(unsupported)}"
        )
    return result


@dataclass(frozen=True, slots=True)
class URLRule:
    """How the cache treats requests whose URL matches ``pattern`` (``CacheOptions.url_rules``).

    Not RFC 9111: configuration in the manner of requests-cache's ``urls_expire_after``.
    The rules are tried in order against the request's normalised URL (lower-case scheme
    and host, no default port, no user info, no fragment) and the first match wins.

    Args:
        pattern: A glob (``str``), matched with :func:`fnmatch.fnmatchcase` against the
            URL without ``scheme://``, e.g. ``"api.example.com/v1/*"``. A trailing ``*`` is
            implied, so a glob matches every URL that starts like it; a scheme in the glob is
            ignored and its host part is lower-cased. Or a compiled regular expression
            (``re.Pattern[str]``), searched (``pattern.search``) in the whole URL, scheme
            included.
        ttl: Store matching responses whatever their headers say and serve them without
            validation for this many seconds (force-cache mode with this lifetime; the
            entry's storage lifetime too). Implies ``force_cache=True``. Finite and positive.
        force_cache: Force-cache mode (see ``CacheOptions.force_cache``) for matching URLs,
            for ``ttl`` seconds or else ``CacheOptions.force_cache_ttl``.
        cache: ``False`` neither reads nor writes the cache for matching URLs, like the
            ``httpcache_bypass`` request extension.
        cache_post: ``True`` or ``False`` turns body-keyed POST caching (see
            ``CacheOptions.cache_post``) on or off for matching URLs; ``None`` (the
            default) leaves it to ``CacheOptions.cache_post``.

    A rule with none of these set matches and leaves the request to ``CacheOptions``, so
    it exempts its URLs from the rules after it. Request extensions override the rule's
    corresponding fields.

    Raises:
        ConfigurationError: An invalid pattern or ``ttl``, ``cache=False`` with
            ``ttl`` or ``force_cache``, or a ``cache_post`` that is not a bool or ``None``.
    """

    pattern: str | re.Pattern[str]
    _: KW_ONLY
    ttl: float | None = None
    force_cache: bool = False
    cache: bool = True
    cache_post: bool | None = None

    def __post_init__(self) -> None:
        pattern = self.pattern
        if isinstance(pattern, re.Pattern):
            if not isinstance(pattern.pattern, str):
                raise ConfigurationError("a URLRule regex must be a str pattern, not bytes")
        elif not isinstance(pattern, str) or not pattern.split("://", 1)[-1]:
            raise ConfigurationError(
                f"a URLRule pattern must be a non-empty glob or a compiled regex, not {pattern!r}"
            )
        if not isinstance(self.force_cache, bool) or not isinstance(self.cache, bool):
            raise ConfigurationError("URLRule force_cache and cache must be True or False")
        if self.cache_post is not None and not isinstance(self.cache_post, bool):
            raise ConfigurationError("URLRule cache_post must be True, False or None")
        ttl = self.ttl
        if ttl is not None:
            if (
                not isinstance(ttl, (int, float))
                or isinstance(ttl, bool)
                or not math.isfinite(ttl)
                or ttl <= 0
            ):
                raise ConfigurationError(
                    f"a URLRule ttl must be a finite, positive number of seconds, not {ttl!r}"
                    " (cache=False keeps matching URLs out of the cache)"
                )
            object.__setattr__(self, "ttl", float(ttl))
            object.__setattr__(self, "force_cache", True)
        if not self.cache and self.force_cache:
            raise ConfigurationError(
                "a URLRule with cache=False cannot also set ttl or force_cache"
            )


_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""A field name is a token (RFC 9110 §5.1, §5.6.2)."""


def _target_tuple(names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise ConfigurationError(
            "targeted_fields must be a sequence of field names, e.g. ('CDN-Cache-Control',)"
        )
    result = tuple(names)
    for name in result:
        if not isinstance(name, str) or _FIELD_NAME.fullmatch(name) is None:
            raise ConfigurationError(
                f"targeted_fields may only hold field names (tokens), not {name!r}"
            )
    lowered = [name.lower() for name in result]
    if "cache-control" in lowered:
        raise ConfigurationError(
            "targeted_fields names the fields that replace Cache-Control; Cache-Control "
            "itself applies whenever none of them is usable and cannot be listed"
        )
    if len(set(lowered)) != len(lowered):
        raise ConfigurationError(f"targeted_fields names a field twice: {list(result)!r}")
    return result


def _rule_tuple(rules: Sequence[URLRule]) -> tuple[URLRule, ...]:
    if isinstance(rules, (str, bytes, Mapping)) or not isinstance(rules, Iterable):
        raise ConfigurationError(
            "url_rules must be a sequence of URLRule, e.g. [URLRule('api.example.com/*', ttl=60)]"
        )
    result = tuple(rules)
    strays = [rule for rule in result if not isinstance(rule, URLRule)]
    if strays:
        raise ConfigurationError(f"url_rules may only hold URLRule values, not {strays[0]!r}")
    return result


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """How the cache behaves. Defaults follow RFC 9111 for a private cache.

    Change a value by copying: ``dataclasses.replace(options, shared=True)``.

    Args:
        shared: Apply shared-cache rules (``s-maxage``, ``proxy-revalidate``,
            refusing ``private``, the ``Authorization`` rule of RFC 9111 §3.5).
        cacheable_methods: Methods whose responses may be stored. GET and HEAD by
            default; adding POST enables RFC 9110 §9.3.3 POST caching.
        cacheable_status_codes: When set, only responses with these statuses are
            stored, on top of the RFC's own rules.
        allow_heuristics: Give responses without explicit expiry a heuristic
            lifetime (RFC 9111 §4.2.2).
        heuristic_fraction: Fraction of ``Date - Last-Modified`` used as the
            heuristic lifetime.
        heuristic_max_age: Cap of a heuristic lifetime in seconds.
        allow_stale: Serve a stored response stale when the origin cannot be
            reached or answers 500/502/503/504 and no directive forbids it
            (RFC 9111 §4.2.4). Off by default.
        always_revalidate: Validate every stored response with the origin before
            using it, even when fresh.
        refresh: Force a refresh of every request, as the ``httpcache_refresh``
            extension does: stored responses are not used, the new one is stored.
            A request's ``httpcache_refresh`` extension overrides it.
        offline: Never contact the origin: serve whatever is stored, fresh or
            stale, without validation (``no-cache`` and ``must-revalidate``
            responses too), and answer 504 when nothing stored matches. A
            request's ``httpcache_offline`` extension overrides it.
        force_cache: Non-RFC mode: store every response with a cacheable method
            and status, ignoring the origin's directives, and serve it without
            validation for ``force_cache_ttl`` seconds.
        force_cache_ttl: Lifetime of responses stored in ``force_cache`` mode
            (``None`` means until the storage evicts them).
        max_entry_size: Largest body, in bytes, that is stored; a larger one is
            passed to the user untouched and not stored.
        key_func: Compute the primary cache key from a request instead of the
            default, the normalised URL. (Credentials always separate entries,
            as a secondary key, whatever the primary key.)
        clock: Source of the current time, in seconds since the epoch.
        cache_status_header: Also add a ``Cache-Status`` header (RFC 9211) to
            responses; the decision is always in ``response.extensions``.
        strict: Let storage errors propagate to the caller instead of logging
            them and going to the network.
        record_hits: Tell the storage about every hit (``record_hit``): it counts
            hits, notes the last use and, with sliding expiry, renews the entry.
            No hit waits for a write: persistent storages buffer the counts in
            memory and write them back in batches (about once a second, and on
            close), so other processes see them a little late. Turn it off when
            nothing needs hit counts (``hits`` then stays 0 and only stores and
            304s renew a sliding lifetime).
        storage_timeout: Deadline of every storage call, in seconds (``None``: no
            deadline). The default is 0.5, or the ``HTTPCACHE_STORAGE_TIMEOUT``
            environment variable when it is set (seconds, or ``none``). A call
            that runs out counts as a storage failure: the request goes on
            without the cache. Storages whose calls cannot take that long
            (memory, a local file directory) are called directly; others run under
            a cancel scope (async) or on a worker thread (sync).
        storage_cooldown: After a storage failure, skip the storage for this many
            seconds, then let one request probe it; each failed probe doubles the
            wait. ``0`` turns the circuit breaker off (every call is tried and each
            failure logged).
        storage_max_cooldown: Longest wait between probes of a failing storage.
        collapse: Collapse concurrent requests: while one GET of a key with no
            usable stored response is at the origin, other requests for that key
            wait for it and are then served from the cache (or, when its response
            was not stored, go to the origin themselves). Per request, the
            extension ``httpcache_collapse=False`` opts out.
        collapse_timeout: Longest a collapsed request waits for the one in
            flight, in seconds, before it goes to the origin itself.
        url_rules: Per-URL rules (:class:`URLRule`), tried in order; the first whose
            pattern matches a request's URL applies to it. A request extension overrides
            the matching rule's field; a rule's ``ttl``, ``force_cache`` and ``cache=False``
            apply whatever the response's headers say.
        stale_while_revalidate: Serve a stale stored response at once, for up to this
            many seconds past its freshness lifetime, and revalidate it in the background
            (RFC 5861 §3), when the response carries no ``stale-while-revalidate``
            directive of its own (the directive's window wins when it has one). ``None``
            (the default): only the directive allows it. Never for responses that must not
            be served stale (``must-revalidate``, ``no-cache``, and when shared
            ``proxy-revalidate`` or ``s-maxage``), nor for requests with ``no-cache``,
            ``max-age`` exceeded or ``min-fresh``. At most one background revalidation
            runs per key at a time.
        cache_post: Cache POST requests by their body (not RFC 9111; the requests-cache
            behaviour GraphQL and search endpoints want): a later POST to the same URL
            with the same body and ``Content-Type`` is answered from the cache, under the
            rules a GET follows (freshness, ``no-store``, ``Vary``...), except that a stale
            response is never validated (it is fetched again). The SHA-256 of the
            content type and body is added to the primary key
            (``<key>#body=sha256:<hex>``), so the body is read into memory before the
            request is sent (and then sent as read); a body larger than
            ``max_entry_size`` is sent without caching. Such a POST, declared a query,
            invalidates nothing. A rule's ``cache_post`` and the ``httpcache_cache_post``
            request extension override it.
        targeted_fields: The target list of RFC 9213: names of targeted cache-control
            fields, most specific first, e.g. :attr:`CDN_TARGETED_FIELDS`
            (``("CDN-Cache-Control",)``) or ``("Acme-CDN-Cache-Control",
            "CDN-Cache-Control")``. Shared caches only (a private cache ignores it). The
            first listed field that a response carries with a valid, non-empty value (an
            RFC 8941 Dictionary, e.g. ``max-age=600, stale-if-error=60``) sets that
            response's directives instead of ``Cache-Control``, and its ``Expires`` is then
            ignored; when none is usable, ``Cache-Control`` and ``Expires`` apply. The
            fields stay on the stored and served response. Empty (the default): no field
            is targeted.
        collapse_across_processes: Also collapse with other processes (or clients) that
            share the storage, through the storage's lease on the key (File, SQLite and
            Redis storages have leases). A miss or a revalidation then takes the lease
            before going to the origin and gives it back after: two more storage calls.
            Turn it off when a single process uses the storage; requests still collapse
            within the process.

    Attributes:
        CDN_TARGETED_FIELDS: ``("CDN-Cache-Control",)``, the target list of a CDN cache
            (RFC 9213 §3), for ``targeted_fields``.

    Raises:
        ConfigurationError: An invalid value, e.g. a ``targeted_fields`` entry that is
            not a field name, or that is ``Cache-Control``.
    """

    CDN_TARGETED_FIELDS: ClassVar[tuple[str, ...]] = ("CDN-Cache-Control",)

    shared: bool = False
    cacheable_methods: frozenset[str] = field(default=frozenset({"GET", "HEAD"}))
    cacheable_status_codes: frozenset[int] | None = None
    allow_heuristics: bool = True
    heuristic_fraction: float = 0.1
    heuristic_max_age: float = 86400.0
    allow_stale: bool = False
    always_revalidate: bool = False
    force_cache: bool = False
    force_cache_ttl: float | None = None
    max_entry_size: int | None = None
    key_func: Callable[[httpx.Request], str] | None = None
    clock: Callable[[], float] = time.time
    cache_status_header: bool = False
    strict: bool = False
    record_hits: bool = True
    storage_timeout: float | None = field(default_factory=_default_storage_timeout)
    storage_cooldown: float = 1.0
    storage_max_cooldown: float = 30.0
    collapse: bool = True
    collapse_timeout: float = 5.0
    url_rules: Sequence[URLRule] = ()
    refresh: bool = False
    offline: bool = False
    stale_while_revalidate: float | None = None
    cache_post: bool = False
    targeted_fields: Sequence[str] = ()
    collapse_across_processes: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "cacheable_methods", _frozen_methods(self.cacheable_methods))
        if self.cacheable_status_codes is not None:
            codes = frozenset(self.cacheable_status_codes)
            if any(not isinstance(c, int) or not 200 <= c <= 999 for c in codes):
                raise ConfigurationError("cacheable_status_codes must be final status codes")
            object.__setattr__(self, "cacheable_status_codes", codes)
        if not 0 <= self.heuristic_fraction <= 1:
            raise ConfigurationError("heuristic_fraction must be between 0 and 1")
        if self.heuristic_max_age < 0:
            raise ConfigurationError("heuristic_max_age must not be negative")
        if self.force_cache_ttl is not None and self.force_cache_ttl < 0:
            raise ConfigurationError("force_cache_ttl must not be negative")
        if self.max_entry_size is not None and self.max_entry_size < 0:
            raise ConfigurationError("max_entry_size must not be negative")
        if self.storage_timeout is not None and not self.storage_timeout > 0:
            raise ConfigurationError("storage_timeout must be a positive number of seconds or None")
        if not self.storage_cooldown >= 0:
            raise ConfigurationError("storage_cooldown must not be negative")
        if not self.storage_max_cooldown >= self.storage_cooldown:
            raise ConfigurationError("storage_max_cooldown must be at least storage_cooldown")
        if not self.collapse_timeout >= 0:
            raise ConfigurationError("collapse_timeout must not be negative")
        if self.stale_while_revalidate is not None and not self.stale_while_revalidate >= 0:
            raise ConfigurationError("stale_while_revalidate must not be negative")
        if not callable(self.clock):
            raise ConfigurationError("clock must be a callable returning seconds")
        object.__setattr__(self, "url_rules", _rule_tuple(self.url_rules))
        object.__setattr__(self, "targeted_fields", _target_tuple(self.targeted_fields))
