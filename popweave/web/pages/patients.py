"""A patient's page and the actions on it (htmx forms that answer with the refreshed
record and a message): log a call, complete a task, update a goal, refer, enrol."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from popweave.api.deps import CsrfChecked, PageUser, StoreDep, WarehouseDep
from popweave.api.services.care_extra import GOAL_STATUSES, list_programmes, update_goal
from popweave.api.services.patients import patient_overview
from popweave.care import ConflictError, engagement, referrals, tasks
from popweave.care.models import CHANNELS, OUTCOMES
from popweave.care.store import CareStore
from popweave.errors import PopweaveError
from popweave.security.policy import Actor
from popweave.web.render import render

router = APIRouter()
REASON = "care coordination (web)"


def _page(
    request: Request,
    store: CareStore,
    wh: Any,
    user: Actor,
    person_id: str,
    *,
    template: str,
    flash: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    o = patient_overview(store, wh, actor=user, person_id=person_id, reason=REASON)
    return render(
        request,
        template,
        user,
        o=o,
        rec=o.record,
        person_id=person_id,
        flash=flash,
        error=error,
        channels=CHANNELS,
        outcomes=OUTCOMES,
        goal_statuses=GOAL_STATUSES,
        orgs=referrals.find_organisations(store),
        programmes=list_programmes(store),
        today=dt.date.today(),
    )


@router.get("/patients/{person_id}", response_class=HTMLResponse)
def patient(
    request: Request, person_id: str, user: PageUser, store: StoreDep, wh: WarehouseDep
) -> HTMLResponse:
    return _page(request, store, wh, user, person_id, template="patient.html")


def _act(
    request: Request,
    store: CareStore,
    wh: Any,
    user: Actor,
    person_id: str,
    action: Callable[[], str],
) -> HTMLResponse:
    """Run ``action``; answer with the refreshed record and its message (or the error)."""
    try:
        flash, error = action(), None
    except ConflictError as exc:
        flash, error = None, f"Not saved: {exc}."
    except (PopweaveError, ValueError) as exc:
        flash, error = None, f"Not saved: {exc}"
    return _page(
        request, store, wh, user, person_id, template="_record.html", flash=flash, error=error
    )


@router.post(
    "/patients/{person_id}/outreach", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def log_outreach(
    request: Request,
    person_id: str,
    user: PageUser,
    store: StoreDep,
    wh: WarehouseDep,
    channel: Annotated[str, Form()] = "phone",
    outcome: Annotated[str, Form()] = "reached",
    note: Annotated[str, Form()] = "",
    task_id: Annotated[str, Form()] = "",
) -> HTMLResponse:
    def act() -> str:
        engagement.record_outreach(
            store,
            actor=user,
            person_id=person_id,
            channel=channel,
            outcome=outcome,
            reason=REASON,
            task_id=int(task_id) if task_id.strip() else None,
            note=note,
        )
        return f"Logged: {channel.replace('_', ' ')}, {outcome.replace('_', ' ')}."

    return _act(request, store, wh, user, person_id, act)


@router.post("/tasks/{task_id}/complete", response_class=HTMLResponse, dependencies=[CsrfChecked])
def complete_task(
    request: Request,
    task_id: int,
    user: PageUser,
    store: StoreDep,
    wh: WarehouseDep,
    person_id: Annotated[str, Form()],
    version: Annotated[int, Form()],
    status: Annotated[str, Form()] = "done",
) -> HTMLResponse:
    def act() -> str:
        t = tasks.update_task(
            store, actor=user, task_id=task_id, version=version, reason=REASON, status=status
        )
        return f"Task {t.id} ({t.title}) is now {t.status.replace('_', ' ')}."

    return _act(request, store, wh, user, person_id, act)


@router.post("/goals/{goal_id}", response_class=HTMLResponse, dependencies=[CsrfChecked])
def change_goal(
    request: Request,
    goal_id: int,
    user: PageUser,
    store: StoreDep,
    wh: WarehouseDep,
    person_id: Annotated[str, Form()],
    status: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "",
) -> HTMLResponse:
    def act() -> str:
        g = update_goal(
            store,
            actor=user,
            goal_id=goal_id,
            reason=REASON,
            status=status or None,
            target=target or None,
        )
        return f"Goal updated: {g.description} ({g.status.replace('_', ' ')})."

    return _act(request, store, wh, user, person_id, act)


@router.post(
    "/patients/{person_id}/referrals", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def send_referral(
    request: Request,
    person_id: str,
    user: PageUser,
    store: StoreDep,
    wh: WarehouseDep,
    org_service: Annotated[str, Form(description="org id and service, as 'id:service'")],
) -> HTMLResponse:
    def act() -> str:
        org, _, service = org_service.partition(":")
        if not org.isdigit() or not service:
            raise ValueError("choose an organisation and a service")
        r = referrals.refer(
            store, actor=user, person_id=person_id, org_id=int(org), service=service, reason=REASON
        )
        return f"Referral sent for {r.service}."

    return _act(request, store, wh, user, person_id, act)


@router.post(
    "/patients/{person_id}/enrolments", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def enrol(
    request: Request,
    person_id: str,
    user: PageUser,
    store: StoreDep,
    wh: WarehouseDep,
    programme_id: Annotated[int, Form()],
    start_date: Annotated[dt.date, Form()],
) -> HTMLResponse:
    def act() -> str:
        engagement.enrol(
            store,
            actor=user,
            programme_id=programme_id,
            person_id=person_id,
            start_date=start_date,
            reason=REASON,
        )
        return f"Enrolled from {start_date}."

    return _act(request, store, wh, user, person_id, act)
