"""Request and response bodies of the REST API: per entity a ``Base`` (shared fields),
``Create`` (what a client sends to make one), ``Update`` (what it may change) and ``Public``
(what it gets back) model."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from popweave.care.models import ReferralStatus, TaskStatus, TaskType
from popweave.security.models import Role


class Public(BaseModel):
    """A response model read from the service layer's frozen views."""

    model_config = ConfigDict(from_attributes=True)


# Tasks
class TaskBase(BaseModel):
    task_type: TaskType
    due_date: dt.date
    title: str = Field("", max_length=200)
    notes: str = ""


class TaskCreate(TaskBase):
    person_id: str = Field(min_length=1, max_length=64)
    assignee_id: int | None = None
    care_plan_id: int | None = None


class TaskUpdate(BaseModel):
    version: int = Field(description="The version the change is based on (optimistic locking).")
    status: TaskStatus | None = None
    due_date: dt.date | None = None
    notes: str | None = None


class TaskPublic(Public, TaskBase):
    id: int
    person_id: str
    status: str
    assignee_id: int | None
    version: int
    source_key: str | None


# Outreach attempts
class OutreachBase(BaseModel):
    channel: str = Field(description="phone, sms, letter, email, home_visit, in_person, portal")
    outcome: str = Field(
        description="reached, no_answer, left_message, wrong_number, declined, scheduled"
    )


class OutreachCreate(OutreachBase):
    person_id: str = Field(min_length=1, max_length=64)
    task_id: int | None = None
    note: str = ""


class OutreachPublic(Public, OutreachBase):
    id: int
    person_id: str
    task_id: int | None
    attempted_at: dt.datetime
    username: str


# Referrals and community organisations
class ReferralBase(BaseModel):
    org_id: int
    service: str = Field(min_length=1, max_length=80)


class ReferralCreate(ReferralBase):
    person_id: str = Field(min_length=1, max_length=64)
    sent_on: dt.date | None = None


class ReferralUpdate(BaseModel):
    status: ReferralStatus
    on: dt.date | None = None
    note: str = ""
    version: int | None = None


class ReferralPublic(Public, ReferralBase):
    id: int
    person_id: str
    status: str
    sent_on: dt.date
    accepted_on: dt.date | None
    closed_on: dt.date | None
    version: int


class OrganisationPublic(Public):
    id: int
    name: str
    capacity: int
    services: tuple[str, ...]
    areas: tuple[str, ...]
    open_referrals: int
    available: int


# Programmes and enrolments
class ProgrammeBase(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: str = "education"
    description: str = ""


class ProgrammeCreate(ProgrammeBase):
    pass


class ProgrammePublic(Public, ProgrammeBase):
    id: int


class EnrolmentCreate(BaseModel):
    person_id: str = Field(min_length=1, max_length=64)
    start_date: dt.date
    end_date: dt.date | None = None


class EnrolmentPublic(Public):
    id: int
    programme_id: int
    person_id: str
    start_date: dt.date
    end_date: dt.date | None
    status: str


# Goals
class GoalBase(BaseModel):
    description: str = Field(min_length=1)
    target: str = Field(min_length=1, max_length=200)
    due_date: dt.date


class GoalCreate(GoalBase):
    care_plan_id: int
    problem_id: int | None = None


class GoalUpdate(BaseModel):
    status: str | None = Field(None, description="active, achieved, not_achieved, cancelled")
    target: str | None = Field(None, min_length=1, max_length=200)
    due_date: dt.date | None = None


class GoalPublic(Public, GoalBase):
    id: int
    problem_id: int | None
    status: str


# Users
class UserBase(BaseModel):
    username: str = Field(min_length=2, max_length=80)
    role: Role
    full_name: str = ""


class UserCreate(UserBase):
    password: str = Field(min_length=10, description="At least 10 characters.")


class UserPublic(Public, UserBase):
    id: int
    active: bool


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


# Worklist, patients, measures
class WorklistRowPublic(Public):
    person_id: str
    priority: float
    reason: str
    risk_tier: str | None
    risk_score: float | None
    open_gaps: int
    days_since_discharge: int | None
    needs: list[str]
    practice_id: str | None
    area_id: str | None
    team_role: str | None
    open_tasks: int
    next_due: dt.date | None


class WorklistPublic(Public):
    as_of: dt.date | None
    total: int
    rows: list[WorklistRowPublic]


class PatientPublic(Public):
    person_id: str
    person: dict[str, Any]
    risk: dict[str, Any] | None
    risk_factors: list[dict[str, Any]]
    care_gaps: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    care_plans: list[dict[str, Any]]
    tasks: list[TaskPublic]
    referrals: list[ReferralPublic]
    enrolments: list[EnrolmentPublic]
    withheld: int


class MeasurePublic(Public):
    period: str
    measure: str
    title: str
    stratifier: str
    stratum: str
    denominator: float | None
    numerator: float | None
    rate: float | None
    lower: float | None
    upper: float | None
    higher_is_better: bool | None
    suppressed: bool


class AuditPublic(Public):
    id: int
    at: dt.datetime
    username: str
    role: str
    action: str
    operation: str
    entity: str
    entity_id: str | None
    person_id: str | None
    reason: str
    detail: str
