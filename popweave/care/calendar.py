"""Business days: weekdays that are not holidays; US federal holidays by default.

The federal holidays (5 U.S.C. 6103) are computed for any year, not listed per year: fixed
dates move to the Friday before when they fall on a Saturday and to the Monday after on a
Sunday (so New Year's Day 2022, a Saturday, is observed on Friday 31 December 2021);
Juneteenth counts from 2021. Other holidays are added with ``extra``; ``federal=False``
drops the federal ones.

>>> cal = BusinessCalendar()
>>> cal.add_business_days(dt.date(2025, 11, 26), 2)  # Thanksgiving is 27 November
datetime.date(2025, 12, 1)
>>> sorted(d.isoformat() for d in us_federal_holidays(2022))[:2]
['2021-12-31', '2022-01-17']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The ``n``-th ``weekday`` (Monday 0) of the month; ``n = -1`` for the last."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: dt.date) -> dt.date:
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


@lru_cache(maxsize=256)
def us_federal_holidays(year: int) -> frozenset[dt.date]:
    """The observed US federal holidays that fall in ``year`` (and the observed New Year's
    Day of ``year + 1`` when it falls on 31 December of ``year``)."""
    fixed = [(1, 1), (7, 4), (11, 11), (12, 25)]
    if year >= 2021:
        fixed.append((6, 19))
    days = {_observed(dt.date(year, m, d)) for m, d in fixed}
    days |= {
        _nth_weekday(year, 1, 0, 3),  # Birthday of Martin Luther King, Jr.
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _nth_weekday(year, 5, 0, -1),  # Memorial Day
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 10, 0, 2),  # Columbus Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving Day
    }
    days.add(_observed(dt.date(year + 1, 1, 1)))
    return frozenset(d for d in days if d.year == year)


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekdays (Monday to Friday) less the US federal holidays and ``extra`` dates."""

    extra: frozenset[dt.date] = field(default_factory=frozenset)
    federal: bool = True

    @classmethod
    def of(cls, extra: Iterable[dt.date | str] = (), *, federal: bool = True) -> BusinessCalendar:
        """A calendar with ``extra`` holidays (dates or ISO strings)."""
        days = frozenset(d if isinstance(d, dt.date) else dt.date.fromisoformat(d) for d in extra)
        return cls(days, federal)

    def is_holiday(self, day: dt.date) -> bool:
        return day in self.extra or (self.federal and day in us_federal_holidays(day.year))

    def is_business_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and not self.is_holiday(day)

    def add_business_days(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th business day after ``day`` (``day`` itself does not count)."""
        if n < 0:
            raise ValueError("n must not be negative")
        d = day
        while n > 0:
            d += dt.timedelta(days=1)
            if self.is_business_day(d):
                n -= 1
        return d

    def business_days_between(self, start: dt.date, end: dt.date) -> int:
        """Business days after ``start`` up to and including ``end``."""
        n, d = 0, start
        while d < end:
            d += dt.timedelta(days=1)
            n += self.is_business_day(d)
        return n
