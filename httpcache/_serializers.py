"""Serializers turn an entry's head and metadata into bytes and back.

Bodies are never serialized: storages keep them as raw bytes beside the record
(DESIGN §3). Every serializer writes a versioned envelope and raises
:class:`~httpcache.SerializationError` for anything it cannot read (corrupt,
foreign, or of an unknown version); storages turn that into a cache miss.

Secrets never reach a record in plain text (DESIGN §5). Request credentials are
already hashed in the entry; a response's ``Set-Cookie`` values are dropped from the
record, or, when the serializer has a ``secret_key``, sealed (see ``_sealing``). A
sealed value that does not open under the reader's key is dropped on load.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Protocol, TypeVar, runtime_checkable

from ._exceptions import ConfigurationError, SerializationError
from ._models import Entry, Headers, RequestHead, ResponseHead
from ._sealing import SENSITIVE_RESPONSE_FIELDS, Sealer

__all__ = [
    "FORMAT_VERSION",
    "JSONSerializer",
    "PickleSerializer",
    "Serializer",
    "YAMLSerializer",
    "entry_from_dict",
    "entry_to_dict",
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


def _seal_headers(headers: Headers, sealer: Sealer | None) -> tuple[list[list[str]], list[int]]:
    """Return ``headers`` for a record, and the positions of sealed values among them.

    Sensitive values are sealed with ``sealer``, or left out without one.
    """
    out: list[list[str]] = []
    sealed: list[int] = []
    for name, value in headers:
        if name.lower() in SENSITIVE_RESPONSE_FIELDS:
            if sealer is None:
                continue
            sealed.append(len(out))
            out.append([name.decode("latin-1"), sealer.seal(value)])
        else:
            out.append([name.decode("latin-1"), value.decode("latin-1")])
    return out, sealed


def _open_headers(headers: Headers, sealed: Any, sealer: Sealer | None) -> Headers:
    """Open the sealed values of a record's headers; drop those that do not open."""
    if not isinstance(sealed, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(headers) for i in sealed
    ):
        raise SerializationError("'sealed' must list positions of response headers")
    if not sealed:
        return headers
    positions = set(sealed)
    kept: list[tuple[bytes, bytes]] = []
    for position, (name, value) in enumerate(headers):
        if position in positions:
            opened = None if sealer is None else sealer.open(value.decode("latin-1"))
            if opened is None:
                continue  # sealed under another key (or none given): never served as garbage
            value = opened
        elif name.lower() in SENSITIVE_RESPONSE_FIELDS:
            continue  # a plain secret in a record is refused, whoever wrote it
        kept.append((name, value))
    return tuple(kept)


def entry_to_dict(entry: Entry, sealer: Sealer | None = None) -> dict[str, Any]:
    """Return the envelope for ``entry`` as plain data (str, int, float, bool, list, dict).

    ``Set-Cookie`` values are sealed with ``sealer``, or left out without one.
    """
    response_headers, sealed = _seal_headers(entry.response.headers, sealer)
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


