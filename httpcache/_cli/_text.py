"""Plain text helpers of the ``httpcache`` command: sizes, durations, safe text (pure).

Invariants: no I/O and no clock reads; nothing here raises on stored data (a
stored header is escaped before it can reach a terminal).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

__all__ = [
    "foreign_record",
    "format_duration",
    "format_size",
    "glob_escape",
    "human_time",
    "iso_utc",
    "parse_size",
    "printable",
    "record_format",
    "redact_url",
]

# -- sizes and durations -------------------------------------------------------------------

_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*\Z")
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
    "ti": 1024**4,
    "tib": 1024**4,
}


def parse_size(text: str) -> int:
    """Return the number of bytes ``text`` names: ``512``, ``10k``, ``1.5MiB``, ``2M``.

    Decimal units (``k``/``kB`` = 1000, ``M``/``MB``, ``G``, ``T``) and binary ones
    (``Ki``/``KiB`` = 1024, ``Mi``/``MiB``, ``Gi``, ``Ti``), case-insensitive; ``B``
    or no unit means bytes. Fractions are rounded to the nearest byte.

    Raises:
        ValueError: ``text`` is not a size.
    """
    match = _SIZE.match(text)
    factor = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or factor is None:
        raise ValueError(
            f"invalid size {text!r}: use a number with an optional unit, e.g. 10k, 1.5MiB, 2M"
        )
    return round(float(match.group(1)) * factor)


_BINARY = ("KiB", "MiB", "GiB", "TiB", "PiB")


def format_size(size: int | None) -> str:
    """Return ``size`` bytes for people: ``512 B``, ``1.5 KiB``, ``12 MiB`` (``-`` if unknown)."""
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _BINARY:
        value /= 1024
        if round(value, 1) < 1024 or unit == _BINARY[-1]:
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


_STEPS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def format_duration(seconds: float) -> str:
    """Return a duration in its two largest units: ``45s``, ``3m12s``, ``1h5m``, ``2d4h``.

    Fractions of a second are dropped; a negative duration is shown as ``0s``.
    A zero second unit is left out (``3m``, not ``3m0s``).
    """
    left = max(0, int(seconds))
    for index, (unit, size) in enumerate(_STEPS):
        if left >= size or unit == "s":
            text = f"{left // size}{unit}"
            if unit != "s":
                next_unit, next_size = _STEPS[index + 1]
                rest = (left % size) // next_size
                if rest:
                    text += f"{rest}{next_unit}"
            return text
    raise AssertionError("unreachable")  # pragma: no cover


def iso_utc(timestamp: float) -> str:
    """Return a clock reading as ISO-8601 in UTC, to the second: ``2024-05-01T12:00:00Z``."""
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def human_time(timestamp: float) -> str:
    """Return a clock reading for people: ``2024-05-01 12:00:00 UTC``."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- text safety -----------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Escape control characters (``\\x1b`` and friends) so text cannot drive a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_PASSWORD = re.compile(r"(://[^/@:]*):[^/@]*@")
_PASSWORD_PARAM = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """Return a storage URL with any password replaced by ``***`` (safe to print)."""
    return _PASSWORD_PARAM.sub(r"\1***", _PASSWORD.sub(r"\1:***@", url))


def glob_escape(text: str) -> str:
    """Return a glob matching exactly ``text`` (``*``, ``?`` and ``[`` made literal)."""
    return re.sub(r"([*?\[])", r"[\1]", text)


# -- records written by another serializer --------------------------------------------------

_JSON_RECORD = re.compile(rb'\s*\{\s*"httpcache"\s*:\s*(\d+)')
_YAML_RECORD = re.compile(rb"(?:---\s*)?httpcache:\s*(\d+)\s*\n")
_PICKLE_RECORD = re.compile(rb"\x80[\x02-\x05]")


def record_format(data: bytes) -> tuple[str, int | None] | None:
    """Tell which serializer wrote a record, and its format version, without decoding it.

    Returns ``("json", version)``, ``("yaml", version)``, ``("pickle", None)`` (its
    version cannot be read without unpickling), or ``None`` for anything else.
    """
    for name, pattern in (("json", _JSON_RECORD), ("yaml", _YAML_RECORD)):
        match = pattern.match(data)
        if match:
            return name, int(match.group(1))
    if _PICKLE_RECORD.match(data) and b"httpcache" in data[:64]:
        return "pickle", None
    return None


def foreign_record(data: bytes, serializer: str, version: int) -> str | None:
    """Explain why a record that ``serializer`` could not read is not simply corrupt.

    A record written by another serializer, or in another format version, is
    intact: reading it as corrupt would make the backend delete it. Returns the
    explanation, or ``None`` when the record is just unreadable.
    """
    found = record_format(data)
    if found is None:
        return None
    name, found_version = found
    if name != serializer:
        advice = f"run again with --serializer {name}"
        if name == "pickle":
            advice += " (only for a store you trust: unpickling runs code from the store)"
        return f"it holds {name} records, not {serializer}: {advice}"
    if found_version is not None and found_version != version:
        return (
            f"it holds records of format version {found_version} and this httpcache reads"
            f" version {version}: use a matching httpcache"
        )
    return None
