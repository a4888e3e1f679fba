"""Thresholds as pure functions: which alert is due at N days left (no database, no clock)."""

from datetime import UTC, date, datetime

import pytest

from notifications.policy import (
    PolicyError,
    clean_extra_thresholds,
    days_left,
    due_thresholds,
    most_urgent,
    policy_thresholds,
)

DEFAULT = policy_thresholds()


def test_defaults_and_the_mandatory_one_month_notice():
    assert DEFAULT == [30, 15, 7, 1, 0]
    assert policy_thresholds([90, 60]) == [90, 60, 30, 15, 7, 1, 0]
    # Garbage stored in the JSON column never removes or corrupts the defaults.
    assert policy_thresholds(["x", -3, 0, 9999, None]) == DEFAULT


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (45, None),
        (31, None),
        (30, 30),
        (29, 30),
        (16, 30),
        (15, 15),
        (8, 15),
        (7, 7),
        (2, 7),
        (1, 1),
        (0, 0),
        (-1, 0),
        (-6, 0),
        (-7, -7),
        (-13, -7),
        (-14, -14),
        (-20, -14),
        (-21, -21),
        (-700, -700),
        (-701, -700),
    ],
)
def test_most_urgent_due_threshold(left, expected):
    assert most_urgent(left, DEFAULT) == expected


def test_due_lists_every_reached_threshold_most_urgent_first():
    assert due_thresholds(6, DEFAULT) == [7, 15, 30]
    assert due_thresholds(-15, DEFAULT) == [-14, 0, 1, 7, 15, 30]
    assert due_thresholds(-15, DEFAULT, weekly=False) == [0, 1, 7, 15, 30]
    assert due_thresholds(50, [60, *DEFAULT]) == [60]


def test_days_left_counts_local_calendar_days():
    today = date(2027, 1, 4)
    # 23:30 UTC on the 4th is 00:30 on the 5th in Paris: one day left, not zero.
    assert days_left(datetime(2027, 1, 4, 23, 30, tzinfo=UTC), today) == 1
    assert days_left(datetime(2027, 1, 4, 22, 59, tzinfo=UTC), today) == 0
    # Summer time: 22:30 UTC on 1 July is already 2 July in Paris.
    assert days_left(datetime(2027, 7, 1, 22, 30, tzinfo=UTC), date(2027, 6, 30)) == 2
    assert days_left(datetime(2026, 12, 28, 12, 0, tzinfo=UTC), today) == -7


def test_extra_thresholds_are_validated():
    assert clean_extra_thresholds(["60", " 90", 45, 30, 7]) == [90, 60, 45]
    for bad in (["0"], ["-5"], ["366"], ["abc"], ["1.5"], [str(n) for n in range(40, 52)]):
        with pytest.raises(PolicyError):
            clean_extra_thresholds(bad)
