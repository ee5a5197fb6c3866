"""Aggregates for managers and analysts: measure rates with intervals (cells with a
denominator under 11 suppressed) and population overview counts. No patient rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from popweave.api.services._access import audit_aggregate
from popweave.api.warehouse import Warehouse
from popweave.care import aggregates
from popweave.care.aggregates import MIN_CELL
from popweave.care.store import CareStore
from popweave.measures.run import GAP_TABLE, RESULT_TABLE
from popweave.outreach.worklist import RISK_TABLE, TIERS, WORKLIST_TABLE
from popweave.security.policy import Actor


@dataclass(frozen=True)
class MeasureRow:
    period: str
    measure: str
    title: str
    kind: str
    stratifier: str
    stratum: str
    denominator: float | None
    numerator: float | None
    rate: float | None
    lower: float | None
    upper: float | None
    higher_is_better: bool | None
    suppressed: bool


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def measure_rates(
    store: CareStore,
    wh: Warehouse,
    *,
    actor: Actor,
    reason: str,
    period: str | None = None,
    stratifier: str = "all",
    measure: str | None = None,
) -> list[MeasureRow]:
    """Rates of the latest (or given) period by ``stratifier``; small cells suppressed."""
    audit_aggregate(
        store, actor, op="measure_rates", reason=reason, detail=f"{period} {stratifier}"
    )
    if not wh.has_table(RESULT_TABLE):
        return []
    t = wh.table(RESULT_TABLE)
    if period is None:
        last = wh.execute(t.aggregate(p=t.period.max()))["p"].iloc[0]
        if last is None or pd.isna(last):
            return []
        period = str(last)
    t = t.filter((t.period == period) & (t.stratifier == stratifier))
    if measure is not None:
        t = t.filter(t.measure == measure)
    df = wh.execute(t.order_by([t.measure, t.stratum]))
    out = []
    for r in df.to_dict("records"):
        den = _num(r["denominator"])
        small = r["kind"] == "proportion" and den is not None and den < MIN_CELL
        out.append(
            MeasureRow(
                str(r["period"]),
                str(r["measure"]),
                str(r["title"]),
                str(r["kind"]),
                str(r["stratifier"]),
                str(r["stratum"]),
                None if small else den,
                None if small else _num(r["numerator"]),
                None if small else _num(r["rate"]),
                None if small else _num(r["lower"]),
                None if small else _num(r["upper"]),
                None if r["higher_is_better"] is None else bool(r["higher_is_better"]),
                small,
            )
        )
    return out


@dataclass(frozen=True)
class Overview:
    people: int
    living: int
    tiers: dict[str, int]
    open_gaps: int
    gap_people: int
    worklist: int
    tasks: list[aggregates.Cell]
    referrals: list[aggregates.Cell]


def population_overview(store: CareStore, wh: Warehouse, *, actor: Actor, reason: str) -> Overview:
    """Population counts, risk tiers, open care gaps, the worklist and care-store counts."""
    audit_aggregate(store, actor, op="population_overview", reason=reason, detail="")
    p = wh.table("person")
    c = wh.execute(p.aggregate(n=p.count(), living=p.death_date.isnull().sum()))
    tiers: dict[str, int] = {}
    if wh.has_table(RISK_TABLE):
        r = wh.table(RISK_TABLE)
        r = r.filter(r.index_date == r.index_date.max())
        got = wh.execute(r.group_by("tier").aggregate(n=r.count()))
        counts = dict(zip(got["tier"], got["n"], strict=True))
        tiers = {k: int(counts.get(k, 0)) for k in TIERS}
    gaps = people = 0
    if wh.has_table(GAP_TABLE):
        g = wh.table(GAP_TABLE)
        g = g.filter(g.period == g.period.max())
        x = wh.execute(g.aggregate(n=g.count(), p=g.person_id.nunique()))
        gaps, people = int(x["n"].iloc[0]), int(x["p"].iloc[0])
    wl = 0
    if wh.has_table(WORKLIST_TABLE):
        w = wh.table(WORKLIST_TABLE)
        w = w.filter(w.as_of == w.as_of.max())
        wl = int(wh.execute(w.aggregate(n=w.count()))["n"].iloc[0])
    return Overview(
        int(c["n"].iloc[0]),
        int(c["living"].iloc[0] or 0),
        tiers,
        gaps,
        people,
        wl,
        aggregates.task_counts(store, actor=actor),
        aggregates.referral_counts(store, actor=actor),
    )
