"""Users and roles (admins only): the list of users, adding one, and the policy table."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from popweave.api.deps import CsrfChecked, PageUser, StoreDep
from popweave.security.models import Role
from popweave.security.policy import POLICY, Actor, Operation
from popweave.security.users import UserError, add_user, list_users
from popweave.web.render import render

router = APIRouter(prefix="/admin")


def _page(
    request: Request,
    store: StoreDep,
    user: Actor,
    *,
    flash: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    with store.begin() as s:
        people = list_users(s, actor=user)
    return render(
        request,
        "admin_users.html",
        user,
        users=people,
        roles=list(Role),
        operations=list(Operation),
        policy=POLICY,
        flash=flash,
        error=error,
    )


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, user: PageUser, store: StoreDep) -> HTMLResponse:
    return _page(request, store, user)


@router.post("/users", response_class=HTMLResponse, dependencies=[CsrfChecked])
def create_user(
    request: Request,
    user: PageUser,
    store: StoreDep,
    username: Annotated[str, Form()],
    role: Annotated[str, Form()],
    password: Annotated[str, Form()],
    full_name: Annotated[str, Form()] = "",
) -> HTMLResponse:
    try:
        with store.begin() as s:
            u = add_user(
                s,
                actor=user,
                username=username.strip(),
                role=role,
                password=password,
                full_name=full_name,
            )
    except UserError as exc:
        return _page(request, store, user, error=f"Not added: {exc}")
    return _page(request, store, user, flash=f"Added {u.username} ({u.role}).")
