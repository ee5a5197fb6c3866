"""Users and roles (admins), and the audit log (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from popweave.api.deps import CurrentUser, Reason, StoreDep
from popweave.api.schemas import AuditPublic, UserCreate, UserPublic
from popweave.care import team
from popweave.security import users

router = APIRouter(tags=["users"])


@router.get("/users", response_model=list[UserPublic])
def list_users(user: CurrentUser, store: StoreDep) -> list[UserPublic]:
    """Every user with their role."""
    with store.begin() as s:
        return [UserPublic.model_validate(u) for u in users.list_users(s, actor=user)]


@router.post("/users", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, user: CurrentUser, store: StoreDep) -> UserPublic:
    """Add a user with a role."""
    with store.begin() as s:
        u = users.add_user(
            s,
            actor=user,
            username=body.username,
            role=body.role,
            password=body.password,
            full_name=body.full_name,
        )
    return UserPublic.model_validate(u)


@router.get("/audit", response_model=list[AuditPublic])
def read_audit(
    user: CurrentUser,
    store: StoreDep,
    reason: Reason,
    person_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 200,
) -> list[AuditPublic]:
    """The latest audit events, newest first."""
    rows = team.audit_log(store, actor=user, reason=reason, person_id=person_id, limit=limit)
    return [AuditPublic.model_validate(r) for r in rows]
