"""FHIR R4-shaped exports: MeasureReport (from ``measure_result``), Group (a built cohort
from ``cohort_member``), CarePlan and Task (from the care store). Resources are plain
dicts; every patient-level export goes through the gate and is audited."""

from __future__ import annotations

from typing import Any

import pandas as pd

from popweave.api.services._access import audit_reads, reach
from popweave.api.services.measures import MeasureRow, measure_rates
from popweave.api.warehouse import Warehouse
from popweave.care import plans, tasks
from popweave.care._guard import NotFound
from popweave.care.store import CareStore
from popweave.care.views import CarePlanView, TaskView
from popweave.cohorts.store import MEMBER_TABLE
from popweave.security.policy import Actor, Operation

POP = "http://terminology.hl7.org/CodeSystem/measure-population"
CI_URL = "https://popweave.org/fhir/StructureDefinition/confidence-interval-95"
TASK_STATUS = {
    "open": "requested",
    "in_progress": "in-progress",
    "done": "completed",
    "cancelled": "cancelled",
}
GOAL_STATUS = {
    "active": "active",
    "achieved": "completed",
    "not_achieved": "cancelled",
    "cancelled": "cancelled",
}


def bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A searchset Bundle of ``resources``."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }


def _populations(r: MeasureRow) -> list[dict[str, Any]]:
    out = []
    for code, value in (("denominator", r.denominator), ("numerator", r.numerator)):
        if value is not None:
            out.append({"code": {"coding": [{"system": POP, "code": code}]}, "count": int(value)})
    return out


def _score(r: MeasureRow) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.rate is not None:
        out["measureScore"] = {"value": r.rate}
    if r.lower is not None and r.upper is not None:
        out["extension"] = [
            {"url": CI_URL, "valueRange": {"low": {"value": r.lower}, "high": {"value": r.upper}}}
        ]
    return out


def measure_reports(
    store: CareStore,
    wh: Warehouse,
    *,
    actor: Actor,
    reason: str,
    period: str | None = None,
    measure: str | None = None,
) -> list[dict[str, Any]]:
    """One summary MeasureReport per measure, stratified by every stratifier stored."""
    overall = measure_rates(
        store, wh, actor=actor, reason=reason, period=period, measure=measure, stratifier="all"
    )
    out = []
    for r in overall:
        strata: dict[str, list[MeasureRow]] = {}
        for stratifier in ("age_band", "sex", "race_ethnicity", "payer", "deprivation_quintile"):
            rows = measure_rates(
                store,
                wh,
                actor=actor,
                reason=reason,
                period=r.period,
                measure=r.measure,
                stratifier=stratifier,
            )
            if rows:
                strata[stratifier] = rows
        year = r.period[:4]
        group: dict[str, Any] = {
            "code": {"text": r.title},
            "population": _populations(r),
            **_score(r),
            "stratifier": [
                {
                    "code": [{"text": name}],
                    "stratum": [
                        {"value": {"text": x.stratum}, "population": _populations(x), **_score(x)}
                        for x in rows
                    ],
                }
                for name, rows in strata.items()
            ],
        }
        out.append(
            {
                "resourceType": "MeasureReport",
                "id": f"{r.measure}-{r.period}".replace("_", "-"),
                "status": "complete",
                "type": "summary",
                "measure": f"https://popweave.org/fhir/Measure/{r.measure}",
                "period": {"start": f"{year}-01-01", "end": f"{year}-12-31"},
                "group": [group],
            }
        )
    return out


def cohort_group(
    store: CareStore, wh: Warehouse, *, actor: Actor, cohort: str, reason: str, limit: int = 10000
) -> dict[str, Any]:
    """The built cohort as a Group of the members ``actor`` may see (their panel or all)."""
    panel = reach(store, actor, Operation.READ_PATIENT, reason=reason)
    if not wh.has_table(MEMBER_TABLE):
        raise NotFound(f"no cohort has been built; run: popweave cohort build {cohort}.yaml")
    t = wh.table(MEMBER_TABLE)
    t = t.filter(t.cohort == cohort)
    size = int(wh.execute(t.aggregate(n=t.count()))["n"].iloc[0])
    if size == 0:
        raise NotFound(f"cohort {cohort!r} has not been built")
    if panel is not None:
        t = t.filter(t.person_id.isin(sorted(panel) or [""]))
    df = wh.execute(t.order_by(t.person_id).limit(limit))
    members = [
        {
            "entity": {"reference": f"Patient/{r['person_id']}"},
            "period": {"start": pd.Timestamp(r["index_date"]).date().isoformat()},
        }
        for r in df.to_dict("records")
    ]
    audit_reads(
        store,
        actor,
        op="fhir_group",
        entity="cohort",
        person_ids=[str(p) for p in df["person_id"]],
        reason=reason,
        detail=f"cohort={cohort}",
    )
    return {
        "resourceType": "Group",
        "id": cohort.replace("_", "-"),
        "type": "person",
        "actual": True,
        "name": cohort,
        "quantity": len(members),
        "member": members,
    }


def care_plan_resource(p: CarePlanView) -> dict[str, Any]:
    """One CarePlan with its goals contained and its interventions as activities."""
    goals = [
        {
            "resourceType": "Goal",
            "id": f"goal-{g.id}",
            "lifecycleStatus": GOAL_STATUS.get(g.status, "active"),
            "description": {"text": g.description},
            "subject": {"reference": f"Patient/{p.person_id}"},
            "target": [{"detailString": g.target, "dueDate": g.due_date.isoformat()}],
        }
        for g in p.goals
    ]
    res: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": str(p.id),
        "status": "active" if p.status == "active" else "completed",
        "intent": "plan",
        "title": p.title,
        "subject": {"reference": f"Patient/{p.person_id}"},
        "activity": [
            {
                "detail": {
                    "status": "in-progress",
                    "description": f"{i.description} (responsible: {i.responsible_role})",
                }
            }
            for i in p.interventions
        ],
    }
    if goals:
        res["contained"] = goals
        res["goal"] = [{"reference": f"#{g['id']}"} for g in goals]
    if p.problems:
        res["description"] = "; ".join(x.description for x in p.problems)
    return res


def care_plans(
    store: CareStore, *, actor: Actor, person_id: str, reason: str
) -> list[dict[str, Any]]:
    """The patient's care plans as CarePlan resources."""
    rec = plans.patient_record(store, actor=actor, person_id=person_id, reason=reason)
    return [care_plan_resource(p) for p in rec.care_plans]


def task_resource(t: TaskView) -> dict[str, Any]:
    """One Task; the care store's version is ``meta.versionId``."""
    res: dict[str, Any] = {
        "resourceType": "Task",
        "id": str(t.id),
        "meta": {"versionId": str(t.version)},
        "status": TASK_STATUS.get(t.status, "requested"),
        "intent": "order",
        "code": {"text": t.task_type},
        "description": t.title,
        "for": {"reference": f"Patient/{t.person_id}"},
        "restriction": {"period": {"end": t.due_date.isoformat()}},
    }
    if t.assignee_id is not None:
        res["owner"] = {"reference": f"Practitioner/{t.assignee_id}"}
    if t.notes:
        res["note"] = [{"text": t.notes}]
    return res


def task_resources(
    store: CareStore, *, actor: Actor, reason: str, person_id: str | None, open_only: bool
) -> list[dict[str, Any]]:
    """Tasks the actor may see as Task resources."""
    rows = tasks.list_tasks(
        store, actor=actor, reason=reason, person_id=person_id, open_only=open_only
    )
    return [task_resource(t) for t in rows]
