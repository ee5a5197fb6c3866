"""Tasks: list, read, create, update with optimistic locking (409 on a conflict)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, status

from popweave.api.deps import CurrentUser, Reason, StoreDep
from popweave.api.schemas import TaskCreate, TaskPublic, TaskUpdate
from popweave.care import tasks

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("", response_model=list[TaskPublic])
def list_tasks(
    user: CurrentUser,
    store: StoreDep,
    reason: Reason,
    person_id: str | None = None,
    mine: bool = False,
    overdue: bool = False,
    open_only: bool = True,
) -> list[TaskPublic]:
    """Tasks the user may see, soonest due first."""
    rows = tasks.list_tasks(
        store,
        actor=user,
        reason=reason,
        person_id=person_id,
        assignee_id=user.user_id if mine else None,
        open_only=open_only,
        overdue_on=dt.date.today() if overdue else None,
    )
    return [TaskPublic.model_validate(t) for t in rows]


@router.get("/{task_id}", response_model=TaskPublic)
def read_task(task_id: int, user: CurrentUser, store: StoreDep, reason: Reason) -> TaskPublic:
    """One task."""
    return TaskPublic.model_validate(
        tasks.get_task(store, actor=user, task_id=task_id, reason=reason)
    )


@router.post("", response_model=TaskPublic, status_code=status.HTTP_201_CREATED)
def create_task(body: TaskCreate, user: CurrentUser, store: StoreDep, reason: Reason) -> TaskPublic:
    """Create a task for a patient."""
    t = tasks.create_task(
        store,
        actor=user,
        person_id=body.person_id,
        task_type=body.task_type,
        due_date=body.due_date,
        reason=reason,
        title=body.title,
        assignee_id=body.assignee_id,
        care_plan_id=body.care_plan_id,
        notes=body.notes,
    )
    return TaskPublic.model_validate(t)


@router.patch("/{task_id}", response_model=TaskPublic)
def update_task(
    task_id: int, body: TaskUpdate, user: CurrentUser, store: StoreDep, reason: Reason
) -> TaskPublic:
    """Change a task read at `version`; 409 if someone changed it since."""
    t = tasks.update_task(
        store,
        actor=user,
        task_id=task_id,
        version=body.version,
        reason=reason,
        status=body.status,
        due_date=body.due_date,
        notes=body.notes,
    )
    return TaskPublic.model_validate(t)
