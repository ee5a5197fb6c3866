"""Business days and the computed US federal holidays (against OPM's published lists)."""

from __future__ import annotations

import datetime as dt

import pytest

from popweave.care.calendar import BusinessCalendar, us_federal_holidays

D = dt.date

# OPM, "Federal Holidays" (opm.gov/policy-data-oversight/pay-leave/federal-holidays).
OPM = {
    2021: [
        D(2021, 1, 1), D(2021, 1, 18), D(2021, 2, 15), D(2021, 5, 31), D(2021, 6, 18),
        D(2021, 7, 5), D(2021, 9, 6), D(2021, 10, 11), D(2021, 11, 11), D(2021, 11, 25),
        D(2021, 12, 24), D(2021, 12, 31),
    ],
    2023: [
        D(2023, 1, 2), D(2023, 1, 16), D(2023, 2, 20), D(2023, 5, 29), D(2023, 6, 19),
        D(2023, 7, 4), D(2023, 9, 4), D(2023, 10, 9), D(2023, 11, 10), D(2023, 11, 23),
        D(2023, 12, 25),
    ],
    2025: [
        D(2025, 1, 1), D(2025, 1, 20), D(2025, 2, 17), D(2025, 5, 26), D(2025, 6, 19),
        D(2025, 7, 4), D(2025, 9, 1), D(2025, 10, 13), D(2025, 11, 11), D(2025, 11, 27),
        D(2025, 12, 25),
    ],
    2026: [
        D(2026, 1, 1), D(2026, 1, 19), D(2026, 2, 16), D(2026, 5, 25), D(2026, 6, 19),
        D(2026, 7, 3), D(2026, 9, 7), D(2026, 10, 12), D(2026, 11, 11), D(2026, 11, 26),
        D(2026, 12, 25),
    ],
}  # fmt: skip


@pytest.mark.parametrize("year", sorted(OPM))
def test_federal_holidays_match_opm(year: int) -> None:
    assert sorted(us_federal_holidays(year)) == OPM[year]


def test_juneteenth_only_from_2021() -> None:
    assert D(2020, 6, 19) not in us_federal_holidays(2020)
    assert len(us_federal_holidays(2019)) == 10


def test_two_business_days_skip_weekends_and_holidays() -> None:
    cal = BusinessCalendar()
    assert cal.add_business_days(D(2025, 3, 5), 2) == D(2025, 3, 7)  # Wed -> Fri
    assert cal.add_business_days(D(2025, 3, 6), 2) == D(2025, 3, 10)  # Thu -> Mon
    assert cal.add_business_days(D(2025, 3, 8), 2) == D(2025, 3, 11)  # Sat -> Tue
    assert cal.add_business_days(D(2025, 12, 24), 2) == D(2025, 12, 29)  # over Christmas
    assert cal.add_business_days(D(2025, 12, 31), 0) == D(2025, 12, 31)


def test_holidays_are_configurable() -> None:
    extra = BusinessCalendar.of(["2025-03-07"])
    assert extra.add_business_days(D(2025, 3, 5), 2) == D(2025, 3, 10)
    plain = BusinessCalendar.of(federal=False)
    assert plain.add_business_days(D(2025, 12, 24), 2) == D(2025, 12, 26)
    assert plain.business_days_between(D(2025, 12, 24), D(2025, 12, 29)) == 3
    with pytest.raises(ValueError):
        plain.add_business_days(D(2025, 1, 1), -1)
