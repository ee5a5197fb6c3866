"""The one gate of patient data: authorise, filter by panel and consent, audit.

Every service function in :mod:`popweave.care` that reads or writes patient data calls
:func:`authorise` (or :func:`visible_filter` for lists) and :func:`audited` before it returns;
ORM objects never leave the service layer, so nothing reads patient data behind the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from popweave.errors import PopweaveError
from popweave.security import audit
from popweave.security.models import SENSITIVE_CATEGORIES, Consent, PanelAssignment
from popweave.security.policy import AccessDenied, Actor, Operation, Scope, require, scope


class NotFound(PopweaveError):
    """No such record (or one the acting user may not see)."""


class ConflictError(PopweaveError):
    """Someone else changed the record since it was read; reload it and try again."""


def flush_or_conflict(session: Session, record: str) -> None:
    """Write the pending changes; :class:`ConflictError` if ``record`` (e.g. ``task 7``)
    changed since it was read (its version no longer matches)."""
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError(
            f"{record} was changed by someone else while you were saving; "
            "reload it and apply your change again"
        ) from None


def _panel(actor: Actor, today: dt.date) -> Any:
    return select(PanelAssignment.person_id).where(
        PanelAssignment.user_id == actor.user_id,
        or_(PanelAssignment.start_date.is_(None), PanelAssignment.start_date <= today),
        or_(PanelAssignment.end_date.is_(None), PanelAssignment.end_date >= today),
    )


def on_panel(session: Session, actor: Actor, person_id: str) -> bool:
    """Whether ``person_id`` is on ``actor``'s panel today."""
    if actor.user_id is None:
        return False
    q = _panel(actor, dt.date.today()).where(PanelAssignment.person_id == person_id).limit(1)
    return session.execute(q).first() is not None


def denied(sessions: Any, actor: Actor, op: Operation, person_id: str | None, why: str) -> None:
    """Record a refused access in its own transaction (the caller's is rolled back)."""
    with sessions() as s, s.begin():
        audit.record(
            s,
            actor,
            action="denied",
            operation=str(op),
            entity="patient" if person_id else "-",
            person_id=person_id,
            reason=why or "(no reason given)",
        )


def authorise(
    session: Session, actor: Actor, op: Operation, person_id: str | None, *, reason: str
) -> None:
    """Raise :class:`AccessDenied` (audited) unless ``actor`` may do ``op`` to ``person_id``."""
    s = scope(actor, op)
    ok = s is Scope.ALL or (
        s is Scope.PANEL and person_id is not None and on_panel(session, actor, person_id)
    )
    if not ok:
        denied(_factory(session), actor, op, person_id, reason)
        who = f" for patient {person_id}" if person_id else ""
        if s is Scope.PANEL:
            raise AccessDenied(
                f"{actor.username} ({actor.role}) may {op.replace('_', ' ')} only for patients "
                f"on their panel; {person_id} is not"
            )
        raise AccessDenied(f"{actor.username} ({actor.role}) may not {op.replace('_', ' ')}{who}")


def require_op(session: Session, actor: Actor, op: Operation, *, reason: str) -> Scope:
    """The scope of ``op`` for ``actor``; :class:`AccessDenied` (audited) when none."""
    try:
        return require(actor, op)
    except AccessDenied:
        denied(_factory(session), actor, op, None, reason)
        raise


def visible_filter(actor: Actor, op: Operation, person_col: Any) -> ColumnElement[bool]:
    """A WHERE clause limiting ``person_col`` to the patients ``actor`` may reach."""
    s = require(actor, op)
    if s is Scope.ALL:
        return true()
    clause: ColumnElement[bool] = person_col.in_(_panel(actor, dt.date.today()))
    return clause


def consented(session: Session, person_ids: Iterable[str]) -> dict[str, set[str]]:
    """The sensitive categories each patient currently allows to be shown (latest decision)."""
    ids = sorted(set(person_ids))
    out: dict[str, set[str]] = {p: set() for p in ids}
    if not ids:
        return out
    rows = session.execute(
        select(Consent.person_id, Consent.category, Consent.granted)
        .where(Consent.person_id.in_(ids))
        .order_by(Consent.person_id, Consent.category, Consent.recorded_at, Consent.id)
    ).all()
    latest: dict[tuple[str, str], bool] = {}
    for p, c, g in rows:
        latest[(p, c)] = g
    for (p, c), g in latest.items():
        if g:
            out[p].add(c)
    return out


def shown(sensitive: str | None, allowed: set[str]) -> bool:
    """Whether a row tagged ``sensitive`` may be shown given the consented categories."""
    return sensitive is None or sensitive in allowed


def check_sensitive(category: str | None) -> None:
    if category is not None and category not in SENSITIVE_CATEGORIES:
        raise ValueError(
            f"unknown sensitive category {category!r}; known: {', '.join(SENSITIVE_CATEGORIES)}"
        )


def audited(
    session: Session,
    actor: Actor,
    *,
    action: str,
    op: str,
    entity: str,
    rows: Iterable[tuple[str | None, object]],
    reason: str,
    detail: str = "",
) -> None:
    """One audit event per (patient, record) read or written."""
    for person_id, entity_id in rows:
        audit.record(
            session,
            actor,
            action=action,
            operation=op,
            entity=entity,
            person_id=person_id,
            entity_id=entity_id,
            reason=reason,
            detail=detail,
        )


def audited_aggregate(session: Session, actor: Actor, *, op: str, reason: str, detail: str) -> None:
    """The audit event of aggregates shown (no patient, no record)."""
    audited(
        session,
        actor,
        action="aggregate",
        op=op,
        entity="aggregate",
        rows=[(None, None)],
        reason=reason,
        detail=detail,
    )


def add_audited(
    session: Session,
    actor: Actor,
    row: Any,
    *,
    op: str,
    entity: str,
    person_id: str,
    reason: str,
    detail: str = "",
) -> None:
    """Add the new record ``row`` about ``person_id`` (flushed, so it has its id) and audit
    its creation in the same transaction."""
    session.add(row)
    session.flush()
    audited(
        session,
        actor,
        action="create",
        op=op,
        entity=entity,
        rows=[(person_id, row.id)],
        reason=reason,
        detail=detail,
    )


def _factory(session: Session) -> Any:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(session.get_bind())
