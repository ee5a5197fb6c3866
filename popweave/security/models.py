"""The care store's security tables: users, panel assignments, consent, the audit log.

They share one declarative ``Base`` with the care records (:mod:`popweave.care.models`), so
one Alembic history migrates the whole care store.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Now, in UTC (timezone-aware)."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every care-store table."""

    metadata = MetaData(naming_convention=NAMING)


class Role(StrEnum):
    """What a user may do (see :data:`popweave.security.policy.POLICY`)."""

    ADMIN = "admin"
    PROGRAMME_MANAGER = "programme_manager"
    CARE_MANAGER = "care_manager"
    COMMUNITY_HEALTH_WORKER = "community_health_worker"
    ANALYST = "analyst"


class TeamRole(StrEnum):
    """A member's part in a patient's care team."""

    PCP = "pcp"
    SPECIALIST = "specialist"
    SOCIAL_WORKER = "social_worker"
    COMMUNITY_HEALTH_WORKER = "community_health_worker"
    CARE_MANAGER = "care_manager"


#: Sensitive condition categories: records tagged with one are hidden unless consent allows.
SENSITIVE_CATEGORIES = ("mental_health", "substance_use", "hiv", "reproductive")


class User(Base):
    """A person who signs in: a unique name, a role and an argon2 password hash."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(40))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PanelAssignment(Base):
    """Who is responsible for whom: a user on a patient's care team (the user's panel)."""

    __tablename__ = "panel_assignment"
    __table_args__ = (UniqueConstraint("user_id", "person_id", "team_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    team_role: Mapped[str] = mapped_column(String(40))
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]


class Consent(Base):
    """A patient's decision on sharing one sensitive category; the latest row counts."""

    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(40))
    granted: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(80))


class AuditEvent(Base):
    """One read or write of patient data: who, what, which patient, when, why. Append-only."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_person_at", "person_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    username: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(20))
    operation: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
