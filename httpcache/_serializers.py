"""Serializers turn an entry's head and metadata into bytes and back.

Bodies are never serialized: storages keep them as raw bytes beside the record
(DESIGN §3). Every serializer writes a versioned envelope and raises
:class:`~httpcache.SerializationError` for anything it cannot read (corrupt,
foreign, or of an unknown version); storages turn that into a cache miss.

Secrets never reach a record in plain text (DESIGN §5). Request credentials are
already hashed in the entry; a response's ``Set-Cookie`` values are dropped from the
record, or, when the serializer has a ``secret_key``, sealed (see ``_sealing``). A
record holding a sealed value that does not open under the reader's keys (or a
``Set-Cookie`` in plain text) is unreadable: a miss, never a hit with its cookies
missing or planted.
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from ._exceptions import ConfigurationError, SerializationError
from ._models import Entry, Headers, RequestHead, ResponseHead
from ._sealing import SENSITIVE_RESPONSE_FIELDS, Sealer, entry_context

__all__ = [
    "FORMAT_VERSION",
    "JSONSerializer",
    "PickleSerializer",
    "Serializer",
    "YAMLSerializer",
    "entry_from_dict",
    "entry_to_dict",
    "without_sealed_values",
]

FORMAT_VERSION = 1
"""Version of the record layout inside every serializer's envelope."""

_ENVELOPE_TAG = "httpcache"


@runtime_checkable
class Serializer(Protocol):
    """Encode an :class:`Entry` (head and metadata, no body) as bytes and back."""

    def dumps(self, entry: Entry) -> bytes:
        """Return the record for ``entry``."""
        ...

    def loads(self, data: bytes) -> Entry:
        """Return the entry in ``data``; raise :class:`SerializationError` if unreadable."""
        ...


