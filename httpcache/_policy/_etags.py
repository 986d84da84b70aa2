"""Entity-tag lists and comparison (RFC 9110 §8.8.3).

Tags are opaque: they are kept and compared byte-for-byte, never unescaped or
re-quoted, malformed ones included.
"""

from __future__ import annotations

__all__ = ["is_weak", "split_entity_tags", "strong_match", "weak_match"]


def split_entity_tags(value: bytes) -> list[bytes]:
    """Split an ``If-None-Match``/``ETag`` list value (RFC 9110 §13.1.2, §8.8.3).

    Commas inside double quotes do not split. Members are trimmed and empty
    ones dropped; each tag keeps its bytes as written, so ``*`` comes back as
    ``b"*"`` and an unquoted ``abc`` as ``b"abc"``.
    """
    tags: list[bytes] = []
    start = 0
    quoted = False
    for index, byte in enumerate(value):
        if byte == 0x22:  # '"'
            quoted = not quoted
        elif byte == 0x2C and not quoted:  # ','
            tags.append(value[start:index])
            start = index + 1
    tags.append(value[start:])
    return [tag for tag in (tag.strip(b" \t") for tag in tags) if tag]


def is_weak(tag: bytes) -> bool:
    """Tell whether ``tag`` is a weak validator, i.e. starts with ``W/`` (RFC 9110 §8.8.3)."""
    return tag.startswith(b"W/")


def _opaque(tag: bytes) -> bytes:
    return tag[2:] if is_weak(tag) else tag


def weak_match(a: bytes, b: bytes) -> bool:
    """Compare two entity tags weakly (RFC 9110 §8.8.3.2).

    They match when their opaque parts are octet-identical, whether either is
    weak or not.
    """
    return _opaque(a) == _opaque(b)


def strong_match(a: bytes, b: bytes) -> bool:
    """Compare two entity tags strongly (RFC 9110 §8.8.3.2).

    They match only when neither is weak and they are octet-identical.
    """
    return not is_weak(a) and not is_weak(b) and a == b
