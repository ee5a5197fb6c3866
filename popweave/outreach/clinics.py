"""Which clinics should get another coordinator or longer hours: need by area against
capacity, ranked in one currency (worklist priority points), each with its reason.

Per practice, from its patients on the worklist (:func:`~popweave.outreach.worklist.worklist_expr`):

- **add a coordinator** -- score: the priority of the patients an extra coordinator would
  reach. The practice's worklist is ranked by priority; its coordinators' places
  (``coordinator_capacity``) cover the first ranks, and one more coordinator (the practice's
  caseload per coordinator, or ``default_caseload``) the next ones. The score is the sum of
  their priorities.
- **add evening hours** (a practice without them) or **extend weekly hours** (a practice
  with evening hours but fewer weekly hours than the city's median) -- score: the priority
  of its worklist patients facing an access barrier (a positive transport answer, or home
  in the most deprived quintile of areas, ``popweave.cohorts.area_deprivation``), times
  ``evening_reach`` (the share of them expected to use the new hours: an assumption, 0.25 by
  default, to be replaced by a clinic's own figure), and times ``extend_factor`` more for
  longer weekly hours; 0 otherwise. Both scores are in priority points so that they rank
  in one list; the coordinator's is a count of patients reached, the hours' an estimate.

The reason names the figures: patients and priority on the list, places, the share of
households without a vehicle and the deprivation quintile of the practice's area.
"""

from __future__ import annotations

from typing import Any

import ibis

from popweave.cohorts.data import Data
from popweave.cohorts.deprivation import area_deprivation
from popweave.outreach.worklist import worklist_expr

CLINIC_TABLE = "outreach_clinic"
DEFAULT_CASELOAD = 150
EVENING_REACH = 0.25
EXTEND_FACTOR = 0.5
MOST_DEPRIVED = 5


def _fmt(x: Any) -> Any:
    """A whole number as text."""
    return x.round(0).cast("int64").cast("string")


