"""Care-plan goals: add one, change its status, target or due date."""

from __future__ import annotations

from fastapi import APIRouter, status

from popweave.api.deps import CurrentUser, Reason, StoreDep
from popweave.api.schemas import GoalCreate, GoalPublic, GoalUpdate
from popweave.api.services.care_extra import update_goal
from popweave.care import plans

router = APIRouter(prefix="/goals", tags=["goals"])


@router.post("", response_model=GoalPublic, status_code=status.HTTP_201_CREATED)
def create_goal(body: GoalCreate, user: CurrentUser, store: StoreDep, reason: Reason) -> GoalPublic:
    """Add a goal with a measurable target to a care plan."""
    gid = plans.add_goal(
        store,
        actor=user,
        care_plan_id=body.care_plan_id,
        description=body.description,
        target=body.target,
        due_date=body.due_date,
        reason=reason,
        problem_id=body.problem_id,
    )
    return GoalPublic(
        id=gid,
        problem_id=body.problem_id,
        status="active",
        description=body.description,
        target=body.target,
        due_date=body.due_date,
    )


@router.patch("/{goal_id}", response_model=GoalPublic)
def change_goal(
    goal_id: int, body: GoalUpdate, user: CurrentUser, store: StoreDep, reason: Reason
) -> GoalPublic:
    """Change a goal's status, target or due date."""
    g = update_goal(
        store,
        actor=user,
        goal_id=goal_id,
        reason=reason,
        status=body.status,
        target=body.target,
        due_date=body.due_date,
    )
    return GoalPublic.model_validate(g)
