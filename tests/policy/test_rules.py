"""Per-URL rules: matching (pure) and the validation of `URLRule` and `CacheOptions.url_rules`.

Not RFC 9111: configuration in the manner of requests-cache's `urls_expire_after`. Matching
sees the URL normalised as the cache key does (RFC 9110 §4.2.3).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from httpcache import CacheOptions, ConfigurationError, URLRule
from httpcache._policy._rules import glob_regex, match_rule


@pytest.mark.parametrize(
    ("pattern", "url", "matches"),
    [
        pytest.param("api.example.com/v1/*", "https://api.example.com/v1/users", True, id="glob"),
        pytest.param(
            "api.example.com/v1/*", "http://api.example.com/v1/users", True, id="any-scheme"
        ),
        pytest.param(
            "api.example.com/v1/*", "https://api.example.com/v2/users", False, id="other-path"
        ),
        pytest.param(
            "api.example.com/v1", "https://api.example.com/v1/users?a=1", True, id="implied-star"
        ),
        pytest.param(
            "api.example.com/v1", "https://api.example.com/v10", True, id="prefix-not-segment"
        ),
        pytest.param("example.com", "https://example.com.evil.test/", True, id="host-prefix"),
        pytest.param("example.com/*", "https://example.com.evil.test/", False, id="host-stopped"),
        pytest.param("*.example.com", "https://www.example.com/a/b", True, id="subdomain"),
        pytest.param("*.example.com", "https://example.com/a", False, id="subdomain-not-apex"),
        pytest.param(
            "*/login*", "https://example.com/account/login?next=/", True, id="star-crosses-slash"
        ),
        pytest.param(
            "https://example.com/a", "http://example.com/a", True, id="glob-scheme-ignored"
        ),
        pytest.param(
            "API.Example.COM/a", "https://api.example.com/a", True, id="glob-host-lowered"
        ),
        pytest.param("example.com/A", "https://example.com/a", False, id="path-case-sensitive"),
        pytest.param("example.com/a", "https://EXAMPLE.com:443/a", True, id="url-normalised"),
        pytest.param("example.com:8080/*", "http://example.com:8080/a", True, id="port-kept"),
        pytest.param("example.com/*", "http://example.com:8080/a", False, id="port-in-host"),
        pytest.param("example.com/a", "https://user:secret@example.com/a", True, id="no-user-info"),
        pytest.param("example.com/a?x=[12]", "https://example.com/a?x=1", True, id="brackets"),
        pytest.param("*", "https://anything.test/", True, id="catch-all"),
        pytest.param(re.compile(r"/static/"), "https://cdn.test/static/app.js", True, id="regex"),
        pytest.param(re.compile(r"^https://"), "https://example.com/", True, id="regex-scheme"),
        pytest.param(re.compile(r"^https://"), "http://example.com/", False, id="regex-no-match"),
        pytest.param(
            re.compile(r"^https://a\.test/x$"), "https://A.test/x#frag", True, id="regex-normalised"
        ),
        pytest.param(
            re.compile(r"user"), "https://user:pw@a.test/", False, id="regex-no-user-info"
        ),
    ],
)
def test_rules_match_pattern_against_normalised_url(
    pattern: str | re.Pattern[str], url: str, matches: bool
) -> None:
    rule = URLRule(pattern, ttl=1)
    assert (match_rule((rule,), url) is rule) is matches


def test_rules_match_first_matching_rule_wins() -> None:
    live = URLRule("example.com/live/*")
    api = URLRule("example.com/*", ttl=60)
    never = URLRule("*", cache=False)
    rules = (live, api, never)
    assert match_rule(rules, "https://example.com/live/score") is live
    assert match_rule(rules, "https://example.com/news") is api
    assert match_rule(rules, "https://other.test/") is never


def test_rules_match_none_without_a_matching_rule() -> None:
    assert match_rule((), "https://example.com/") is None
    assert match_rule((URLRule("api.example.com/*", ttl=1),), "https://example.com/") is None


def test_rules_glob_regex_is_translated_once() -> None:
    assert glob_regex("once.example/*") is glob_regex("once.example/*")


def test_rules_rule_defaults_leave_request_to_options() -> None:
    rule = URLRule("example.com/*")
    assert (rule.ttl, rule.force_cache, rule.cache) == (None, False, True)


def test_rules_ttl_implies_force_cache_and_is_a_float() -> None:
    rule = URLRule("example.com/*", ttl=60)
    assert rule.force_cache is True
    assert rule.ttl == 60.0
    assert isinstance(rule.ttl, float)


def test_rules_rule_is_frozen_and_keyword_only() -> None:
    rule = URLRule("example.com/*", cache=False)
    with pytest.raises(AttributeError):
        rule.cache = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        URLRule("example.com/*", 60)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"pattern": ""}, id="empty-glob"),
        pytest.param({"pattern": "https://"}, id="scheme-only-glob"),
        pytest.param({"pattern": re.compile(rb"/static/")}, id="bytes-regex"),
        pytest.param({"pattern": 42}, id="not-a-pattern"),
        pytest.param({"pattern": "a/*", "ttl": -1}, id="negative-ttl"),
        pytest.param({"pattern": "a/*", "ttl": 0}, id="zero-ttl"),
        pytest.param({"pattern": "a/*", "ttl": float("nan")}, id="nan-ttl"),
        pytest.param({"pattern": "a/*", "ttl": float("inf")}, id="infinite-ttl"),
        pytest.param({"pattern": "a/*", "ttl": True}, id="bool-ttl"),
        pytest.param({"pattern": "a/*", "ttl": "60"}, id="text-ttl"),
        pytest.param({"pattern": "a/*", "cache": False, "ttl": 60}, id="never-with-ttl"),
        pytest.param({"pattern": "a/*", "cache": False, "force_cache": True}, id="never-forced"),
        pytest.param({"pattern": "a/*", "cache": 0}, id="cache-not-bool"),
        pytest.param({"pattern": "a/*", "force_cache": "yes"}, id="force-not-bool"),
    ],
)
def test_rules_invalid_rule_raises_configuration_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        URLRule(**kwargs)


def test_rules_options_url_rules_become_a_tuple() -> None:
    rules = [URLRule("a.test/*", ttl=5), URLRule(re.compile("b"), cache=False)]
    options = CacheOptions(url_rules=rules)
    assert options.url_rules == tuple(rules)
    assert isinstance(options.url_rules, tuple)
    assert CacheOptions().url_rules == ()


@pytest.mark.parametrize(
    "url_rules",
    [
        pytest.param({"a.test/*": 60}, id="mapping"),
        pytest.param("a.test/*", id="text"),
        pytest.param(["a.test/*"], id="glob-not-a-rule"),
        pytest.param([URLRule("a.test/*"), 60], id="number-not-a-rule"),
        pytest.param(60, id="not-a-sequence"),
    ],
)
def test_rules_options_invalid_url_rules_raise_configuration_error(url_rules: Any) -> None:
    with pytest.raises(ConfigurationError, match="url_rules"):
        CacheOptions(url_rules=url_rules)
