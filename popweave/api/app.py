"""The FastAPI app: the REST API under ``/api`` and the pages of :mod:`popweave.web`.

Errors are answered the same way everywhere: a user mistake or a refusal becomes a 4xx with
a message that says what to do (JSON ``{"detail": ...}`` under ``/api``, a page elsewhere),
never a 500.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from popweave.api.deps import LoginRequired
from popweave.api.routes import (
    auth,
    fhir,
    goals,
    measures,
    outreach,
    patients,
    programmes,
    referrals,
    tasks,
    users,
    worklist,
)
from popweave.api.state import AppState
from popweave.care import ConflictError, InvalidTransition, NotFound
from popweave.errors import PopweaveError
from popweave.security.policy import AccessDenied
from popweave.security.users import UserError

SESSION_HOURS = 12


def status_of(exc: Exception) -> int:
    """The HTTP status of an error raised by the service layer."""
    if isinstance(exc, AccessDenied):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, ConflictError | InvalidTransition | IntegrityError):
        return 409
    if isinstance(exc, UserError | ValueError):
        return 422
    return 400


def message_of(exc: Exception) -> str:
    if isinstance(exc, IntegrityError):
        return "that record already exists (or refers to one that does not); reload and check"
    return str(exc)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
        parts.append(f"{where or 'request'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


SERVE_WORKSPACE_ENV = "POPWEAVE_SERVE_WORKSPACE"
SERVE_THREADS_ENV = "POPWEAVE_SERVE_THREADS"


def create_app_from_env() -> FastAPI:
    """The app of ``POPWEAVE_SERVE_WORKSPACE`` (``POPWEAVE_SERVE_THREADS`` threads): the
    factory each server process of ``popweave serve --processes N`` calls."""
    return create_app(
        os.environ[SERVE_WORKSPACE_ENV], threads=int(os.environ.get(SERVE_THREADS_ENV, "40"))
    )


def create_app(workspace_path: Path | str, *, threads: int = 40) -> FastAPI:
    """The app serving the workspace at ``workspace_path`` (opened now, closed on shutdown);
    ``threads`` requests are answered at once."""
    state = AppState.open(workspace_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        state.close()

    app = FastAPI(
        title="popweave",
        summary="Population health management: worklists, patients, care coordination, "
        "measures and FHIR R4-shaped exports.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.popweave = state
    app.add_middleware(
        SessionMiddleware,
        secret_key=state.secret,
        session_cookie="popweave_session",
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=False,
    )
    api = APIRouter(prefix="/api")
    for r in (
        auth,
        worklist,
        patients,
        tasks,
        outreach,
        referrals,
        programmes,
        goals,
        users,
        measures,
        fhir,
    ):
        api.include_router(r.router)
    app.include_router(api)

    from popweave.web import STATIC, pages, render_error

    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def _error(request: Request, code: int, message: str, **extra: Any) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": message, **extra}, status_code=code)
        return render_error(request, code, message)

    @app.exception_handler(PopweaveError)
    async def _popweave(request: Request, exc: PopweaveError) -> Response:
        return _error(request, status_of(exc), message_of(exc))

    @app.exception_handler(ValueError)
    async def _value(request: Request, exc: ValueError) -> Response:
        return _error(request, 422, str(exc))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        return _error(request, 409, message_of(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return _error(request, 422, _validation_message(exc), errors=_jsonable(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return render_error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={exc.next_url}", status_code=303)

    return app


def _jsonable(errors: Any) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        out.append(
            {
                k: (v if isinstance(v, str | int | float | list | tuple) else str(v))
                for k, v in e.items()
                if k != "ctx"
            }
        )
    return out
