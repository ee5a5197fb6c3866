"""Sign in (form, then a signed session cookie), sign out, and the home redirect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from popweave.api.deps import SESSION_USER, CsrfChecked, PageUser, StateDep, client_of
from popweave.security.policy import AccessDenied, Actor, Operation
from popweave.security.throttle import TooManyAttempts
from popweave.web.render import can, render

router = APIRouter()


def home_of(actor: Actor) -> str:
    """Where a user lands after signing in."""
    if can(actor, Operation.READ_PATIENT):
        return "/worklist"
    return "/dashboard" if can(actor, Operation.AGGREGATES) else "/organisations"


def _safe_next(value: str | None) -> str | None:
    ok = value and value.startswith("/") and not value.startswith("//") and value != "/login"
    return value if ok else None


@router.get("/", response_model=None)
def home(user: PageUser) -> RedirectResponse:
    return RedirectResponse(home_of(user), status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", None, next=_safe_next(next) or "", error=None)


@router.post("/login", dependencies=[CsrfChecked], response_model=None)
def login(
    request: Request,
    state: StateDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
) -> Response:
    try:
        actor = state.sign_in(username, password, client_of(request))
    except TooManyAttempts as exc:
        page = render(request, "login.html", None, status_code=429, next=next, error=str(exc))
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except AccessDenied as exc:
        return render(request, "login.html", None, status_code=401, next=next, error=str(exc))
    request.session.clear()
    request.session[SESSION_USER] = actor.user_id
    return RedirectResponse(_safe_next(next) or home_of(actor), status_code=303)


@router.post("/logout", dependencies=[CsrfChecked], response_model=None)
def logout(request: Request) -> RedirectResponse:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
