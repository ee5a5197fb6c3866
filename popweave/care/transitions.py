"""Transitions of care: tasks after every inpatient discharge in the warehouse.

Each discharge (an ``inpatient`` encounter with an end time, not ending in death or a
transfer to another acute hospital) gets a follow-up call due within 2 business days and a
medication reconciliation due within 30 days of discharge; patients in the ``high`` risk tier
of the latest ``popweave run risk`` (warehouse table ``risk_score``) also get a home visit
due within 5 business days. Without risk scores nobody is high risk. Business days skip
weekends and holidays (:class:`~popweave.care.calendar.BusinessCalendar`).

Tasks are keyed by ``discharge:<encounter_id>:<task type>``, so running again creates only
the tasks still missing. Tasks go to the patient's care manager on the care team (home
visits to the community health worker when there is one), else stay unassigned.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import ibis
from sqlalchemy import select

from popweave.care import _guard
from popweave.care.calendar import BusinessCalendar
from popweave.care.models import Task, TaskStatus, TaskType
from popweave.care.store import CareStore
from popweave.security.models import PanelAssignment, TeamRole
from popweave.security.policy import Actor, Operation

RISK_TABLE = "risk_score"
#: NUBC discharge status codes that are not a discharge to the community: 02 transfer to a
#: short-term hospital, 20 expired, 40-42 expired in hospice.
NOT_DISCHARGED = ("02", "20", "40", "41", "42")


@dataclass(frozen=True)
class TransitionRules:
    """When the transition tasks fall due."""

    call_business_days: int = 2
    med_rec_days: int = 30
    home_visit_business_days: int = 5
    high_tiers: tuple[str, ...] = ("high",)


@dataclass
class TransitionResult:
    """What a run did: discharges seen, tasks created by type, tasks already present."""

    discharges: int = 0
    high_risk: int = 0
    created: Counter[str] = field(default_factory=Counter)
    already: int = 0


def discharges(engine: Any, *, since: dt.date | None = None, until: dt.date | None = None) -> Any:
    """``(encounter_id, person_id, discharge_date)`` of inpatient discharges; builds, runs
    nothing."""
    e = engine.table("encounter")
    t = e.filter(
        e.encounter_class == "inpatient",
        e.end_time.notnull(),
        e.discharge_disposition.isnull() | ~e.discharge_disposition.isin(NOT_DISCHARGED),
    ).select("encounter_id", "person_id", discharge_date=e.end_time.cast("date"))
    if since is not None:
        t = t.filter(t.discharge_date >= since)
    if until is not None:
        t = t.filter(t.discharge_date <= until)
    return t.order_by("discharge_date", "encounter_id")


def high_risk(engine: Any, rules: TransitionRules, label: str | None = None) -> Any | None:
    """``person_id`` of people in a high tier on the latest risk run (of ``label``), or
    ``None`` when the warehouse has no risk scores; builds, runs nothing."""
    if not engine.has_table(RISK_TABLE):
        return None
    r = engine.table(RISK_TABLE)
    if label is not None:
        r = r.filter(r.label == label)
    latest = r.aggregate(index_date=r.index_date.max())
    r = r.semi_join(latest, "index_date")
    return r.filter(r.tier.isin(rules.high_tiers)).select("person_id").distinct()


def last_discharge(engine: Any) -> dt.date | None:
    """The latest discharge date in the warehouse (``None`` without any)."""
    v = discharges(engine).discharge_date.max().execute()
    return None if v is None or v != v else dt.date.fromisoformat(str(v)[:10])


def create_transition_tasks(
    store: CareStore,
    engine: Any,
    *,
    actor: Actor,
    reason: str = "transitions of care after discharge",
    since: dt.date | None = None,
    until: dt.date | None = None,
    calendar: BusinessCalendar | None = None,
    rules: TransitionRules | None = None,
    risk_label: str | None = None,
) -> TransitionResult:
    """Create the missing transition tasks for discharges between ``since`` and ``until``."""
    cal = calendar or BusinessCalendar()
    r = rules or TransitionRules()
    with store.begin() as s:
        _guard.require_op(s, actor, Operation.RUN_TRANSITIONS, reason=reason)
    d = discharges(engine, since=since, until=until).execute()
    risky = high_risk(engine, r, risk_label)
    high: set[str] = set()
    if risky is not None and len(d):
        people = ibis.memtable({"person_id": sorted(set(d["person_id"]))})
        high = set(risky.semi_join(people, "person_id").execute()["person_id"])
    out = TransitionResult(discharges=len(d), high_risk=len(set(d["person_id"]) & high))
    with store.begin() as s:
        existing = set(
            s.scalars(select(Task.source_key).where(Task.source_key.like("discharge:%")))
        )
        team = _team(s, set(d["person_id"]))
        for enc, person, day in zip(
            d["encounter_id"], d["person_id"], d["discharge_date"], strict=True
        ):
            day = dt.date.fromisoformat(str(day)[:10])
            wanted = [
                (TaskType.CALL, cal.add_business_days(day, r.call_business_days), "follow-up call"),
                (
                    TaskType.MEDICATION_RECONCILIATION,
                    day + dt.timedelta(days=r.med_rec_days),
                    "medication reconciliation",
                ),
            ]
            if person in high:
                wanted.append(
                    (
                        TaskType.HOME_VISIT,
                        cal.add_business_days(day, r.home_visit_business_days),
                        "home visit (high risk)",
                    )
                )
            _guard.audited(
                s,
                actor,
                action="read",
                op="transitions",
                entity="encounter",
                rows=[(person, enc)],
                reason=reason,
            )
            for kind, due, what in wanted:
                key = f"discharge:{enc}:{kind.value}"
                if key in existing:
                    out.already += 1
                    continue
                members = team.get(person, {})
                assignee = (
                    members.get(TeamRole.COMMUNITY_HEALTH_WORKER)
                    if kind is TaskType.HOME_VISIT
                    else None
                ) or members.get(TeamRole.CARE_MANAGER)
                t = Task(
                    person_id=person,
                    task_type=kind.value,
                    title=f"{what} after discharge on {day.isoformat()}",
                    due_date=due,
                    status=TaskStatus.OPEN.value,
                    assignee_id=assignee,
                    source_key=key,
                )
                s.add(t)
                s.flush()
                existing.add(key)
                out.created[kind.value] += 1
                _guard.audited(
                    s,
                    actor,
                    action="create",
                    op="transitions",
                    entity="task",
                    rows=[(person, t.id)],
                    reason=reason,
                )
    return out


def _team(s: Any, people: set[str]) -> dict[str, dict[str, int]]:
    """person -> team role -> user id (the lowest id per role) on today's care teams."""
    out: dict[str, dict[str, int]] = {}
    today = dt.date.today()
    ids = sorted(people)
    for i in range(0, len(ids), 500):
        rows = s.execute(
            select(PanelAssignment.person_id, PanelAssignment.team_role, PanelAssignment.user_id)
            .where(PanelAssignment.person_id.in_(ids[i : i + 500]))
            .where((PanelAssignment.end_date.is_(None)) | (PanelAssignment.end_date >= today))
            .order_by(PanelAssignment.user_id.desc())
        ).all()
        for p, role, uid in rows:
            out.setdefault(p, {})[role] = uid
    return out
