"""Age calculation: checklist section 4 (A rows), RFC 9111 §4, §4.2.3, §5.1."""

from __future__ import annotations

import pytest

from tests.policy.scenario import T0, Scenario, http_date, respond


def test_age_entry_records_request_and_response_time() -> None:
    """A-1, 9111 §4.2.3: an entry keeps the clock readings at send and at receipt."""
    cache = Scenario()
    cache.fetch(at=100, delay=2, origin=respond(200, {"Cache-Control": "max-age=60"}))
    (entry,) = cache.stored()
    assert entry.request_time == T0 + 100
    assert entry.response_time == T0 + 102


@pytest.mark.parametrize(
    "age",
    [
        pytest.param(None, id="A-2 no Age header"),
        pytest.param("abc", id="A-2 invalid Age ignored"),
        pytest.param("-5", id="A-2 negative Age ignored"),
    ],
)
def test_age_value_absent_or_ignored_counts_zero(age: str | None) -> None:
    """A-2, 9111 §4.2.3: age_value is 0 when Age is absent or ignored."""
    headers = {"Cache-Control": "max-age=60"}
    if age is not None:
        headers["Age"] = age
    cache = Scenario()
    cache.fetch(origin=respond(200, headers))
    outcome = cache.fetch(at=59)
    assert outcome.kind == "hit"
    assert outcome.headers_named("age") == ["59"]


def test_age_future_date_apparent_age_zero() -> None:
    """A-3, 9111 §4.2.3: apparent_age = max(0, response_time - date_value), never negative."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=60", "Date": http_date(3600)}))
    outcome = cache.fetch(at=30)
    assert outcome.kind == "hit"
    assert outcome.header("age") == "30"


def test_age_past_date_counts_as_apparent_age() -> None:
    """A-3, 9111 §4.2.3: a Date 40 s before receipt gives apparent_age 40."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=60", "Date": http_date(-40)}))
    outcome = cache.fetch(at=10)
    assert outcome.kind == "hit"
    assert outcome.header("age") == "50"


@pytest.mark.parametrize(
    ("at", "hit", "age"),
    [
        pytest.param(6, True, "16", id="A-4 t=6 age 16 fresh"),
        pytest.param(10, False, None, id="A-4 t=10 age 20 stale"),
    ],
)
def test_age_received_age_corrected_by_response_delay(
    at: float, hit: bool, age: str | None
) -> None:
    """A-4, 9111 §4.2.3: corrected_age_value = age_value + (response_time - request_time)."""
    cache = Scenario()
    # Sent at t=0, received at t=5 with Age: 10 and Date = t=5 (the harness dates it).
    cache.fetch(delay=5, origin=respond(200, {"Cache-Control": "max-age=20", "Age": "10"}))
    outcome = cache.fetch(at=at)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit
    if hit:
        assert outcome.header("age") == age


@pytest.mark.parametrize(
    ("date", "hit", "age"),
    [
        pytest.param(-100, False, None, id="A-5 apparent age 100 beats Age 10"),
        pytest.param(-5, True, "10", id="A-5 Age 10 beats apparent age 5"),
    ],
)
def test_age_initial_age_is_max_of_apparent_and_corrected(
    date: float, hit: bool, age: str | None
) -> None:
    """A-5, 9111 §4.2.3: corrected_initial_age = max(apparent_age, corrected_age_value)."""
    cache = Scenario()
    cache.fetch(
        origin=respond(200, {"Cache-Control": "max-age=60", "Age": "10", "Date": http_date(date)})
    )
    outcome = cache.fetch(at=0)
    assert outcome.hit is hit
    assert outcome.contacted_origin is not hit
    if hit:
        assert outcome.header("age") == age


def test_age_current_age_adds_resident_time() -> None:
    """A-6, 9111 §4.2.3: current_age = corrected_initial_age + (now - response_time).

    Initial age 15 (Age 10 + 5 s delay), response_time 5, now 35: current age 45.
    """
    cache = Scenario()
    cache.fetch(delay=5, origin=respond(200, {"Cache-Control": "max-age=60", "Age": "10"}))
    outcome = cache.fetch(at=35)
    assert outcome.kind == "hit"
    assert outcome.header("age") == "45"


