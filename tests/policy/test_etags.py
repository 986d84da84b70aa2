"""Entity-tag lists and comparison (RFC 9110 §8.8.3; checklist P-31, V-6, V-7)."""

from __future__ import annotations

import pytest

from httpcache._policy._etags import is_weak, split_entity_tags, strong_match, weak_match


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(b"", [], id="empty"),
        pytest.param(b'"1"', [b'"1"'], id="single"),
        pytest.param(b'"1", W/"2",  "3"', [b'"1"', b'W/"2"', b'"3"'], id="list-trimmed"),
        pytest.param(b'"a,b", "c"', [b'"a,b"', b'"c"'], id="comma-inside-quotes"),
        pytest.param(b' , ,"1",', [b'"1"'], id="empty-members-dropped"),
        pytest.param(b"*", [b"*"], id="V-6-star"),
        pytest.param(b"abc", [b"abc"], id="P-31-unquoted-kept"),
        pytest.param(rb'"a\"b"', [rb'"a\"b"'], id="P-31-backslash-not-unescaped"),
        pytest.param(b'"caf\xe9"', [b'"caf\xe9"'], id="P-31-obs-text-kept"),
        pytest.param(b'"1", "open, x', [b'"1"', b'"open, x'], id="P-1-unterminated-quote"),
    ],
)
def test_split_entity_tags_value_gives_opaque_tags(value: bytes, expected: list[bytes]) -> None:
    """P-31, RFC 9110 §8.8.3, §13.1.2: tags are split outside quotes and kept verbatim."""
    assert split_entity_tags(value) == expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        pytest.param(b'W/"1"', True, id="weak"),
        pytest.param(b'"1"', False, id="strong"),
        pytest.param(b'w/"1"', False, id="lower-case-w-is-not-weak"),
        pytest.param(b"", False, id="empty"),
    ],
)
def test_is_weak_tag_gives_flag(tag: bytes, expected: bool) -> None:
    """V-7, RFC 9110 §8.8.3: the weak indicator is a case-sensitive `W/`."""
    assert is_weak(tag) is expected


@pytest.mark.parametrize(
    ("a", "b", "weak", "strong"),
    [
        pytest.param(b'"1"', b'"1"', True, True, id="V-7-strong-equal"),
        pytest.param(b'W/"1"', b'"1"', True, False, id="V-6-V-7-weak-and-strong"),
        pytest.param(b'"1"', b'W/"1"', True, False, id="V-6-V-7-strong-and-weak"),
        pytest.param(b'W/"1"', b'W/"1"', True, False, id="V-7-both-weak"),
        pytest.param(b'W/"1"', b'W/"2"', False, False, id="different-weak"),
        pytest.param(b'"1"', b'"2"', False, False, id="different-strong"),
        pytest.param(b'"a"', b'"A"', False, False, id="P-31-octets-case-sensitive"),
        pytest.param(rb'"a\"b"', b'"a"b"', False, False, id="P-31-no-unescaping"),
        pytest.param(b"abc", b"abc", True, True, id="P-31-malformed-compared-as-octets"),
        pytest.param(b"abc", b'"abc"', False, False, id="P-31-quotes-significant"),
    ],
)
def test_match_tags_give_rfc_comparison(a: bytes, b: bytes, weak: bool, strong: bool) -> None:
    """V-6, V-7, RFC 9110 §8.8.3.2: weak ignores `W/`; strong needs two strong equal tags."""
    assert weak_match(a, b) is weak
    assert strong_match(a, b) is strong
