"""Coverage from enrolment spans: continuous enrolment and member-months.

Overlapping or adjacent spans (two payers at once, back-to-back plans) are merged first, so
coverage is counted once per day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis

from popweave.cohorts.data import Data
from popweave.cohorts.period import Period


def covered_spans(data: Data, period: Period, payers: list[str] | None = None) -> Any:
    """Merged coverage islands clipped to the period: ``(person_id, start, end)``."""
    e = data.enrollment
    if payers:
        e = e.filter(e.payer.isin(payers))
    s = ibis.greatest(e.start_date, ibis.literal(period.start))
    t = ibis.least(e.end_date.fill_null(period.end), ibis.literal(period.end))
    clipped = e.select(person_id=e.person_id, s=s, t=t).filter(lambda x: x.s <= x.t)
    w = ibis.window(group_by="person_id", order_by=["s", "t"], rows=(None, -1))
    prev_end = clipped.t.max().over(w)
    flagged = clipped.mutate(
        new=(prev_end.isnull() | (clipped.s > prev_end + ibis.interval(days=1))).cast("int64")
    )
    w2 = ibis.window(group_by="person_id", order_by=["s", "t"], rows=(None, 0))
    islands = flagged.mutate(island=flagged.new.sum().over(w2))
    return islands.group_by(["person_id", "island"]).aggregate(
        start=islands.s.min(), end=islands.t.max()
    )


def continuously_enrolled(
    data: Data,
    period: Period,
    *,
    max_gaps: int = 1,
    max_gap_days: int = 45,
    anchor: dt.date | None = None,
    payers: list[str] | None = None,
) -> Any:
    """People covered on ``anchor`` (default: the period's end) with at most ``max_gaps``
    gaps of at most ``max_gap_days`` each within the period (HEDIS MY2024 General
    Guideline 11: one gap of up to 45 days)."""
    spans = covered_spans(data, period, payers)
    w = ibis.window(group_by="person_id", order_by="start")
    prev = spans.end.lag().over(w)
    gap_before = ibis.cases(
        (prev.isnull(), spans.start.delta(ibis.literal(period.start), unit="day")),
        else_=spans.start.delta(prev, unit="day") - 1,
    )
    g = spans.mutate(gap=gap_before)
    per = g.group_by("person_id").aggregate(
        gaps=(g.gap > 0).cast("int64").sum(),
        longest=g.gap.max(),
        last_end=g.end.max(),
    )
    trailing = ibis.literal(period.end).delta(per.last_end, unit="day")
    per = per.mutate(
        gaps=per.gaps + (trailing > 0).cast("int64"),
        longest=ibis.greatest(per.longest, trailing),
    )
    day = anchor or period.end
    anchored = spans.filter((spans.start <= day) & (spans.end >= day)).select("person_id")
    ok = per.filter((per.gaps <= max_gaps) & (per.longest <= max_gap_days)).select("person_id")
    return ok.semi_join(anchored, "person_id").distinct()


def member_months(data: Data, period: Period, payers: list[str] | None = None) -> Any:
    """``(person_id, member_months)``: months of the period with coverage on the first day
    (HEDIS utilisation measures count members enrolled on the first of the month)."""
    spans = covered_spans(data, period, payers)
    months = (
        (spans.end.year() * 12 + spans.end.month())
        - (spans.start.year() * 12 + spans.start.month())
        + (spans.start.day() == 1).cast("int64")
    )
    m = spans.mutate(mm=months)
    return m.group_by("person_id").aggregate(member_months=m.mm.sum())


def payer_on(data: Data, day: dt.date) -> Any:
    """``(person_id, payer)``: the payer covering each person on ``day`` (one per person)."""
    e = data.enrollment
    on = e.filter((e.start_date <= day) & (e.end_date.isnull() | (e.end_date >= day)))
    return on.group_by("person_id").aggregate(payer=on.payer.min())
