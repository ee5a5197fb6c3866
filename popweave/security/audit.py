"""The append-only audit log: writing events and refusing changes to them.

Events are only ever added (:func:`record`). :func:`guard_append_only` makes a session
refuse to update or delete an :class:`AuditEvent`, through the unit of work or a bulk
``update()`` / ``delete()``; the migrations add database triggers that refuse the same
(on PostgreSQL and SQLite), so the log stays append-only below the service layer too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from popweave.errors import PopweaveError
from popweave.security.models import AuditEvent
from popweave.security.policy import Actor


class AuditError(PopweaveError):
    """An attempt to change or remove an audit event, or an event without a reason."""


def record(
    session: Session,
    actor: Actor,
    *,
    action: str,
    operation: str,
    entity: str,
    reason: str,
    person_id: str | None = None,
    entity_id: object = None,
    detail: str = "",
) -> AuditEvent:
    """Add one audit event to ``session`` (committed with the work it records)."""
    if not reason or not reason.strip():
        raise AuditError(f"{operation}: a reason (purpose of use) is required")
    ev = AuditEvent(
        user_id=actor.user_id,
        username=actor.username,
        role=str(actor.role),
        action=action,
        operation=operation,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        person_id=person_id,
        reason=reason.strip(),
        detail=detail,
    )
    session.add(ev)
    return ev


def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEvent) and (
            obj in session.deleted or session.is_modified(obj, include_collections=False)
        ):
            raise AuditError("the audit log is append-only: events cannot be changed or removed")


def _do_orm_execute(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and any(
        m.class_ is AuditEvent for m in state.all_mappers
    ):
        raise AuditError("the audit log is append-only: events cannot be changed or removed")


def guard_append_only(factory: sessionmaker[Session]) -> None:
    """Make sessions from ``factory`` refuse changes to audit events."""
    event.listen(factory, "before_flush", _before_flush)
    event.listen(factory, "do_orm_execute", _do_orm_execute)