def entry_from_dict(data: Any, sealer: Sealer | None = None) -> Entry:
    """Rebuild an entry from :func:`entry_to_dict` output; raise :class:`SerializationError`.

    Every field must have its exact type: a malformed record is refused, never coerced.
    Sealed values are opened with ``sealer``; those that do not open are dropped.
    """
    if not isinstance(data, dict) or _ENVELOPE_TAG not in data:
        raise SerializationError("not an httpcache record")
    if data[_ENVELOPE_TAG] != FORMAT_VERSION:
        raise SerializationError(f"unsupported record version {data[_ENVELOPE_TAG]!r}")
    try:
        body = _typed(data["entry"], dict, "entry")
        request = _typed(body["request"], dict, "request")
        response = _typed(body["response"], dict, "response")
        return Entry(
            key=_typed(body["key"], str, "key"),
            variant=_typed(body["variant"], str, "variant"),
            request=RequestHead(
                _typed(request["method"], str, "method"),
                _typed(request["url"], str, "url"),
                _headers_in(request["headers"]),
            ),
            response=ResponseHead(
                _typed(response["status"], int, "status"),
                _open_headers(_headers_in(response["headers"]), response.get("sealed", []), sealer),
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


def _sealer(secret_key: str | bytes | None) -> Sealer | None:
    return None if secret_key is None else Sealer(secret_key)


class JSONSerializer:
    """The default serializer: a readable, versioned JSON record.

    Header names and values are decoded as latin-1 so every raw byte, ASCII or
    not, round-trips exactly; order and repeated fields are kept.

    Args:
        secret_key: Seal ``Set-Cookie`` values with this key (at least 16 bytes)
            instead of leaving them out of the record. Every process reading the
            store needs the same key; values sealed under another key are dropped.
    """

    def __init__(self, *, secret_key: str | bytes | None = None) -> None:
        self._sealer = _sealer(secret_key)

    def dumps(self, entry: Entry) -> bytes:
        """Return the JSON record for ``entry``."""
        record = entry_to_dict(entry, self._sealer)
        return json.dumps(record, separators=(",", ":")).encode("utf-8")

    def loads(self, data: bytes) -> Entry:
        """Return the entry in a JSON record; raise :class:`SerializationError` if unreadable."""
        try:
            decoded = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise SerializationError(f"not a JSON record: {exc}") from exc
        return entry_from_dict(decoded, self._sealer)

    def __repr__(self) -> str:
        return f"JSONSerializer({_sealed_repr(self._sealer)})"


class PickleSerializer:
    """A compact binary record made with :mod:`pickle`.

    Warning:
        Unpickling runs code chosen by whoever wrote the record. Use this
        serializer only for stores that you alone can write to; never for a
        shared directory, bucket or Redis that others can reach.

    Args:
        secret_key: As for :class:`JSONSerializer`.
    """

    def __init__(self, *, secret_key: str | bytes | None = None) -> None:
        self._sealer = _sealer(secret_key)

    def dumps(self, entry: Entry) -> bytes:
        """Return the pickled envelope for ``entry``."""
        record = entry_to_dict(entry, self._sealer)
        return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes) -> Entry:
        """Return the entry in a pickled record; raise :class:`SerializationError` if unreadable."""
        try:
            decoded = pickle.loads(data)  # documented: trusted stores only
        except Exception as exc:  # pickle raises nearly anything on garbage
            raise SerializationError(f"not a pickle record: {exc!r}") from exc
        return entry_from_dict(decoded, self._sealer)

    def __repr__(self) -> str:
        return f"PickleSerializer({_sealed_repr(self._sealer)})"


class YAMLSerializer:
    """A readable YAML record (needs the ``yaml`` extra: ``pip install 'httpcache[yaml]'``).

    Uses ``yaml.safe_dump``/``yaml.safe_load`` only: no object tags are written or read.

    Args:
        secret_key: As for :class:`JSONSerializer`.
    """

    def __init__(self, *, secret_key: str | bytes | None = None) -> None:
        self._sealer = _sealer(secret_key)
        try:
            import yaml
        except ImportError as exc:  # pragma: no cover - exercised with the extra missing
            raise ConfigurationError(
                "YAMLSerializer needs PyYAML: pip install 'httpcache[yaml]'"
            ) from exc
        self._yaml = yaml

    def dumps(self, entry: Entry) -> bytes:
        """Return the YAML record for ``entry``."""
        record = entry_to_dict(entry, self._sealer)
        text: str = self._yaml.safe_dump(record, sort_keys=False, allow_unicode=False)
        return text.encode("utf-8")

    def loads(self, data: bytes) -> Entry:
        """Return the entry in a YAML record; raise :class:`SerializationError` if unreadable."""
        try:
            decoded = self._yaml.safe_load(data)
        except (self._yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
            raise SerializationError(f"not a YAML record: {exc}") from exc
        return entry_from_dict(decoded, self._sealer)

    def __repr__(self) -> str:
        return f"YAMLSerializer({_sealed_repr(self._sealer)})"


def _sealed_repr(sealer: Sealer | None) -> str:
    return "" if sealer is None else "secret_key=<set>"
