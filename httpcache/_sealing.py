"""Sealing secret header values at rest (DESIGN §5) with AES-256-GCM from ``cryptography``.

A stored response's ``Set-Cookie`` values are secrets: a persistent serializer either
drops them or, given a ``secret_key``, seals them with a :class:`Sealer`.

Why this primitive: AES-256-GCM (NIST SP 800-38D, an AEAD of RFC 5116) from the
``cryptography`` package (``AESGCM``, OpenSSL underneath) is a vetted, constant-time
authenticated cipher that takes *associated data*. That is what lets a sealed value be
bound to the field it came from and the entry it belongs to, so a token copied to another
header or another record does not open. Fernet was the alternative: it has no associated
data, carries a timestamp we do not need, and is AES-128-CBC plus HMAC built by hand
around a key we would still have to derive. MultiFernet's rotation is easy to match
with key ids (below), and key ids make opening one dictionary lookup, not trial decryption.

How a value is sealed:

* each user secret (at least 16 bytes, meant to be random: ``secrets.token_hex(32)``)
  gives two values by HKDF-SHA256 (RFC 5869) with distinct ``info`` labels: a 256-bit
  AES key and an 8-byte key id. HKDF is not a password hash, so a low-entropy passphrase
  is not made strong by it;
* a fresh random 96-bit nonce per value (random nonces are safe for far more values than
  a cache seals under one key, about 2**32);
* the associated data is a label, the lower-cased field name and a context (the entry's
  key and variant), each length-prefixed;
* the token is ``v2.`` + URL-safe base64 of the key id + ``.`` + URL-safe base64 of
  nonce, ciphertext and the 16-byte tag.

Key rotation: a :class:`Sealer` holds one key or several. The first seals; every one
opens, chosen by the token's key id. A token of another version (the ``v1.`` tokens of
the earlier HMAC scheme are no longer opened), under a key not held, cut short or altered
raises :class:`~httpcache.SerializationError`: the serializer's record is unreadable, and
the storages treat it as a miss and remove it.

Invariants: sealing and opening are pure CPU with no state between calls, so a sealer is
safe to share between threads and cannot be left half-done by a cancelled await; key
bytes live only inside the ``AESGCM`` objects and never appear in a repr or a message;
``cryptography`` is imported only when a sealer is built, so ``import httpcache`` works
without it.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._exceptions import ConfigurationError, SerializationError

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "MIN_KEY_BYTES",
    "SENSITIVE_RESPONSE_FIELDS",
    "TOKEN_PREFIX",
    "Sealer",
    "entry_context",
]

MIN_KEY_BYTES = 16
"""Shortest secret key accepted, in bytes."""

SENSITIVE_RESPONSE_FIELDS = frozenset({b"set-cookie", b"set-cookie2"})
"""Response fields whose values are never written to storage in plain text."""

TOKEN_PREFIX = "v2."
"""How every sealed value starts: the token format's version."""

_OLD_PREFIX = "v1."  # the earlier stdlib HMAC scheme: recognised only to say so
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12
_TAG_BYTES = 16
_INFO_KEY = b"httpcache seal v2 aes-256-gcm key"
_INFO_KEY_ID = b"httpcache seal v2 key id"
_AAD_LABEL = b"httpcache seal v2"
_EXTRA_HINT = "pip install 'httpcache[crypto]'"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), altchars=b"-_", validate=True)


def _framed(*parts: bytes) -> bytes:
    """Return ``parts`` each prefixed with its length, so no two lists frame alike."""
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def entry_context(key: str, variant: str) -> bytes:
    """Return the context that binds a sealed value to the entry ``key`` / ``variant``."""
    return _framed(key.encode("utf-8", "surrogatepass"), variant.encode("utf-8", "surrogatepass"))


def _key_bytes(key: object) -> bytes:
    raw = key.encode("utf-8") if isinstance(key, str) else key
    if not isinstance(raw, bytes) or len(raw) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"secret_key must be at least {MIN_KEY_BYTES} bytes (use secrets.token_hex(32))"
        )
    return raw


