"""Cache keys: the normalised target URI, a credential partition and Vary variants.

RFC 9111 §2 makes the target URI the primary cache key; RFC 9110 §4.2.3 allows the
normalisation applied here; §7.1 keeps the fragment out of the target URI. Values of
credential fields never appear in a key or in a stored request head: they are hashed.
A body-keyed POST (``CacheOptions.cache_post``) adds its body's digest to the key
(:func:`body_key`); a normalised URI never holds ``#``, so that key is never a URI's.
"""

from __future__ import annotations

import functools
import hashlib
import re
from urllib.parse import urljoin, urlsplit, urlunsplit

from .._models import Headers
from . import _headers
from ._vary import normalize_field_value

__all__ = [
    "BODY_KEY_MARK",
    "CREDENTIAL_FIELDS",
    "body_key",
    "nominated_fields",
    "normalize_url",
    "primary_key",
    "resolve_reference",
    "same_origin",
    "stored_request_headers",
    "variant_key",
    "vary_values_match",
]

CREDENTIAL_FIELDS = frozenset({b"authorization", b"proxy-authorization", b"cookie"})
"""Request fields whose values are secrets: hashed wherever the cache keeps them."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = re.compile(
    r"%(2[dDeE]|3[0-9]|4[1-9a-fA-F]|5[0-9aA]|5[fF]|6[1-9a-fA-F]|7[0-9aA]|7[eE])"
)
_HASH_PREFIX = b"sha256:"

BODY_KEY_MARK = "#body=sha256:"
"""What separates a primary key from the body digest of a body-keyed POST."""


def _decode_unreserved(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if (char.isalnum() or char in "-._~") else match.group(0)


@functools.lru_cache(maxsize=4096)  # pure: memoised for the hit path
def normalize_url(url: str) -> str:
    """Return the normalised form of an absolute URL (RFC 9110 §4.2.3, §7.1).

    Lower-cases scheme and host, drops the default port, the fragment and empty
    user info, makes an empty path ``/`` and decodes percent-escapes of
    unreserved characters. Path and query otherwise keep their exact bytes, so
    case and parameter order still matter (R-4). A URL that cannot be split is
    returned unchanged.
    """
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return url.split("#", 1)[0]
    if ":" in host:
        host = f"[{host}]"
    netloc = host
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc = f"{host}:{port}"
    path = _UNRESERVED.sub(_decode_unreserved, parts.path) or "/"
    query = _UNRESERVED.sub(_decode_unreserved, parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def _digest(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


def primary_key(url: str) -> str:
    """Return the default primary cache key of a request: its normalised URI (RFC 9111 §2).

    The method is not part of the key: a stored GET may answer HEAD (RFC 9111
    §4), and invalidation must reach every method's entry (§4.4). Credentials
    partition entries as a secondary key instead (:func:`nominated_fields`), so
    invalidating a URI reaches every credential's copy.
    """
    return normalize_url(url)


def body_key(key: str, body: bytes, content_type: bytes | None) -> str:
    """Return the primary key of a body-keyed POST: ``key`` plus its body's digest.

    RFC 9111 §2 lets a cache add key material to the target URI; here it is the
    SHA-256 of the request's ``Content-Type`` (media type lower-cased, RFC 9110
    §8.3.1; parameters kept) and body, so the same bytes sent as JSON and as a form
    are different queries. The result reads ``<key>#body=sha256:<64 hex digits>``.
    """
    media_type = b""
    if content_type is not None:
        kind, semicolon, parameters = content_type.strip(b" \t").partition(b";")
        media_type = kind.strip(b" \t").lower() + semicolon + parameters.strip(b" \t")
    return key + BODY_KEY_MARK + _digest(media_type + b"\n" + body)


def nominated_fields(vary: tuple[bytes, ...] | None) -> tuple[bytes, ...]:
    """Return the request fields that select a variant: ``Vary``'s plus ``Authorization``.

    RFC 9111 §2 lets a cache add key material; §3.5 and §7.2 warn about
    responses to authenticated requests. Treating ``Authorization`` as always
    nominated keeps one credential's responses from answering another request.
    """
    names = set(vary or ())
    names.add(b"authorization")
    return tuple(sorted(names))


def _stored_value(name: bytes, values: list[bytes]) -> bytes:
    normalized = normalize_field_value(values)
    if name in CREDENTIAL_FIELDS:
        return _HASH_PREFIX + _digest(normalized).encode("ascii")
    return normalized


def stored_request_headers(request_headers: Headers, vary: tuple[bytes, ...] | None) -> Headers:
    """Return the request fields an entry keeps: those :func:`nominated_fields` names.

    Values are normalised (RFC 9111 §4.1); credential fields are hashed so no
    secret is written in plain text. A nominated field that is absent from the
    request is simply absent here too (R-10).
    """
    kept: list[tuple[bytes, bytes]] = []
    for name in nominated_fields(vary):
        values = _headers.get_values(request_headers, name)
        if values:
            kept.append((name, _stored_value(name, values)))
    return tuple(kept)


def vary_values_match(
    vary: tuple[bytes, ...] | None, stored: Headers, request_headers: Headers
) -> bool:
    """Tell whether a request selects a stored response under its Vary (RFC 9111 §4.1).

    ``vary`` is the stored response's parsed ``Vary`` (``None`` for ``*`` or an
    unusable value, which never matches). Every nominated field (``Authorization``
    included) must be absent
    from both requests or have equal normalised values.
    """
    if vary is None:
        return False
    for name in nominated_fields(vary):
        values = _headers.get_values(request_headers, name)
        stored_value = _headers.get_first(stored, name)
        if not values:
            if stored_value is not None:
                return False
            continue
        if stored_value is None or _stored_value(name, values) != stored_value:
            return False
    return True


def variant_key(method: str, stored_headers: Headers) -> str:
    """Return the secondary key naming one variant of a URI.

    Built from the method family (``HEAD`` entries only answer HEAD) and the
    stored Vary-nominated request fields, so a new response for the same variant
    replaces the old one (the Squid layout of DESIGN §3).
    """
    material = method.encode("ascii", "replace") + b"\n"
    material += b"\n".join(name + b":" + value for name, value in stored_headers)
    return _digest(material)[:32]


def resolve_reference(base: str, reference: bytes) -> str | None:
    """Resolve a ``Location``/``Content-Location`` value against ``base`` (RFC 9110 §10.2.2).

    Returns the normalised absolute URL, or ``None`` when the value is unusable.
    """
    try:
        text = reference.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if not text or any(ch in text for ch in " \t\r\n"):
        return None
    try:
        return normalize_url(urljoin(base, text))
    except ValueError:
        return None


def same_origin(a: str, b: str) -> bool:
    """Tell whether two normalised URLs share scheme, host and port (RFC 9110 §4.3.1)."""
    try:
        pa, pb = urlsplit(a), urlsplit(b)
        return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)
    except ValueError:
        return False
