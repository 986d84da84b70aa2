"""Age header parsing (RFC 9111 §5.1; checklist P-14..P-18)."""

from __future__ import annotations

import pytest

from httpcache._models import Headers
from httpcache._policy._age import parse_age
from httpcache._policy._cache_control import MAX_DELTA_SECONDS


def age(*lines: bytes) -> Headers:
    return tuple((b"Age", line) for line in lines)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param((), 0, id="absent"),
        pytest.param(age(b"10"), 10, id="plain"),
        pytest.param(((b"AGE", b" 10 "),), 10, id="P-2-case-and-whitespace"),
        pytest.param(age(b"10, 20"), 10, id="P-14-list-first-member"),
        pytest.param(age(b"10", b"20"), 10, id="P-14-two-lines-first-line"),
        pytest.param(age(b", 10"), 10, id="P-14-empty-member-skipped"),
        pytest.param(age(b"abc"), 0, id="P-15-non-numeric"),
        pytest.param(age(b"1e3"), 0, id="P-15-exponent"),
        pytest.param(age(b""), 0, id="P-15-empty"),
        pytest.param(age(b"010"), 10, id="P-15-leading-zeros"),
        pytest.param(age(b"abc, 20"), 0, id="P-15-invalid-first-member"),
        pytest.param(age(b"-100"), 0, id="P-16-negative"),
        pytest.param(age(b"30.5"), 0, id="P-17-fraction"),
        pytest.param(age(b"9999999999999999999"), MAX_DELTA_SECONDS, id="P-18-huge-capped"),
        pytest.param(age(b"9" * 10_000), MAX_DELTA_SECONDS, id="P-18-beyond-int-str-limit"),
        pytest.param(age(b"\xff\xfe"), 0, id="P-1-non-ascii"),
    ],
)
def test_parse_age_value_gives_seconds(headers: Headers, expected: int) -> None:
    """P-14..P-18, RFC 9111 §5.1, §1.2.2: Age is delta-seconds, else ignored."""
    assert parse_age(headers) == expected
