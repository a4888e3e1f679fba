"""When an alert is due: pure functions of days left and thresholds (no database, no clock).

Days left are counted in calendar days in the portal's time zone (Europe/Paris):
a certificate whose end falls on 12/01/2027 at any hour has 0 days left on
that date, 1 on 11/01, -7 on 19/01. The scan passes `today` explicitly. The end is the
certificate's `usable_until` (an ORG SIGN's key stops a month before its notAfter).

Thresholds are "days before the end": 30, 15, 7, 1, 0 (end day) plus the
editor's extra ones, then -7, -14, ... (weekly reminders after expiry).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from django.utils import timezone

from notifications.models import (
    DEFAULT_THRESHOLDS,
    MANDATORY_THRESHOLD,
    MAX_EXTRA_THRESHOLDS,
    MAX_THRESHOLD_DAYS,
    WEEKLY_STEP,
)


class PolicyError(ValueError):
    """An invalid extra threshold (message in English for logs; views show their own text)."""


def clean_extra_thresholds(values: Iterable[int | str]) -> list[int]:
    """Validate and normalise extra thresholds: whole days in 1..365, at most 10, no defaults."""
    cleaned: set[int] = set()
    for raw in values:
        try:
            value = int(str(raw).strip())
        except (TypeError, ValueError):
            raise PolicyError(f"not a whole number of days: {raw!r}") from None
        if not 1 <= value <= MAX_THRESHOLD_DAYS:
            raise PolicyError(f"out of range 1..{MAX_THRESHOLD_DAYS}: {value}")
        if value not in DEFAULT_THRESHOLDS:
            cleaned.add(value)
    if len(cleaned) > MAX_EXTRA_THRESHOLDS:
        raise PolicyError(f"at most {MAX_EXTRA_THRESHOLDS} extra thresholds")
    return sorted(cleaned, reverse=True)


def policy_thresholds(extra: Iterable[int] | None = None) -> list[int]:
    """Defaults plus extras, most distant first; the 30-day notice is always there."""
    values = set(DEFAULT_THRESHOLDS) | {MANDATORY_THRESHOLD}
    for value in extra or ():
        if isinstance(value, int) and 1 <= value <= MAX_THRESHOLD_DAYS:
            values.add(value)
    return sorted(values, reverse=True)


def days_left(usable_until: datetime, today: date) -> int:
    """Calendar days from `today` to the local date of the certificate's end (`usable_until`),
    negative once it is past."""
    return (timezone.localdate(usable_until) - today).days


def due_thresholds(left: int, thresholds: Iterable[int], *, weekly: bool = True) -> list[int]:
    """Every threshold reached at `left` days: policy ones, then weekly ones after expiry.

    Sorted most urgent (smallest) first. Weekly thresholds before the most urgent one are
    not listed: only the latest weekly reminder can matter.
    """
    due = sorted(t for t in thresholds if left <= t)
    if weekly and left <= -WEEKLY_STEP:
        due.insert(0, -WEEKLY_STEP * (-left // WEEKLY_STEP))
    return due


def most_urgent(left: int, thresholds: Iterable[int], *, weekly: bool = True) -> int | None:
    """The threshold an alert is sent for at `left` days (None: nothing is due yet)."""
    due = due_thresholds(left, thresholds, weekly=weekly)
    return due[0] if due else None


def is_weekly(threshold: int) -> bool:
    return threshold < 0
