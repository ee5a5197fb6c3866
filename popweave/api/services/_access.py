"""Who the actor may reach, and auditing reads that do not go through a care function."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import or_, select

from popweave.care import _guard
from popweave.care.store import CareStore
from popweave.security.models import PanelAssignment
from popweave.security.policy import Actor, Operation, Scope


def reach(store: CareStore, actor: Actor, op: Operation, *, reason: str) -> dict[str, str] | None:
    """``None`` when ``actor`` may do ``op`` for every patient, else their panel today
    (person id -> team role); :class:`AccessDenied` (audited) when they may not at all."""
    with store.begin() as s:
        sc = _guard.require_op(s, actor, op, reason=reason)
        if sc is Scope.ALL:
            return None
        today = dt.date.today()
        rows = s.execute(
            select(PanelAssignment.person_id, PanelAssignment.team_role).where(
                PanelAssignment.user_id == actor.user_id,
                or_(PanelAssignment.start_date.is_(None), PanelAssignment.start_date <= today),
                or_(PanelAssignment.end_date.is_(None), PanelAssignment.end_date >= today),
            )
        ).all()
        return {p: r for p, r in rows}


def audit_reads(
    store: CareStore,
    actor: Actor,
    *,
    op: str,
    entity: str,
    person_ids: Iterable[str],
    reason: str,
    detail: str = "",
) -> None:
    """One read event per patient shown (one event without a patient for an empty search)."""
    rows: list[tuple[str | None, object]] = [(p, None) for p in person_ids]
    with store.begin() as s:
        _guard.audited(
            s,
            actor,
            action="read",
            op=op,
            entity=entity,
            rows=rows or [(None, None)],
            reason=reason,
            detail=detail,
        )


def audit_aggregate(store: CareStore, actor: Actor, *, op: str, reason: str, detail: str) -> None:
    """Check ``actor`` may see aggregates (refusals audited) and record that they did."""
    with store.begin() as s:
        _guard.require_op(s, actor, Operation.AGGREGATES, reason=reason)
        _guard.audited_aggregate(s, actor, op=op, reason=reason, detail=detail)