def _secret_keys(secret_key: str | bytes | Sequence[str | bytes]) -> list[bytes]:
    """Return the keys ``secret_key`` names, the sealing one first; refuse bad ones."""
    if isinstance(secret_key, (str, bytes)):
        return [_key_bytes(secret_key)]
    if not isinstance(secret_key, Sequence):
        raise ConfigurationError(
            "secret_key must be a key (str or bytes) or a sequence of keys, the sealing one first"
        )
    keys = [_key_bytes(key) for key in secret_key]
    if not keys:
        raise ConfigurationError("secret_key must name at least one key")
    return keys


class Sealer:
    """Seal header values under the first of one or more secret keys; open under any.

    Raises:
        ConfigurationError: a key is shorter than 16 bytes, none or one twice is given, or
            the ``cryptography`` package (the ``crypto`` extra) is not installed.
    """

    __slots__ = ("_ciphers", "_invalid_tag", "_prefix", "_sealing")

    def __init__(self, secret_key: str | bytes | Sequence[str | bytes]) -> None:
        keys = _secret_keys(secret_key)
        try:
            from cryptography.exceptions import InvalidTag
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF
        except ImportError as exc:
            raise ConfigurationError(
                f"secret_key= needs the cryptography package: {_EXTRA_HINT}"
            ) from exc

        def derive(key: bytes, length: int, info: bytes) -> bytes:
            return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)

        ciphers: dict[bytes, AESGCM] = {}
        for key in keys:
            key_id = derive(key, _KEY_ID_BYTES, _INFO_KEY_ID)
            if key_id in ciphers:
                raise ConfigurationError("secret_key lists the same key twice")
            ciphers[key_id] = AESGCM(derive(key, 32, _INFO_KEY))
        sealing_id = next(iter(ciphers))
        self._ciphers = ciphers
        self._sealing = ciphers[sealing_id]
        self._prefix = TOKEN_PREFIX + _b64(sealing_id) + "."
        self._invalid_tag: type[Exception] = InvalidTag

    @property
    def key_count(self) -> int:
        """How many keys open tokens (the first of them seals)."""
        return len(self._ciphers)

    def seal(self, value: bytes, *, field: bytes, context: bytes = b"") -> str:
        """Return the token for ``value`` of header ``field`` in ``context``."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._sealing.encrypt(nonce, value, _framed(_AAD_LABEL, field.lower(), context))
        return self._prefix + _b64(nonce + sealed)

    def open(self, token: str, *, field: bytes, context: bytes = b"") -> bytes:
        """Return the value sealed in ``token`` for header ``field`` in ``context``.

        Raises:
            SerializationError: ``token`` is of another version, under a key this sealer
                does not hold, cut short, altered, or sealed for another field or context.
        """
        if not token.startswith(TOKEN_PREFIX):
            if token.startswith(_OLD_PREFIX):
                raise SerializationError(
                    "a Set-Cookie value sealed by the earlier HMAC scheme (v1.), no longer opened"
                )
            raise SerializationError("a sealed Set-Cookie value is not a sealed token")
        key_text, dot, body = token[len(TOKEN_PREFIX) :].partition(".")
        try:
            key_id, raw = _unb64(key_text), _unb64(body)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise SerializationError("a sealed Set-Cookie value is not valid base64") from None
        if not dot or len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise SerializationError("a sealed Set-Cookie value is cut short")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SerializationError(
                "a Set-Cookie value is sealed under a key this serializer does not hold"
            )
        aad = _framed(_AAD_LABEL, field.lower(), context)
        try:
            return cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad)
        except self._invalid_tag:
            raise SerializationError(
                "a sealed Set-Cookie value fails authentication: altered, cut short, or moved"
                " from another field or entry"
            ) from None

    def __repr__(self) -> str:
        return f"Sealer(<{self.key_count} secret key{'s' if self.key_count > 1 else ''}>)"
