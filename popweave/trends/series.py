"""A measure by month, quarter or year (and by group).

Measures counted per event (30-day readmission, follow-up and medication reconciliation after
discharge: one unit per stay, dated by its discharge) are computed once over the whole span
and each unit falls in the bin of its date. Measures per person (the clinical measures) and
rates per member-month are computed for each bin as their own period (``Period(bin start, bin
end)``): e.g. the quarter's HbA1c control is the last HbA1c in the quarter of people with
diabetes in the quarter. The bins are one union of Ibis expressions, counted in one query.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import numpy as np
import pandas as pd

from popweave.cohorts.data import Data, as_date
from popweave.cohorts.period import Period, shift
from popweave.equity.attributes import ATTRIBUTES, attributes
from popweave.equity.table import find_spec, is_count_rate
from popweave.errors import PopweaveError
from popweave.measures.intervals import rate_exact, wilson
from popweave.measures.spec import MeasureSpec

GRAINS = {"month": 1, "quarter": 3, "year": 12}


def bins(start: dt.date, end: dt.date, grain: str) -> list[Period]:
    """Calendar months, quarters or years from the one holding ``start`` to ``end``."""
    if grain not in GRAINS:
        raise PopweaveError(f"--by {grain!r}: expected one of {', '.join(GRAINS)}")
    step = GRAINS[grain]
    m0 = (start.month - 1) // step * step + 1
    cur = dt.date(start.year, m0, 1)
    out = []
    while cur <= end:
        nxt = shift(cur, months=step)
        out.append(Period(cur, nxt - dt.timedelta(days=1)))
        cur = nxt
    return out


def label(p: Period, grain: str) -> str:
    if grain == "year":
        return str(p.start.year)
    if grain == "quarter":
        return f"{p.start.year}-Q{(p.start.month - 1) // 3 + 1}"
    return f"{p.start.year}-{p.start.month:02d}"


def per_event(spec: MeasureSpec) -> bool:
    """Units are events dated by ``unit_date`` (stays, discharges), not people."""
    return spec.info.kind == "proportion" and spec.logic is not None


def data_span(data: Data) -> tuple[dt.date, dt.date]:
    """First and last day with an encounter."""
    e = data.encounter
    r = e.aggregate(lo=as_date(e.start_time).min(), hi=as_date(e.start_time).max()).execute()
    lo, hi = r["lo"].iloc[0], r["hi"].iloc[0]
    if lo is None or pd.isna(lo):
        raise PopweaveError("the warehouse holds no encounters: nothing to trend")
    return pd.Timestamp(lo).date(), pd.Timestamp(hi).date()


def _rows(spec: MeasureSpec, data: Data, period: Period) -> Any:
    from popweave.measures.run import outcome_rows

    return outcome_rows(spec, data, period)


def series(
    source: Any,
    measure: str | MeasureSpec,
    by: str = "quarter",
    group: str | None = None,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """``measure`` per ``by`` (month, quarter, year), optionally per ``group`` (an equity
    attribute, on the span's last day).

    Returns one row per (bin, group): ``period`` label, ``start``, ``end``, ``group``,
    ``units``, ``numerator``, ``denominator``, ``rate`` with its 95% interval (Wilson or
    Garwood, as the measures), and ``partial`` (a bin the data or the measure's follow-up
    window does not cover fully). Default span: the data's first to last month of
    encounters, cut to whole bins.
    """
    spec = measure if isinstance(measure, MeasureSpec) else find_spec(measure)
    data = source if isinstance(source, Data) else Data.of(source)
    if group is not None and group not in ATTRIBUTES:
        raise PopweaveError(f"cannot group by {group}; attributes: {', '.join(ATTRIBUTES)}")
    lo, hi = data_span(data)
    s, e = start or lo, end or hi
    bs = bins(s, e, by)
    cutoff = hi
    if per_event(spec):
        window = int(spec.info.params.get("window_days", 30))
        cutoff = hi - dt.timedelta(days=window)
        whole = Period(bs[0].start, min(bs[-1].end + dt.timedelta(days=window), hi))
        rows = _rows(spec, data, whole)
        keys = [rows.unit_date.between(b.start, b.end) for b in bs]
        which = ibis.cases(*[(k, label(b, by)) for k, b in zip(keys, bs, strict=True)], else_=None)
        rows = rows.mutate(period=which).filter(lambda t: t.period.notnull())
    else:
        parts = [_rows(spec, data, b).mutate(period=ibis.literal(label(b, by))) for b in bs]
        rows = parts[0]
        for p in parts[1:]:
            rows = rows.union(p, distinct=False)
    keys = ["period"]
    if group is not None:
        attrs = attributes(data, Period(bs[0].start, bs[-1].end), [group])
        rows = rows.left_join(attrs, "person_id").select(
            rows.period, rows.y, rows.n, group=attrs[group].fill_null("unknown")
        )
        keys.append("group")
    agg = rows.group_by(keys).aggregate(
        units=rows.count(), numerator=rows.y.sum(), denominator=rows.n.sum()
    )
    df: pd.DataFrame = agg.execute()
    if group is None:
        df["group"] = "all"
    meta = pd.DataFrame(
        {
            "period": [label(b, by) for b in bs],
            "start": [b.start for b in bs],
            "end": [b.end for b in bs],
            "partial": [b.end > cutoff or b.start < lo for b in bs],
        }
    )
    df = meta.merge(df, on="period", how="inner")
    df = df.sort_values(["group", "start"]).reset_index(drop=True)
    num = df["numerator"].to_numpy(dtype=np.float64)
    den = df["denominator"].to_numpy(dtype=np.float64)
    per = spec.info.per
    with np.errstate(invalid="ignore", divide="ignore"):
        df["rate"] = np.where(den > 0, num / den, np.nan) * per
    if spec.info.kind == "proportion":
        lo_, hi_ = wilson(num, den, level)
        df["lower"], df["upper"] = lo_ * per, hi_ * per
    elif is_count_rate(spec):
        df["lower"], df["upper"] = rate_exact(num, den, per, level)
    else:
        df["lower"] = df["upper"] = np.nan
    df["measure"] = spec.id
    cols = ["measure", "period", "start", "end", "group", "units", "numerator", "denominator",
            "rate", "lower", "upper", "partial"]  # fmt: skip
    out: pd.DataFrame = df[cols]
    return out
