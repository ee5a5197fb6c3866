"""Care-plan goals changed in place and the list of programmes: two operations the pages
need beyond :mod:`popweave.care`, through the same gate (authorise, consent, audit)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from popweave.care import _guard
from popweave.care.models import Goal, Programme
from popweave.care.store import CareStore
from popweave.care.views import GoalView
from popweave.security.policy import Actor, Operation

GOAL_STATUSES = ("active", "achieved", "not_achieved", "cancelled")


def update_goal(
    store: CareStore,
    *,
    actor: Actor,
    goal_id: int,
    reason: str,
    status: str | None = None,
    target: str | None = None,
    due_date: dt.date | None = None,
) -> GoalView:
    """Change a goal's status, target or due date (care-plan writers of the patient only)."""
    if status is not None and status not in GOAL_STATUSES:
        raise ValueError(f"unknown goal status {status!r}; known: {', '.join(GOAL_STATUSES)}")
    if target is not None and not target.strip():
        raise ValueError("a goal needs a target (e.g. 'HbA1c below 8%')")
    with store.begin() as s:
        g = s.get(Goal, goal_id)
        if g is None:
            raise _guard.NotFound(f"no goal with id {goal_id}")
        person_id = g.plan.person_id
        _guard.authorise(s, actor, Operation.WRITE_CARE_PLAN, person_id, reason=reason)
        if not _guard.shown(g.sensitive, _guard.consented(s, [person_id])[person_id]):
            raise _guard.NotFound(f"no goal with id {goal_id}")
        changed = []
        if status is not None and status != g.status:
            g.status = status
            changed.append(f"status={status}")
        if target is not None and target != g.target:
            g.target = target.strip()
            changed.append("target")
        if due_date is not None and due_date != g.due_date:
            g.due_date = due_date
            changed.append(f"due={due_date}")
        s.flush()
        _guard.audited(
            s,
            actor,
            action="update",
            op="update_goal",
            entity="goal",
            rows=[(person_id, g.id)],
            reason=reason,
            detail=", ".join(changed),
        )
        return GoalView.of(g)


def list_programmes(store: CareStore) -> list[tuple[int, str, str, str]]:
    """Programmes (id, name, kind, description) by name; no patient data."""
    with store.begin() as s:
        rows = s.execute(
            select(Programme.id, Programme.name, Programme.kind, Programme.description).order_by(
                Programme.name
            )
        ).all()
    return [(int(a), str(b), str(c), str(d)) for a, b, c, d in rows]