def _headers_out(headers: Headers) -> list[list[str]]:
    # latin-1 maps every byte to one code point: any raw byte survives (P-32).
    return [[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers]


def _headers_in(raw: Any) -> Headers:
    if not isinstance(raw, list):
        raise SerializationError("headers must be a list of [name, value] pairs")
    pairs: list[tuple[bytes, bytes]] = []
    for item in raw:
        if not (
            isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
        ):
            raise SerializationError("headers must be a list of [name, value] pairs")
        pairs.append((item[0].encode("latin-1"), item[1].encode("latin-1")))
    return tuple(pairs)


def _seal_headers(
    headers: Headers, sealer: Sealer | None, context: bytes
) -> tuple[list[list[str]], list[int]]:
    """Return ``headers`` for a record, and the positions of sealed values among them.

    Sensitive values are sealed with ``sealer`` (bound to their field and ``context``), or
    left out without one.
    """
    out: list[list[str]] = []
    sealed: list[int] = []
    for name, value in headers:
        if name.lower() in SENSITIVE_RESPONSE_FIELDS:
            if sealer is None:
                continue
            sealed.append(len(out))
            out.append([name.decode("latin-1"), sealer.seal(value, field=name, context=context)])
        else:
            out.append([name.decode("latin-1"), value.decode("latin-1")])
    return out, sealed


def _open_headers(
    headers: Headers, sealed: Any, sealer: Sealer | None, context: bytes, *, drop_sealed: bool
) -> Headers:
    """Open the sealed values of a record's headers; raise if one does not open.

    A record is unreadable (:class:`SerializationError`, so a miss) when a sealed value
    does not open under ``sealer`` (another key, no key, an older token, tampered, moved
    from another field or entry) and when it holds a ``Set-Cookie`` in plain text: an
    entry is never served with its cookies silently missing or planted. ``drop_sealed``
    (for tools that show a cache without its key, never for serving) leaves sealed
    values out instead of opening them.
    """
    if not isinstance(sealed, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(headers) for i in sealed
    ):
        raise SerializationError("'sealed' must list positions of response headers")
    positions = set(sealed)
    if not positions and not any(name.lower() in SENSITIVE_RESPONSE_FIELDS for name, _ in headers):
        return headers
    kept: list[tuple[bytes, bytes]] = []
    for position, (name, value) in enumerate(headers):
        secret = name.lower() in SENSITIVE_RESPONSE_FIELDS
        if position in positions:
            if not secret:
                raise SerializationError("'sealed' names a field that is never sealed")
            if drop_sealed:
                continue
            if sealer is None:
                raise SerializationError(
                    "the record holds sealed Set-Cookie values and the serializer has no secret_key"
                )
            value = sealer.open(value.decode("latin-1"), field=name, context=context)
        elif secret:
            raise SerializationError("the record holds a Set-Cookie value in plain text")
        kept.append((name, value))
    return tuple(kept)


def entry_to_dict(entry: Entry, sealer: Sealer | None = None) -> dict[str, Any]:
    """Return the envelope for ``entry`` as plain data (str, int, float, bool, list, dict).

    ``Set-Cookie`` values are sealed with ``sealer`` (bound to the entry's key and
    variant), or left out without one.
    """
    context = entry_context(entry.key, entry.variant)
    response_headers, sealed = _seal_headers(entry.response.headers, sealer, context)
    return {
        _ENVELOPE_TAG: FORMAT_VERSION,
        "entry": {
            "key": entry.key,
            "variant": entry.variant,
            "request": {
                "method": entry.request.method,
                "url": entry.request.url,
                "headers": _headers_out(entry.request.headers),
            },
            "response": {
                "status": entry.response.status,
                "reason": entry.response.reason,
                "http_version": entry.response.http_version,
                "headers": response_headers,
                "sealed": sealed,
            },
            "request_time": entry.request_time,
            "response_time": entry.response_time,
            "created_at": entry.created_at,
            "hits": entry.hits,
            "size": entry.size,
            "invalidated": entry.invalidated,
            "ttl": entry.ttl,
            "force_cached": entry.force_cached,
            "accessed_at": entry.accessed_at,
        },
    }


_T = TypeVar("_T")


def _typed(value: Any, kind: type[_T], name: str) -> _T:
    """Return ``value`` if it is exactly of ``kind`` (bools are not ints), else raise."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # type: ignore[return-value]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SerializationError(
            f"field {name!r} must be {kind.__name__}, not {type(value).__name__}"
        )
    return value


def _optional(value: Any, kind: type[_T], name: str) -> _T | None:
    return None if value is None else _typed(value, kind, name)


def entry_from_dict(data: Any, sealer: Sealer | None = None, *, drop_sealed: bool = False) -> Entry:
    """Rebuild an entry from :func:`entry_to_dict` output; raise :class:`SerializationError`.

    Every field must have its exact type: a malformed record is refused, never coerced.
    Sealed values are opened with ``sealer``; a record with one that does not open is
    unreadable. ``drop_sealed`` leaves sealed values out instead (to show a cache without
    its key; never for serving).
    """
    if not isinstance(data, dict) or _ENVELOPE_TAG not in data:
        raise SerializationError("not an httpcache record")
    if data[_ENVELOPE_TAG] != FORMAT_VERSION:
        raise SerializationError(f"unsupported record version {data[_ENVELOPE_TAG]!r}")
    try:
        body = _typed(data["entry"], dict, "entry")
        request = _typed(body["request"], dict, "request")
        response = _typed(body["response"], dict, "response")
        key = _typed(body["key"], str, "key")
        variant = _typed(body["variant"], str, "variant")
        headers = _open_headers(
            _headers_in(response["headers"]),
            response.get("sealed", []),
            sealer,
            entry_context(key, variant),
            drop_sealed=drop_sealed,
        )
        return Entry(
            key=key,
            variant=variant,
            request=RequestHead(
                _typed(request["method"], str, "method"),
                _typed(request["url"], str, "url"),
                _headers_in(request["headers"]),
            ),
            response=ResponseHead(
                _typed(response["status"], int, "status"),
                headers,
                _typed(response["reason"], str, "reason"),
                _typed(response["http_version"], str, "http_version"),
            ),
            request_time=_typed(body["request_time"], float, "request_time"),
            response_time=_typed(body["response_time"], float, "response_time"),
            created_at=_typed(body["created_at"], float, "created_at"),
            hits=_typed(body["hits"], int, "hits"),
            size=_optional(body["size"], int, "size"),
            invalidated=_typed(body["invalidated"], bool, "invalidated"),
            ttl=_optional(body["ttl"], float, "ttl"),
            force_cached=_typed(body["force_cached"], bool, "force_cached"),
            # Absent from records written before it existed: never hit since.
            accessed_at=_optional(body.get("accessed_at"), float, "accessed_at"),
        )
    except SerializationError:
        raise
    except (KeyError, TypeError, ValueError, UnicodeEncodeError) as exc:
        raise SerializationError(f"malformed httpcache record: {exc!r}") from exc


class _SealingSerializer:
    """What the built-in serializers share: their secret keys, and the record as data."""

    def __init__(self, *, secret_key: str | bytes | Sequence[str | bytes] | None = None) -> None:
        self._sealer = None if secret_key is None else Sealer(secret_key)
        self._drop_sealed = False

    def _record(self, entry: Entry) -> dict[str, Any]:
        return entry_to_dict(entry, self._sealer)

    def _entry(self, decoded: Any) -> Entry:
        return entry_from_dict(decoded, self._sealer, drop_sealed=self._drop_sealed)

    def __repr__(self) -> str:
        if self._sealer is None:
            return f"{type(self).__name__}()"
        count = self._sealer.key_count
        shown = "<set>" if count == 1 else f"<set, {count} keys>"
        return f"{type(self).__name__}(secret_key={shown})"


def without_sealed_values(serializer: Serializer) -> Serializer:
    """Return a copy of ``serializer`` that reads sealed values as absent.

    For tools that show a cache without its key (the ``httpcache`` command): a record
    with sealed ``Set-Cookie`` values is read with them left out, instead of being
    unreadable. Never for serving, where a hit would lack its cookies. A serializer
    that is not a built-in one is returned unchanged.
    """
    if not isinstance(serializer, _SealingSerializer):
        return serializer
    reader = copy.copy(serializer)
    reader._drop_sealed = True
    return reader


class JSONSerializer(_SealingSerializer):
    """The default serializer: a readable, versioned JSON record.

    Header names and values are decoded as latin-1 so every raw byte, ASCII or
    not, round-trips exactly; order and repeated fields are kept.

    Args:
        secret_key: Seal ``Set-Cookie`` values (AES-256-GCM, needs the ``crypto`` extra:
            ``pip install 'httpcache[crypto]'``) instead of leaving them out of the
            record. One key (str or bytes, at least 16 bytes), or a sequence of keys:
            the first seals, every one opens (for key rotation). Every process reading
            the store needs a key that opens its records; a record with a value that
            none of the keys opens is unreadable, so a miss.

    Raises:
        ConfigurationError: a key is too short or listed twice, or ``secret_key`` is
            given and the ``cryptography`` package is not installed.
    """

    def dumps(self, entry: Entry) -> bytes:
        """Return the JSON record for ``entry``."""
        return json.dumps(self._record(entry), separators=(",", ":")).encode("utf-8")

    def loads(self, data: bytes) -> Entry:
        """Return the entry in a JSON record; raise :class:`SerializationError` if unreadable."""
        try:
            decoded = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise SerializationError(f"not a JSON record: {exc}") from exc
        return self._entry(decoded)


class PickleSerializer(_SealingSerializer):
    """A compact binary record made with :mod:`pickle`.

    Warning:
        Unpickling runs code chosen by whoever wrote the record. Use this
        serializer only for stores that you alone can write to; never for a
        shared directory, bucket or Redis that others can reach.

    Args:
        secret_key: As for :class:`JSONSerializer`.

    Raises:
        ConfigurationError: As for :class:`JSONSerializer`.
    """

    def dumps(self, entry: Entry) -> bytes:
        """Return the pickled envelope for ``entry``."""
        return pickle.dumps(self._record(entry), protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes) -> Entry:
        """Return the entry in a pickled record; raise :class:`SerializationError` if unreadable."""
        try:
            decoded = pickle.loads(data)  # documented: trusted stores only
        except Exception as exc:  # pickle raises nearly anything on garbage
            raise SerializationError(f"not a pickle record: {exc!r}") from exc
        return self._entry(decoded)


class YAMLSerializer(_SealingSerializer):
    """A readable YAML record (needs the ``yaml`` extra: ``pip install 'httpcache[yaml]'``).

    Uses ``yaml.safe_dump``/``yaml.safe_load`` only: no object tags are written or read.

    Args:
        secret_key: As for :class:`JSONSerializer`.

    Raises:
        ConfigurationError: As for :class:`JSONSerializer`, or PyYAML is not installed.
    """

    def __init__(self, *, secret_key: str | bytes | Sequence[str | bytes] | None = None) -> None:
        super().__init__(secret_key=secret_key)
        try:
            import yaml
        except ImportError as exc:  # pragma: no cover - exercised with the extra missing
            raise ConfigurationError(
                "YAMLSerializer needs PyYAML: pip install 'httpcache[yaml]'"
            ) from exc
        self._yaml = yaml

    def dumps(self, entry: Entry) -> bytes:
        """Return the YAML record for ``entry``."""
        text: str = self._yaml.safe_dump(self._record(entry), sort_keys=False, allow_unicode=False)
        return text.encode("utf-8")

    def loads(self, data: bytes) -> Entry:
        """Return the entry in a YAML record; raise :class:`SerializationError` if unreadable."""
        try:
            decoded = self._yaml.safe_load(data)
        except (self._yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
            raise SerializationError(f"not a YAML record: {exc}") from exc
        return self._entry(decoded)
