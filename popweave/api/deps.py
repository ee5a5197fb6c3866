"""Typed dependencies of the routes: the app's resources and the signed-in user.

``CurrentUser`` is for the REST API: a bearer token (``POST /api/token``), HTTP Basic, or the
session cookie of the pages on safe methods; otherwise 401. ``PageUser`` is for pages: the
session cookie, otherwise a redirect to the login page.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from popweave.api.state import AppState
from popweave.api.warehouse import Warehouse
from popweave.care.store import CareStore
from popweave.security.models import Role, User
from popweave.security.policy import AccessDenied, Actor
from popweave.security.throttle import TooManyAttempts

SESSION_USER = "uid"
SESSION_CSRF = "csrf"
API_REASON = "care coordination (api)"


class LoginRequired(Exception):
    """A page needs a signed-in user; the app redirects to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.popweave
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_store(state: StateDep) -> CareStore:
    return state.store


def get_warehouse(state: StateDep) -> Warehouse:
    return state.warehouse


StoreDep = Annotated[CareStore, Depends(get_store)]
WarehouseDep = Annotated[Warehouse, Depends(get_warehouse)]


def actor_of(store: CareStore, user_id: int) -> Actor | None:
    """The actor of an active user, else ``None``."""
    with store.begin() as s:
        u = s.get(User, user_id)
        if u is None or not u.active:
            return None
        return Actor(u.id, u.username, Role(u.role))


def client_of(request: Request) -> str:
    """The address a request came from (the sign-in throttle counts failures per address)."""
    return request.client.host if request.client else "unknown"


def too_many(exc: TooManyAttempts) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=str(exc),
        headers={"Retry-After": str(exc.retry_after)},
    )


def _unauthorised(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=message,
        headers={"WWW-Authenticate": 'Basic realm="popweave", Bearer'},
    )


def api_user(
    request: Request, state: StateDep, authorization: Annotated[str | None, Header()] = None
) -> Actor:
    """The user of an API call (bearer token, HTTP Basic, or the page session on reads)."""
    if authorization:
        kind, _, cred = authorization.partition(" ")
        if kind.lower() == "bearer":
            uid = state.token_user(cred.strip())
            actor = None if uid is None else actor_of(state.store, uid)
            if actor is None:
                raise _unauthorised("invalid or expired token; get a new one from POST /api/token")
            return actor
        if kind.lower() == "basic":
            try:
                name, _, password = (
                    base64.b64decode(cred.strip(), validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                raise _unauthorised("malformed Basic credentials") from None
            try:
                return state.sign_in(name, password, client_of(request))
            except TooManyAttempts as exc:
                raise too_many(exc) from None
            except AccessDenied as exc:
                raise _unauthorised(str(exc)) from None
        raise _unauthorised(f"unsupported authorization scheme {kind!r}; use Bearer or Basic")
    uid = request.session.get(SESSION_USER)
    if isinstance(uid, int) and request.method in ("GET", "HEAD"):
        actor = actor_of(state.store, uid)
        if actor is not None:
            return actor
    raise _unauthorised("sign in: send a bearer token (POST /api/token) or HTTP Basic credentials")


CurrentUser = Annotated[Actor, Depends(api_user)]


def page_user(request: Request, state: StateDep) -> Actor:
    """The signed-in user of a page; redirects to the login page when there is none."""
    uid = request.session.get(SESSION_USER)
    actor = actor_of(state.store, uid) if isinstance(uid, int) else None
    if actor is None:
        request.session.clear()
        raise LoginRequired(request.url.path)
    return actor


PageUser = Annotated[Actor, Depends(page_user)]


def csrf_token(request: Request) -> str:
    """The session's anti-forgery token (made on first use)."""
    tok = request.session.get(SESSION_CSRF)
    if not isinstance(tok, str):
        tok = secrets.token_urlsafe(24)
        request.session[SESSION_CSRF] = tok
    return tok


async def check_csrf(request: Request) -> None:
    """Refuse a page form post without the session's token (header or form field)."""
    expected = request.session.get(SESSION_CSRF)
    given = request.headers.get("x-csrf-token")
    if given is None:
        form = await request.form()
        value = form.get("csrf")
        given = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not given or not secrets.compare_digest(expected, given):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "the form has expired; reload the page and try again"
        )


CsrfChecked = Depends(check_csrf)


def reason_header(
    x_reason: Annotated[
        str | None, Header(description="Purpose of use, written to the audit log.")
    ] = None,
) -> str:
    return (x_reason or "").strip() or API_REASON


Reason = Annotated[str, Depends(reason_header)]
