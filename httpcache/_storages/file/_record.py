"""The bytes of a key's record file: every variant's head, small bodies inline (pure).

One file per primary key holds all its variants, so a hit is one ``open`` + ``read``
and a store is one temporary file renamed over it. The format::

    record = MAGIC count:u16 frame{count}
    frame  = kind:u8 head_length:u32 size:u64 [token:32] head [body]

* ``head`` is the serializer's record of the :class:`~httpcache.Entry` (bytes the
  serializer wrote, kept verbatim, so a rewrite of one variant never re-encodes the
  others).
* ``kind`` 0 (:data:`INLINE`): ``size`` body bytes follow the head.
  ``kind`` 1 (:data:`IN_FILE`): the body is the file ``<token>.body`` beside the
  record, ``size`` bytes long; the 32 ASCII hex digits of ``token`` follow the
  frame header.

Invariants: integers are big-endian; the lengths account for every byte, so a record
cut short (or with anything appended) never decodes; a variant appears once. Nothing
here performs I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ..._exceptions import SerializationError
from ._layout import is_token

__all__ = ["IN_FILE", "INLINE", "MAGIC", "Frame", "decode_record", "encode_record", "record_size"]

MAGIC = b"httpcache-file/2\n"
INLINE = 0
IN_FILE = 1

_COUNT = struct.Struct(">H")
_FRAME = struct.Struct(">BIQ")
_TOKEN_LENGTH = 32
_MAX_FRAMES = 0xFFFF


@dataclass(frozen=True, slots=True)
class Frame:
    """One variant in a record: its serialized head and where its body is."""

    head: bytes
    size: int
    body: bytes | None = None  # the body itself, kept inline
    token: str | None = None  # or the token naming its file

    def __post_init__(self) -> None:
        if (self.body is None) == (self.token is None):
            raise ValueError("a frame keeps its body inline or names a body file, not both")
        if self.body is not None and len(self.body) != self.size:
            raise ValueError("an inline body must be exactly size bytes")
        if self.token is not None and not is_token(self.token):
            raise ValueError("a body token is 32 lowercase hex digits")

    @property
    def length(self) -> int:
        """Bytes this frame takes in a record."""
        extra = self.size if self.body is not None else _TOKEN_LENGTH
        return _FRAME.size + len(self.head) + extra


def record_size(frames: Sequence[Frame]) -> int:
    """Return the length of the record :func:`encode_record` makes of ``frames``."""
    return len(MAGIC) + _COUNT.size + sum(frame.length for frame in frames)


def encode_record(frames: Sequence[Frame]) -> bytes:
    """Return the record file holding ``frames`` (at least one, at most 65535)."""
    if not 0 < len(frames) <= _MAX_FRAMES:
        raise ValueError("a record holds 1 to 65535 variants")
    parts = [MAGIC, _COUNT.pack(len(frames))]
    for frame in frames:
        if frame.body is not None:
            parts += (_FRAME.pack(INLINE, len(frame.head), frame.size), frame.head, frame.body)
        else:
            assert frame.token is not None
            parts += (
                _FRAME.pack(IN_FILE, len(frame.head), frame.size),
                frame.token.encode("ascii"),
                frame.head,
            )
    return b"".join(parts)


def decode_record(data: bytes, limit: int) -> list[Frame]:
    """Return the frames of a record file; raise SerializationError if it is not one.

    ``limit`` is the longest record accepted.
    """
    if len(data) > limit:
        raise SerializationError("record file too large to be an httpcache record")
    if not data.startswith(MAGIC):
        raise SerializationError("not an httpcache file-storage record")
    end = len(data)
    pos = len(MAGIC) + _COUNT.size
    if pos > end:
        raise SerializationError("httpcache file-storage record cut short")
    (count,) = _COUNT.unpack_from(data, len(MAGIC))
    frames: list[Frame] = []
    for _ in range(count):
        if pos + _FRAME.size > end:
            raise SerializationError("httpcache file-storage record cut short")
        kind, head_length, size = _FRAME.unpack_from(data, pos)
        pos += _FRAME.size
        token = None
        if kind == IN_FILE:
            token = data[pos : pos + _TOKEN_LENGTH].decode("ascii", "replace")
            pos += _TOKEN_LENGTH
            if not is_token(token):
                raise SerializationError("httpcache file-storage record names no body file")
        elif kind != INLINE:
            raise SerializationError(f"unknown frame kind {kind} in an httpcache record")
        head = data[pos : pos + head_length]
        pos += head_length
        body = None
        if kind == INLINE:
            body = data[pos : pos + size]
            pos += size
        if pos > end:
            raise SerializationError("httpcache file-storage record cut short")
        frames.append(Frame(head, size, body, token))
    if pos != end:
        raise SerializationError("httpcache file-storage record has trailing bytes")
    if not frames:
        raise SerializationError("httpcache file-storage record holds no variant")
    return frames
