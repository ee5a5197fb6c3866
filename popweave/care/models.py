"""The care records: care plans, tasks, referrals, community organisations, programmes,
enrolments and outreach attempts (SQLAlchemy 2 typed declarative models).

Users, panel assignments, consent and the audit log are in :mod:`popweave.security.models`
and share the same ``Base``. Patients are referred to by the warehouse's ``person_id``.
Rows tagged with a ``sensitive`` category (:data:`~popweave.security.SENSITIVE_CATEGORIES`)
are hidden from reads unless the patient's consent allows that category.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from popweave.security.models import Base, utcnow

__all__ = [
    "Base",
    "CarePlan",
    "CommunityOrg",
    "Enrolment",
    "Goal",
    "Intervention",
    "OrgArea",
    "OrgService",
    "OutreachAttempt",
    "Problem",
    "Programme",
    "Referral",
    "ReferralStatus",
    "Task",
    "TaskStatus",
    "TaskType",
]


class TaskType(StrEnum):
    CALL = "call"
    HOME_VISIT = "home_visit"
    MEDICATION_RECONCILIATION = "medication_reconciliation"
    FOLLOW_UP_APPOINTMENT = "follow_up_appointment"


class TaskStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


OPEN_STATUSES = (TaskStatus.OPEN, TaskStatus.IN_PROGRESS)


class ReferralStatus(StrEnum):
    SENT = "sent"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    DECLINED = "declined"
    EXPIRED = "expired"


class CarePlan(Base):
    """A patient's care plan: problems, goals and interventions."""

    __tablename__ = "care_plan"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    problems: Mapped[list[Problem]] = relationship(back_populates="plan", order_by="Problem.id")
    goals: Mapped[list[Goal]] = relationship(back_populates="plan", order_by="Goal.id")
    interventions: Mapped[list[Intervention]] = relationship(
        back_populates="plan", order_by="Intervention.id"
    )


class Problem(Base):
    """A problem the plan addresses, coded as in the warehouse (code system, code)."""

    __tablename__ = "problem"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    care_plan_id: Mapped[int] = mapped_column(ForeignKey("care_plan.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    code_system: Mapped[str | None] = mapped_column(String(20))
    code: Mapped[str | None] = mapped_column(String(20))
    sensitive: Mapped[str | None] = mapped_column(String(40))
    plan: Mapped[CarePlan] = relationship(back_populates="problems")


class Goal(Base):
    """A goal with a measurable target and a due date."""

    __tablename__ = "goal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    care_plan_id: Mapped[int] = mapped_column(ForeignKey("care_plan.id"), index=True)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problem.id"))
    description: Mapped[str] = mapped_column(Text)
    target: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[dt.date]
    status: Mapped[str] = mapped_column(String(20), default="active")
    sensitive: Mapped[str | None] = mapped_column(String(40))
    plan: Mapped[CarePlan] = relationship(back_populates="goals")


class Intervention(Base):
    """An action towards a goal and the care-team member responsible for it."""

    __tablename__ = "intervention"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    care_plan_id: Mapped[int] = mapped_column(ForeignKey("care_plan.id"), index=True)
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goal.id"))
    description: Mapped[str] = mapped_column(Text)
    responsible_role: Mapped[str] = mapped_column(String(40))
    responsible_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    sensitive: Mapped[str | None] = mapped_column(String(40))
    plan: Mapped[CarePlan] = relationship(back_populates="interventions")


class Task(Base):
    """Work for a coordinator, optimistically locked by ``version``.

    ``source_key`` names what created the task (e.g. ``discharge:E1:call``) and is unique,
    so a job that creates tasks can be re-run without duplicating them.
    """

    __tablename__ = "task"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    task_type: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[dt.date] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.OPEN.value)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    care_plan_id: Mapped[int | None] = mapped_column(ForeignKey("care_plan.id"))
    source_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    sensitive: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__: dict[str, Any] = {"version_id_col": version}  # noqa: RUF012


class CommunityOrg(Base):
    """A community organisation: the services it offers, the areas it serves, its capacity
    (new referrals it can take at once)."""

    __tablename__ = "community_org"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    capacity: Mapped[int] = mapped_column(Integer)
    contact: Mapped[str] = mapped_column(String(200), default="")
    services: Mapped[list[OrgService]] = relationship(cascade="all, delete-orphan")
    areas: Mapped[list[OrgArea]] = relationship(cascade="all, delete-orphan")


class OrgService(Base):
    __tablename__ = "org_service"
    __table_args__ = (UniqueConstraint("org_id", "service"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("community_org.id"), index=True)
    service: Mapped[str] = mapped_column(String(80))


class OrgArea(Base):
    __tablename__ = "org_area"
    __table_args__ = (UniqueConstraint("org_id", "area_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("community_org.id"), index=True)
    area_id: Mapped[str] = mapped_column(String(64))


class Referral(Base):
    """A referral to a community organisation, closed loop: sent -> accepted -> delivered |
    declined | expired, with the date of each step."""

    __tablename__ = "referral"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("community_org.id"), index=True)
    service: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default=ReferralStatus.SENT.value)
    sent_on: Mapped[dt.date]
    accepted_on: Mapped[dt.date | None]
    closed_on: Mapped[dt.date | None]
    outcome_note: Mapped[str] = mapped_column(Text, default="")
    referred_by: Mapped[str] = mapped_column(String(80))
    sensitive: Mapped[str | None] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__: dict[str, Any] = {"version_id_col": version}  # noqa: RUF012


class Programme(Base):
    """An education or engagement programme people are enrolled in."""

    __tablename__ = "programme"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40), default="education")
    description: Mapped[str] = mapped_column(Text, default="")


class Enrolment(Base):
    """A person's enrolment in a programme, from ``start_date`` to ``end_date``."""

    __tablename__ = "enrolment"
    __table_args__ = (UniqueConstraint("programme_id", "person_id", "start_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), index=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    start_date: Mapped[dt.date]
    end_date: Mapped[dt.date | None]
    status: Mapped[str] = mapped_column(String(20), default="active")
    enrolled_by: Mapped[str] = mapped_column(String(80))


class OutreachAttempt(Base):
    """One attempt to reach a patient: channel and outcome."""

    __tablename__ = "outreach_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    channel: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    attempted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    username: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text, default="")


CHANNELS = ("phone", "sms", "letter", "email", "home_visit", "in_person", "portal")
OUTCOMES = ("reached", "no_answer", "left_message", "wrong_number", "declined", "scheduled")
