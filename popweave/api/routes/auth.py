"""Tokens for scripts and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from pydantic import BaseModel

from popweave.api.deps import CurrentUser, StateDep, client_of, too_many
from popweave.api.schemas import TokenPublic
from popweave.api.state import TOKEN_HOURS
from popweave.security.policy import AccessDenied
from popweave.security.throttle import TooManyAttempts

router = APIRouter(tags=["auth"])


class MePublic(BaseModel):
    user_id: int | None
    username: str
    role: str


@router.post("/token", response_model=TokenPublic)
def token(
    request: Request,
    state: StateDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> TokenPublic:
    """Exchange a user name and password (form fields) for a bearer token."""
    try:
        actor = state.sign_in(username, password, client_of(request))
    except TooManyAttempts as exc:
        raise too_many(exc) from None
    except AccessDenied as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
    assert actor.user_id is not None
    return TokenPublic(access_token=state.issue_token(actor.user_id), expires_in=TOKEN_HOURS * 3600)


@router.get("/me", response_model=MePublic)
def me(user: CurrentUser) -> MePublic:
    """The signed-in user and their role."""
    return MePublic(user_id=user.user_id, username=user.username, role=str(user.role))
