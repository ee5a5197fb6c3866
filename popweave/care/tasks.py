"""Tasks: create, read, update with optimistic locking, worklists, overdue tasks.

Every task carries a ``version``. An update names the version it was based on; if someone
else changed the task since, the update is refused with :class:`ConflictError` and nothing
is lost: the caller reloads and decides again. The check is made twice: against the row as
loaded, and by the database (``UPDATE ... WHERE version = :loaded``), so two coordinators
saving at the same moment cannot both win.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from popweave.care import _guard
from popweave.care._guard import ConflictError
from popweave.care.models import OPEN_STATUSES, Task, TaskStatus, TaskType
from popweave.care.store import CareStore
from popweave.care.views import TaskView
from popweave.security.models import User
from popweave.security.policy import Actor, Operation

OP_READ, OP_WRITE = Operation.READ_PATIENT, Operation.WRITE_TASK


def _before_write() -> None:
    """Called between reading a task and writing it (a seam for the concurrency tests)."""


def _check_assignee(s: Session, assignee_id: int | None) -> None:
    if assignee_id is not None and s.get(User, assignee_id) is None:
        raise _guard.NotFound(f"no user with id {assignee_id} to assign the task to")


def create_task(
    store: CareStore,
    *,
    actor: Actor,
    person_id: str,
    task_type: TaskType | str,
    due_date: dt.date,
    reason: str,
    title: str = "",
    assignee_id: int | None = None,
    care_plan_id: int | None = None,
    sensitive: str | None = None,
    notes: str = "",
) -> TaskView:
    """Create a task for ``person_id``."""
    kind = TaskType(task_type)
    _guard.check_sensitive(sensitive)
    with store.begin() as s:
        _guard.authorise(s, actor, OP_WRITE, person_id, reason=reason)
        _check_assignee(s, assignee_id)
        t = Task(
            person_id=person_id,
            task_type=kind.value,
            title=title or kind.value.replace("_", " "),
            due_date=due_date,
            status=TaskStatus.OPEN.value,
            assignee_id=assignee_id,
            care_plan_id=care_plan_id,
            sensitive=sensitive,
            notes=notes,
        )
        _guard.add_audited(
            s,
            actor,
            t,
            op="create_task",
            entity="task",
            person_id=person_id,
            reason=reason,
        )
        return TaskView.of(t)


def get_task(store: CareStore, *, actor: Actor, task_id: int, reason: str) -> TaskView:
    """One task (hidden when sensitive without consent)."""
    with store.begin() as s:
        t = s.get(Task, task_id)
        if t is None:
            raise _guard.NotFound(f"no task with id {task_id}")
        _guard.authorise(s, actor, OP_READ, t.person_id, reason=reason)
        if not _guard.shown(t.sensitive, _guard.consented(s, [t.person_id])[t.person_id]):
            _guard.audited(
                s,
                actor,
                action="withheld",
                op="get_task",
                entity="task",
                rows=[(t.person_id, t.id)],
                reason=reason,
                detail="sensitive, no consent",
            )
            raise _guard.NotFound(f"no task with id {task_id}")
        _guard.audited(
            s,
            actor,
            action="read",
            op="get_task",
            entity="task",
            rows=[(t.person_id, t.id)],
            reason=reason,
        )
        return TaskView.of(t)


_UNSET: Any = object()


def update_task(
    store: CareStore,
    *,
    actor: Actor,
    task_id: int,
    version: int,
    reason: str,
    status: TaskStatus | str | None = None,
    assignee_id: int | None = _UNSET,
    due_date: dt.date | None = None,
    notes: str | None = None,
) -> TaskView:
    """Change a task that was read at ``version``; :class:`ConflictError` if it changed since."""
    new_status = None if status is None else TaskStatus(status)
    with store.begin() as s:
        t = s.get(Task, task_id)
        if t is None:
            raise _guard.NotFound(f"no task with id {task_id}")
        _guard.authorise(s, actor, OP_WRITE, t.person_id, reason=reason)
        if t.version != version:
            raise ConflictError(
                f"task {task_id} was changed by someone else (it is at version {t.version}, "
                f"you read version {version}); reload it and apply your change again"
            )
        if assignee_id is not _UNSET:
            _check_assignee(s, assignee_id)
        _before_write()
        changed = []
        if new_status is not None and new_status.value != t.status:
            t.status = new_status.value
            changed.append(f"status={t.status}")
        if assignee_id is not _UNSET and assignee_id != t.assignee_id:
            t.assignee_id = assignee_id
            changed.append(f"assignee={assignee_id}")
        if due_date is not None and due_date != t.due_date:
            t.due_date = due_date
            changed.append(f"due={due_date}")
        if notes is not None and notes != t.notes:
            t.notes = notes
            changed.append("notes")
        _guard.flush_or_conflict(s, f"task {task_id}")
        _guard.audited(
            s,
            actor,
            action="update",
            op="update_task",
            entity="task",
            rows=[(t.person_id, t.id)],
            reason=reason,
            detail=", ".join(changed),
        )
        return TaskView.of(t)


def list_tasks(
    store: CareStore,
    *,
    actor: Actor,
    reason: str,
    person_id: str | None = None,
    assignee_id: int | None = None,
    open_only: bool = True,
    overdue_on: dt.date | None = None,
    limit: int | None = None,
) -> list[TaskView]:
    """Tasks the actor may see, soonest due first; ``overdue_on`` keeps open tasks due
    before that day."""
    with store.begin() as s:
        _guard.require_op(s, actor, OP_READ, reason=reason)
        where = [_guard.visible_filter(actor, OP_READ, Task.person_id)]
        if person_id is not None:
            where.append(Task.person_id == person_id)
        if assignee_id is not None:
            where.append(Task.assignee_id == assignee_id)
        if open_only or overdue_on is not None:
            where.append(Task.status.in_([x.value for x in OPEN_STATUSES]))
        if overdue_on is not None:
            where.append(Task.due_date < overdue_on)
        q = select(Task).where(*where).order_by(Task.due_date, Task.id)
        rows = list(s.scalars(q))
        allowed = _guard.consented(s, [t.person_id for t in rows])
        out = [t for t in rows if _guard.shown(t.sensitive, allowed[t.person_id])]
        if limit is not None:
            out = out[:limit]
        _guard.audited(
            s,
            actor,
            action="read",
            op="list_tasks",
            entity="task",
            # An empty result is a search all the same: one event without a patient.
            rows=[(t.person_id, t.id) for t in out] or [(None, None)],
            reason=reason,
        )
        return [TaskView.of(t) for t in out]


def overdue_tasks(
    store: CareStore, *, actor: Actor, reason: str, today: dt.date | None = None
) -> list[TaskView]:
    """Open tasks due before ``today`` (default: today) that the actor may see."""
    return list_tasks(
        store, actor=actor, reason=reason, overdue_on=today or dt.date.today(), open_only=True
    )
