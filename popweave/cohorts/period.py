"""Measurement periods and look-back durations ("2y", "27m", "90d")."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

_DURATION = re.compile(r"^\s*(\d+)\s*([ymd])\s*$")


@dataclass(frozen=True)
class Period:
    """A closed date range [start, end]; measures use calendar years."""

    start: dt.date
    end: dt.date

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(dt.date(year, 1, 1), dt.date(year, 12, 31))

    @classmethod
    def parse(cls, text: str | int) -> Period:
        """``2025`` or ``2025-01-01..2025-06-30``."""
        s = str(text).strip()
        if re.fullmatch(r"\d{4}", s):
            return cls.year(int(s))
        start, sep, end = s.partition("..")
        if not sep:
            raise ValueError(f"period {s!r}: expected a year (2025) or START..END dates")
        p = cls(dt.date.fromisoformat(start.strip()), dt.date.fromisoformat(end.strip()))
        if p.end < p.start:
            raise ValueError(f"period {s!r}: end before start")
        return p

    def __str__(self) -> str:
        if (
            self.start.month == 1
            and self.start.day == 1
            and self.end == dt.date(self.start.year, 12, 31)
        ):
            return str(self.start.year)
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def shift(day: dt.date, *, years: int = 0, months: int = 0, days: int = 0) -> dt.date:
    """``day`` moved by calendar years/months (clamped to the month's end) and days."""
    m = day.year * 12 + (day.month - 1) + years * 12 + months
    y, mo = divmod(m, 12)
    last = calendar.monthrange(y, mo + 1)[1]
    return dt.date(y, mo + 1, min(day.day, last)) + dt.timedelta(days=days)


def parse_duration(text: str) -> tuple[int, str]:
    """``"2y"`` -> (2, "y"); units y(ears), m(onths), d(ays)."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"duration {text!r}: expected a number and a unit y, m or d (e.g. 2y)")
    return int(m.group(1)), m.group(2)


def lookback_start(anchor: dt.date, text: str) -> dt.date:
    """First day of a look-back of ``text`` ending on ``anchor`` (inclusive).

    ``lookback_start(2025-12-31, "1y")`` is 2025-01-01; ``"27m"`` gives 2023-10-01.
    """
    n, unit = parse_duration(text)
    if unit == "d":
        return anchor - dt.timedelta(days=n - 1)
    nxt = anchor + dt.timedelta(days=1)
    return shift(nxt, years=-n) if unit == "y" else shift(nxt, months=-n)
