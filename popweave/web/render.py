"""Templates and what every page gets: the user, the navigation of their role, the
anti-forgery token."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from popweave.api.deps import SESSION_USER, actor_of, csrf_token
from popweave.security.policy import Actor, Operation, Scope, scope

HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = Jinja2Templates(directory=HERE / "templates")


def _date(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _pct(v: Any, digits: int = 1) -> str:
    return "" if v is None else f"{100 * float(v):.{digits}f}%"


def _num(v: Any) -> str:
    return "" if v is None else f"{v:,.0f}"


TEMPLATES.env.filters["d"] = _date
TEMPLATES.env.filters["pct"] = _pct
TEMPLATES.env.filters["num"] = _num


def can(actor: Actor | None, op: Operation) -> bool:
    """Whether ``actor`` may do ``op`` for anyone at all."""
    return actor is not None and scope(actor, op) is not Scope.NONE


def nav(actor: Actor | None) -> list[tuple[str, str]]:
    """The menu of ``actor``'s role: (path, label)."""
    if actor is None:
        return []
    items = []
    if can(actor, Operation.READ_PATIENT):
        items.append(("/worklist", "Worklist"))
    items.append(("/organisations", "Organisations and referrals"))
    if can(actor, Operation.AGGREGATES):
        items.append(("/dashboard", "Dashboard"))
    if can(actor, Operation.MANAGE_USERS):
        items.append(("/admin/users", "Users and roles"))
    return items


def render(
    request: Request, name: str, actor: Actor | None, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    """Render template ``name`` for ``actor``."""
    return TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "user": actor,
            "nav": nav(actor),
            "csrf": csrf_token(request),
            "Operation": Operation,
            "can": can,
            **ctx,
        },
        status_code=status_code,
    )


TITLES = {
    400: "Cannot do that",
    401: "Sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Changed by someone else",
    422: "Please check the form",
}


def render_error(request: Request, code: int, message: str) -> HTMLResponse:
    """An error page (or fragment for htmx) that says what went wrong and what to do."""
    uid = request.session.get(SESSION_USER)
    actor = actor_of(request.app.state.popweave.store, uid) if isinstance(uid, int) else None
    partial = request.headers.get("hx-request") and not request.headers.get("hx-boosted")
    template = "_error.html" if partial else "error.html"
    return render(
        request,
        template,
        actor,
        status_code=code,
        code=code,
        title=TITLES.get(code, "Error"),
        message=message,
    )
