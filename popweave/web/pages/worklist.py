"""My worklist: sortable, filterable, with the reasons each patient is listed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from popweave.api.deps import PageUser, StoreDep, WarehouseDep
from popweave.api.services.worklist import SORTS, worklist_page
from popweave.outreach.worklist import NEEDS, TIERS
from popweave.web.render import render

router = APIRouter()
REASON = "worklist review (web)"
PAGE = 50


@router.get("/worklist", response_class=HTMLResponse)
def worklist(
    request: Request,
    user: PageUser,
    store: StoreDep,
    wh: WarehouseDep,
    practice: str = "",
    area: str = "",
    tier: str = "",
    need: str = "",
    sort: str = "priority",
    order: str = "desc",
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    wl = worklist_page(
        store,
        wh,
        actor=user,
        reason=REASON,
        practice=practice or None,
        area=area or None,
        tier=tier or None,
        need=need or None,
        sort=sort,
        descending=order != "asc",
        limit=PAGE,
        offset=(page - 1) * PAGE,
    )
    filters = {
        "practice": practice,
        "area": area,
        "tier": tier,
        "need": need,
        "sort": sort,
        "order": order,
    }
    return render(
        request,
        "worklist.html",
        user,
        wl=wl,
        f=filters,
        page=page,
        pages=max(1, -(-wl.total // PAGE)),
        tiers=TIERS,
        needs=NEEDS,
        sorts=SORTS,
    )
