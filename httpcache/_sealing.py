"""Sealing secret header values at rest (DESIGN §5), with the standard library only.

A stored response's ``Set-Cookie`` values are secrets: a persistent serializer either
drops them or, given a ``secret_key``, seals them. A sealed value is authenticated
encryption built from HMAC-SHA256 alone (no third-party cryptography package):

* two sub-keys are derived from the secret key: ``enc = HMAC(key, "httpcache seal enc")``
  and ``mac = HMAC(key, "httpcache seal mac")``;
* a fresh random 16-byte nonce per value; the keystream is
  ``HMAC(enc, nonce || counter)`` for counter 0, 1, ... (HMAC as a PRF in counter mode);
* the ciphertext is the value XOR the keystream, and the tag is
  ``HMAC(mac, version || nonce || ciphertext)`` (encrypt-then-MAC), checked in constant
  time before anything is decrypted.

The token is ``v1.`` followed by the URL-safe base64 of nonce, ciphertext and tag.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from ._exceptions import ConfigurationError

__all__ = ["MIN_KEY_BYTES", "SENSITIVE_RESPONSE_FIELDS", "Sealer"]

MIN_KEY_BYTES = 16
"""Shortest secret key accepted, in bytes."""

SENSITIVE_RESPONSE_FIELDS = frozenset({b"set-cookie", b"set-cookie2"})
"""Response fields whose values are never written to storage in plain text."""

_VERSION = b"v1"
_PREFIX = "v1."
_NONCE = 16
_TAG = 32
_BLOCK = hashlib.sha256().digest_size


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


class Sealer:
    """Seal and open header values under one secret key."""

    __slots__ = ("_enc", "_mac")

    def __init__(self, secret_key: str | bytes) -> None:
        key = secret_key.encode("utf-8") if isinstance(secret_key, str) else secret_key
        if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
            raise ConfigurationError(
                f"secret_key must be at least {MIN_KEY_BYTES} bytes (use secrets.token_hex(32))"
            )
        self._enc = hmac.digest(key, b"httpcache seal enc", "sha256")
        self._mac = hmac.digest(key, b"httpcache seal mac", "sha256")

    def _keystream(self, nonce: bytes, length: int) -> bytes:
        blocks = (length + _BLOCK - 1) // _BLOCK
        stream = b"".join(
            hmac.digest(self._enc, nonce + i.to_bytes(8, "big"), "sha256") for i in range(blocks)
        )
        return stream[:length]

    def _tag(self, nonce: bytes, ciphertext: bytes) -> bytes:
        return hmac.digest(self._mac, _VERSION + nonce + ciphertext, "sha256")

    def seal(self, value: bytes, *, nonce: bytes | None = None) -> str:
        """Return the sealed token for ``value`` (``nonce`` only for tests)."""
        nonce = os.urandom(_NONCE) if nonce is None else nonce
        stream = self._keystream(nonce, len(value))
        ciphertext = _xor(value, stream)
        raw = nonce + ciphertext + self._tag(nonce, ciphertext)
        return _PREFIX + base64.urlsafe_b64encode(raw).decode("ascii")

    def open(self, token: str) -> bytes | None:
        """Return the value sealed in ``token``, or ``None`` if it is not one of ours.

        ``None`` covers a token sealed under another key, a tampered token and garbage.
        """
        if not token.startswith(_PREFIX):
            return None
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX) :].encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None
        if len(raw) < _NONCE + _TAG:
            return None
        nonce, ciphertext, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
        if not hmac.compare_digest(tag, self._tag(nonce, ciphertext)):
            return None
        stream = self._keystream(nonce, len(ciphertext))
        return _xor(ciphertext, stream)

    def __repr__(self) -> str:
        return "Sealer(<secret>)"
