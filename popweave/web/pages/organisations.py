"""Community organisations (capacity, services, areas) and referral status: counts by
service and status for managers and analysts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from popweave.api.deps import PageUser, StoreDep
from popweave.care import aggregates, referrals
from popweave.security.policy import Operation
from popweave.web.render import can, render

router = APIRouter()


@router.get("/organisations", response_class=HTMLResponse)
def organisations(request: Request, user: PageUser, store: StoreDep) -> HTMLResponse:
    counts = (
        aggregates.referral_counts(store, actor=user) if can(user, Operation.AGGREGATES) else None
    )
    return render(
        request,
        "organisations.html",
        user,
        orgs=referrals.find_organisations(store),
        counts=counts,
    )
