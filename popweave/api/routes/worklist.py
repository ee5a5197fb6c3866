"""The outreach worklist of the signed-in user (their panel, or everyone for managers)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from popweave.api.deps import CurrentUser, Reason, StoreDep, WarehouseDep
from popweave.api.schemas import WorklistPublic
from popweave.api.services.worklist import MAX_LIMIT, worklist_page

router = APIRouter(prefix="/worklist", tags=["worklist"])
Sort = Literal["priority", "risk_score", "open_gaps", "days_since_discharge", "person_id"]


@router.get("", response_model=WorklistPublic)
def read_worklist(
    user: CurrentUser,
    store: StoreDep,
    wh: WarehouseDep,
    reason: Reason,
    practice: str | None = None,
    area: str | None = None,
    tier: Literal["high", "rising", "moderate", "low"] | None = None,
    need: Literal["transport", "food", "housing"] | None = None,
    sort: Sort = "priority",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> WorklistPublic:
    """Prioritised patients with the reasons they are listed."""
    page = worklist_page(
        store,
        wh,
        actor=user,
        reason=reason,
        practice=practice,
        area=area,
        tier=tier,
        need=need,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=offset,
    )
    return WorklistPublic.model_validate(page)
