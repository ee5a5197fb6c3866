"""What the service layer hands out: plain, frozen records (never ORM objects), so
nothing can lazily read patient data past the audit log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class TaskView:
    id: int
    person_id: str
    task_type: str
    title: str
    due_date: dt.date
    status: str
    assignee_id: int | None
    version: int
    source_key: str | None
    notes: str
    sensitive: str | None

    @classmethod
    def of(cls, t: Task) -> TaskView:
        return cls(
            t.id,
            t.person_id,
            t.task_type,
            t.title,
            t.due_date,
            t.status,
            t.assignee_id,
            t.version,
            t.source_key,
            t.notes,
            t.sensitive,
        )


@dataclass(frozen=True)
class ProblemView:
    id: int
    description: str
    code_system: str | None
    code: str | None
    sensitive: str | None

    @classmethod
    def of(cls, p: Problem) -> ProblemView:
        return cls(p.id, p.description, p.code_system, p.code, p.sensitive)


@dataclass(frozen=True)
class GoalView:
    id: int
    problem_id: int | None
    description: str
    target: str
    due_date: dt.date
    status: str
    sensitive: str | None

    @classmethod
    def of(cls, g: Goal) -> GoalView:
        return cls(g.id, g.problem_id, g.description, g.target, g.due_date, g.status, g.sensitive)


@dataclass(frozen=True)
class InterventionView:
    id: int
    goal_id: int | None
    description: str
    responsible_role: str
    responsible_user_id: int | None
    sensitive: str | None

    @classmethod
    def of(cls, i: Intervention) -> InterventionView:
        return cls(
            i.id, i.goal_id, i.description, i.responsible_role, i.responsible_user_id, i.sensitive
        )


@dataclass(frozen=True)
class CarePlanView:
    id: int
    person_id: str
    title: str
    status: str
    problems: tuple[ProblemView, ...] = ()
    goals: tuple[GoalView, ...] = ()
    interventions: tuple[InterventionView, ...] = ()

    @classmethod
    def of(cls, p: CarePlan, allowed: set[str]) -> CarePlanView:
        def ok(s: str | None) -> bool:
            return s is None or s in allowed

        return cls(
            p.id,
            p.person_id,
            p.title,
            p.status,
            tuple(ProblemView.of(x) for x in p.problems if ok(x.sensitive)),
            tuple(GoalView.of(x) for x in p.goals if ok(x.sensitive)),
            tuple(InterventionView.of(x) for x in p.interventions if ok(x.sensitive)),
        )


@dataclass(frozen=True)
class ReferralView:
    id: int
    person_id: str
    org_id: int
    service: str
    status: str
    sent_on: dt.date
    accepted_on: dt.date | None
    closed_on: dt.date | None
    version: int
    sensitive: str | None

    @classmethod
    def of(cls, r: Referral) -> ReferralView:
        return cls(
            r.id,
            r.person_id,
            r.org_id,
            r.service,
            r.status,
            r.sent_on,
            r.accepted_on,
            r.closed_on,
            r.version,
            r.sensitive,
        )


@dataclass(frozen=True)
class EnrolmentView:
    id: int
    programme_id: int
    person_id: str
    start_date: dt.date
    end_date: dt.date | None
    status: str

    @classmethod
    def of(cls, e: Enrolment) -> EnrolmentView:
        return cls(e.id, e.programme_id, e.person_id, e.start_date, e.end_date, e.status)


@dataclass(frozen=True)
class OutreachView:
    id: int
    person_id: str
    task_id: int | None
    channel: str
    outcome: str
    attempted_at: dt.datetime
    username: str

    @classmethod
    def of(cls, o: OutreachAttempt) -> OutreachView:
        return cls(o.id, o.person_id, o.task_id, o.channel, o.outcome, o.attempted_at, o.username)


@dataclass(frozen=True)
class PatientRecord:
    """Everything the care store holds on one patient that the reader may see;
    ``withheld`` counts the sensitive rows hidden for want of consent."""

    person_id: str
    care_plans: tuple[CarePlanView, ...] = ()
    tasks: tuple[TaskView, ...] = ()
    referrals: tuple[ReferralView, ...] = ()
    enrolments: tuple[EnrolmentView, ...] = ()
    outreach: tuple[OutreachView, ...] = ()
    consented: frozenset[str] = field(default_factory=frozenset)
    withheld: int = 0