def recommend(
    engine: Any,
    *,
    worklist: Any = None,
    default_caseload: int = DEFAULT_CASELOAD,
    evening_reach: float = EVENING_REACH,
    extend_factor: float = EXTEND_FACTOR,
    **worklist_kw: Any,
) -> Any:
    """The ranked recommendations as an Ibis table: ``rank, practice_id, name,
    recommendation, score, reason`` and the figures behind them (``coordinators,
    coordinator_capacity, hours_per_week, evening_hours, patients_on_list, priority_on_list,
    barrier_patients, barrier_priority, deprivation_quintile, pct_no_vehicle``).

    ``worklist``: an expression like :func:`worklist_expr`'s (default: built with
    ``worklist_kw``).
    """
    data = Data.of(engine)
    w = worklist if worklist is not None else worklist_expr(engine, **worklist_kw)
    dep = area_deprivation(data).select("area_id", "deprivation_quintile")
    w = w.filter(w.practice_id.notnull()).left_join(dep, "area_id").drop("area_id_right")
    barrier = w.transport_need | (w.deprivation_quintile.fill_null(0) == MOST_DEPRIVED)
    pr = data.practice
    per_coord = ibis.cases(
        (
            (pr.coordinators.fill_null(0) > 0) & pr.coordinator_capacity.notnull(),
            pr.coordinator_capacity / pr.coordinators,
        ),
        else_=default_caseload,
    )
    pr = pr.select(
        "practice_id",
        "name",
        "area_id",
        "hours_per_week",
        evening_hours=pr.evening_hours.fill_null(False),
        coordinators=pr.coordinators.fill_null(0),
        places=pr.coordinator_capacity.fill_null(0),
        per_coordinator=per_coord.round(0).cast("int64"),
    )
    rank = ibis.row_number().over(
        ibis.window(group_by=w.practice_id, order_by=[w.priority.desc(), w.person_id])
    )
    w = w.mutate(_rank=rank + 1, _barrier=barrier).join(
        pr.select("practice_id", "places", "per_coordinator"), "practice_id"
    )
    next_ = (w._rank > w.places) & (w._rank <= w.places + w.per_coordinator)
    agg = w.group_by("practice_id").aggregate(
        patients_on_list=w.count(),
        priority_on_list=w.priority.sum(),
        extra_patients=next_.cast("int64").sum(),
        extra_priority=ibis.cases((next_, w.priority), else_=0.0).sum(),
        barrier_patients=w._barrier.cast("int64").sum(),
        barrier_priority=ibis.cases((w._barrier, w.priority), else_=0.0).sum(),
    )
    a = data.area
    area = a.select("area_id", pct_no_vehicle=a.pct_no_vehicle.cast("float64")).left_join(
        dep, "area_id"
    )
    area = area.drop("area_id_right")
    t = pr.left_join(agg, "practice_id").drop("practice_id_right")
    t = t.left_join(area, "area_id").drop("area_id_right")
    t = t.mutate(
        **{
            c: t[c].fill_null(0)
            for c in (
                "patients_on_list",
                "priority_on_list",
                "extra_patients",
                "extra_priority",
                "barrier_patients",
                "barrier_priority",
            )
        }
    )
    median_hours = t.hours_per_week.median().over(ibis.window())
    t = t.mutate(_median_hours=median_hours)
    where = (
        "; "
        + ibis.cases(
            (t.pct_no_vehicle.notnull(), t.pct_no_vehicle.round(0).cast("int64").cast("string")),
            else_="?",
        )
        + "% of households in its area without a vehicle, deprivation quintile "
        + t.deprivation_quintile.cast("string").fill_null("?")
    )
    coord = t.select(
        "practice_id",
        "name",
        recommendation=ibis.literal("add a coordinator"),
        score=t.extra_priority,
        reason=_fmt(t.patients_on_list)
        + " patients on the list (priority "
        + _fmt(t.priority_on_list)
        + ") for "
        + t.coordinators.cast("string")
        + " coordinator(s) with "
        + _fmt(t.places)
        + " places; one more ("
        + t.per_coordinator.cast("string")
        + " places) would reach "
        + _fmt(t.extra_patients)
        + " more (priority "
        + _fmt(t.extra_priority)
        + ")"
        + where,
    )
    extend = t.evening_hours & (t.hours_per_week < t._median_hours)
    hours = t.select(
        "practice_id",
        "name",
        recommendation=ibis.cases(
            (~t.evening_hours, "add evening hours"), else_="extend weekly hours"
        ),
        score=ibis.cases(
            (~t.evening_hours, t.barrier_priority * evening_reach),
            (extend, t.barrier_priority * (evening_reach * extend_factor)),
            else_=0.0,
        ),
        reason=ibis.cases(
            (~t.evening_hours, "no evening hours; "),
            else_=t.hours_per_week.round(0).cast("int64").cast("string")
            + " hours a week (city median "
            + t._median_hours.round(0).cast("int64").cast("string")
            + "); ",
        )
        + _fmt(t.barrier_patients)
        + " patients on the list with a transport need or in a most deprived area (priority "
        + _fmt(t.barrier_priority)
        + ")"
        + where,
    )
    out = coord.union(hours, distinct=False)
    out = out.filter(out.score > 0)
    figures = t.select(
        "practice_id",
        "coordinators",
        "places",
        "hours_per_week",
        "evening_hours",
        "patients_on_list",
        "priority_on_list",
        "barrier_patients",
        "barrier_priority",
        "deprivation_quintile",
        "pct_no_vehicle",
    )
    out = out.join(figures, "practice_id")
    rank = ibis.row_number().over(
        ibis.window(order_by=[out.score.desc(), out.practice_id, out.recommendation])
    )
    out = out.mutate(rank=(rank + 1).cast("int64"))
    return out.select("rank", *[c for c in out.columns if c != "rank"]).order_by("rank")
