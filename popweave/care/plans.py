"""Care plans (problems, goals with target and due date, interventions with the member
responsible) and the whole record of one patient."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from popweave.care import _guard
from popweave.care.models import (
    CarePlan,
    Enrolment,
    Goal,
    Intervention,
    OutreachAttempt,
    Problem,
    Referral,
    Task,
)
from popweave.care.store import CareStore
from popweave.care.views import (
    CarePlanView,
    EnrolmentView,
    OutreachView,
    PatientRecord,
    ReferralView,
    TaskView,
)
from popweave.security.models import TeamRole
from popweave.security.policy import Actor, Operation

OP = Operation.WRITE_CARE_PLAN


def _plan(s: Session, care_plan_id: int) -> CarePlan:
    p = s.get(CarePlan, care_plan_id)
    if p is None:
        raise _guard.NotFound(f"no care plan with id {care_plan_id}")
    return p


def create_care_plan(
    store: CareStore, *, actor: Actor, person_id: str, title: str, reason: str
) -> int:
    """Start a care plan for ``person_id``; returns its id."""
    with store.begin() as s:
        _guard.authorise(s, actor, OP, person_id, reason=reason)
        p = CarePlan(person_id=person_id, title=title, created_by=actor.username)
        _guard.add_audited(
            s,
            actor,
            p,
            op="create_care_plan",
            entity="care_plan",
            person_id=person_id,
            reason=reason,
        )
        return p.id


def _add_to_plan(
    store: CareStore,
    actor: Actor,
    care_plan_id: int,
    reason: str,
    entity: str,
    build: Callable[[CarePlan], Problem | Goal | Intervention],
) -> int:
    """Authorise, add the row ``build`` makes for the plan, audit it; its id."""
    with store.begin() as s:
        plan = _plan(s, care_plan_id)
        _guard.authorise(s, actor, OP, plan.person_id, reason=reason)
        x = build(plan)
        _guard.add_audited(
            s,
            actor,
            x,
            op=f"add_{entity}",
            entity=entity,
            person_id=plan.person_id,
            reason=reason,
        )
        return int(x.id)


def add_problem(
    store: CareStore,
    *,
    actor: Actor,
    care_plan_id: int,
    description: str,
    reason: str,
    code_system: str | None = None,
    code: str | None = None,
    sensitive: str | None = None,
) -> int:
    """Add a problem (optionally coded, optionally sensitive) to a care plan."""
    _guard.check_sensitive(sensitive)
    return _add_to_plan(
        store,
        actor,
        care_plan_id,
        reason,
        "problem",
        lambda plan: Problem(
            care_plan_id=plan.id,
            description=description,
            code_system=code_system,
            code=code,
            sensitive=sensitive,
        ),
    )


def add_goal(
    store: CareStore,
    *,
    actor: Actor,
    care_plan_id: int,
    description: str,
    target: str,
    due_date: dt.date,
    reason: str,
    problem_id: int | None = None,
    sensitive: str | None = None,
) -> int:
    """Add a goal with a measurable ``target`` and a ``due_date``."""
    _guard.check_sensitive(sensitive)
    if not target.strip():
        raise ValueError("a goal needs a target (e.g. 'HbA1c below 8%')")
    return _add_to_plan(
        store,
        actor,
        care_plan_id,
        reason,
        "goal",
        lambda plan: Goal(
            care_plan_id=plan.id,
            problem_id=problem_id,
            description=description,
            target=target,
            due_date=due_date,
            sensitive=sensitive,
        ),
    )


def add_intervention(
    store: CareStore,
    *,
    actor: Actor,
    care_plan_id: int,
    description: str,
    responsible_role: TeamRole | str,
    reason: str,
    responsible_user_id: int | None = None,
    goal_id: int | None = None,
    sensitive: str | None = None,
) -> int:
    """Add an intervention and who is responsible: PCP, specialist, social worker,
    community health worker or care manager."""
    role = TeamRole(responsible_role)
    _guard.check_sensitive(sensitive)
    return _add_to_plan(
        store,
        actor,
        care_plan_id,
        reason,
        "intervention",
        lambda plan: Intervention(
            care_plan_id=plan.id,
            goal_id=goal_id,
            description=description,
            responsible_role=role.value,
            responsible_user_id=responsible_user_id,
            sensitive=sensitive,
        ),
    )


def patient_record(store: CareStore, *, actor: Actor, person_id: str, reason: str) -> PatientRecord:
    """Everything on one patient the actor may see; sensitive rows without consent are
    withheld (and counted)."""
    with store.begin() as s:
        _guard.authorise(s, actor, Operation.READ_PATIENT, person_id, reason=reason)
        allowed = _guard.consented(s, [person_id])[person_id]
        plans = list(
            s.scalars(
                select(CarePlan)
                .where(CarePlan.person_id == person_id)
                .options(
                    selectinload(CarePlan.problems),
                    selectinload(CarePlan.goals),
                    selectinload(CarePlan.interventions),
                )
                .order_by(CarePlan.id)
            )
        )
        task_rows = list(
            s.scalars(
                select(Task).where(Task.person_id == person_id).order_by(Task.due_date, Task.id)
            )
        )
        refs = list(
            s.scalars(select(Referral).where(Referral.person_id == person_id).order_by(Referral.id))
        )
        enrol = list(
            s.scalars(
                select(Enrolment).where(Enrolment.person_id == person_id).order_by(Enrolment.id)
            )
        )
        reach = list(
            s.scalars(
                select(OutreachAttempt)
                .where(OutreachAttempt.person_id == person_id)
                .order_by(OutreachAttempt.id)
            )
        )
        tags = [x.sensitive for p in plans for x in p.problems]
        tags += [x.sensitive for p in plans for x in p.goals]
        tags += [x.sensitive for p in plans for x in p.interventions]
        hidden = sum(not _guard.shown(t, allowed) for t in tags)
        tv = [TaskView.of(t) for t in task_rows if _guard.shown(t.sensitive, allowed)]
        rv = [ReferralView.of(r) for r in refs if _guard.shown(r.sensitive, allowed)]
        hidden += len(task_rows) - len(tv) + len(refs) - len(rv)
        rec = PatientRecord(
            person_id=person_id,
            care_plans=tuple(CarePlanView.of(p, allowed) for p in plans),
            tasks=tuple(tv),
            referrals=tuple(rv),
            enrolments=tuple(EnrolmentView.of(e) for e in enrol),
            outreach=tuple(OutreachView.of(o) for o in reach),
            consented=frozenset(allowed),
            withheld=hidden,
        )
        _guard.audited(
            s,
            actor,
            action="read",
            op="patient_record",
            entity="patient",
            rows=[(person_id, None)],
            reason=reason,
            detail=f"withheld={hidden}" if hidden else "",
        )
        return rec
