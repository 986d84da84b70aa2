"""Vary parsing and nominated-field normalisation (RFC 9110 §12.5.5, RFC 9111 §4.1).

Checklist rows P-28, P-29 and R-9.
"""

from __future__ import annotations

import pytest

from httpcache._models import Headers
from httpcache._policy._vary import normalize_field_value, parse_vary


def vary(*lines: bytes) -> Headers:
    return tuple((b"Vary", line) for line in lines)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param((), (), id="absent"),
        pytest.param(vary(b""), (), id="P-28-empty-value"),
        pytest.param(vary(b" , ,"), (), id="P-28-only-empty-members"),
        pytest.param(vary(b"Accept-Encoding"), (b"accept-encoding",), id="single"),
        pytest.param(
            vary(b"Accept-Encoding , accept-encoding,,Accept-Language"),
            (b"accept-encoding", b"accept-language"),
            id="P-28-trim-dedupe-lower",
        ),
        pytest.param(
            vary(b"User-Agent", b"Accept"),
            (b"accept", b"user-agent"),
            id="P-28-lines-merged-and-sorted",
        ),
        pytest.param(((b"VARY", b"Origin"),), (b"origin",), id="P-2-field-name-case"),
        pytest.param(vary(b"*"), None, id="P-28-star"),
        pytest.param(vary(b"Accept", b"*"), None, id="P-28-star-on-second-line"),
        pytest.param(vary(b"Accept, *"), None, id="P-28-star-in-list"),
        pytest.param(vary(b"Accept Language"), None, id="P-29-space-in-name"),
        pytest.param(vary(b"Accept;q=1"), None, id="P-29-parameter"),
        pytest.param(vary(b'"Accept"'), None, id="P-29-quoted"),
        pytest.param(vary(b"Accept, caf\xe9"), None, id="P-29-non-ascii"),
    ],
)
def test_parse_vary_value_gives_sorted_names_or_none(
    headers: Headers, expected: tuple[bytes, ...] | None
) -> None:
    """P-28, P-29, RFC 9110 §12.5.5: Vary is a set of names; `*` or junk never matches."""
    assert parse_vary(headers) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([], b"", id="R-9-no-lines"),
        pytest.param([b"gzip,br"], b"gzip, br", id="R-9-no-space"),
        pytest.param([b"gzip, br"], b"gzip, br", id="R-9-one-space"),
        pytest.param([b"gzip", b"br"], b"gzip, br", id="R-9-two-lines"),
        pytest.param([b" gzip \t,\tbr "], b"gzip, br", id="R-9-tabs-and-spaces"),
        pytest.param([b"br, gzip"], b"br, gzip", id="R-9-order-kept"),
        pytest.param([b"GZip"], b"GZip", id="R-9-case-kept"),
        pytest.param([b"en-US;q=0.9"], b"en-US;q=0.9", id="R-9-parameters-kept"),
        pytest.param([b""], b"", id="R-9-empty-line"),
    ],
)
def test_normalize_field_value_lines_give_canonical_bytes(
    values: list[bytes], expected: bytes
) -> None:
    """R-9, RFC 9111 §4.1: lines are joined and whitespace around members trimmed."""
    assert normalize_field_value(values) == expected
