"""Per-URL rules: which configured :class:`~httpcache.URLRule` a request's URL matches.

Not RFC 9111 but configuration over it, in the manner of requests-cache's
``urls_expire_after``: the transport turns the matched rule into the same
:class:`~._decisions.CacheRequest` flags the request extensions set (``bypass``,
``force_cache``, ``ttl``), so the engine never sees a rule.

Invariants:

- Matching is a pure function of the rules and the URL; no I/O, no clock.
- Rules are tried in order and the first match wins; no match is ``None``.
- Both kinds of pattern see the URL normalised as the cache key does (RFC 9110 §4.2.3:
  lower-case scheme and host, no default port, no user info, no fragment).
- A glob is matched with :func:`fnmatch.fnmatchcase` against that URL without its
  ``scheme://``; a scheme in the glob is ignored, its host part (up to the first ``/``)
  is lower-cased, and a trailing ``*`` is implied (requests-cache's rule), so
  ``api.example.com/v1`` matches ``https://api.example.com/v1/users``. ``*`` matches any
  characters, ``/`` included.
- A compiled regex is searched (``re.Pattern.search``) in the whole normalised URL,
  scheme included.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._keys import normalize_url

if TYPE_CHECKING:  # pragma: no cover
    from .._options import URLRule

__all__ = ["glob_regex", "match_rule"]


@functools.lru_cache(maxsize=1024)  # pure: each glob is translated once
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Return the regex a glob rule matches URLs without their scheme with.

    Not RFC 9111 (configuration); the URL it is matched against is normalised as in
    RFC 9110 §4.2.3, so the glob's host part is lower-cased to match.
    """
    body = pattern.split("://", 1)[-1]
    host, slash, rest = body.partition("/")
    body = host.lower() + slash + rest
    return re.compile(fnmatch.translate(body.rstrip("*") + "*"))


def match_rule(rules: Sequence[URLRule], url: str) -> URLRule | None:
    """Return the first rule whose pattern matches ``url``, or ``None``.

    Not RFC 9111 (configuration); ``url`` is normalised first (RFC 9110 §4.2.3), so
    ``HTTPS://API.Example.com:443/a#top`` is matched as ``https://api.example.com/a``.
    """
    if not rules:
        return None
    full = normalize_url(url)
    without_scheme = full.split("://", 1)[-1]
    for rule in rules:
        pattern = rule.pattern
        if isinstance(pattern, re.Pattern):
            if pattern.search(full) is not None:
                return rule
        elif glob_regex(pattern).match(without_scheme) is not None:
            return rule
    return None