@pytest.mark.parametrize(
    "age",
    [pytest.param("100", id="A-7 Age over max-age"), pytest.param("60", id="A-7 Age = max-age")],
)
def test_age_received_age_counts_against_freshness(age: str) -> None:
    """A-7, 9111 §4.2.3: a response arriving with Age >= max-age is already stale."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=60", "Age": age}))
    outcome = cache.fetch(at=1)
    assert outcome.kind == "forwarded"
    assert len(outcome.sent) == 1


@pytest.mark.parametrize(
    "ages",
    [
        pytest.param(["10"], id="A-8 one stored Age"),
        pytest.param(["10", "20"], id="A-8 two stored Age lines"),
    ],
)
def test_age_served_response_carries_current_age(ages: list[str]) -> None:
    """A-8, 9111 §4: a response served from storage carries one Age equal to current_age."""
    cache = Scenario()
    cache.fetch(origin=respond(200, [("Cache-Control", "max-age=60")] + [("Age", a) for a in ages]))
    outcome = cache.fetch(at=5)
    assert outcome.kind == "hit"
    assert outcome.headers_named("age") == ["15"]


def test_age_stale_served_with_max_stale_carries_current_age() -> None:
    """A-8, 9111 §4: a stale response served under max-stale carries the current age too."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=60", "Age": "10"}))
    outcome = cache.fetch(at=70, headers={"Cache-Control": "max-stale=100"})
    assert outcome.kind == "hit"
    assert outcome.headers_named("age") == ["80"]


def test_age_stale_served_on_error_carries_current_age() -> None:
    """A-8, 9111 §4: a stale response served for an origin error carries the current age."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=10, stale-if-error=60", "Age": "5"}))
    outcome = cache.fetch(at=30, origin=respond(503, {}))
    assert outcome.kind == "stale-on-error"
    assert outcome.status == 200
    assert outcome.headers_named("age") == ["35"]


def test_age_fractional_current_age_truncated() -> None:
    """A-9, 9111 §5.1, §1.2.2: Age is whole delta-seconds, truncated (14.7 -> 14)."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=60"}))
    outcome = cache.fetch(at=14.7)
    assert outcome.kind == "hit"
    assert outcome.header("age") == "14"


def test_age_huge_age_capped_at_delta_seconds_limit() -> None:
    """A-9, 9111 §1.2.2: an emitted Age is at most 2147483648."""
    cache = Scenario()
    # Stale on arrival; the ETag makes it worth storing (choices table).
    cache.fetch(
        origin=respond(200, {"Cache-Control": "max-age=60", "Age": "99999999999", "ETag": '"a"'})
    )
    outcome = cache.fetch(at=100, headers={"Cache-Control": "max-stale"})
    assert outcome.kind == "hit"
    assert outcome.header("age") == "2147483648"


@pytest.mark.parametrize(
    ("stored_age", "not_modified_age", "age"),
    [
        pytest.param(None, None, "5", id="A-10 304 restarts the age"),
        pytest.param("7", None, "5", id="A-10 stale stored Age dropped"),
        pytest.param(None, "3", "8", id="A-10 Age of the 304 counts"),
    ],
)
def test_age_counts_from_last_validation(
    stored_age: str | None, not_modified_age: str | None, age: str
) -> None:
    """A-10, 9111 §4.2.3, §4.3.4: after a 304, times, Date and Age come from that exchange."""
    first = {"Cache-Control": "max-age=10", "ETag": '"a"'}
    if stored_age is not None:
        first["Age"] = stored_age
    update = {"Cache-Control": "max-age=10", "ETag": '"a"'}
    if not_modified_age is not None:
        update["Age"] = not_modified_age
    cache = Scenario()
    cache.fetch(origin=respond(200, first))
    revalidated = cache.fetch(at=100, origin=respond(304, update))
    assert revalidated.kind == "revalidated"
    assert revalidated.status == 200
    assert revalidated.headers_named("date") == [http_date(100)]
    outcome = cache.fetch(at=105)
    assert outcome.kind == "hit"
    assert outcome.headers_named("age") == [age]
    assert outcome.headers_named("date") == [http_date(100)]


@pytest.mark.parametrize(
    "date",
    [pytest.param(0, id="A-11 Date at receipt"), pytest.param(-1000, id="A-11 older origin Date")],
)
def test_age_stored_date_served_unchanged(date: float) -> None:
    """A-11, 9110 §6.6.1, 9111 §4.2.3: the stored Date is served unchanged; Age carries time."""
    cache = Scenario()
    cache.fetch(origin=respond(200, {"Cache-Control": "max-age=2000", "Date": http_date(date)}))
    outcome = cache.fetch(at=30)
    assert outcome.kind == "hit"
    assert outcome.headers_named("date") == [http_date(date)]
    assert outcome.header("age") == str(30 - date)
