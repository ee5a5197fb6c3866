"""Care teams (panels: who is responsible for whom), consent, and reading the audit log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from popweave.care import _guard
from popweave.care.store import CareStore
from popweave.security.models import (
    SENSITIVE_CATEGORIES,
    AuditEvent,
    Consent,
    PanelAssignment,
    TeamRole,
    User,
)
from popweave.security.policy import Actor, Operation


@dataclass(frozen=True)
class AuditView:
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


def assign_panel(
    store: CareStore,
    *,
    actor: Actor,
    user_id: int,
    person_id: str,
    team_role: TeamRole | str,
    reason: str,
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
) -> int:
    """Put a user on a patient's care team (and so the patient on the user's panel); returns
    the assignment's id."""
    role = TeamRole(team_role)
    with store.begin() as s:
        _guard.require_op(s, actor, Operation.ASSIGN_PANEL, reason=reason)
        if s.get(User, user_id) is None:
            raise _guard.NotFound(f"no user with id {user_id}")
        a = s.scalar(
            select(PanelAssignment).where(
                PanelAssignment.user_id == user_id,
                PanelAssignment.person_id == person_id,
                PanelAssignment.team_role == role.value,
            )
        )
        if a is None:
            a = PanelAssignment(user_id=user_id, person_id=person_id, team_role=role.value)
            s.add(a)
        # Assigning again (e.g. after the assignment ended) sets the new dates.
        a.start_date, a.end_date = start_date, end_date
        s.flush()
        _guard.audited(
            s,
            actor,
            action="create",
            op="assign_panel",
            entity="panel_assignment",
            rows=[(person_id, a.id)],
            reason=reason,
            detail=f"user={user_id} role={role.value}",
        )
        return a.id


def set_consent(
    store: CareStore,
    *,
    actor: Actor,
    person_id: str,
    category: str,
    granted: bool,
    reason: str,
) -> None:
    """Record a patient's decision on showing one sensitive category (the latest counts)."""
    if category not in SENSITIVE_CATEGORIES:
        raise ValueError(
            f"unknown sensitive category {category!r}; known: {', '.join(SENSITIVE_CATEGORIES)}"
        )
    with store.begin() as s:
        _guard.authorise(s, actor, Operation.SET_CONSENT, person_id, reason=reason)
        c = Consent(
            person_id=person_id, category=category, granted=granted, recorded_by=actor.username
        )
        _guard.add_audited(
            s,
            actor,
            c,
            op="set_consent",
            entity="consent",
            person_id=person_id,
            reason=reason,
            detail=f"{category}={'granted' if granted else 'refused'}",
        )


def audit_log(
    store: CareStore,
    *,
    actor: Actor,
    reason: str,
    person_id: str | None = None,
    limit: int = 1000,
) -> list[AuditView]:
    """The latest audit events (of one patient), newest first; admins only. Reading the
    log is itself audited."""
    with store.begin() as s:
        _guard.require_op(s, actor, Operation.READ_AUDIT, reason=reason)
        q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if person_id is not None:
            q = q.where(AuditEvent.person_id == person_id)
        rows = [
            AuditView(
                e.id,
                e.at,
                e.username,
                e.role,
                e.action,
                e.operation,
                e.entity,
                e.entity_id,
                e.person_id,
                e.reason,
                e.detail,
            )
            for e in s.scalars(q)
        ]
        _guard.audited(
            s,
            actor,
            action="read",
            op="audit_log",
            entity="audit_event",
            rows=sorted({(r.person_id, None) for r in rows if r.person_id}, key=str),
            reason=reason,
        )
        return rows
