"""The units of an outcome measure, each marked treated (in the programme's population) or
comparison, and before or after the programme's start. Built in the engine (Ibis)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis

from popweave.cohorts.data import Data
from popweave.cohorts.deprivation import area_deprivation
from popweave.cohorts.period import Period
from popweave.equity.table import find_spec
from popweave.errors import PopweaveError
from popweave.measures.spec import MeasureSpec
from popweave.trends.series import data_span, per_event


@dataclass
class Programme:
    """Who a programme serves and from when: ``areas`` (home areas) or ``people`` (an Ibis
    table with ``person_id``, e.g. a stored cohort), and its ``start`` date. ``comparison``:
    ``"same_quintile"`` (default: people in other areas of the programme areas' deprivation
    quintiles, or everyone else if that leaves nobody) or ``"all"`` (everyone else)."""

    start: dt.date
    areas: list[str] = field(default_factory=list)
    people: Any = None
    comparison: str = "same_quintile"
    name: str = ""

    def describe(self) -> str:
        who = f"area {', '.join(self.areas)}" if self.areas else f"cohort {self.name or '?'}"
        return f"programme in {who} from {self.start.isoformat()}"


@dataclass
class Outcome:
    """The outcome's units over the span: ``rows`` (person_id, unit_date, y, n, treated,
    post) and what they are."""

    spec: MeasureSpec
    span: Period
    rows: Any
    cutoff: dt.date


def outcome_units(data: Data, programme: Programme, outcome: str | MeasureSpec) -> Outcome:
    """Per-event proportion outcomes (readmission, follow-up): every unit from the first
    day of data to the last it can be followed up."""
    from popweave.measures.run import units

    spec = outcome if isinstance(outcome, MeasureSpec) else find_spec(outcome)
    if not per_event(spec):
        raise PopweaveError(
            f"outcome {spec.id}: evaluation needs a measure counted per event with a date "
            "(readmission_30d, followup_7d, followup_30d, med_rec_post_discharge)"
        )
    if not programme.areas and programme.people is None:
        raise PopweaveError("say who the programme serves: --area AREA or --cohort NAME")
    lo, hi = data_span(data)
    if not lo < programme.start <= hi:
        raise PopweaveError(f"programme start {programme.start} is outside the data ({lo} to {hi})")
    span = Period(dt.date(lo.year, lo.month, 1), hi)
    window = int(spec.info.params.get("window_days", 30))
    r = units(spec, data, span)
    r = r.filter(~r.excluded)
    p = data.person
    if programme.areas:
        known = set(p.select("area_id").distinct().execute()["area_id"].astype(str))
        missing = sorted(set(programme.areas) - known)
        if missing:
            raise PopweaveError(
                f"no people live in area {', '.join(missing)}; areas: "
                + ", ".join(sorted(known, key=lambda a: (len(a), a))[:20])
            )
        treated_ids = p.filter(p.area_id.isin(programme.areas)).select("person_id")
        pool = p
        if programme.comparison == "same_quintile":
            dep = area_deprivation(data)
            qs = dep.filter(dep.area_id.isin(programme.areas)).select("deprivation_quintile")
            same = dep.filter(
                dep.deprivation_quintile.isin(qs.deprivation_quintile)
                & ~dep.area_id.isin(programme.areas)
            )
            if int(same.count().execute()) > 0:
                pool = p.filter(p.area_id.isin(same.area_id))
        comparison_ids = pool.filter(~pool.area_id.isin(programme.areas)).select("person_id")
    else:
        treated_ids = programme.people.select("person_id").distinct()
        comparison_ids = p.select("person_id").anti_join(treated_ids, "person_id")
    t = treated_ids.mutate(treated=ibis.literal(1))
    c = comparison_ids.mutate(treated=ibis.literal(0))
    who = t.union(c, distinct=False)
    rows = r.join(who, "person_id").select(
        person_id=r.person_id,
        unit_date=r.unit_date,
        y=r.numerator.cast("float64"),
        n=ibis.literal(1.0),
        treated=who.treated,
        post=(r.unit_date >= programme.start).cast("int64"),
    )
    return Outcome(spec, span, rows, hi - dt.timedelta(days=window))
